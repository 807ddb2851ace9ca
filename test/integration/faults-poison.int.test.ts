/**
 * Fault injection (issue 8): poison messages at a high rate.
 *
 * Thousands of poison messages (random bytes, empty messages and tombstones, control characters,
 * invalid UTF-8, messages of several hundred KiB, 50,000-deep JSON nesting, JSON scalars, prototype
 * pollution, wrong field types, truncated records, another source's format, broken CSV and protobuf,
 * unparseable dates, and records dated in the year 2399) are produced as fast as the broker takes
 * them, interleaved with the healthy mixed traffic of the crash test, into the same partitions of the
 * shared Kafka. auditmesh runs as a child process (`node bin/auditmesh.js serve`). Verified:
 *
 * - every poison message is dead-lettered exactly once, in the dead-letter topic (original bytes, or
 *   their first 64 KiB, with code and reason) and in the store's dead letters, and nothing else is;
 * - the healthy traffic is unaffected: Elasticsearch holds exactly its truth (records, members,
 *   identities, one event per distinct message);
 * - the process never crashed and its consumers stayed up (ready at the end).
 */
import type { ChildProcess } from 'node:child_process';
import type { Admin, Kafka, Producer } from 'kafkajs';
import type { Client } from '@elastic/elasticsearch';
import { elasticsearchUrl, kafkaBrokers, newEsClient, newKafka, uniqueName } from './infra';
import { randomSeed, seededRng, shuffle, type Scenario } from '../support/scenario';
import { shuffleWithin, waitForDrain } from '../support/delivery';
import { alive, buildIfStale, logTail, metricSum, servePort, serveDir, SOURCES, startServe, stopChild, type ServeDir } from '../support/child';
import { cleanupRun, createTopicsAt, httpStatus, mixedScenario, sourceTopics } from '../support/faults';
import { poisonFingerprint, poisonMessages, type Poison } from '../support/poison';
import { esTruth } from '../support/truth';

const SEED = Number(process.env.FAULT_SEED ?? randomSeed());
const REQUESTS = Number(process.env.FAULT_REQUESTS ?? 1000);
const POISON = Number(process.env.FAULT_POISON ?? 4000);
const PARTITIONS = 2;

jest.setTimeout(600_000);

interface DeadLetterMessage {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

/** Every message of `topic` up to its current end offsets. */
async function readAll(kafka: Kafka, admin: Admin, topic: string): Promise<DeadLetterMessage[]> {
  const ends = await admin.fetchTopicOffsets(topic);
  const want = ends.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  const out: DeadLetterMessage[] = [];
  if (!want) return out;
  const consumer = kafka.consumer({ groupId: uniqueName('dlq-reader'), maxBytesPerPartition: 8 * 1024 * 1024 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${want} messages of ${topic} in 120 s`)), 120_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
          out.push({ key: message.key?.toString() ?? '', value: message.value ?? Buffer.alloc(0), headers });
          if (out.length >= want) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

describe('integration > faults: poison messages at a high rate', () => {
  const topics = sourceTopics('fp');
  const dlq = uniqueName('fp-dlq');
  const prefix = uniqueName('am-fault-poison');
  let sd: ServeDir;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  let es: Client;
  let scenario: Scenario;
  let poison: Poison[];
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    buildIfStale();
    await createTopicsAt(kafkaBrokers(), Object.values(topics), PARTITIONS);
    await createTopicsAt(kafkaBrokers(), [dlq]);
    const made = await mixedScenario(SEED, REQUESTS, { endsAgoMs: 600_000, stepMs: 100, kid: 'fault-poison-k1' });
    scenario = made.scenario;
    sd = serveDir('fault-poison', { topics, groupPrefix: uniqueName('fp-grp'), deadLetterTopic: dlq, indexPrefix: prefix, signer: made.signer });
    poison = poisonMessages(seededRng(SEED ^ 0xbad), POISON, scenario.messages);
    kafka = newKafka('fault-poison');
    admin = kafka.admin();
    producer = kafka.producer();
    await Promise.all([admin.connect(), producer.connect()]);
    es = newEsClient();
  });

  afterAll(() => cleanupRun({ child, clients: [producer, admin], es, indexPrefix: prefix, sd }));

  it('dead-letters every poison message exactly once with its reason while the healthy traffic ends exactly right', async () => {
    const rng = seededRng(SEED ^ 0x9015);
    child = startServe(sd, { kafkaBrokers: kafkaBrokers(), elasticsearchUrl: elasticsearchUrl() });
    const port = await servePort(sd, child);
    // Healthy and poison interleaved in every partition (assigned round-robin), produced as fast as
    // the broker takes them while auditmesh consumes, the four topics chunk by chunk in turn. Each
    // partition gets a record dated 2399 among its first messages (a stream of healthy events behind
    // it would show at once whether it dragged the watermark along). Big messages go alone (the
    // broker's 1 MB request limit).
    const t0 = Date.now();
    const queues = SOURCES.map((s) => {
      const healthy = shuffleWithin(rng, scenario.messages.filter((m) => m.source === s), 10_000).map((m) => m.value as Buffer | null);
      const bad = shuffle(rng, poison.filter((p) => p.source === s));
      const early = bad.filter((p) => p.kind === 'future').slice(0, PARTITIONS);
      const rest = bad.filter((p) => !early.includes(p));
      // Poison at random places, the healthy messages keep their order.
      const slots = shuffle(rng, [...healthy.map(() => true), ...rest.map(() => false)]);
      let h = 0, b = 0;
      const mixed = [...healthy.slice(0, 2 * PARTITIONS), ...early.map((p) => p.value)];
      h = 2 * PARTITIONS;
      for (const isHealthy of slots) {
        if (isHealthy) {
          if (h < healthy.length) mixed.push(healthy[h++]!);
        } else mixed.push(rest[b++]!.value);
      }
      while (h < healthy.length) mixed.push(healthy[h++]!);
      return { topic: topics[s], msgs: mixed.map((value, i) => ({ value, partition: i % PARTITIONS })) };
    });
    while (queues.some((q) => q.msgs.length)) {
      for (const q of queues) {
        const chunk: { value: Buffer | null; partition: number }[] = [];
        while (q.msgs.length && chunk.length < 500) {
          const m = q.msgs[0]!;
          if ((m.value?.length ?? 0) > 64 * 1024) {
            if (chunk.length) break;
            chunk.push(q.msgs.shift()!);
            break;
          }
          chunk.push(q.msgs.shift()!);
        }
        if (chunk.length) await producer.send({ topic: q.topic, acks: -1, messages: chunk });
      }
    }
    const produceMs = Date.now() - t0;

    await waitForDrain(admin, sd.pairs, 300_000, 'auditmesh to drain the healthy and poison traffic').catch((e) => {
      throw new Error(`${(e as Error).message}\n${logTail(sd.logFile)}`);
    });
    const drainMs = Date.now() - t0;
    const stayedUp = alive(child);
    const readyz = await httpStatus(`http://127.0.0.1:${port}/readyz`, 15_000);
    const deadLettersMetric = await metricSum(port, 'auditmesh_dead_letters_total');
    const exitCode = await stopChild(child, 'SIGTERM');

    // ---- the dead-letter topic: each poison message once, with code and reason -------------
    const dl = await readAll(kafka, admin, dlq);
    const byKey = new Map<string, DeadLetterMessage>();
    for (const d of dl) byKey.set(d.key, d);
    const got = new Map<string, number>();
    for (const d of byKey.values()) {
      const fp = poisonFingerprint(d.value.subarray(0, 64 * 1024)).replace(/:\d+$/, `:${d.headers['auditmesh.original_bytes']}`);
      got.set(fp, (got.get(fp) ?? 0) + 1);
    }
    const want = new Map<string, number>();
    for (const p of poison) want.set(poisonFingerprint(p.value), (want.get(poisonFingerprint(p.value)) ?? 0) + 1);
    const missing = [...want].filter(([fp, n]) => (got.get(fp) ?? 0) < n).map(([fp]) => poison.find((p) => poisonFingerprint(p.value) === fp)!.kind);
    const unexpected = [...got].filter(([fp, n]) => (want.get(fp) ?? 0) < n).length;
    const withoutReason = [...byKey.values()].filter((d) => !d.headers['auditmesh.reason'] || !d.headers['auditmesh.code'] || !d.headers['auditmesh.topic']).length;
    const codes: Record<string, number> = {};
    for (const d of byKey.values()) codes[d.headers['auditmesh.code']!] = (codes[d.headers['auditmesh.code']!] ?? 0) + 1;

    // ---- the store: the healthy traffic exactly, every poison message as a dead letter ------
    const { records, problems, events, uniqueEvents, deadLetters: storedDeadLetters } = await esTruth(es, prefix, scenario);
    const kinds: Record<string, number> = {};
    for (const p of poison) kinds[p.kind] = (kinds[p.kind] ?? 0) + 1;
    const summary = {
      seed: SEED,
      healthy: scenario.messages.length,
      poison: poison.length,
      poisonKinds: kinds,
      produceS: Math.round(produceMs / 100) / 10,
      messagesPerSProduced: Math.round((scenario.messages.length + poison.length) / (produceMs / 1000)),
      drainS: Math.round(drainMs / 1000),
      deadLetterTopicMessages: dl.length,
      deadLetterTopicDistinct: byKey.size,
      codes,
      missing: missing.slice(0, 10),
      unexpected,
      withoutReason,
      storedDeadLetters,
      deadLettersMetric,
      records: records.length,
      expectedRecords: scenario.records.length,
      events,
      uniqueEvents,
      stayedUp,
      readyz,
      exitCode,
    };
    process.stdout.write(`faults/poison: ${JSON.stringify(summary)}\n`);

    expect(stayedUp).toBe(true);
    expect(readyz).toBe(200);
    expect(exitCode).toBe(0);
    expect(missing).toEqual([]);
    expect(unexpected).toBe(0);
    expect(byKey.size).toBe(poison.length);
    expect(withoutReason).toBe(0);
    expect(storedDeadLetters).toBe(poison.length);
    expect(deadLettersMetric).toBeGreaterThanOrEqual(poison.length);
    expect(problems.slice(0, 20)).toEqual([]);
    expect(records.length).toBe(scenario.requests.length + scenario.sessions.length);
    expect(events).toBe(uniqueEvents);
  });
});
