#!/usr/bin/env node
// Soak test: a long run at a steady rate below the maximum — real Kafka → auditmesh → real
// Elasticsearch — to show that memory stays flat and the consumer lag stays steady.
//
//   npm run build && node bench/soak.mjs [--minutes 30] [--rate 470] [--sample-seconds 10] [--out FILE]
//
// --rate is in events per second (default 470: half the ~938 events/s auditmesh reached end to end in
// bench/e2e.mjs, see README). The traffic is bench/lib/traffic.mjs's realistic mix (per request a Tyk
// record, an Istio JSON access log, the app's OTLP span — up to 20 spans per protobuf message — and a
// PAN-OS TRAFFIC log for every 4th request), event time = produce time, produced on schedule in
// 200 ms ticks to four topics of two partitions. auditmesh runs as a child process
// (`node --require bench/lib/memsample.cjs bin/auditmesh.js serve`, the compiled dist/); the preloaded
// sampler writes process.memoryUsage() every sample period, the script reads the consumer lag of its
// four groups and the stored events at the same period. After --minutes it stops producing, waits
// for the lag to reach 0 (--drain-minutes, default 5) and prints one JSON summary: RSS and heap
// (first, last, peak, least-squares slope over the second half), lag (min, max, last, second half),
// events produced vs stored, every sample, and a verdict:
//   memory_flat  — over the second half, the slope of the RSS is below 0.5 MB/min and the heap's below
//                  0.25 MB/min (each taken over the lowest sample of every minute: the level after GC;
//                  a falling level counts as flat; below ~10 minutes there are too few minutes for it
//                  to mean much, see slope_points),
//   lag_steady   — in the second half the lag never exceeds 30 s of produced messages,
//   complete     — every produced event is stored (content-addressed ids: none twice).
//
// Uses the running test servers when AUDITMESH_TEST_KAFKA_BROKERS and AUDITMESH_TEST_ELASTICSEARCH_URL
// are set and answer (`node scripts/infra.mjs start --detach && eval "$(node scripts/infra.mjs env)"`),
// else starts its own with the test harness and stops them at the end.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { request, otlpMessage } from './lib/traffic.mjs';

const require = createRequire(import.meta.url);
const h = require('../scripts/infra/harness.cjs');
const { Kafka, logLevel } = require('kafkajs');
const { Client } = require('@elastic/elasticsearch');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const log = (m) => process.stderr.write(`[soak] ${new Date().toISOString().slice(11, 19)} ${m}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const MB = 1024 * 1024;

function args(argv) {
  const o = { minutes: 30, rate: 470, sampleSeconds: 10, drainMinutes: 5, out: undefined };
  const names = { '--minutes': 'minutes', '--rate': 'rate', '--sample-seconds': 'sampleSeconds', '--drain-minutes': 'drainMinutes', '--out': 'out' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const key = names[flag];
    if (!key) throw new Error(`unknown option ${argv[i]}; options: ${Object.keys(names).join(', ')}`);
    const v = inline ?? argv[++i];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    o[key] = key === 'out' ? v : Number(v);
    if (key !== 'out' && !(o[key] > 0)) throw new Error(`${flag} must be a number > 0 (got ${v})`);
  }
  return o;
}

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  const num = points.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0);
  const den = points.reduce((s, p) => s + (p[0] - mx) ** 2, 0);
  return den ? num / den : 0;
}

async function infra() {
  const brokers = process.env[h.ENV_KAFKA];
  const url = process.env[h.ENV_ES];
  if (brokers && url && (await h.kafkaAnswers(brokers)) && (await h.elasticsearchAnswers(url))) {
    log(`using Kafka ${brokers} and Elasticsearch ${url} from the environment`);
    return { brokers, url, handle: undefined };
  }
  const handle = await h.startAll({ log });
  return { brokers: handle.kafka.brokers, url: handle.elasticsearch.url, handle };
}

async function main() {
  const o = args(process.argv.slice(2));
  if (!fs.existsSync(path.join(root, 'dist/cli.js'))) throw new Error('build first: npm run build');
  // Integer spacing keeps event times integral (the span encoder takes whole milliseconds).
  const spacingMs = Math.max(1, Math.round((3.25 * 1000) / o.rate));
  const reqPerS = 1000 / spacingMs;
  const inf = await infra();
  const run = `soak-${Date.now().toString(36)}`;
  const topics = { tyk: `${run}.tyk`, envoy: `${run}.envoy`, otlp: `${run}.otlp`, panos: `${run}.panos` };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-soak-'));
  const memFile = path.join(tmp, 'memory.jsonl');
  const kafka = new Kafka({ clientId: 'soak', brokers: inf.brokers.split(','), logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  const producer = kafka.producer();
  const es = new Client({ node: inf.url, requestTimeout: 60_000 });
  let svc;
  let ok = false;
  const summary = {};
  try {
    await Promise.all([admin.connect(), producer.connect()]);
    await admin.createTopics({ topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 2 })), waitForLeaders: true });
    const pdir = path.join(tmp, 'pipelines');
    fs.mkdirSync(pdir);
    for (const [type, topic] of Object.entries(topics)) fs.writeFileSync(path.join(pdir, `${type}.yaml`), `id: ${type}\ntype: kafka\ntopics: [${topic}]\nparser: ${type}\n`);
    fs.writeFileSync(path.join(tmp, 'auditmesh.yaml'), `server: { port: 0, host: 127.0.0.1 }\nkafka: { groupPrefix: ${run}, deadLetterTopic: ${run}.dead-letters }\nelasticsearch: { indexPrefix: ${run} }\n`);
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      KAFKA_BROKERS: inf.brokers,
      ELASTICSEARCH_URL: inf.url,
      AUDITMESH_CONFIG: path.join(tmp, 'auditmesh.yaml'),
      AUDITMESH_PIPELINES_DIR: pdir,
      AUDITMESH_DATA_DIR: path.join(tmp, 'data'),
      AUDITMESH_MEMSAMPLE_FILE: memFile,
      AUDITMESH_MEMSAMPLE_MS: String(o.sampleSeconds * 1000),
      LOG_LEVEL: 'warn',
    };
    const svcLog = fs.openSync(path.join(tmp, 'auditmesh.log'), 'a');
    svc = spawn(process.execPath, ['--require', path.join(root, 'bench/lib/memsample.cjs'), path.join(root, 'bin/auditmesh.js'), 'serve'], { env, stdio: ['ignore', svcLog, svcLog] });
    fs.closeSync(svcLog);
    log(`auditmesh pid ${svc.pid}; producing ${round(reqPerS * 3.25, 0)} events/s (${round(reqPerS, 1)} requests/s) for ${o.minutes} min; work dir ${tmp}`);

    const lagOf = async () => {
      let lag = 0;
      for (const [type, topic] of Object.entries(topics)) {
        const [committed, ends] = await Promise.all([admin.fetchOffsets({ groupId: `${run}-${type}`, topics: [topic] }).catch(() => []), admin.fetchTopicOffsets(topic)]);
        for (const p of ends) {
          const c = Number(committed[0]?.partitions.find((x) => x.partition === p.partition)?.offset ?? -1);
          lag += Number(p.high) - Math.max(Number(p.low), c);
        }
      }
      return lag;
    };
    const storedEvents = async () => (await es.count({ index: `${run}-events-*`, ignore_unavailable: true, allow_no_indices: true })).count;

    // ---- produce on schedule, sample on the side -------------------------------------------
    const t0 = Date.now();
    const end = t0 + o.minutes * 60_000;
    let sent = 0;
    let events = 0;
    let messages = 0;
    let behindMax = 0;
    const samples = [];
    let stop = false;
    const sampling = (async () => {
      let next = t0;
      while (!stop) {
        next += o.sampleSeconds * 1000;
        await sleep(Math.max(0, next - Date.now()));
        if (stop) break;
        if (svc.exitCode !== null) throw new Error(`auditmesh exited with ${svc.exitCode} (log: ${path.join(tmp, 'auditmesh.log')})`);
        const [lag, stored] = await Promise.all([lagOf(), storedEvents().catch(() => -1)]);
        samples.push({ t_s: round((Date.now() - t0) / 1000, 0), lag, produced_events: events, stored_events: stored });
        const mem = readMemory(memFile).pop();
        log(`t=${samples.at(-1).t_s}s lag=${lag} produced=${events} stored=${stored}${mem ? ` rss=${round(mem.rss / MB)}MB heap=${round(mem.heapUsed / MB)}MB` : ''}`);
      }
    })();
    while (Date.now() < end) {
      const due = Math.floor(((Date.now() - t0) / 1000) * reqPerS);
      behindMax = Math.max(behindMax, (due - sent) / reqPerS);
      const batch = { tyk: [], envoy: [], otlp: [], panos: [] };
      let spans = [];
      for (; sent < due; sent++) {
        const r = request(sent, { t0, spacingMs });
        batch.tyk.push({ value: r.tyk });
        batch.envoy.push({ value: r.envoy });
        if (r.panos) batch.panos.push({ value: r.panos });
        spans.push(r.span);
        events += r.panos ? 4 : 3;
        if (spans.length === 20) {
          batch.otlp.push({ value: otlpMessage(spans) });
          spans = [];
        }
      }
      if (spans.length) batch.otlp.push({ value: otlpMessage(spans) });
      const topicMessages = Object.entries(batch).filter(([, m]) => m.length).map(([k, m]) => ({ topic: topics[k], messages: m }));
      if (topicMessages.length) {
        await producer.sendBatch({ topicMessages, acks: -1 });
        messages += topicMessages.reduce((n, t) => n + t.messages.length, 0);
      }
      await sleep(200);
    }
    const producedMs = Date.now() - t0;
    log(`produced ${sent} requests (${events} events, ${messages} messages) in ${round(producedMs / 60_000)} min; draining`);

    // ---- drain, then count ---------------------------------------------------------------
    const drainStart = Date.now();
    let lag = await lagOf();
    while (lag > 0 && Date.now() - drainStart < o.drainMinutes * 60_000) {
      await sleep(1000);
      lag = await lagOf();
    }
    const drainedAfterS = lag === 0 ? round((Date.now() - drainStart) / 1000) : null;
    stop = true;
    await sampling;
    svc.kill('SIGTERM');
    await new Promise((r) => (svc.exitCode !== null ? r() : svc.once('exit', r)));
    await es.indices.refresh({ index: `${run}-*`, ignore_unavailable: true, allow_no_indices: true });
    const stored = await storedEvents();
    const records = (await es.count({ index: `${run}-records-*`, ignore_unavailable: true, allow_no_indices: true })).count;
    const deadLetters = (await es.count({ index: `${run}-dead-letters`, ignore_unavailable: true, allow_no_indices: true })).count;

    // ---- memory and lag over time --------------------------------------------------------
    const mem = readMemory(memFile).filter((m) => m.t <= t0 + producedMs);
    const secondHalf = (t) => t >= t0 + producedMs / 2;
    // The slope is taken over the lowest sample of each minute (the level after garbage collection),
    // so the saw-tooth of the heap between collections does not read as growth or shrinkage.
    const memStats = (key) => {
      const xs = mem.map((m) => m[key] / MB);
      const floor = new Map();
      for (const m of mem.filter((x) => secondHalf(x.t))) {
        const minute = Math.floor((m.t - t0) / 60_000);
        floor.set(minute, Math.min(floor.get(minute) ?? Infinity, m[key] / MB));
      }
      return { first: round(xs[0] ?? 0), last: round(xs.at(-1) ?? 0), peak: round(Math.max(0, ...xs)), slope_mb_per_min_second_half: round(slope([...floor].map(([minute, v]) => [minute + 0.5, v])), 3), slope_points: floor.size };
    };
    const during = samples.filter((s) => s.t_s * 1000 <= producedMs);
    const lag2 = during.filter((s) => secondHalf(t0 + s.t_s * 1000)).map((s) => s.lag);
    const lags = during.map((s) => s.lag);
    const msgPerS = messages / (producedMs / 1000);
    Object.assign(summary, {
      config: { minutes: o.minutes, target_events_per_s: o.rate, effective_events_per_s: round(reqPerS * 3.25, 0), requests_per_s: round(reqPerS, 1), sample_s: o.sampleSeconds, infra: inf.handle ? 'started by soak.mjs' : 'from the environment', machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version } },
      produced: { requests: sent, events, messages, messages_per_s: round(msgPerS, 0), behind_schedule_max_s: round(behindMax, 2) },
      stored: { events: stored, records, dead_letters: deadLetters },
      drained_after_s: drainedAfterS,
      rss_mb: memStats('rss'),
      heap_used_mb: memStats('heapUsed'),
      lag: { min: Math.min(...lags), max: Math.max(...lags), last: lags.at(-1), max_second_half: Math.max(...lag2), mean_second_half: round(lag2.reduce((a, b) => a + b, 0) / Math.max(1, lag2.length), 0), slope_per_min_second_half: round(slope(during.filter((s) => secondHalf(t0 + s.t_s * 1000)).map((s) => [s.t_s / 60, s.lag])), 1) },
    });
    summary.verdict = {
      memory_flat: summary.rss_mb.slope_mb_per_min_second_half < 0.5 && summary.heap_used_mb.slope_mb_per_min_second_half < 0.25,
      lag_steady: summary.lag.max_second_half <= 30 * msgPerS,
      complete: stored === events && drainedAfterS !== null,
    };
    summary.samples = during.map((s) => {
      const m = mem.reduce((best, x) => (Math.abs(x.t - (t0 + s.t_s * 1000)) < Math.abs((best?.t ?? Infinity) - (t0 + s.t_s * 1000)) ? x : best), undefined);
      return { ...s, rss_mb: m ? round(m.rss / MB) : null, heap_used_mb: m ? round(m.heapUsed / MB) : null };
    });
    ok = true;
  } finally {
    if (svc && svc.exitCode === null) {
      svc.kill('SIGKILL');
      await new Promise((r) => svc.once('exit', r));
    }
    await producer.disconnect().catch(() => undefined);
    if (!inf.handle) {
      await es.indices.delete({ index: `${run}-*`, ignore_unavailable: true, allow_no_indices: true }).catch(() => undefined);
      const existing = new Set(await admin.listTopics().catch(() => []));
      await admin.deleteTopics({ topics: [...Object.values(topics), `${run}.dead-letters`].filter((t) => existing.has(t)) }).catch(() => undefined);
    }
    await admin.disconnect().catch(() => undefined);
    await es.close().catch(() => undefined);
    if (inf.handle) await h.stopAll(inf.handle, { log });
    if (ok) fs.rmSync(tmp, { recursive: true, force: true });
    else log(`work dir kept (auditmesh.log, memory.jsonl): ${tmp}`);
  }
  const text = JSON.stringify(summary, null, 2);
  if (o.out) fs.writeFileSync(o.out, text + '\n');
  console.log(text);
}

function readMemory(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

main().catch((e) => {
  console.error(e && e.harness ? e.message : e);
  process.exit(1);
});
