/**
 * Crash test: effectively-once delivery through `kill -9`.
 *
 * Thousands of requests (every shape the scenario test proves one by one) are rendered to the four
 * layers' wire formats and produced to four real Kafka topics (two partitions each), out of order
 * within the allowed lateness. auditmesh runs as a CHILD PROCESS (`node bin/auditmesh.js serve`, the
 * compiled dist/, configured only through the environment and a config file) and is killed with
 * SIGKILL at random moments while it ingests, then restarted, several times. After the last run has
 * drained (every consumer group committed every offset, which auditmesh does only after the store
 * acknowledged), Elasticsearch must hold EXACTLY the truth: one record per request and per firewall
 * session, each with exactly its expected members; one event per distinct message; no dead letters.
 */
import type { ChildProcess } from 'node:child_process';
import type { Admin } from 'kafkajs';
import type { Client } from '@elastic/elasticsearch';
import { createTopics, elasticsearchUrl, kafkaBrokers, newEsClient, newKafka, uniqueName } from './infra';
import { randomSeed, seededRng, type Scenario } from '../support/scenario';
import { shuffleWithin, sleep, totalLag, waitForDrain } from '../support/delivery';
import { buildIfStale, committedSum, logTail, serveDir, SOURCES, startServe, stopChild, type ServeDir } from '../support/child';
import { cleanupRun, mixedScenario, sourceTopics } from '../support/faults';
import { esTruth } from '../support/truth';

const SEED = Number(process.env.CRASH_SEED ?? randomSeed());
const REQUESTS = Number(process.env.CRASH_REQUESTS ?? 3000);
/** SIGKILLs during ingestion (issue 8: ten); each costs a consumer-group session timeout (30 s) to resume. */
const KILLS = Number(process.env.CRASH_KILLS ?? 10);

// Per kill up to ~40 s to resume (session timeout) plus the ingestion until the kill, then the final drain.
jest.setTimeout(240_000 + KILLS * 60_000);

describe('integration > crash: kill -9 auditmesh repeatedly while it ingests, Elasticsearch ends with exactly the truth', () => {
  const topics = sourceTopics('cr');
  const dlq = uniqueName('cr-dlq');
  const prefix = uniqueName('am-crash');
  let sd: ServeDir;
  let admin: Admin;
  let es: Client;
  let scenario: Scenario;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    buildIfStale();
    await createTopics([...Object.values(topics)], 2);
    await createTopics([dlq]);
    // Event time: one request every 200 ms over ten minutes, ending an hour ago (longer than the
    // allowed lateness of 5 minutes, so a restart always resumes behind some topic's progress).
    const made = await mixedScenario(SEED, REQUESTS, { endsAgoMs: 3_600_000, stepMs: 200, kid: 'crash-k1' });
    scenario = made.scenario;
    // Batches of 100: commits come in small steps, so each kill lands close to its target.
    sd = serveDir('crash', { topics, groupPrefix: uniqueName('cr-grp'), deadLetterTopic: dlq, indexPrefix: prefix, signer: made.signer, maxRecords: 100 });
    const rng = seededRng(SEED ^ 0x0de5);

    const kafka = newKafka('crash-producer');
    const producer = kafka.producer();
    admin = kafka.admin();
    await Promise.all([producer.connect(), admin.connect()]);
    es = newEsClient();
    try {
      for (const s of SOURCES) {
        // Out of order within each topic by up to 60 s of event time (below the allowed lateness).
        const msgs = shuffleWithin(rng, scenario.messages.filter((m) => m.source === s), 60_000);
        for (let i = 0; i < msgs.length; i += 500) {
          await producer.send({ topic: topics[s], acks: -1, messages: msgs.slice(i, i + 500).map((m) => ({ key: String(Math.floor(rng() * 1e9)), value: m.value })) });
        }
      }
    } finally {
      await producer.disconnect();
    }
  });

  afterAll(() => cleanupRun({ child, clients: [admin], es, indexPrefix: prefix, sd }));

  const start = (): ChildProcess => startServe(sd, { kafkaBrokers: kafkaBrokers(), elasticsearchUrl: elasticsearchUrl() });
  const committed = () => committedSum(admin, sd.pairs);

  it(`ends with exactly one record per request and per session, each with exactly its members, after ${KILLS} SIGKILLs during ingestion`, async () => {
    const total = scenario.messages.length;
    const t0 = Date.now();
    const rng = seededRng(SEED ^ 0x5eed);
    // Per run: how long the restarted service took to commit again (the consumer groups rejoin only
    // when the killed member's Kafka session (30 s) has expired), and when it was killed.
    const kills: { atCommitted: number; lagAtKill: number; resumedAfterMs: number; afterMs: number }[] = [];
    for (let k = 0; k < KILLS; k++) {
      child = start();
      const begin = await committed();
      const runStart = Date.now();
      // Kill after it made progress of a random size: 30-70 % of an equal share of what is still
      // waiting among this kill, the ones after it and the final run (so every kill lands while
      // messages are still waiting), at a random moment after.
      const target = begin + Math.max(20, Math.floor(((total - begin) * (0.3 + rng() * 0.4)) / (KILLS - k + 1)));
      let resumedAfterMs = -1;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`auditmesh exited by itself (code ${child.exitCode}):\n${logTail(sd.logFile)}`);
        const now = await committed();
        if (resumedAfterMs < 0 && now > begin) resumedAfterMs = Date.now() - runStart;
        if (now >= target) break;
        if (Date.now() - runStart > 90_000) throw new Error(`no progress within 90 s after restart ${k}:\n${logTail(sd.logFile)}`);
        await sleep(50);
      }
      await sleep(Math.floor(rng() * 200));
      const lagAtKill = await totalLag(admin, sd.pairs);
      await stopChild(child, 'SIGKILL');
      kills.push({ atCommitted: await committed(), lagAtKill, resumedAfterMs, afterMs: Date.now() - runStart });
      if ((await totalLag(admin, sd.pairs)) === 0) break; // drained already: nothing left to interrupt
    }
    // The last run: until every group has committed every message.
    child = start();
    const finalStart = Date.now();
    await waitForDrain(admin, sd.pairs, 240_000, 'the final run to drain').catch((e) => {
      throw new Error(`${(e as Error).message}\n${logTail(sd.logFile)}`);
    });
    const finalRunMs = Date.now() - finalStart;
    await stopChild(child, 'SIGTERM');
    const duration = Date.now() - t0;

    // ---- Elasticsearch holds exactly the truth --------------------------------------------
    const { records, problems, events, uniqueEvents, deadLetters } = await esTruth(es, prefix, scenario);
    const summary = {
      seed: SEED,
      requests: scenario.requests.length,
      sessions: scenario.sessions.length,
      messages: total,
      kills: kills.length,
      killedAtCommitted: kills.map((k) => k.atCommitted),
      lagAtKill: kills.map((k) => k.lagAtKill),
      resumedAfterS: kills.map((k) => Math.round(k.resumedAfterMs / 100) / 10),
      killedAfterS: kills.map((k) => Math.round(k.afterMs / 100) / 10),
      finalRunS: Math.round(finalRunMs / 1000),
      durationS: Math.round(duration / 1000),
      records: records.length,
      expectedRecords: scenario.records.length,
      events,
      uniqueEvents,
      deadLetters,
    };
    process.stdout.write(`crash test: ${JSON.stringify(summary)}\n`);
    expect(problems.slice(0, 20)).toEqual([]);
    // Every kill interrupted ingestion: messages were still waiting when it came.
    expect(kills.length).toBe(KILLS);
    expect(kills.filter((k) => k.lagAtKill === 0)).toEqual([]);
    expect(records.length).toBe(scenario.records.length);
    expect(records.length).toBe(scenario.requests.length + scenario.sessions.length);
    expect(events).toBe(uniqueEvents);
    expect(deadLetters).toBe(0);
  });
});
