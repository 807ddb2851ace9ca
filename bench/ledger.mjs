// Benchmark: cost of the tamper-evident ledger on the embedded store pipeline (the real Correlator +
// SqliteStore, as bench/correlate.mjs), with and without the ledger's transaction hook.
// Build first (npx tsc -p tsconfig.build.json), then:
//   node bench/ledger.mjs [requests] [batchEvents] [rounds]
//
// Three workloads, each run `rounds` times per mode, alternating with/without (a fresh store every
// run), median reported:
// - `in_order`: pre-built ParsedEvents (as bench/correlate.mjs), all events of a request in one batch
//   (one record version per request): Correlator + SqliteStore only;
// - `amended`:  the same, but the two OTLP spans of each request arrive one batch later, so every
//   request record is written twice (version 1, then the amendment: two ledger entries);
// - `raw_pipeline`: the whole embedded ingest path (`auditmesh ingest`, createRuntime): wire-format
//   records from bench/lib/traffic.mjs (Tyk JSON, Istio JSON, OTLP protobuf, PAN-OS CSV), parsed,
//   correlated and stored by the PipelineRunner, one runner.process() per source per 1000 requests;
//   the ledger attached by createRuntime (ledger.enabled true/false).
// The ledger runs with its defaults (checkpoint every 1000 entries, signed with Ed25519 inside the
// batch transaction); no export directory. Cost is reported in wall-clock events/s, in events per
// CPU-second of the process (all threads: includes V8's GC helper threads) and, on Linux, in events
// per CPU-second of the main thread alone (from /proc: what the ingest thread itself spends, the least
// disturbed by other processes on a shared machine). Each also as the median of the (without, with)
// pairs run back to back. The load average at start and end is printed with the results.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { eventsOf } = await import('./lib/events.mjs');
const { Correlator } = require('../dist/correlate/correlator.js');
const { SqliteStore } = require('../dist/store/sqlite/sqliteStore.js');
const { attachLedger } = require('../dist/ledger/ledger.js');
const { configSchema } = require('../dist/config/schema.js');
const { createLogger } = require('../dist/instrumentation/logger.js');
const { createRuntime } = require('../dist/runtime.js');
const { request, otlpMessage } = await import('./lib/traffic.mjs');

const REQUESTS = Number(process.argv[2] ?? 20_000);
const BATCH = Number(process.argv[3] ?? 4_000);
const ROUNDS = Number(process.argv[4] ?? 7);


/** The batches of a workload, built once (outside the timing). */
function batchesOf(workload) {
  const out = [];
  let cur = [];
  let delayed = [];
  for (let i = 0; i < REQUESTS; i++) {
    const evs = eventsOf(i);
    if (workload === 'amended') {
      cur.push(...evs.filter((e) => e.source !== 'otlp'));
      delayed.push(...evs.filter((e) => e.source === 'otlp'));
    } else cur.push(...evs);
    if (cur.length >= BATCH) {
      out.push(cur);
      cur = delayed;
      delayed = [];
    }
  }
  out.push([...cur, ...delayed]);
  return out.filter((b) => b.length);
}

/** Wire-format chunks for the raw pipeline: per 1000 requests, one list of raw records per source. */
function rawChunks() {
  const chunks = [];
  let offset = 0;
  const raw = (source, value) => ({ value: Buffer.isBuffer(value) ? value : Buffer.from(value), ref: { source, topic: `bench.${source}`, partition: 0, offset: String(offset++) }, receivedAtMs: Date.now() });
  for (let i = 0; i < REQUESTS; i += 1000) {
    const c = { tyk: [], envoy: [], otlp: [], panos: [] };
    let spans = [];
    for (let j = i; j < Math.min(REQUESTS, i + 1000); j++) {
      const r = request(j);
      c.tyk.push(raw('tyk', r.tyk));
      c.envoy.push(raw('envoy', r.envoy));
      if (r.panos) c.panos.push(raw('panos', r.panos));
      spans.push(r.span);
      if (spans.length === 50) {
        c.otlp.push(raw('otlp', Buffer.from(otlpMessage(spans))));
        spans = [];
      }
    }
    if (spans.length) c.otlp.push(raw('otlp', Buffer.from(otlpMessage(spans))));
    chunks.push(c);
  }
  return chunks;
}

async function runRaw(chunks, withLedger) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ledger-raw-'));
  const cfg = configSchema.parse({ dataDir: dir, log: { level: 'error' }, ledger: { enabled: withLedger } });
  const rt = await createRuntime(cfg, { log: createLogger('error') });
  let events = 0, writes = 0;
  const main0 = mainThreadCpuMs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const c of chunks) {
    for (const type of ['tyk', 'envoy', 'otlp', 'panos']) {
      if (!c[type].length) continue;
      const r = await rt.runner.process(c[type], rt.parser(type));
      events += r.events;
      writes += r.records;
    }
  }
  const ms = performance.now() - t0;
  const cu = process.cpuUsage(cpu0);
  const mainMs = main0 === undefined ? undefined : mainThreadCpuMs() - main0;
  const db = rt.store.database;
  const count = (t) => {
    try {
      return db.prepare(`SELECT count(*) AS n FROM ${t}`).get().n;
    } catch {
      return 0;
    }
  };
  const { ledgerOf } = require('../dist/ledger/ledger.js');
  const stats = { entries: count('ledger_entries'), checkpoints: count('ledger_checkpoints'), hookMs: ledgerOf(rt.store)?.backend.hookMs, cpuMs: (cu.user + cu.system) / 1000 };
  await rt.close();
  const bytes = fs.statSync(path.join(dir, 'auditmesh.db')).size;
  fs.rmSync(dir, { recursive: true, force: true });
  return { events, writes, ms, eps: events / (ms / 1000), epcs: events / ((cu.user + cu.system) / 1e6), epmcs: mainMs ? events / (mainMs / 1000) : undefined, ...stats, bytes };
}

async function run(batches, withLedger) {
  if (batches.raw) return runRaw(batches.raw, withLedger);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ledger-'));
  const store = new SqliteStore(dir);
  await store.init();
  let ledger;
  if (withLedger) ledger = await attachLedger(configSchema.parse({ dataDir: dir }), store, { log: createLogger('error') });
  const corr = new Correlator(store, undefined, { maxMembersPerRecord: 1000, joinWindowMs: 5000 });
  let events = 0, writes = 0;
  const main0 = mainThreadCpuMs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const b of batches) {
    const out = await corr.correlate(b);
    await store.write({ ...out, deadLetters: [] });
    events += b.length;
    writes += out.records.length;
  }
  const ms = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  const cpuS = (c.user + c.system) / 1e6;
  const mainMs = main0 === undefined ? undefined : mainThreadCpuMs() - main0;
  const db = store.database;
  const count = (t) => {
    try {
      return db.prepare(`SELECT count(*) AS n FROM ${t}`).get().n;
    } catch {
      return 0;
    }
  };
  const stats = { entries: count('ledger_entries'), checkpoints: count('ledger_checkpoints'), hookMs: ledger?.backend.hookMs, cpuMs: cpuS * 1000 };
  let verifyMs;
  if (ledger) {
    const v0 = performance.now();
    const res = await ledger.verify();
    verifyMs = performance.now() - v0;
    if (!res.ok) throw new Error(`ledger does not verify: ${JSON.stringify(res.first_broken)}`);
    await ledger.close();
  }
  const bytes = fs.statSync(path.join(dir, 'auditmesh.db')).size + (fs.existsSync(path.join(dir, 'auditmesh.db-wal')) ? fs.statSync(path.join(dir, 'auditmesh.db-wal')).size : 0);
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { events, writes, ms, eps: events / (ms / 1000), epcs: events / cpuS, epmcs: mainMs ? events / (mainMs / 1000) : undefined, ...stats, verifyMs, bytes };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU time of this process's main thread in ms (Linux /proc, 10 ms ticks); undefined elsewhere. */
function mainThreadCpuMs() {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in USER_HZ (100) ticks
  } catch {
    return undefined;
  }
}

async function main() {
  const result = { requests: REQUESTS, batch_events: BATCH, rounds: ROUNDS, workloads: {}, node: process.version, cpu: os.cpus()[0]?.model, cores: os.cpus().length, load_average_start: os.loadavg().map((x) => +x.toFixed(2)) };
  const only = process.env.WORKLOADS?.split(',');
  for (const workload of ['in_order', 'amended', 'raw_pipeline'].filter((w) => !only || only.includes(w))) {
    const batches = workload === 'raw_pipeline' ? { raw: rawChunks() } : batchesOf(workload);
    const warm = batches.raw ? { raw: batches.raw.slice(0, 1) } : batches.slice(0, 2);
    await run(warm, false); // warm-up (JIT)
    await run(warm, true);
    const off = [], on = [], offCpu = [], onCpu = [], offMain = [], onMain = [], offBytes = [], onBytes = [], hookShare = [], hookUs = [];
    let last;
    for (let r = 0; r < ROUNDS; r++) {
      const x = await run(batches, false);
      off.push(x.eps);
      offCpu.push(x.epcs);
      offMain.push(x.epmcs);
      offBytes.push(x.bytes);
      last = await run(batches, true);
      on.push(last.eps);
      onCpu.push(last.epcs);
      onMain.push(last.epmcs);
      onBytes.push(last.bytes);
      hookShare.push((100 * last.hookMs) / last.cpuMs);
      hookUs.push((1000 * last.hookMs) / last.entries);
    }
    const a = median(off), b = median(on);
    const ac = median(offCpu), bc = median(onCpu);
    const hasMain = offMain.every((x) => x !== undefined) && onMain.every((x) => x !== undefined);
    const am = hasMain ? median(offMain) : undefined, bm = hasMain ? median(onMain) : undefined;
    const paired = (xs, ys) => +median(xs.map((x, i) => (100 * (x - ys[i])) / x)).toFixed(1);
    result.workloads[workload] = {
      events: last.events,
      record_writes: last.writes,
      ledger_entries: last.entries,
      // Time inside the ledger's transaction hook (canonical JSON, SHA-256, chain, inserts, checkpoint
      // signatures), measured directly: less noisy than the difference of two throughputs.
      ledger_hook_us_per_entry: +median(hookUs).toFixed(1),
      ledger_hook_share_of_cpu_pct: +median(hookShare).toFixed(1),
      checkpoints: last.checkpoints,
      events_per_s_without_ledger: Math.round(a),
      events_per_s_with_ledger: Math.round(b),
      ledger_cost_pct: +((100 * (a - b)) / a).toFixed(1),
      ledger_cost_pct_paired: paired(off, on),
      // Per CPU-second of this process: robust on a shared machine (wall time also waits for others).
      events_per_cpu_s_without_ledger: Math.round(ac),
      events_per_cpu_s_with_ledger: Math.round(bc),
      ledger_cpu_cost_pct: +((100 * (ac - bc)) / ac).toFixed(1),
      // Median of the cost within each (without, with) pair run back to back: less exposed to drift in the machine's load.
      ledger_cpu_cost_pct_paired: paired(offCpu, onCpu),
      // The main thread alone (Linux): excludes GC helper threads and is the least disturbed by other processes.
      ...(hasMain
        ? {
            events_per_main_thread_cpu_s_without_ledger: Math.round(am),
            events_per_main_thread_cpu_s_with_ledger: Math.round(bm),
            ledger_main_thread_cpu_cost_pct: +((100 * (am - bm)) / am).toFixed(1),
            ledger_main_thread_cpu_cost_pct_paired: paired(offMain, onMain),
          }
        : {}),
      db_mb_without_ledger: +(median(offBytes) / 1048576).toFixed(1),
      db_mb_with_ledger: +(median(onBytes) / 1048576).toFixed(1),
      ...(last.verifyMs !== undefined ? { full_verify_ms: Math.round(last.verifyMs) } : {}),
      runs_without: off.map(Math.round),
      runs_with: on.map(Math.round),
    };
  }
  result.load_average_end = os.loadavg().map((x) => +x.toFixed(2));
  console.log(JSON.stringify(result, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
