#!/usr/bin/env node
// End-to-end benchmark: real Kafka → auditmesh → real Elasticsearch on this machine, with the two
// ceilings measured in the same run on the same data:
//   1. raw consumption of the topics with kafkajs (no processing),
//   2. raw bulk indexing into Elasticsearch of the very documents auditmesh wrote,
// then auditmesh's ratio to the smaller ceiling, freshness (produce → queryable) p50/p99, and the
// CPU and memory of the auditmesh process. Also: events/s from files into the embedded store.
//
//   npm run build && node bench/e2e.mjs [requests=20000]
//
// Before anything is measured, auditmesh runs once over E2E_WARMUP warm-up requests (default 10,000;
// 0 = none) on separate topics and index prefix, so that the servers' JIT warm-up is not charged to
// auditmesh. The bulk ceiling is the fastest of three orders (as read, interleaved across indices,
// interleaved with two clients). Each run ends with its CPU bound (cpu_bound).
//
// Each phase also reports Elasticsearch's own counters over it (node stats: CPU, indexing, refresh,
// merge, get and search time). E2E_INDEX_STATS=1 adds them per index; E2E_NODE_ARGS passes flags to
// the auditmesh processes (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
//
// Starts its own Kafka and Elasticsearch with the test harness and stops them at the end.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { request, otlpMessage, eventCount } from './lib/traffic.mjs';

const require = createRequire(import.meta.url);
const h = require('../scripts/infra/harness.cjs');
const { Kafka, logLevel, CompressionTypes } = require('kafkajs');
const { Client } = require('@elastic/elasticsearch');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.argv[2] ?? 20_000);
const SPANS_PER_MSG = 20;
const FRESH_N = 200;
const log = (m) => process.stderr.write(`[e2e] ${m}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** Elasticsearch's own counters (one node): CPU and where its indexing/search time went. */
async function esStats(es) {
  const r = await es.nodes.stats({ metric: ['process', 'indices'] });
  const n = Object.values(r.nodes)[0];
  const i = n.indices;
  return {
    cpu_s: n.process.cpu.total_in_millis / 1000,
    index_ops: i.indexing.index_total, index_s: i.indexing.index_time_in_millis / 1000,
    delete_ops: i.indexing.delete_total,
    refreshes: i.refresh.total, refresh_s: i.refresh.total_time_in_millis / 1000,
    merges: i.merges.total, merge_s: i.merges.total_time_in_millis / 1000,
    gets: i.get.total, get_s: i.get.time_in_millis / 1000,
    searches: i.search.query_total, search_s: (i.search.query_time_in_millis + i.search.fetch_time_in_millis) / 1000,
    flushes: i.flush.total,
    segments: i.segments.count,
  };
}
const statsDelta = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, k === 'segments' ? b[k] : +(b[k] - a[k]).toFixed(1)]));

function procStats(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const ticks = Number(stat[11]) + Number(stat[12]);
    const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
    return { cpuSec: ticks / 100, rss };
  } catch {
    return undefined;
  }
}

async function produceAll(producer, topics, from, to, spacing) {
  const batch = { tyk: [], envoy: [], otlp: [], panos: [] };
  let spans = [];
  const flush = async () => {
    if (spans.length) batch.otlp.push({ value: otlpMessage(spans) });
    spans = [];
    await producer.sendBatch({ topicMessages: Object.entries(batch).filter(([, m]) => m.length).map(([k, messages]) => ({ topic: topics[k], messages })), acks: -1 });
    for (const k of Object.keys(batch)) batch[k] = [];
  };
  for (let i = from; i < to; i++) {
    const r = request(i, { spacingMs: spacing });
    batch.tyk.push({ value: r.tyk });
    batch.envoy.push({ value: r.envoy });
    if (r.panos) batch.panos.push({ value: r.panos });
    spans.push(r.span);
    if (spans.length === SPANS_PER_MSG) {
      batch.otlp.push({ value: otlpMessage(spans) });
      spans = [];
    }
    if (batch.tyk.length >= 2000) await flush();
  }
  await flush();
}

async function main() {
  if (!fs.existsSync(path.join(root, 'dist/cli.js'))) throw new Error('build first: npm run build');
  const infra = await h.startAll({ log });
  const es = new Client({ node: infra.elasticsearch.url });
  const kafka = new Kafka({ clientId: 'bench', brokers: [infra.kafka.brokers], logLevel: logLevel.ERROR });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-e2e-'));
  const topics = { tyk: 'bench.tyk', envoy: 'bench.envoy', otlp: 'bench.otlp', panos: 'bench.panos' };
  const result = { requests: N, events: eventCount(N), machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version } };
  let svc;
  try {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 2 })), waitForLeaders: true });
    const producer = kafka.producer();
    await producer.connect();
    let t = performance.now();
    await produceAll(producer, topics, 0, N, 2);
    result.produce_s = +((performance.now() - t) / 1000).toFixed(2);
    /** Messages in the topics (the sum of their partitions' high watermarks). */
    const countMessages = async (ts) => (await Promise.all(Object.values(ts).map((tp) => admin.fetchTopicOffsets(tp)))).flat().reduce((n, p) => n + Number(p.high), 0);
    /** Delete the indices matching `pattern` by name: Elasticsearch 8 refuses wildcard deletes (action.destructive_requires_name). */
    const deleteIndices = async (pattern) => {
      const names = Object.keys(await es.indices.get({ index: pattern, expand_wildcards: 'all' }));
      if (names.length) await es.indices.delete({ index: names.join(',') });
    };
    const msgCount = await countMessages(topics);
    result.kafka_messages = msgCount;
    log(`produced ${msgCount} messages for ${N} requests (${result.events} events) in ${result.produce_s}s`);

    /**
     * Run `auditmesh serve` over the topics (pipeline ids = ids + source type, index prefix `prefix`)
     * until its consumer groups have no lag; its steady-state figures. `keep` leaves it running (the
     * freshness phase uses it), else it is stopped.
     */
    const runAuditmesh = async ({ topics, ids, prefix, msgCount, events, keep = false }) => {
      const pdir = path.join(tmp, `${prefix}-pipelines`);
      fs.mkdirSync(pdir);
      for (const [type, topic] of Object.entries(topics)) fs.writeFileSync(path.join(pdir, `${type}.yaml`), `id: ${ids}${type}\ntype: kafka\ntopics: [${topic}]\nparser: ${type}\nbatch:\n  maxRecords: 4000\n`);
      const env = { ...process.env, KAFKA_BROKERS: infra.kafka.brokers, ELASTICSEARCH_URL: infra.elasticsearch.url, AUDITMESH_DATA_DIR: path.join(tmp, `${prefix}-data`), AUDITMESH_PIPELINES_DIR: pdir, AUDITMESH_INDEX_PREFIX: prefix, PORT: '0', LOG_LEVEL: 'warn' };
      const start = performance.now();
      const proc = spawn(process.execPath, [...(process.env.E2E_NODE_ARGS?.split(' ').filter(Boolean) ?? []), path.join(root, 'bin/auditmesh.js'), 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
      if (keep) svc = proc;
      try {
        const samples = [];
        const lagOf = async () => {
          let lag = 0;
          for (const [type, topic] of Object.entries(topics)) {
            const committed = await admin.fetchOffsets({ groupId: `auditmesh-${ids}${type}`, topics: [topic] }).catch(() => []);
            const ends = await admin.fetchTopicOffsets(topic);
            for (const p of ends) {
              const c = committed[0]?.partitions.find((x) => x.partition === p.partition);
              lag += Number(p.high) - Math.max(0, Number(c?.offset ?? 0));
            }
          }
          return lag;
        };
        // Steady state: timed from the first committed batch (process start-up and consumer-group joins
        // are reported separately) to zero lag, counting only the messages still uncommitted then (what
        // the first batch processed is not credited to a window that does not include its work).
        let firstProgress;
        let cpuAtFirst = 0;
        let lagAtFirst = msgCount;
        while (true) {
          await sleep(250);
          const st = procStats(proc.pid);
          if (st) samples.push(st);
          if (proc.exitCode !== null) throw new Error(`auditmesh exited with ${proc.exitCode}`);
          const lag = await lagOf();
          if (firstProgress === undefined && lag < msgCount) {
            firstProgress = performance.now();
            cpuAtFirst = st?.cpuSec ?? 0;
            lagAtFirst = lag;
          }
          if (lag === 0) break;
          if (performance.now() - start > 30 * 60_000) throw new Error('auditmesh did not finish within 30 minutes');
        }
        const elapsed = (performance.now() - (firstProgress ?? start)) / 1000;
        const last = samples[samples.length - 1] ?? { cpuSec: 0 };
        return {
          startup_s: +(((firstProgress ?? start) - start) / 1000).toFixed(2),
          seconds: +elapsed.toFixed(2),
          steady_messages: lagAtFirst,
          events_per_s: Math.round(((lagAtFirst / msgCount) * events) / elapsed),
          cpu_seconds: +(last.cpuSec - cpuAtFirst).toFixed(1),
          cpu_cores_avg: +((last.cpuSec - cpuAtFirst) / elapsed).toFixed(2),
          rss_peak_mb: Math.round(Math.max(...samples.map((s) => s.rss)) / 1048576),
        };
      } finally {
        if (!keep && proc.exitCode === null) {
          proc.kill('SIGTERM');
          await new Promise((r) => proc.once('exit', r));
        }
      }
    };

    // Warm-up: Elasticsearch's and Kafka's JVMs start cold with this benchmark, and the first heavy
    // indexing they do runs interpreted while C2 compiles it (a JFR recording of Elasticsearch over a
    // cold auditmesh phase put ~40 % of its CPU on the C2 compiler threads). The ceilings are measured
    // later, on warm JVMs; so that auditmesh is not the one paying the servers' JIT warm-up, it first
    // runs once over separate warm-up topics (E2E_WARMUP requests, default 10,000; 0 = no warm-up)
    // into a separate index prefix, which is deleted before the measured phase.
    const WARMUP = Number(process.env.E2E_WARMUP ?? 10_000);
    if (WARMUP > 0) {
      const wtopics = Object.fromEntries(Object.keys(topics).map((k) => [k, `warm.${k}`]));
      await admin.createTopics({ topics: Object.values(wtopics).map((topic) => ({ topic, numPartitions: 2 })), waitForLeaders: true });
      await produceAll(producer, wtopics, N + FRESH_N, N + FRESH_N + WARMUP, 2);
      const wcount = await countMessages(wtopics);
      const w = await runAuditmesh({ topics: wtopics, ids: 'warm-', prefix: 'warm', msgCount: wcount, events: eventCount(WARMUP) });
      await deleteIndices('warm-*');
      result.warmup = { requests: WARMUP, messages: wcount, seconds: w.seconds, events_per_s: w.events_per_s };
      log(`warm-up (not measured): ${JSON.stringify(result.warmup)}`);
    }

    // Ceiling 1: raw kafkajs consumption of the same topics.
    {
      const consumer = kafka.consumer({ groupId: 'bench-raw', maxBytesPerPartition: 4 * 1024 * 1024 });
      await consumer.connect();
      await consumer.subscribe({ topics: Object.values(topics), fromBeginning: true });
      let seen = 0;
      const start = performance.now();
      await new Promise((resolve) => {
        consumer.run({ eachBatch: async ({ batch }) => { seen += batch.messages.length; if (seen >= msgCount) resolve(); } });
      });
      const s = (performance.now() - start) / 1000;
      await consumer.disconnect();
      result.ceiling_kafka_consume = { messages_per_s: Math.round(msgCount / s), events_per_s: Math.round(result.events / s) };
      log(`raw kafkajs consumption: ${JSON.stringify(result.ceiling_kafka_consume)}`);
    }

    const es0 = await esStats(es);
    result.auditmesh = await runAuditmesh({ topics, ids: '', prefix: 'bench', msgCount, events: result.events, keep: true });
    result.auditmesh.elasticsearch = statsDelta(es0, await esStats(es));
    log(`auditmesh: ${JSON.stringify(result.auditmesh)}`);
    if (process.env.E2E_INDEX_STATS) {
      const st = await es.indices.stats({ index: 'bench-*', metric: ['refresh', 'get', 'indexing', 'search'] });
      for (const [ix, v] of Object.entries(st.indices)) log(`${ix}: ${JSON.stringify({ r: v.primaries.refresh, g: [v.primaries.get.total, v.primaries.get.time_in_millis], i: [v.primaries.indexing.index_total, v.primaries.indexing.index_time_in_millis], s: v.primaries.search.query_total })}`);
    }

    // Ceiling 2: bulk-index the documents auditmesh wrote, into fresh indices, as fast as ES takes them.
    await es.indices.refresh({ index: 'bench-*' });
    const docs = [];
    // Every index auditmesh wrote: records, events, keys, locators, and the ledger (entries, record
    // versions, checkpoints), which is on by default.
    for (const index of ['bench-*']) {
      let resp = await es.search({ index, scroll: '1m', size: 5000, query: { match_all: {} } });
      while (resp.hits.hits.length) {
        for (const hit of resp.hits.hits) docs.push({ index: hit._index.replace(/^bench-/, ''), id: hit._id, doc: hit._source });
        resp = await es.scroll({ scroll_id: resp._scroll_id, scroll: '1m' });
      }
    }
    // The ceiling is the best of three ways to bulk the same documents (each into fresh indices with
    // auditmesh's mappings): in the order they were read (mostly one index per request, so one shard
    // and one write thread at a time), interleaved across the indices (every request spreads over all
    // shards, which Elasticsearch indexes in parallel), and interleaved with two concurrent clients.
    const mappings = await es.indices.getMapping({ index: 'bench-*' });
    const ceilingRun = async (name, ordered, clients) => {
      const prefix = `ceil${name}`;
      for (const [index, m] of Object.entries(mappings)) {
        await es.indices.create({ index: `${prefix}-${index.replace(/^bench-/, '')}`, mappings: m.mappings, settings: { number_of_shards: 1, number_of_replicas: 0 } });
      }
      const es1 = await esStats(es);
      const start2 = performance.now();
      let next = 0;
      const client = async () => {
        while (next < ordered.length) {
          const from = next;
          next += 5000;
          const ops = ordered.slice(from, from + 5000).flatMap((d) => [{ index: { _index: `${prefix}-${d.index}`, _id: d.id } }, d.doc]);
          const r = await es.bulk({ operations: ops, refresh: false });
          if (r.errors) throw new Error('ceiling bulk had errors');
        }
      };
      await Promise.all(Array.from({ length: clients }, client));
      await es.indices.refresh({ index: `${prefix}-*` });
      const s = (performance.now() - start2) / 1000;
      const out = { order: name, clients, documents: ordered.length, docs_per_s: Math.round(ordered.length / s), events_per_s: Math.round(result.events / s), elasticsearch: statsDelta(es1, await esStats(es)) };
      log(`raw bulk indexing (${name}, ${clients} client${clients > 1 ? 's' : ''}): ${JSON.stringify(out)}`);
      if (process.env.E2E_INDEX_STATS) {
        const st = await es.indices.stats({ index: `${prefix}-*`, metric: ['refresh', 'get', 'indexing', 'search'] });
        for (const [ix, v] of Object.entries(st.indices)) log(`${ix}: ${JSON.stringify({ r: [v.primaries.refresh.total, v.primaries.refresh.total_time_in_millis], i: [v.primaries.indexing.index_total, v.primaries.indexing.index_time_in_millis] })}`);
      }
      // Free the heap and disk for the next variant.
      await deleteIndices(`${prefix}-*`);
      return out;
    };
    // Interleaved: document i of an index of n documents goes at position (i + 0.5) / n.
    const byIndex = new Map();
    for (const d of docs) (byIndex.get(d.index) ?? byIndex.set(d.index, []).get(d.index)).push(d);
    const interleaved = [...byIndex.values()].flatMap((l) => l.map((d, i) => [(i + 0.5) / l.length, d])).sort((x, y) => x[0] - y[0]).map((x) => x[1]);
    const variants = [await ceilingRun('read', docs, 1), await ceilingRun('interleaved', interleaved, 1), await ceilingRun('interleaved2', interleaved, 2)];
    result.ceiling_es_bulk_variants = variants;
    result.ceiling_es_bulk = variants.reduce((best, v) => (v.events_per_s > best.events_per_s ? v : best));
    const ceiling = Math.min(result.ceiling_kafka_consume.events_per_s, result.ceiling_es_bulk.events_per_s);
    result.ratio_to_smaller_ceiling = +(result.auditmesh.events_per_s / ceiling).toFixed(2);
    // The CPU bound on this machine: CPU milliseconds per event of auditmesh and of Elasticsearch (in
    // auditmesh's phase, and in the fastest ceiling), and the most events/s the cores allow with each
    // (all cores busy all the time, the broker's CPU left out).
    {
      const cores = os.cpus().length;
      const steadyEvents = (result.auditmesh.steady_messages / msgCount) * result.events;
      const am = (result.auditmesh.cpu_seconds * 1000) / steadyEvents;
      // Elasticsearch's counters span the whole auditmesh run (start-up and first batch included): per event of the run.
      const esPhase = (result.auditmesh.elasticsearch.cpu_s * 1000) / result.events;
      const esCeil = (result.ceiling_es_bulk.elasticsearch.cpu_s * 1000) / result.events;
      const max = (msPerEvent) => Math.round((cores * 1000) / msPerEvent);
      result.cpu_bound = {
        cores,
        auditmesh_cpu_ms_per_event: +am.toFixed(3),
        elasticsearch_cpu_ms_per_event: { auditmesh_phase: +esPhase.toFixed(3), fastest_ceiling: +esCeil.toFixed(3) },
        max_events_per_s: { with_phase_work: max(am + esPhase), with_ceiling_work: max(am + esCeil) },
        max_ratio_with_ceiling_work: +(max(am + esCeil) / ceiling).toFixed(2),
        measured_share_of_phase_bound: +(result.auditmesh.events_per_s / max(am + esPhase)).toFixed(2),
      };
      log(`CPU bound: ${JSON.stringify(result.cpu_bound)}`);
    }

    // Freshness: produce marker requests one by one at a steady pace while auditmesh runs; time until
    // the record (with its Tyk, Envoy and span members) is searchable in Elasticsearch.
    {
      const lat = [];
      const pending = new Map();
      const t0 = Date.parse('2026-06-01T08:00:00Z') + N * 2 + 60_000;
      const poll = setInterval(async () => {
        if (!pending.size) return;
        const ids = [...pending.keys()];
        try {
          await es.indices.refresh({ index: 'bench-records-*' });
          const r = await es.search({ index: 'bench-records-*', size: ids.length, _source: ['trace.id', 'auditmesh.member_count'], query: { terms: { 'trace.id': ids } } });
          const now = performance.now();
          for (const hit of r.hits.hits) {
            const id = hit._source.trace.id;
            if (pending.has(id) && hit._source.auditmesh.member_count >= 3) {
              lat.push(now - pending.get(id));
              pending.delete(id);
            }
          }
        } catch { /* keep polling */ }
      }, 50);
      for (let k = 0; k < FRESH_N; k++) {
        const r = request(N + k, { t0 });
        const sentAt = performance.now();
        await producer.sendBatch({ topicMessages: [{ topic: topics.tyk, messages: [{ value: r.tyk }] }, { topic: topics.envoy, messages: [{ value: r.envoy }] }, { topic: topics.otlp, messages: [{ value: otlpMessage([r.span]) }] }], acks: -1 });
        pending.set(r.traceId, sentAt);
        await sleep(20);
      }
      const deadline = performance.now() + 60_000;
      while (pending.size && performance.now() < deadline) await sleep(100);
      clearInterval(poll);
      result.freshness_ms = { n: lat.length, missing: pending.size, p50: Math.round(pct(lat, 50)), p99: Math.round(pct(lat, 99)), note: 'produce (acks=all) → record with 3 members searchable; includes the 50 ms poll interval and an explicit refresh' };
      log(`freshness: ${JSON.stringify(result.freshness_ms)}`);
    }
    await producer.disconnect();
    await admin.disconnect();
  } finally {
    if (svc && svc.exitCode === null) {
      svc.kill('SIGTERM');
      await new Promise((r) => svc.once('exit', r));
    }
    await es.close().catch(() => undefined);
    await h.stopAll(infra, { log });
  }

  // Embedded default: files into the embedded store with `auditmesh ingest`.
  {
    const files = { tyk: [], envoy: [], panos: [], otlp: [] };
    for (let i = 0; i < N; i++) {
      const r = request(i);
      files.tyk.push(r.tyk);
      files.envoy.push(r.envoy);
      if (r.panos) files.panos.push(r.panos);
    }
    const { toOtlpJson } = require('../dist/parsers/otlp/encode.js');
    for (let i = 0; i < N; i += SPANS_PER_MSG) {
      const spans = [];
      for (let j = i; j < Math.min(N, i + SPANS_PER_MSG); j++) spans.push(request(j).span);
      files.otlp.push(JSON.stringify(toOtlpJson({ resourceSpans: [{ resource: { 'service.name': 'orders' }, scopeSpans: [{ spans }] }] })));
    }
    const env = { ...process.env, AUDITMESH_DATA_DIR: path.join(tmp, 'embedded'), LOG_LEVEL: 'warn' };
    delete env.KAFKA_BROKERS;
    delete env.ELASTICSEARCH_URL;
    const start = performance.now();
    for (const [type, lines] of Object.entries(files)) {
      const f = path.join(tmp, `${type}.log`);
      fs.writeFileSync(f, lines.join('\n') + '\n');
      const r = spawnSync(process.execPath, [path.join(root, 'bin/auditmesh.js'), 'ingest', '--type', type, f], { env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ingest ${type} failed: ${r.stderr}`);
    }
    const s = (performance.now() - start) / 1000;
    result.embedded_files = { seconds: +s.toFixed(2), events_per_s: Math.round(result.events / s) };
    log(`embedded: ${JSON.stringify(result.embedded_files)}`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  console.log(JSON.stringify(result, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
