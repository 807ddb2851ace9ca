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
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Admin } from 'kafkajs';
import type { Client } from '@elastic/elasticsearch';
import type { SourceType } from '../../src/model/events';
import type { AuditRecord } from '../../src/model/record';
import { createTopics, elasticsearchUrl, kafkaBrokers, newEsClient, newKafka, uniqueName } from './infra';
import { AUDIENCE, ISSUER, jwksOf, mixedTraffic, newSigningKey, randomSeed, renderScenario, seededRng, type Scenario } from '../support/scenario';
import { allRecords, countDocs, shuffleWithin, sleep, totalLag, waitForDrain } from '../support/delivery';

jest.setTimeout(420_000);

const ROOT = path.resolve(__dirname, '../..');
const SEED = Number(process.env.CRASH_SEED ?? randomSeed());
const REQUESTS = Number(process.env.CRASH_REQUESTS ?? 3000);
const KILLS = Number(process.env.CRASH_KILLS ?? 5);
const SOURCES: SourceType[] = ['envoy', 'tyk', 'panos', 'otlp'];

/** Build dist/ when any compiled source is newer than its output (the child runs the compiled code). */
function buildIfStale(): boolean {
  const stale = (dir: string): boolean => {
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) {
        if (ent.name !== 'testdata' && stale(p)) return true;
        continue;
      }
      if (!ent.name.endsWith('.ts') || ent.name.endsWith('.test.ts') || ent.name.endsWith('.d.ts')) continue;
      const out = path.join(ROOT, 'dist', path.relative(path.join(ROOT, 'src'), p)).replace(/\.ts$/, '.js');
      if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(p).mtimeMs) return true;
    }
    return false;
  };
  if (!stale(path.join(ROOT, 'src'))) return false;
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'pipe' });
  } catch (e) {
    const out = (e as { stdout?: Buffer }).stdout?.toString() ?? '';
    throw new Error(`dist/ is stale and \`tsc -p tsconfig.build.json\` failed:\n${out.slice(0, 4000)}`);
  }
  return true;
}

describe('integration > crash: kill -9 auditmesh repeatedly while it ingests, Elasticsearch ends with exactly the truth', () => {
  const topics: Record<SourceType, string> = { envoy: uniqueName('cr-envoy'), tyk: uniqueName('cr-tyk'), panos: uniqueName('cr-panos'), otlp: uniqueName('cr-otlp') };
  const groupPrefix = uniqueName('cr-grp');
  const dlq = uniqueName('cr-dlq');
  const prefix = uniqueName('am-crash');
  const pairs = SOURCES.map((s) => ({ groupId: `${groupPrefix}-${s}`, topic: topics[s] }));
  let dir: string;
  let admin: Admin;
  let es: Client;
  let scenario: Scenario;
  let child: ChildProcess | undefined;
  let logFile: string;

  beforeAll(async () => {
    buildIfStale();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crash-'));
    logFile = path.join(dir, 'auditmesh.log');
    const pdir = path.join(dir, 'pipelines');
    fs.mkdirSync(pdir);
    for (const s of SOURCES) {
      fs.writeFileSync(path.join(pdir, `${s}.yaml`), `id: ${s}\ntype: kafka\ntopics: [${topics[s]}]\nparser: ${s}\n${s === 'otlp' ? 'format: otlp_proto\n' : ''}batch:\n  maxRecords: 500\n`);
    }
    await createTopics([...Object.values(topics)], 2);
    await createTopics([dlq]);
    const [signer, attacker] = await Promise.all([newSigningKey('crash-k1', 'ES256'), newSigningKey('crash-k1', 'ES256')]);
    fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(jwksOf(signer)));
    fs.writeFileSync(
      path.join(dir, 'auditmesh.yaml'),
      [
        'server: { port: 0, host: 127.0.0.1 }',
        `kafka: { groupPrefix: ${groupPrefix}, deadLetterTopic: ${dlq} }`,
        `elasticsearch: { indexPrefix: ${prefix} }`,
        'identity:',
        '  issuers:',
        `    - { issuer: "${ISSUER}", jwksFile: jwks.json, audiences: [${AUDIENCE}], algorithms: [ES256] }`,
        '',
      ].join('\n'),
    );

    const rng = seededRng(SEED);
    // Event time: one request every 200 ms over ten minutes, ending an hour ago (longer than the
    // allowed lateness of 5 minutes, so a restart always resumes behind some topic's progress).
    const t0 = Date.now() - 3_600_000 - REQUESTS * 200;
    const traffic = mixedTraffic(rng, REQUESTS, t0, 200, signer, attacker);
    scenario = await renderScenario(traffic.requests, traffic.sessions);

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

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
    }
    await admin?.disconnect();
    if (es) {
      await es.indices.delete({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true }).catch(() => undefined);
      await es.close();
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = (): ChildProcess => {
    const out = fs.openSync(logFile, 'a');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      KAFKA_BROKERS: kafkaBrokers(),
      ELASTICSEARCH_URL: elasticsearchUrl(),
      AUDITMESH_CONFIG: path.join(dir, 'auditmesh.yaml'),
      AUDITMESH_PIPELINES_DIR: path.join(dir, 'pipelines'),
      AUDITMESH_DATA_DIR: path.join(dir, 'data'),
      LOG_LEVEL: 'warn',
    };
    const c = spawn(process.execPath, [path.join(ROOT, 'bin/auditmesh.js'), 'serve'], { cwd: dir, env, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    return c;
  };
  const committed = async () => {
    let sum = 0;
    for (const p of pairs) {
      const offs = await admin.fetchOffsets({ groupId: p.groupId, topics: [p.topic] });
      for (const t of offs) for (const part of t.partitions) sum += Math.max(0, Number(part.offset));
    }
    return sum;
  };
  const logTail = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n') : '');

  it('ends with exactly one record per request and per session, each with exactly its members, after repeated SIGKILLs', async () => {
    const total = scenario.messages.length;
    const t0 = Date.now();
    const rng = seededRng(SEED ^ 0x5eed);
    // Per run: how long the restarted service took to commit again (the consumer groups rejoin only
    // when the killed member's Kafka session (30 s) has expired), and when it was killed.
    const kills: { atCommitted: number; resumedAfterMs: number; afterMs: number }[] = [];
    for (let k = 0; k < KILLS; k++) {
      child = start();
      const begin = await committed();
      const runStart = Date.now();
      // Kill after it made progress of a random size (8–16 % of the messages), at a random moment after.
      const target = begin + Math.max(50, Math.floor(total * (0.08 + rng() * 0.08)));
      let resumedAfterMs = -1;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`auditmesh exited by itself (code ${child.exitCode}):\n${logTail()}`);
        const now = await committed();
        if (resumedAfterMs < 0 && now > begin) resumedAfterMs = Date.now() - runStart;
        if (now >= target) break;
        if (Date.now() - runStart > 90_000) throw new Error(`no progress within 90 s after restart ${k}:\n${logTail()}`);
        await sleep(100);
      }
      await sleep(Math.floor(rng() * 400));
      const c = child;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
      kills.push({ atCommitted: await committed(), resumedAfterMs, afterMs: Date.now() - runStart });
      if ((await totalLag(admin, pairs)) === 0) break; // drained already: nothing left to interrupt
    }
    // The last run: until every group has committed every message.
    child = start();
    const finalStart = Date.now();
    await waitForDrain(admin, pairs, 240_000, 'the final run to drain').catch((e) => {
      throw new Error(`${(e as Error).message}\n${logTail()}`);
    });
    const finalRunMs = Date.now() - finalStart;
    const c = child;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
    const duration = Date.now() - t0;

    // ---- Elasticsearch holds exactly the truth --------------------------------------------
    const records = await allRecords(es, prefix);
    const byMember = new Map<string, AuditRecord[]>();
    for (const r of records) for (const m of r.auditmesh.members) (byMember.get(m.event_id) ?? byMember.set(m.event_id, []).get(m.event_id)!).push(r);
    const problems: string[] = [];
    const matched = new Set<string>();
    for (const exp of scenario.records) {
      const anchor = exp.members.find((m) => exp.type === 'session' || m.source !== 'panos')!;
      const cands = (byMember.get(anchor.eventId) ?? []).filter((r) => r.auditmesh.record_type === exp.type);
      if (cands.length !== 1) {
        problems.push(`${exp.label}: ${cands.length} ${exp.type} records hold ${anchor.source} event ${anchor.eventId}`);
        continue;
      }
      const r = cands[0]!;
      matched.add(r.auditmesh.record_id);
      const got = r.auditmesh.members.map((m) => `${m.source}:${m.event_id}:${m.joined_by}`).sort();
      const want = exp.members.map((m) => `${m.source}:${m.eventId}:${m.joinedBy}`).sort();
      if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${exp.label}: members ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
      if (exp.identity && (r.auditmesh.identity.verdict !== exp.identity.verdict || r.auditmesh.identity.subject !== exp.identity.subject)) {
        problems.push(`${exp.label}: identity ${r.auditmesh.identity.subject}/${r.auditmesh.identity.verdict}, expected ${exp.identity.subject}/${exp.identity.verdict}`);
      }
    }
    const extra = records.filter((r) => !matched.has(r.auditmesh.record_id));
    for (const r of extra.slice(0, 10)) problems.push(`unexpected ${r.auditmesh.record_type} record ${r.auditmesh.record_id}: ${r.auditmesh.members.map((m) => `${m.source}:${m.event_id}`).join(',')}`);
    const uniqueEvents = new Set(scenario.messages.flatMap((m) => m.eventIds)).size;
    const events = await countDocs(es, `${prefix}-events-*`);
    const deadLetters = await countDocs(es, `${prefix}-dead-letters*`);
    const summary = {
      seed: SEED,
      requests: scenario.requests.length,
      sessions: scenario.sessions.length,
      messages: total,
      kills: kills.length,
      killedAtCommitted: kills.map((k) => k.atCommitted),
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
    expect(kills.length).toBeGreaterThanOrEqual(Math.min(KILLS, 3));
    expect(records.length).toBe(scenario.records.length);
    expect(records.length).toBe(scenario.requests.length + scenario.sessions.length);
    expect(events).toBe(uniqueEvents);
    expect(deadLetters).toBe(0);
  });
});
