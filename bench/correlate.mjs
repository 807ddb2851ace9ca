// Benchmark: correlation throughput on one core (Correlator + embedded store), and memory for
// 100k requests open at once.
// Build first (npm run build), then:
//   node --expose-gc bench/correlate.mjs [requests] [batchEvents] [nomem] [--input parsed|synthetic] [--warmup N]
//
// --input parsed (the default): each request rendered as the layers write it (bench/lib/traffic.mjs:
// a Tyk Pump record with traceparent in raw_request, an Istio JSON access log, the app's OTLP
// protobuf server span, and for every 4th request a PAN-OS TRAFFIC log of the client's session) and
// run through the real parsers before each batch is timed: 3.25 events per request with the full
// ECS documents the parsers produce.
// --input synthetic: hand-built minimal events (bench/lib/events.mjs: a Tyk record, an Envoy access
// log, two OTLP spans, a firewall session for every 4th request; 4.25 events per request, a few ECS
// fields each).
// --clients N (parsed input): the requests come from N client addresses in turn (default one address
// per request): a busy address has many stored requests and firewall sessions for each batch's
// address lookups to pass over.
// --warmup N (default 20,000): N requests are correlated and written first, untimed, into the same
// store (JIT compilation and the store's first pages settle, as in JMH's warm-up iterations); the
// timed requests follow them in time. --warmup 0 times from the first batch.
// Either way only correlate() and the store write are timed, not parsing: correlation (keys, union,
// store lookups, record build) and the store write.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { eventsOf: syntheticEventsOf } = await import('./lib/events.mjs');
const { request, otlpMessage } = await import('./lib/traffic.mjs');
const { Correlator } = require('../dist/correlate/correlator.js');
const { SqliteStore } = require('../dist/store/sqlite/sqliteStore.js');
const { createParser } = require('../dist/parsers/registry.js');

const argv = process.argv.slice(2);
// Under `perf record --control fifo:CTL,ACK -D -1`, PERF_CTL/PERF_ACK name those FIFOs: sampling is
// then switched on only while correlate() runs (see the README's correlation section).
const perfFifo = process.env.PERF_CTL ? { ctl: fs.openSync(process.env.PERF_CTL, 'w'), ack: fs.openSync(process.env.PERF_ACK, 'r') } : undefined;
let warming = false;
function perf(cmd) {
  if (!perfFifo || warming) return;
  fs.writeSync(perfFifo.ctl, `${cmd}\n`);
  fs.readSync(perfFifo.ack, Buffer.alloc(5), 0, 5, null); // "ack\n"
}
const inputAt = argv.indexOf('--input');
const INPUT = inputAt >= 0 ? argv.splice(inputAt, 2)[1] : 'parsed';
const clientsAt = argv.indexOf('--clients');
const CLIENTS = clientsAt >= 0 ? Number(argv.splice(clientsAt, 2)[1]) : undefined;
if (CLIENTS !== undefined && !(Number.isInteger(CLIENTS) && CLIENTS > 0)) throw new Error('--clients must be a positive integer');
const warmupAt = argv.indexOf('--warmup');
const WARMUP = warmupAt >= 0 ? Number(argv.splice(warmupAt, 2)[1]) : 20_000;
if (!(Number.isInteger(WARMUP) && WARMUP >= 0)) throw new Error('--warmup must be an integer >= 0');
if (INPUT !== 'parsed' && INPUT !== 'synthetic') throw new Error(`--input must be parsed or synthetic, not ${INPUT}`);
const REQUESTS = Number(argv[0] ?? 50_000);
const BATCH = Number(argv[1] ?? 4_000);
const NOMEM = argv[2] === 'nomem';

const parsers = { tyk: createParser('tyk'), envoy: createParser('envoy'), otlp: createParser('otlp'), panos: createParser('panos') };
let offset = 0;
function parse(source, value) {
  const res = parsers[source]({ value: Buffer.isBuffer(value) ? value : Buffer.from(value), ref: { source, topic: source, partition: 0, offset: String(offset++) }, receivedAtMs: 0 });
  if (!res.ok) throw new Error(`${source}: ${res.rejection.reason}`);
  return res.events;
}
/** The parsed events of request i (20 ms apart, as the synthetic requests are). */
function parsedEventsOf(i) {
  const q = request(i, { spacingMs: 20, ...(CLIENTS ? { clients: CLIENTS } : {}) });
  const evs = [...parse('tyk', q.tyk), ...parse('envoy', q.envoy), ...parse('otlp', otlpMessage([q.span]))];
  if (q.panos) evs.push(...parse('panos', q.panos));
  return evs;
}
const eventsOf = INPUT === 'parsed' ? parsedEventsOf : syntheticEventsOf;

async function run() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-corr-'));
  const store = new SqliteStore(dir);
  await store.init();
  const corr = new Correlator(store, undefined, { maxMembersPerRecord: 1000, joinWindowMs: 5000 });
  let events = 0, correlateMs = 0, writeMs = 0, correlateCpuMs = 0;
  let batch = [];
  const flush = async () => {
    const a = performance.now();
    const cpu0 = process.cpuUsage();
    perf('enable');
    const out = await corr.correlate(batch);
    perf('disable');
    const cpu = process.cpuUsage(cpu0);
    const b = performance.now();
    correlateCpuMs += (cpu.user + cpu.system) / 1000;
    await store.write({ ...out, deadLetters: [] });
    const c = performance.now();
    correlateMs += b - a;
    writeMs += c - b;
    events += batch.length;
    batch = [];
  };
  /** Requests from..to-1, in batches of BATCH events. */
  const feed = async (from, to) => {
    for (let i = from; i < to; i++) {
      batch.push(...eventsOf(i));
      if (batch.length >= BATCH) await flush();
    }
    if (batch.length) await flush();
  };
  warming = WARMUP > 0;
  await feed(0, WARMUP);
  warming = false;
  events = correlateMs = writeMs = correlateCpuMs = 0;
  const warmRecords = store.counts().records;
  const t0 = performance.now();
  await feed(WARMUP, WARMUP + REQUESTS);
  const total = performance.now() - t0;
  const counts = store.counts();
  await store.close();

  // Per second of wall time, and per second of the process's CPU time (all threads: GC helpers too),
  // which a busy or shared machine disturbs less.
  const rates = { correlate_events_per_s: Math.round(events / (correlateMs / 1000)), correlate_events_per_cpu_s: Math.round(events / (correlateCpuMs / 1000)) };
  if (NOMEM) {
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(JSON.stringify({ input: INPUT, ...(CLIENTS ? { clients: CLIENTS } : {}), warmup_requests: WARMUP, events, batch_events: BATCH, ...rates, end_to_end_events_per_s: Math.round(events / (total / 1000)) }));
    return;
  }
  // Memory for 100k open requests: every request's events in one batch, correlated at once.
  global.gc?.();
  const dir2 = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-corr-mem-'));
  const store2 = new SqliteStore(dir2);
  await store2.init();
  const corr2 = new Correlator(store2, undefined, { maxMembersPerRecord: 1000, joinWindowMs: 5000 });
  const open = [];
  for (let i = 0; i < 100_000; i++) open.push(...eventsOf(WARMUP + REQUESTS + i));
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
  const out = await corr2.correlate(open);
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  clearInterval(timer);
  const held = process.memoryUsage().heapUsed - before;
  await store2.close();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(dir2, { recursive: true, force: true });

  const result = {
    input: INPUT,
    ...(CLIENTS ? { clients: CLIENTS } : {}),
    requests: REQUESTS,
    warmup_requests: WARMUP,
    events,
    records: counts.records - warmRecords,
    batch_events: BATCH,
    ...rates,
    end_to_end_events_per_s: Math.round(events / (total / 1000)),
    store_write_share: +(writeMs / total).toFixed(2),
    mem_100k_open_requests_mb: { peak_heap_growth: Math.round((peak - before) / 1048576), result_held: Math.round(held / 1048576), records: out.records.length },
    node: process.version,
    cpu: os.cpus()[0]?.model,
  };
  console.log(JSON.stringify(result));
}
run().catch((e) => {
  console.error(e);
  process.exit(1);
});
