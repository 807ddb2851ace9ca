/**
 * Fault injection (issue 8): the Kafka broker restarted mid-stream.
 *
 * auditmesh (`node bin/auditmesh.js serve`, a child process) consumes the mixed traffic of the crash
 * test from a DEDICATED Kafka broker into the shared Elasticsearch. While it is mid-stream (and a
 * producer keeps sending, retrying while the broker is away), the broker is stopped and started again
 * on the same port with the same data dir. Verified:
 *
 * - the process stays up; its consumers reconnect by themselves and drain every topic;
 * - they resume from the committed offsets: no partition's committed offset ever moves backwards
 *   (a consumer that lost its offsets would start again from the beginning and commit lower ones),
 *   and auditmesh received each message about once (re-reading from the beginning would have
 *   received everything committed before the restart a second time);
 * - Elasticsearch then holds EXACTLY the truth: one record per request and per firewall session with
 *   exactly its members, one event per distinct message, no dead letters.
 */
import type { ChildProcess } from 'node:child_process';
import type { Admin } from 'kafkajs';
import type { Client } from '@elastic/elasticsearch';
import { elasticsearchUrl, newEsClient } from './infra';
import { randomSeed } from '../support/scenario';
import { sleep, waitForDrain } from '../support/delivery';
import { alive, buildIfStale, logTail, metricSum, startServe, stopChild } from '../support/child';
import { cleanupRun, prepareMidStream, producePaced, reachMidStream, startDedicated, type DedicatedServer, type MidStream } from '../support/faults';
import { esTruth } from '../support/truth';

const SEED = Number(process.env.FAULT_SEED ?? randomSeed());
const REQUESTS = Number(process.env.FAULT_REQUESTS ?? 1500);
/** How long the broker stays down. */
const DOWN_MS = Number(process.env.FAULT_KAFKA_DOWN_S ?? 15) * 1000;
const MAX_RECORDS = 100;

jest.setTimeout(DOWN_MS + 600_000);

/** Committed offset of every partition of every (group, topic) pair, `group|topic|partition` → offset. */
async function committedOffsets(admin: Admin, pairs: { groupId: string; topic: string }[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const p of pairs) {
    for (const t of await admin.fetchOffsets({ groupId: p.groupId, topics: [p.topic] })) {
      for (const part of t.partitions) out.set(`${p.groupId}|${t.topic}|${part.partition}`, Number(part.offset));
    }
  }
  return out;
}

describe('integration > faults: Kafka broker restarted mid-stream', () => {
  let broker: DedicatedServer | undefined;
  let es: Client | undefined;
  let run: MidStream | undefined;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    buildIfStale();
    broker = await startDedicated('kafka');
    run = await prepareMidStream({ tag: 'fk', brokers: broker.brokers!, seed: SEED, requests: REQUESTS, maxRecords: MAX_RECORDS });
    es = newEsClient();
  });

  afterAll(() => cleanupRun({ child, clients: [run?.producer, run?.admin], es, indexPrefix: run?.prefix, sd: run?.sd, dedicated: broker }));

  it('reconnects after the restart, resumes from the committed offsets and ends with exactly the truth', async () => {
    const { topics, prefix, sd, scenario, admin, producer } = run!;
    const [before, during, after] = run!.phases;
    const total = scenario.messages.length;

    // 1. Mid-stream: the first third is produced and auditmesh is half-way through it.
    await producePaced(producer, topics, before);
    child = startServe(sd, { kafkaBrokers: broker!.brokers!, elasticsearchUrl: elasticsearchUrl() });
    const { port, midway } = await reachMidStream(run!, child, 0.5);

    // 2. The broker restarts while traffic keeps coming (the producer retries until it is back).
    const producing = producePaced(producer, topics, during, { durationMs: DOWN_MS + 10_000, chunk: 20 });
    const committedBefore = await committedOffsets(admin, sd.pairs);
    const receivedBefore = await metricSum(port, 'component_received_events_total');
    await broker!.stop();
    const downSince = Date.now();
    let aliveWhileDown = true;
    while (Date.now() - downSince < DOWN_MS) {
      aliveWhileDown &&= alive(child);
      await sleep(500);
    }
    await broker!.start();

    // 3. Offsets never move backwards while the consumers reconnect and catch up.
    const backwards: string[] = [];
    const last = new Map(committedBefore);
    let stop = false;
    const watching = (async () => {
      while (!stop) {
        const now = await committedOffsets(admin, sd.pairs).catch(() => undefined);
        for (const [k, v] of now ?? []) {
          if (v < (last.get(k) ?? -1)) backwards.push(`${k}: ${last.get(k)} → ${v}`);
          last.set(k, Math.max(v, last.get(k) ?? -1));
        }
        await sleep(100);
      }
    })();
    const { failedSends } = await producing;
    await producePaced(producer, topics, after);
    try {
      await waitForDrain(admin, sd.pairs, 300_000, 'auditmesh to drain after the broker restart').catch((e) => {
        throw new Error(`${(e as Error).message}\n${logTail(sd.logFile)}`);
      });
    } finally {
      stop = true;
      await watching;
    }
    const received = await metricSum(port, 'component_received_events_total');
    const produced = total + (await duplicatesProduced());
    const exitCode = await stopChild(child, 'SIGTERM');

    // ---- exactly the truth -----------------------------------------------------------------
    const { records, problems, events, uniqueEvents, deadLetters } = await esTruth(es!, prefix, scenario);
    const committedAtStop = [...committedBefore.values()].reduce((a, b) => a + b, 0);
    const summary = {
      seed: SEED,
      messages: total,
      producedIncludingRetries: produced,
      failedSendsWhileDown: failedSends,
      committedAtStop,
      receivedAtStop: receivedBefore,
      received,
      redelivered: received - produced,
      backwards: backwards.slice(0, 5),
      records: records.length,
      expectedRecords: scenario.records.length,
      events,
      uniqueEvents,
      deadLetters,
      exitCode,
    };
    process.stdout.write(`faults/kafka-restart: ${JSON.stringify(summary)}\n`);

    expect(aliveWhileDown).toBe(true);
    expect(exitCode).toBe(0);
    // Resumed from the committed offsets: none went backwards, and what was received twice is at most
    // the chunks in flight at the restart — one per partition (a pipeline processes its partitions
    // concurrently), each at most MAX_RECORDS — far less than everything committed before.
    expect(backwards).toEqual([]);
    expect(committedAtStop).toBeGreaterThanOrEqual(midway);
    let partitions = 0;
    for (const p of sd.pairs) partitions += (await admin.fetchTopicOffsets(p.topic)).length;
    expect(partitions).toBe(sd.pairs.length * 2);
    expect(received - produced).toBeLessThanOrEqual(partitions * MAX_RECORDS);
    expect(received - produced).toBeLessThan(committedAtStop);
    expect(problems.slice(0, 20)).toEqual([]);
    expect(records.length).toBe(scenario.requests.length + scenario.sessions.length);
    expect(events).toBe(uniqueEvents);
    expect(deadLetters).toBe(0);

    /** Messages in the topics beyond the scenario's (a chunk the producer retried may have landed twice). */
    async function duplicatesProduced(): Promise<number> {
      let inTopics = 0;
      for (const topic of Object.values(topics)) for (const p of await admin.fetchTopicOffsets(topic)) inTopics += Number(p.high);
      return inTopics - total;
    }
  });
});
