/**
 * Fault-injection helpers: a dedicated Kafka broker or Elasticsearch node that a test may stop and
 * start again (scripts/infra/harness.cjs `startDedicated`; the shared servers of globalSetup are
 * never stopped, other suites use them), traffic split into phases, and production that keeps going
 * (and keeps retrying) while a backend is away.
 */
import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import type { Client } from '@elastic/elasticsearch';
import type { SourceType } from '../../src/model/events';
import { uniqueName } from '../integration/infra';
import { alive, committedSum, keepLog, logTail, servePort, serveDir, stopChild, type ServeDir } from './child';
import { shuffleWithin, sleep } from './delivery';
import { mixedTraffic, newSigningKey, renderScenario, seededRng, type Message, type Rng, type Scenario, type SigningKey } from './scenario';

export interface DedicatedServer {
  kind: 'kafka' | 'elasticsearch';
  runDir: string;
  port: number;
  logFile: string;
  /** Kafka: `127.0.0.1:PORT`. */
  brokers?: string;
  /** Elasticsearch: `http://127.0.0.1:PORT`. */
  url?: string;
  pid(): number | undefined;
  running(): boolean;
  /** End the process group (SIGTERM, SIGKILL after a grace; or SIGKILL at once); the data stays. */
  stop(opts?: { signal?: 'SIGTERM' | 'SIGKILL' }): Promise<void>;
  /** Launch it again on the same port with the same data dir; resolves when it answers. */
  start(): Promise<void>;
  /** Stop it and delete its run dir. */
  dispose(): Promise<void>;
}

interface HarnessWithDedicated {
  startDedicated(kind: 'kafka' | 'elasticsearch', opts?: { log?: (msg: string) => void }): Promise<DedicatedServer>;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const harness: HarnessWithDedicated = require('../../scripts/infra/harness.cjs');

const log = (msg: string): void => {
  process.stderr.write(`[infra] ${msg}\n`);
};

/** Start a dedicated server (see DedicatedServer); harness failures keep their message, not a stack. */
export async function startDedicated(kind: 'kafka' | 'elasticsearch'): Promise<DedicatedServer> {
  try {
    return await harness.startDedicated(kind, { log });
  } catch (e) {
    const err = new Error((e as Error).message);
    err.stack = err.message;
    throw err;
  }
}

/** A kafkajs client for explicit brokers (a dedicated broker), errors only. */
export function kafkaAt(brokers: string, clientId: string): Kafka {
  return new Kafka({ clientId, brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 5, initialRetryTime: 100 } });
}

/**
 * Create topics on `brokers` and wait until every partition has a leader. Polls the metadata instead
 * of kafkajs's `waitForLeaders`, which gives up on the transient "This server does not host this
 * topic-partition" a loaded broker answers right after creation.
 */
export async function createTopicsAt(brokers: string, names: string[], partitions = 1, timeoutMs = 60_000): Promise<void> {
  const admin = kafkaAt(brokers, 'auditmesh-test-admin').admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: false, topics: names.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })) });
    await waitUntil(`leaders of ${names.join(', ')}`, async () => {
      try {
        const md = await admin.fetchTopicMetadata({ topics: names });
        return md.topics.length === names.length && md.topics.every((t) => t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0));
      } catch {
        return false;
      }
    }, timeoutMs);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Split each source's messages into `n` consecutive phases of event time (out of order within
 * `shuffleMs` windows): phase k of every topic covers the same stretch of event time, so producing
 * phase after phase never runs one topic far ahead of the others.
 */
export function phases(rng: Rng, messages: Message[], n: number, shuffleMs = 10_000): Message[][] {
  const out: Message[][] = Array.from({ length: n }, () => []);
  const sources = [...new Set(messages.map((m) => m.source))];
  for (const s of sources) {
    const msgs = shuffleWithin(rng, messages.filter((m) => m.source === s), shuffleMs);
    msgs.forEach((m, i) => out[Math.min(n - 1, Math.floor((i * n) / msgs.length))]!.push(m));
  }
  return out;
}

/**
 * Produce `messages` to their source's topic in chunks spread evenly over `durationMs` (0: as fast
 * as possible), retrying a chunk until the broker takes it (a broker that is down is waited for; a
 * retried chunk may land twice, which the content-addressed event ids make harmless). Resolves with
 * the number of failed send attempts.
 */
export async function producePaced(
  producer: Producer,
  topics: Record<SourceType, string>,
  messages: Message[],
  opts: { durationMs?: number; chunk?: number; giveUpAfterMs?: number } = {},
): Promise<{ failedSends: number }> {
  const chunk = opts.chunk ?? 50;
  // Interleave the topics: chunk i of each source in turn.
  const bySource = new Map<SourceType, Message[]>();
  for (const m of messages) (bySource.get(m.source) ?? bySource.set(m.source, []).get(m.source)!).push(m);
  const chunks: { source: SourceType; msgs: Message[] }[] = [];
  const longest = Math.max(0, ...[...bySource.values()].map((q) => q.length));
  for (let i = 0; i < longest; i += chunk) for (const [source, q] of bySource) if (i < q.length) chunks.push({ source, msgs: q.slice(i, i + chunk) });
  const t0 = Date.now();
  const giveUp = opts.giveUpAfterMs ?? 240_000;
  let failedSends = 0;
  for (let i = 0; i < chunks.length; i++) {
    const due = t0 + ((opts.durationMs ?? 0) * i) / chunks.length;
    if (due > Date.now()) await sleep(due - Date.now());
    const c = chunks[i]!;
    const firstTry = Date.now();
    for (;;) {
      try {
        await producer.send({ topic: topics[c.source], acks: -1, messages: c.msgs.map((m) => ({ value: m.value })) });
        break;
      } catch (e) {
        failedSends++;
        if (Date.now() - firstTry > giveUp) throw new Error(`could not produce to ${topics[c.source]} for ${giveUp} ms: ${(e as Error).message}`);
        await sleep(500);
      }
    }
  }
  return { failedSends };
}

/** Poll `fn` every `everyMs` until it returns true; throws after `timeoutMs` naming `what`. */
export async function waitUntil(what: string, fn: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 250): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** HTTP status of a GET (0 when nothing answers). */
export async function httpStatus(url: string, timeoutMs = 5_000): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** A fresh topic name per source, tagged (`<tag>-envoy-…`). */
export function sourceTopics(tag: string): Record<SourceType, string> {
  return Object.fromEntries((['envoy', 'tyk', 'panos', 'otlp'] as const).map((s) => [s, uniqueName(`${tag}-${s}`)])) as Record<SourceType, string>;
}

/**
 * The crash test's mixed traffic (`mixedTraffic`), rendered with its truth: `requests` requests
 * `stepMs` apart, the last one `endsAgoMs` before now, tokens signed by a fresh ES256 key (`signer`,
 * whose JWKS auditmesh trusts) or forged with another key of the same `kid`.
 */
export async function mixedScenario(seed: number, requests: number, o: { endsAgoMs: number; stepMs: number; kid: string; lineFormatsOnly?: boolean }): Promise<{ scenario: Scenario; signer: SigningKey }> {
  const [signer, attacker] = await Promise.all([newSigningKey(o.kid, 'ES256'), newSigningKey(o.kid, 'ES256')]);
  const t0 = Date.now() - o.endsAgoMs - requests * o.stepMs;
  const traffic = mixedTraffic(seededRng(seed), requests, t0, o.stepMs, signer, attacker, { lineFormatsOnly: o.lineFormatsOnly ?? false });
  return { scenario: await renderScenario(traffic.requests, traffic.sessions), signer };
}

/**
 * The end of a suite that ran auditmesh: kill what still runs, disconnect the clients, delete the
 * indices of `indexPrefix` (when given), keep the service's log in test-artifacts/faults/, delete
 * the work dir, dispose of a dedicated server. Each step runs whatever failed before it.
 */
export async function cleanupRun(o: { child?: ChildProcess | undefined; clients?: ({ disconnect(): Promise<void> } | undefined)[]; es?: Client | undefined; indexPrefix?: string; sd?: ServeDir | undefined; dedicated?: DedicatedServer | undefined }): Promise<void> {
  await stopChild(o.child, 'SIGKILL');
  for (const c of o.clients ?? []) await c?.disconnect().catch(() => undefined);
  if (o.es) {
    if (o.indexPrefix) await o.es.indices.delete({ index: `${o.indexPrefix}-*`, ignore_unavailable: true, allow_no_indices: true }).catch(() => undefined);
    await o.es.close();
  }
  keepLog(o.sd, 'faults');
  if (o.sd) fs.rmSync(o.sd.dir, { recursive: true, force: true });
  await o.dedicated?.dispose();
}

/** What a mid-stream fault test works with (see prepareMidStream). */
export interface MidStream {
  topics: Record<SourceType, string>;
  /** Index prefix of this run's auditmesh. */
  prefix: string;
  sd: ServeDir;
  scenario: Scenario;
  /** The traffic in three phases of event time: before, during and after the fault. */
  phases: [Message[], Message[], Message[]];
  admin: Admin;
  producer: Producer;
}

/**
 * The common start of the mid-stream fault tests: topics (two partitions each) and a dead-letter
 * topic on `brokers`, the crash test's mixed traffic (one request every 100 ms, ending ten minutes
 * ago: the stream spans less than the allowed lateness, so however a fault reorders the topics'
 * progress nothing is "too late") in three phases, a serve work dir, an admin and a producer.
 */
export async function prepareMidStream(o: { tag: string; brokers: string; seed: number; requests: number; maxRecords: number }): Promise<MidStream> {
  const topics = sourceTopics(o.tag);
  const dlq = uniqueName(`${o.tag}-dlq`);
  await createTopicsAt(o.brokers, Object.values(topics), 2);
  await createTopicsAt(o.brokers, [dlq]);
  const prefix = uniqueName(`am-fault-${o.tag}`);
  const { scenario, signer } = await mixedScenario(o.seed, o.requests, { endsAgoMs: 600_000, stepMs: 100, kid: `${o.tag}-k1` });
  const sd = serveDir(`fault-${o.tag}`, { topics, groupPrefix: uniqueName(`${o.tag}-grp`), deadLetterTopic: dlq, indexPrefix: prefix, signer, maxRecords: o.maxRecords });
  const kafka = kafkaAt(o.brokers, `fault-${o.tag}`);
  const admin = kafka.admin();
  const producer = kafka.producer();
  await Promise.all([admin.connect(), producer.connect()]);
  return { topics, prefix, sd, scenario, phases: phases(seededRng(o.seed ^ 0xfa17), scenario.messages, 3) as [Message[], Message[], Message[]], admin, producer };
}

/**
 * Wait until the auditmesh `child` (started after the first phase was produced) has committed
 * `fraction` of the first phase: it is mid-stream. Resolves with its HTTP port.
 */
export async function reachMidStream(run: MidStream, child: ChildProcess, fraction: number): Promise<{ port: number; midway: number }> {
  const port = await servePort(run.sd, child);
  const midway = Math.floor(run.phases[0].length * fraction);
  await waitUntil(`auditmesh to commit ${Math.round(fraction * 100)} % of the first phase`, async () => {
    if (!alive(child)) throw new Error(`auditmesh exited (code ${child.exitCode}):\n${logTail(run.sd.logFile)}`);
    return (await committedSum(run.admin, run.sd.pairs)) >= midway;
  }, 180_000);
  return { port, midway };
}
