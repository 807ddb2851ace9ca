/**
 * auditmesh as a CHILD PROCESS (`node bin/auditmesh.js serve|ingest`, the compiled dist/), for the
 * tests that kill it, starve it or take its backends away (crash and fault-injection suites): a work
 * directory with one Kafka pipeline per source and a config file, start/stop with the log kept in a
 * file, and the committed progress of its consumer groups.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Admin } from 'kafkajs';
import type { SourceType } from '../../src/model/events';
import { AUDIENCE, ISSUER, jwksOf, type SigningKey } from './scenario';
import { sleep } from './delivery';

export const ROOT = path.resolve(__dirname, '../..');
/** The CLI the children run; AUDITMESH_TEST_BIN runs the suites against another build (e.g. an older commit's). */
export const BIN = process.env.AUDITMESH_TEST_BIN ? path.resolve(process.env.AUDITMESH_TEST_BIN) : path.join(ROOT, 'bin/auditmesh.js');
export const SOURCES: SourceType[] = ['envoy', 'tyk', 'panos', 'otlp'];

/**
 * Build dist/ when any compiled source is newer than its output (the child runs the compiled code).
 * Nothing to do when AUDITMESH_TEST_BIN names another build.
 */
export function buildIfStale(): boolean {
  if (process.env.AUDITMESH_TEST_BIN) return false;
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

export interface ServeDir {
  dir: string;
  logFile: string;
  topics: Record<SourceType, string>;
  groupPrefix: string;
  /** (consumer group, topic) of every pipeline. */
  pairs: { groupId: string; topic: string }[];
}

/**
 * A work dir for `auditmesh serve`: one Kafka pipeline per source (OTLP in protobuf) reading
 * `topics`, and `auditmesh.yaml` with the consumer group prefix, the dead-letter topic, the index
 * prefix and the scenario's identity provider (its JWKS in a file).
 */
export function serveDir(name: string, o: { topics: Record<SourceType, string>; groupPrefix: string; deadLetterTopic: string; indexPrefix: string; signer: SigningKey; maxRecords?: number }): ServeDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const pdir = path.join(dir, 'pipelines');
  fs.mkdirSync(pdir);
  for (const s of SOURCES) {
    fs.writeFileSync(path.join(pdir, `${s}.yaml`), `id: ${s}\ntype: kafka\ntopics: [${o.topics[s]}]\nparser: ${s}\n${s === 'otlp' ? 'format: otlp_proto\n' : ''}batch:\n  maxRecords: ${o.maxRecords ?? 500}\n`);
  }
  fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(jwksOf(o.signer)));
  fs.writeFileSync(
    path.join(dir, 'auditmesh.yaml'),
    [
      'server: { port: 0, host: 127.0.0.1 }',
      `kafka: { groupPrefix: ${o.groupPrefix}, deadLetterTopic: ${o.deadLetterTopic} }`,
      `elasticsearch: { indexPrefix: ${o.indexPrefix} }`,
      'identity:',
      '  issuers:',
      `    - { issuer: "${ISSUER}", jwksFile: jwks.json, audiences: [${AUDIENCE}], algorithms: [ES256] }`,
      '',
    ].join('\n'),
  );
  return { dir, logFile: path.join(dir, 'auditmesh.log'), topics: o.topics, groupPrefix: o.groupPrefix, pairs: SOURCES.map((s) => ({ groupId: `${o.groupPrefix}-${s}`, topic: o.topics[s] })) };
}

export interface Backends {
  /** Kafka bootstrap servers; none: no Kafka pipelines. */
  kafkaBrokers?: string;
  /** Elasticsearch URL; none: the embedded store. */
  elasticsearchUrl?: string;
  /** Data dir (embedded store, signing key); default `<dir>/data`. */
  dataDir?: string;
}

/** The environment of an auditmesh child: only what the test sets (no inherited AUDITMESH_* or backends). */
function childEnv(sd: ServeDir, b: Backends): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...(b.kafkaBrokers ? { KAFKA_BROKERS: b.kafkaBrokers } : {}),
    ...(b.elasticsearchUrl ? { ELASTICSEARCH_URL: b.elasticsearchUrl } : {}),
    AUDITMESH_CONFIG: path.join(sd.dir, 'auditmesh.yaml'),
    AUDITMESH_PIPELINES_DIR: path.join(sd.dir, 'pipelines'),
    AUDITMESH_DATA_DIR: b.dataDir ?? path.join(sd.dir, 'data'),
    LOG_LEVEL: 'warn',
  };
}

/** Start `auditmesh serve` in `sd.dir` against the given backends; output appended to `sd.logFile`. */
export function startServe(sd: ServeDir, backends: Backends): ChildProcess {
  const out = fs.openSync(sd.logFile, 'a');
  try {
    const c = spawn(process.execPath, [BIN, 'serve'], { cwd: sd.dir, env: childEnv(sd, backends), stdio: ['ignore', out, out] });
    logStart.set(c, fs.fstatSync(out).size);
    return c;
  } finally {
    fs.closeSync(out);
  }
}

/** Where each child's output starts in the (shared, appended) log file. */
const logStart = new WeakMap<ChildProcess, number>();

/** Run another auditmesh command (`ingest`, `token`, …) to its end; never throws on the exit code. */
export function runCli(sd: ServeDir, backends: Backends, args: string[], timeoutMs = 120_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [BIN, ...args], { cwd: sd.dir, env: childEnv(sd, backends), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('error', reject);
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

export const alive = (c: ChildProcess | undefined): boolean => Boolean(c && c.exitCode === null && c.signalCode === null);

/** Send `signal` and wait for the exit; resolves with the exit code (null when killed by a signal). */
export async function stopChild(c: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (!c) return null;
  if (!alive(c)) return c.exitCode;
  const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
  c.kill(signal);
  return exited;
}

/** The last `lines` lines of a log file ('' when there is none). */
export function logTail(file: string, lines = 30): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n') : '';
}

/** The port `auditmesh serve` printed (`auditmesh listening on http://localhost:PORT`), waiting for it. */
export async function servePort(sd: ServeDir, c: ChildProcess, timeoutMs = 60_000): Promise<number> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const m = fs.existsSync(sd.logFile) ? /auditmesh listening on http:\/\/localhost:(\d+)/.exec(fs.readFileSync(sd.logFile).subarray(logStart.get(c) ?? 0).toString('utf8')) : null;
    if (m) return Number(m[1]);
    if (!alive(c)) throw new Error(`auditmesh exited (code ${c.exitCode}) before listening:\n${logTail(sd.logFile)}`);
    await sleep(100);
  }
  throw new Error(`auditmesh did not print its port within ${timeoutMs} ms:\n${logTail(sd.logFile)}`);
}

/** Sum of the committed offsets of every (group, topic) pair (0 for a partition without a commit). */
export async function committedSum(admin: Admin, pairs: { groupId: string; topic: string }[]): Promise<number> {
  let sum = 0;
  for (const p of pairs) {
    const offs = await admin.fetchOffsets({ groupId: p.groupId, topics: [p.topic] });
    for (const t of offs) for (const part of t.partitions) sum += Math.max(0, Number(part.offset));
  }
  return sum;
}

/** A counter of auditmesh's Prometheus exposition, summed over the series whose labels contain `labelFilter`. */
export async function metricSum(port: number, name: string, labelFilter = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    if (labelFilter && !line.includes(labelFilter)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Keep the service's log in test-artifacts/<suite>/ (the work dir is deleted after the suite). */
export function keepLog(sd: ServeDir | undefined, suite: string): void {
  if (!sd || !fs.existsSync(sd.logFile)) return;
  const dest = path.join(ROOT, 'test-artifacts', suite);
  fs.mkdirSync(dest, { recursive: true });
  fs.copyFileSync(sd.logFile, path.join(dest, `${path.basename(sd.dir)}.log`));
}
