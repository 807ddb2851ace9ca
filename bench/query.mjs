// Benchmark: query latency of the audit store at scale, on both engines (issue 5).
// Build first (npx tsc -p tsconfig.build.json), then:
//
//   node bench/query.mjs [--records 1000000] [--runs 50] [--engines sqlite,es] [--keep]
//
// SQLite: a fresh store in a temp dir. Elasticsearch: the cluster at $ELASTICSEARCH_URL (or
// $AUDITMESH_TEST_ELASTICSEARCH_URL from `node scripts/infra.mjs env`), index prefix `ambench-<pid>`,
// deleted afterwards unless --keep.
//
// Data: N synthetic records over 30 days (fixed seed, bench/lib/records.mjs, shared with
// bench/dashboard.mjs). Written through store.write() in batches of 5,000 records.
//
// Queries, each `--runs` times after 3 warm-up runs, parameters rotated per run (other user, window
// shifted by an hour) so no cache answers a repeat: records by user; a 1-day time range, page 1 and
// page 10 (cursor); free text; identity activity (the route's work: aggregates + newest 100 records,
// 7 days); each report over 7 days. Prints p50/p99 in ms as a markdown table, and SQLite's query
// plans (EXPLAIN QUERY PLAN) of every statement the queries ran.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { DAY, HOUR, PEOPLE, SPAN, T0, loadRecords } from './lib/records.mjs';

const require = createRequire(import.meta.url);
const { SqliteStore } = require('../dist/store/sqlite/sqliteStore.js');
const { ElasticsearchStore } = require('../dist/store/elasticsearch/elasticsearchStore.js');
const { REPORT_NAMES, reportPredicate } = require('../dist/store/reports.js');
const { bucketFor, finishActivity } = require('../dist/store/analytics.js');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const N = Number(arg('records', 1_000_000));
const RUNS = Number(arg('runs', 50));
const ENGINES = String(arg('engines', 'sqlite,es')).split(',');
const KEEP = process.argv.includes('--keep');
const BATCH = 5_000;
const REPORTS = {
  sensitive: { pathPrefixes: ['/api/admin', '/api/payments'], services: ['billing'] },
  adminPathPrefixes: ['/api/admin'],
  adminGroups: ['admins'],
  serviceAccountPatterns: ['svc-*'],
};

// ---- queries --------------------------------------------------------------------------------

const iso = (ms) => new Date(ms).toISOString();
const load = (store) => loadRecords(store, { n: N, batch: BATCH });
/** Query i: the i-th rotation of its parameters. */
const QUERIES = {
  'records by user (limit 100)': (s, i) => s.searchRecords({ userId: PEOPLE[(i * 37) % 200], limit: 100 }),
  'time range 1 day, page 1': (s, i) => s.searchRecords({ from: iso(T0 + 10 * DAY + i * HOUR), to: iso(T0 + 11 * DAY + i * HOUR), limit: 100 }),
  'time range 1 day, page 10 (cursor)': async (s, i, ctx) => s.searchRecords({ from: iso(T0 + 10 * DAY + i * HOUR), to: iso(T0 + 11 * DAY + i * HOUR), limit: 100, cursor: ctx.cursors[i] }),
  'free text q=orders/12 (limit 100)': (s, i) => s.searchRecords({ text: `orders/12${i % 10}`, limit: 100 }),
  'path prefix /api/admin/users/1 (limit 100)': (s, i) => s.searchRecords({ pathPrefix: `/api/admin/users/1${i % 10}`, limit: 100 }),
  'path prefix /api/ (broad, limit 100)': (s, i) => s.searchRecords({ pathPrefix: '/api/', to: iso(T0 + SPAN - i * HOUR), limit: 100 }),
  'identity activity, 7 days': async (s, i) => {
    const userId = PEOPLE[(i * 37) % 200];
    const from = T0 + 7 * DAY + i * HOUR;
    const to = from + 7 * DAY;
    const bucket = bucketFor(from, to);
    const [a] = await Promise.all([s.identityActivity({ userId, from: iso(from), to: iso(to), bucket }), s.searchRecords({ userId, from: iso(from), to: iso(to), limit: 100 })]);
    return finishActivity(a, from, to, bucket);
  },
  ...Object.fromEntries(
    REPORT_NAMES.map((name) => [
      `report ${name}, 7 days`,
      (s, i) => s.reportByIdentity({ where: reportPredicate(name, REPORTS), from: iso(T0 + 7 * DAY + i * HOUR), to: iso(T0 + 14 * DAY + i * HOUR), limit: 100, examples: 5 }),
    ]),
  ),
};

async function cursorsFor(store, runs) {
  const cursors = [];
  for (let i = 0; i < runs; i++) {
    let cursor;
    for (let p = 0; p < 9; p++) cursor = (await store.searchRecords({ from: iso(T0 + 10 * DAY + i * HOUR), to: iso(T0 + 11 * DAY + i * HOUR), limit: 100, ...(cursor ? { cursor } : {}) })).nextCursor;
    cursors.push(cursor);
  }
  return cursors;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function measure(store) {
  const ctx = { cursors: await cursorsFor(store, RUNS + 3) };
  const out = {};
  for (const [name, q] of Object.entries(QUERIES)) {
    for (let w = 0; w < 3; w++) await q(store, RUNS + w, ctx);
    const times = [];
    for (let i = 0; i < RUNS; i++) {
      const a = performance.now();
      await q(store, i, ctx);
      times.push(performance.now() - a);
    }
    out[name] = { p50: pct(times, 50), p99: pct(times, 99) };
    process.stderr.write(`  ${store.kind}: ${name}: p50 ${out[name].p50.toFixed(1)} ms, p99 ${out[name].p99.toFixed(1)} ms\n`);
  }
  return out;
}

/** SQLite plans of every distinct statement one round of the queries prepares. */
async function sqlitePlans(store) {
  const db = store.database;
  const seen = new Set();
  const orig = db.prepare.bind(db);
  db.prepare = (sql) => {
    seen.add(sql.replace(/\s+/g, ' ').trim());
    return orig(sql);
  };
  const ctx = { cursors: await cursorsFor(store, 1) };
  for (const q of Object.values(QUERIES)) await q(store, 0, ctx);
  db.prepare = orig;
  const plans = [];
  for (const sql of seen) {
    if (!/^SELECT/i.test(sql) || /sqlite_master|PRAGMA/i.test(sql)) continue;
    const named = [...sql.matchAll(/@(\w+)/g)];
    const stmt = orig(`EXPLAIN QUERY PLAN ${sql}`);
    const rows = named.length ? stmt.all(Object.fromEntries(named.map((m) => [m[1], null]))) : stmt.all(...Array((sql.match(/\?/g) ?? []).length).fill(null));
    plans.push(`${sql.slice(0, 160)}${sql.length > 160 ? '…' : ''}\n${rows.map((r) => `    ${r.detail}`).join('\n')}`);
  }
  return plans;
}

// ---- main -----------------------------------------------------------------------------------

const results = {};
const loads = {};
const REUSE = arg('sqlite-dir', undefined);
if (ENGINES.includes('sqlite')) {
  // --sqlite-dir DIR: measure a store kept by an earlier run (--keep) instead of loading a new one.
  const dir = REUSE ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bench-query-'));
  const store = new SqliteStore(dir);
  await store.init();
  if (REUSE) loads.sqlite = NaN;
  else {
    process.stderr.write(`sqlite: loading ${N} records into ${dir}\n`);
    loads.sqlite = await load(store);
  }
  const size = fs.statSync(path.join(dir, 'auditmesh.db')).size + (fs.existsSync(path.join(dir, 'auditmesh.db-wal')) ? fs.statSync(path.join(dir, 'auditmesh.db-wal')).size : 0);
  process.stderr.write(`sqlite: loaded in ${loads.sqlite.toFixed(0)} s (${(size / 1e9).toFixed(2)} GB)\n`);
  results.sqlite = await measure(store);
  const plans = await sqlitePlans(store);
  process.stdout.write(`\n### SQLite query plans (${N} records)\n\n\`\`\`\n${plans.join('\n\n')}\n\`\`\`\n`);
  await store.close();
  if (!KEEP && !REUSE) fs.rmSync(dir, { recursive: true, force: true });
  else process.stderr.write(`sqlite: kept ${dir}\n`);
}
if (ENGINES.includes('es')) {
  const url = process.env.ELASTICSEARCH_URL ?? process.env.AUDITMESH_TEST_ELASTICSEARCH_URL;
  if (!url) throw new Error('set ELASTICSEARCH_URL (or eval "$(node scripts/infra.mjs env)")');
  const store = new ElasticsearchStore({ url, indexPrefix: `ambench-${process.pid}`, retentionDays: 0, requestTimeoutMs: 120_000 });
  await store.init();
  process.stderr.write(`elasticsearch: loading ${N} records into ${url} (prefix ${store.prefix})\n`);
  loads.es = await load(store);
  process.stderr.write(`elasticsearch: loaded in ${loads.es.toFixed(0)} s\n`);
  // Merge the daily indices' segments like a settled cluster would have, then measure.
  await store.esClient.indices.forcemerge({ index: store.recordsPattern, max_num_segments: 1 }).catch(() => undefined);
  await store.refresh();
  results.es = await measure(store);
  if (!KEEP) {
    const idx = Object.keys(await store.esClient.indices.get({ index: `${store.prefix}-*` }));
    if (idx.length) await store.esClient.indices.delete({ index: idx });
    for (const t of ['records', 'events', 'keys', 'dead-letters']) await store.esClient.indices.deleteIndexTemplate({ name: `${store.prefix}-${t}` }).catch(() => undefined);
  }
  await store.close();
}

const engines = Object.keys(results);
const names = Object.keys(QUERIES);
let md = `\n### Query latency, ${N.toLocaleString('en')} records, ${RUNS} runs each (ms)\n\n`;
md += `| query | ${engines.map((e) => `${e} p50 | ${e} p99`).join(' | ')} |\n|---|${engines.map(() => '---:|---:').join('|')}|\n`;
for (const n of names) md += `| ${n} | ${engines.map((e) => `${results[e][n].p50.toFixed(1)} | ${results[e][n].p99.toFixed(1)}`).join(' | ')} |\n`;
md += `\nLoad (store.write, batches of ${BATCH}): ${Object.entries(loads).filter(([, s]) => Number.isFinite(s)).map(([e, s]) => `${e} ${s.toFixed(0)} s (${Math.round(N / s)} records/s)`).join(', ')}\n`;
process.stdout.write(md);
