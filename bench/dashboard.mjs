// Benchmark: how fast the investigation dashboard loads on a large embedded store (issue 7: "Loads
// fast on 1M records"). Build first (npm run build), then:
//
//   node bench/dashboard.mjs [--records 1000000] [--runs 7] [--data-dir DIR] [--keep] [--alerts 2000] [--out FILE]
//                            [--root DIR]
//
// Data: the records of the query benchmark (bench/lib/records.mjs: N records over 30 days, fixed
// seed) with their source events (one per member, for the trace view), written straight into a
// SQLite store, plus `--alerts` alerts on identities of those records (each naming up to 100 of the
// identity's records in its span). --data-dir DIR reuses a store filled by an earlier run (--keep
// keeps the temp dir; a dir with fewer records than --records is filled up).
//
// Then `auditmesh serve` (a child process, the real service) on that store, and real headless
// Chromium (CHROMIUM_PATH, default /usr/bin/chromium), signed in with an auditor token. Per run:
// a fresh browser context loads /ui/#/search (page load to the first results rendered), then, in
// that page, navigates like an analyst (hash routes, no reload): searches (a user, a verdict, text,
// one day), a trace view, an identity view (the ±12 h range a record's identity link opens, and 30
// days), the alert list, and an alert with its evidence records. Each is timed in the page, from the
// navigation to the view's content in the DOM plus one frame. Parameters rotate per run (another
// user, trace, alert), after one warm-up run. The API calls behind each view are timed too
// (Resource Timing). Prints JSON: p50/p95 in ms per view and per API call, and the machine's load.
//
// --root DIR serves another built checkout (its bin/, dist/ and src/ui/) on the same data: a
// before/after comparison on one store, e.g. `git worktree add /tmp/before HEAD && (cd /tmp/before
// && npm ci && npm run build)`. Run them alternately: on a shared machine the load moves.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { DAY, HOUR, PEOPLE, SPAN, T0, loadRecords } from './lib/records.mjs';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { SqliteStore } = require('../dist/store/sqlite/sqliteStore.js');
const { SqliteAlertStore } = require('../dist/detect/store/sqliteAlertStore.js');
const { mintToken } = require('../dist/api/auth.js');
const { alertId } = require('../dist/detect/alert.js');
const { chromium } = require('playwright-core');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const N = Number(arg('records', 1_000_000));
const RUNS = Number(arg('runs', 7));
const ALERTS = Number(arg('alerts', 2_000));
const KEEP = process.argv.includes('--keep');
const OUT = arg('out', undefined);
const SERVE_ROOT = path.resolve(arg('root', ROOT));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const log = (s) => process.stderr.write(`${s}\n`);
const iso = (ms) => new Date(ms).toISOString();

// ---- data -----------------------------------------------------------------------------------

const RULES = [
  ['denied-burst', 'denied_burst', 'high'],
  ['unusual-hour', 'unusual_hour', 'medium'],
  ['identity-mismatch', 'identity_mismatch', 'high'],
  ['expired-token', 'expired_token', 'low'],
  ['rate-spike', 'rate_spike', 'critical'],
];

/** Alerts of identities that have records in the alert's span (so the alert view finds its evidence). */
async function seedAlerts(store, n) {
  const alerts = new SqliteAlertStore(store.database);
  await alerts.init();
  if ((await alerts.searchAlerts({ limit: 1 })).alerts.length) return alerts;
  const out = [];
  for (let k = 0; k < n; k++) {
    const user = PEOPLE[(k * 7) % 300];
    const from = T0 + Math.floor((k / n) * (SPAN - DAY));
    const to = from + (30 + (k % 12) * 30) * 60_000;
    const page = await store.searchRecords({ userId: user, from: iso(from), to: iso(to), limit: 100 });
    if (!page.records.length) continue;
    const recs = [...page.records].reverse();
    const [ruleId, ruleType, severity] = RULES[k % RULES.length];
    const at = (r) => r['@timestamp'];
    out.push({
      id: alertId(ruleId, `identity:${user}`, Date.parse(at(recs[0])), recs[0].auditmesh.record_id), rule_id: ruleId, rule_type: ruleType, severity, description: `${ruleId} (benchmark)`, status: k % 5 === 0 ? 'acknowledged' : 'open',
      group_key: `identity:${user}`, identity: user, first_seen: at(recs[0]), last_seen: at(recs[recs.length - 1]), count: recs.length,
      record_ids: recs.map((r) => r.auditmesh.record_id), record_ids_truncated: false, reason: `${recs.length} matching records`, last_reason: `${recs.length} matching records`,
      created_at: at(recs[0]), updated_at: at(recs[recs.length - 1]), seen: [],
    });
  }
  for (let i = 0; i < out.length; i += 500) await alerts.commit(out.slice(i, i + 500), []);
  log(`alerts: ${out.length} seeded`);
  return alerts;
}

async function prepare(dir) {
  const store = new SqliteStore(dir);
  await store.init();
  let loadSeconds = null;
  const have = store.counts().records;
  if (have < N) {
    if (have > 0) throw new Error(`${dir} holds ${have} records, fewer than --records ${N}: give an empty directory or one filled with ${N}`);
    log(`sqlite: loading ${N} records with their events into ${dir}`);
    loadSeconds = await loadRecords(store, { n: N, events: true });
    log(`sqlite: loaded in ${loadSeconds.toFixed(0)} s`);
  } else log(`sqlite: reusing ${dir} (${have} records)`);
  const alerts = await seedAlerts(store, ALERTS);
  const alertIds = [];
  let cursor;
  do {
    const page = await alerts.searchAlerts({ limit: 1000, ...(cursor ? { cursor } : {}) });
    alertIds.push(...page.alerts.map((a) => a.id));
    cursor = page.nextCursor;
  } while (cursor && alertIds.length < 5000);
  // Trace ids of requests spread over the data set (firewall sessions have none).
  const traceIds = [];
  for (let k = 0; k < 50; k++) {
    const page = await store.searchRecords({ to: iso(T0 + Math.floor(((k + 1) / 51) * SPAN)), limit: 5 });
    const t = page.records.find((r) => r.trace?.id)?.trace.id;
    if (t) traceIds.push(t);
  }
  const counts = store.counts();
  await store.close();
  const files = fs.readdirSync(dir).filter((f) => f.startsWith('auditmesh.db'));
  const bytes = files.reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
  return { counts, alertIds, traceIds, loadSeconds, bytes };
}

// ---- service --------------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServer(dir) {
  const port = await freePort();
  const env = { ...process.env, AUDITMESH_DATA_DIR: dir, PORT: String(port), LOG_LEVEL: 'warn' };
  for (const k of ['KAFKA_BROKERS', 'ELASTICSEARCH_URL', 'AUDITMESH_CONFIG', 'OTEL_EXPORTER_OTLP_ENDPOINT']) delete env[k];
  const child = spawn(process.execPath, [path.join(SERVE_ROOT, 'bin', 'auditmesh.js'), 'serve'], { cwd: SERVE_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (d) => {
    errors = (errors + d).slice(-10_000);
  });
  child.stdout.resume();
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`auditmesh serve exited ${child.exitCode}: ${errors}`);
    const ok = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
    if (ok) return { base, child, errors: () => errors };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`auditmesh serve did not get ready: ${errors}`);
}

// ---- browser --------------------------------------------------------------------------------

/**
 * In the page: empty the view, go to `hash`, and resolve when `sel` is in the view (then one frame):
 * milliseconds from the navigation. An error panel fails the measurement.
 */
async function navigate(page, hash, sel) {
  const r = await page.evaluate(
    async ({ hash, sel }) => {
      const view = document.getElementById('view');
      view.replaceChildren();
      performance.clearResourceTimings();
      const t0 = performance.now();
      const outcome = await new Promise((resolve) => {
        const timer = setTimeout(() => resolve({ error: `timeout waiting for ${sel}` }), 120_000);
        const obs = new MutationObserver(() => {
          const err = view.querySelector('[data-testid=error]');
          if (err) resolve({ error: err.textContent });
          else if (view.querySelector(sel)) resolve({});
          else return;
          clearTimeout(timer);
          obs.disconnect();
        });
        obs.observe(view, { childList: true, subtree: true });
        location.hash = hash;
      });
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      const ms = performance.now() - t0;
      const api = performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/')).map((e) => ({ url: e.name, ms: e.responseEnd - e.startTime }));
      return { ...outcome, ms, api };
    },
    { hash, sel },
  );
  if (r.error) throw new Error(`${hash}: ${r.error}`);
  return r;
}

/** A fresh context (no cache): /ui/#/search from navigation start to the first results rendered. */
async function coldLoad(browser, base, token) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  await context.addInitScript((t) => {
    sessionStorage.setItem('auditmesh.token', t);
    // Timed in the page (ms since navigation start): the results in the DOM, then one frame.
    const obs = new MutationObserver(() => {
      if (!document.querySelector('[data-testid=search-status][data-count]')) return;
      obs.disconnect();
      requestAnimationFrame(() => setTimeout(() => (window.__firstResultsMs = performance.now()), 0));
    });
    obs.observe(document, { childList: true, subtree: true, attributes: true });
  }, token);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${base}/ui/#/search`);
  await page.waitForFunction(() => window.__firstResultsMs !== undefined, null, { timeout: 120_000 });
  const r = await page.evaluate(() => ({
    ms: window.__firstResultsMs,
    api: performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/')).map((e) => ({ url: e.name, ms: e.responseEnd - e.startTime })),
  }));
  if (problems.length) throw new Error(`page errors: ${problems.join('; ')}`);
  return { context, page, ...r };
}

/** `/v1/identities/user0001@example.com/activity?...` → `GET /v1/identities/:id/activity`. */
function endpoint(url) {
  const p = new URL(url).pathname
    .replace(/^\/v1\/traces\/[^/]+/, '/v1/traces/:traceId')
    .replace(/^\/v1\/identities\/[^/]+/, '/v1/identities/:id')
    .replace(/^\/v1\/alerts\/(?!dead-letters)[^/]+/, '/v1/alerts/:id');
  return `GET ${p}`;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const round = (x) => Math.round(x * 10) / 10;

// ---- main -----------------------------------------------------------------------------------

const load0 = os.loadavg();
const dir = arg('data-dir', undefined) ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bench-dashboard-'));
fs.mkdirSync(dir, { recursive: true });
const data = await prepare(dir);
const token = await mintToken(dir, { role: 'auditor', subject: 'bench-dashboard', ttlSeconds: 4 * 3600, audience: 'auditmesh' });
const server = await startServer(dir);
log(`serving ${server.base}: ${SERVE_ROOT} on ${dir}`);
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
});

/** The views, with their parameters for run i. */
const VIEWS = {
  'search: a user': (i) => [`#/search?user.id=${encodeURIComponent(PEOPLE[(i * 37) % 200])}`, '[data-testid=search-status][data-count]'],
  'search: verdict invalid_signature': () => ['#/search?verdict=invalid_signature', '[data-testid=search-status][data-count]'],
  'search: text orders/12': (i) => [`#/search?q=${encodeURIComponent(`orders/12${i % 10}`)}`, '[data-testid=search-status][data-count]'],
  'search: one day': (i) => [`#/search?from=${encodeURIComponent(iso(T0 + 10 * DAY + i * HOUR))}&to=${encodeURIComponent(iso(T0 + 11 * DAY + i * HOUR))}`, '[data-testid=search-status][data-count]'],
  'trace view': (i) => [`#/trace/${data.traceIds[(i * 7) % data.traceIds.length]}`, '[data-testid=timeline]'],
  'identity view (±12 h, from a record)': (i) => {
    const at = T0 + 5 * DAY + i * 9 * HOUR;
    return [`#/identity/${encodeURIComponent(PEOPLE[i % 20])}?from=${encodeURIComponent(iso(at - 12 * HOUR))}&to=${encodeURIComponent(iso(at + 13 * HOUR))}`, '[data-testid=activity-chart]'];
  },
  'identity view (30 days)': (i) => [`#/identity/${encodeURIComponent(PEOPLE[i % 20])}?from=${encodeURIComponent(iso(T0))}&to=${encodeURIComponent(iso(T0 + SPAN))}`, '[data-testid=activity-chart]'],
  'alert list': () => ['#/alerts', '[data-testid=alerts]'],
  'alert with its evidence': (i) => [`#/alerts/${encodeURIComponent(data.alertIds[(i * 131) % data.alertIds.length] ?? 'none')}`, '[data-testid=evidence]'],
};

const times = { 'page load → first results (no filter)': [] };
for (const v of Object.keys(VIEWS)) times[v] = [];
const apiTimes = {};
const record = (name, r, warm) => {
  if (warm) return;
  times[name].push(r.ms);
  for (const a of r.api) (apiTimes[endpoint(a.url)] ??= []).push(a.ms);
};
try {
  for (let run = -1; run < RUNS; run++) {
    const warm = run < 0;
    const i = run + 1;
    const cold = await coldLoad(browser, server.base, token);
    record('page load → first results (no filter)', cold, warm);
    for (const [name, params] of Object.entries(VIEWS)) {
      if (name.startsWith('alert') && !data.alertIds.length) continue;
      const [hash, sel] = params(i);
      record(name, await navigate(cold.page, hash, sel), warm);
    }
    await cold.context.close();
    log(`run ${warm ? 'warm-up' : `${run + 1}/${RUNS}`}: ${Object.entries(times).map(([k, v]) => `${k.split(' ')[0]} ${round(v[v.length - 1] ?? 0)}`).join(', ')}`);
  }
} finally {
  await browser.close();
  server.child.kill('SIGTERM');
  await new Promise((r) => (server.child.exitCode !== null ? r() : server.child.once('exit', r)));
  if (!KEEP && !arg('data-dir', undefined)) fs.rmSync(dir, { recursive: true, force: true });
  else log(`kept ${dir}`);
}

const summary = (xs) => ({ p50: round(pct(xs, 50)), p95: round(pct(xs, 95)), n: xs.length });
const result = {
  benchmark: 'dashboard',
  served_from: SERVE_ROOT,
  store: 'sqlite',
  records: data.counts.records,
  events: data.counts.events,
  alerts: data.alertIds.length,
  storeBytes: data.bytes,
  loadSeconds: data.loadSeconds,
  runs: RUNS,
  views_ms: Object.fromEntries(Object.entries(times).filter(([, v]) => v.length).map(([k, v]) => [k, summary(v)])),
  api_ms: Object.fromEntries(Object.entries(apiTimes).sort().map(([k, v]) => [k, summary(v)])),
  machine: { cpus: os.cpus().length, loadavg_before: load0.map(round), loadavg_after: os.loadavg().map(round), node: process.version },
};
let md = `\n### Dashboard, ${result.records.toLocaleString('en')} records (SQLite), ${RUNS} runs: ms to the view rendered\n\n| view | p50 | p95 |\n|---|---:|---:|\n`;
for (const [k, v] of Object.entries(result.views_ms)) md += `| ${k} | ${v.p50} | ${v.p95} |\n`;
md += `\n| API call (browser-measured) | p50 | p95 | calls |\n|---|---:|---:|---:|\n`;
for (const [k, v] of Object.entries(result.api_ms)) md += `| \`${k}\` | ${v.p50} | ${v.p95} | ${v.n} |\n`;
md += `\nLoad average (1/5/15 min) before ${result.machine.loadavg_before.join(' / ')}, after ${result.machine.loadavg_after.join(' / ')} on ${result.machine.cpus} CPUs.\n`;
log(md);
const json = JSON.stringify(result, null, 2);
if (OUT) fs.writeFileSync(OUT, json + '\n');
process.stdout.write(json + '\n');
