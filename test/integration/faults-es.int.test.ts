/**
 * Fault injection (issue 8): Elasticsearch stopped for 60 s mid-stream.
 *
 * auditmesh (`node bin/auditmesh.js serve`, a child process) consumes the mixed traffic of the crash
 * test from the shared Kafka into a DEDICATED Elasticsearch node, which the test really stops (the
 * process group ends) while auditmesh is mid-stream and traffic keeps arriving, for 60 s, and then
 * starts again on the same port with the same data. Verified:
 *
 * - the process stays up (liveness answers) and reports itself not ready while the store is away;
 * - consumption pauses: no consumer group commits an offset while Elasticsearch is down (offsets are
 *   committed only after the store acknowledged), so the lag grows with the traffic;
 * - once Elasticsearch is back it catches up by itself, and the store then holds EXACTLY the truth:
 *   one record per request and per firewall session with exactly its members, one event per distinct
 *   message, no dead letters.
 */
import type { ChildProcess } from 'node:child_process';
import { Client } from '@elastic/elasticsearch';
import { kafkaBrokers } from './infra';
import { randomSeed } from '../support/scenario';
import { sleep, totalLag, waitForDrain } from '../support/delivery';
import { alive, buildIfStale, committedSum, logTail, startServe, stopChild } from '../support/child';
import { cleanupRun, httpStatus, prepareMidStream, producePaced, reachMidStream, startDedicated, type DedicatedServer, type MidStream } from '../support/faults';
import { esTruth } from '../support/truth';

const SEED = Number(process.env.FAULT_SEED ?? randomSeed());
const REQUESTS = Number(process.env.FAULT_REQUESTS ?? 1500);
const OUTAGE_MS = Number(process.env.FAULT_ES_OUTAGE_S ?? 60) * 1000;
/** After the stop, commits of batches Elasticsearch acknowledged just before it went may still land. */
const SETTLE_MS = 3_000;

jest.setTimeout(OUTAGE_MS + 600_000);

describe('integration > faults: Elasticsearch stopped for 60 s mid-stream', () => {
  let esNode: DedicatedServer | undefined;
  let es: Client | undefined;
  let run: MidStream | undefined;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    buildIfStale();
    esNode = await startDedicated('elasticsearch');
    es = new Client({ node: esNode.url!, requestTimeout: 30_000 });
    run = await prepareMidStream({ tag: 'fe', brokers: kafkaBrokers(), seed: SEED, requests: REQUESTS, maxRecords: 200 });
  });

  afterAll(() => cleanupRun({ child, clients: [run?.producer, run?.admin], es, sd: run?.sd, dedicated: esNode }));

  it('pauses consumption without committing while Elasticsearch is down, stays up, then catches up with exactly the truth', async () => {
    const { topics, prefix, sd, scenario, admin, producer } = run!;
    const [before, during, after] = run!.phases;
    const committed = () => committedSum(admin, sd.pairs);

    // 1. Mid-stream: the first third is produced and auditmesh is working through it.
    await producePaced(producer, topics, before);
    child = startServe(sd, { kafkaBrokers: kafkaBrokers(), elasticsearchUrl: esNode!.url! });
    const { port } = await reachMidStream(run!, child, 0.3);

    // 2. Elasticsearch goes away (its processes end) while traffic keeps arriving.
    const producing = producePaced(producer, topics, during, { durationMs: OUTAGE_MS * 0.75 });
    await esNode!.stop();
    const stoppedAt = Date.now();
    const samples: { t: number; committed: number; lag: number; healthz: number; readyz: number; alive: boolean }[] = [];
    while (Date.now() - stoppedAt < OUTAGE_MS) {
      const [c, lag, healthz, readyz] = await Promise.all([committed(), totalLag(admin, sd.pairs), httpStatus(`http://127.0.0.1:${port}/healthz`), httpStatus(`http://127.0.0.1:${port}/readyz`, 15_000)]);
      samples.push({ t: Date.now() - stoppedAt, committed: c, lag, healthz, readyz, alive: alive(child) });
      await sleep(1_000);
    }
    await producing;
    const duringOutage = samples.filter((s) => s.t >= SETTLE_MS);
    const lagEnd = await totalLag(admin, sd.pairs);
    const committedEnd = await committed();

    // 3. Elasticsearch is back (same port, same data); auditmesh catches up by itself.
    await esNode!.start();
    const restartedAt = Date.now();
    await producePaced(producer, topics, after);
    await waitForDrain(admin, sd.pairs, 300_000, 'auditmesh to catch up after Elasticsearch returned').catch((e) => {
      throw new Error(`${(e as Error).message}\n${logTail(sd.logFile)}`);
    });
    const catchUpMs = Date.now() - restartedAt;
    const readyAfter = await httpStatus(`http://127.0.0.1:${port}/readyz`, 15_000);
    const exitCode = await stopChild(child, 'SIGTERM');

    // ---- exactly the truth -----------------------------------------------------------------
    const { records, problems, events, uniqueEvents, deadLetters } = await esTruth(es!, prefix, scenario);
    const committedDuring = [...new Set(duringOutage.map((s) => s.committed))];
    const summary = {
      seed: SEED,
      messages: scenario.messages.length,
      committedAtStop: samples[0]?.committed,
      committedDuringOutage: committedDuring,
      lagAtStop: samples[0]?.lag,
      lagAtEndOfOutage: lagEnd,
      committedAtEndOfOutage: committedEnd,
      healthzDuringOutage: [...new Set(samples.map((s) => s.healthz))],
      readyzDuringOutage: [...new Set(duringOutage.map((s) => s.readyz))],
      catchUpS: Math.round(catchUpMs / 1000),
      readyAfter,
      records: records.length,
      expectedRecords: scenario.records.length,
      events,
      uniqueEvents,
      deadLetters,
      exitCode,
    };
    process.stdout.write(`faults/es-outage: ${JSON.stringify(summary)}\n`);

    // The process stayed up and said so; it said it was not ready while the store was away.
    expect(samples.every((s) => s.alive)).toBe(true);
    expect(summary.healthzDuringOutage).toEqual([200]);
    expect(summary.readyzDuringOutage).toEqual([503]);
    // Consumption paused: not one offset committed while nothing could be stored, and the lag grew.
    expect(duringOutage.length).toBeGreaterThan(OUTAGE_MS / 1000 / 3);
    expect(committedDuring).toHaveLength(1);
    expect(committedEnd).toBe(committedDuring[0]);
    expect(lagEnd).toBeGreaterThanOrEqual(during.length);
    // It caught up and the store holds exactly the truth.
    expect(readyAfter).toBe(200);
    expect(exitCode).toBe(0);
    expect(problems.slice(0, 20)).toEqual([]);
    expect(records.length).toBe(scenario.requests.length + scenario.sessions.length);
    expect(events).toBe(uniqueEvents);
    expect(deadLetters).toBe(0);
  });
});
