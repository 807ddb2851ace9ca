// Synthetic audit records at scale, written straight through store.write() (no parsing or
// correlation): the data set of the query benchmark (bench/query.mjs) and of the dashboard
// benchmark (bench/dashboard.mjs).
//
// N records over 30 days (fixed seed): 2,000 people (JWT, some with group `admins`), 60 SPIFFE
// workloads, 40 `svc-*` keys, ~5% without identity; REST paths with ids (/api/orders/123,
// /api/admin/users/9, /api/payments/...), 8% firewall sessions (allow/deny/drop/reset-both, rule
// names), 1% identity mismatches, statuses 2xx/3xx/4xx/5xx, a few user agents.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { makeRecord } = require('../../dist/store/contract.js');

export const DAY = 86_400_000;
export const HOUR = 3_600_000;
export const T0 = Date.parse('2026-05-01T00:00:00Z');
export const SPAN = 30 * DAY;

/** mulberry32: a small deterministic PRNG. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
export const pick = (r, xs) => xs[Math.floor(r() * xs.length)];
export const PEOPLE = Array.from({ length: 2000 }, (_, i) => `user${String(i).padStart(4, '0')}@example.com`);
export const WORKLOADS = Array.from({ length: 60 }, (_, i) => `spiffe://cluster.local/ns/ns${i % 12}/sa/workload-${i}`);
export const KEYS = Array.from({ length: 40 }, (_, i) => `svc-batch-${i}`);
const UAS = ['Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0', 'curl/8.5.0', 'okhttp/4.12.0', 'Go-http-client/2.0', 'python-requests/2.32'];
const SERVICES = ['orders', 'catalog', 'payments', 'admin', 'billing', 'users', 'search'];

/** Trace id of record i (sessions have none). */
export const traceIdOf = (i) => (i + 1).toString(16).padStart(32, '0');

/** The makeRecord() spec of record i of n (r: the shared PRNG, consumed in record order). */
export function spec(i, n, r) {
  const ts = new Date(T0 + Math.floor((i / n) * SPAN) + Math.floor(r() * 1000)).toISOString();
  const id = `b${i.toString(36).padStart(7, '0')}`;
  const roll = r();
  if (roll < 0.08) {
    const action = pick(r, ['allow', 'allow', 'allow', 'deny', 'drop', 'reset-both']);
    return {
      id, ts, recordType: 'session', sources: ['panos'], sourceIp: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, verdict: 'no_token',
      outcome: action === 'allow' ? 'success' : 'failure', firewallAction: action, ruleName: pick(r, ['allow-web', 'allow-internal', 'block-untrusted', 'default-deny']),
    };
  }
  const kind = r();
  let userId, identityMethod, verdict, roles, verified;
  if (kind < 0.05) verdict = 'no_token';
  else if (kind < 0.15) [userId, identityMethod, verdict, verified] = [pick(r, WORKLOADS), 'spiffe', 'trusted_upstream', true];
  else if (kind < 0.2) [userId, identityMethod, verdict] = [pick(r, KEYS), 'tyk_key', 'unverifiable'];
  else {
    // Zipf-ish: a few people make most requests.
    userId = PEOPLE[Math.floor(PEOPLE.length * r() ** 2)];
    identityMethod = 'jwt';
    verdict = r() < 0.97 ? 'verified' : pick(r, ['expired', 'invalid_signature', 'wrong_audience']);
    if (userId.endsWith('7@example.com')) roles = ['admins'];
  }
  const service = pick(r, SERVICES);
  const m = Math.floor(r() * 5000);
  const path =
    service === 'admin' ? `/api/admin/users/${m % 300}` : service === 'payments' || service === 'billing' ? `/api/payments/${m}` : service === 'catalog' ? `/api/catalog/items/${m}` : `/api/${service}/${m}`;
  const method = r() < 0.75 ? 'GET' : pick(r, ['POST', 'PUT', 'PATCH', 'DELETE']);
  const s = r();
  const status = s < 0.85 ? (method === 'POST' ? 201 : 200) : s < 0.9 ? 304 : s < 0.93 ? 401 : s < 0.95 ? 403 : s < 0.98 ? 404 : 503;
  const sources = pick(r, [['envoy'], ['envoy', 'otlp'], ['envoy', 'otlp', 'tyk'], ['tyk', 'envoy'], ['envoy', 'otlp', 'panos']]);
  return {
    id, ts, userId, identityMethod, verdict, verified, roles, service, path, method, status, sources,
    outcome: status < 400 ? 'success' : 'failure', sourceIp: `10.${(m >> 8) & 255}.${m & 255}.${Math.floor(r() * 250) + 1}`,
    traceId: traceIdOf(i), userAgent: pick(r, UAS), mismatch: r() < 0.01,
    ...(sources.includes('panos') ? { firewallAction: 'allow', ruleName: 'allow-web' } : {}),
  };
}

/** The source events of a record (one per member), as the trace view reads them. */
export function eventsOf(rec) {
  const a = rec.auditmesh;
  return a.members.map((m, k) => ({
    id: m.event_id,
    source: m.source,
    kind: m.kind,
    timestamp: new Date(Date.parse(rec['@timestamp']) + k).toISOString(),
    ecs: {
      '@timestamp': rec['@timestamp'],
      event: { kind: 'event', duration: (12 - 3 * k) * 1e6 },
      ...(rec.url ? { url: rec.url } : {}),
      ...(rec.http ? { http: rec.http } : {}),
      ...(rec.source ? { source: rec.source } : {}),
      ...(rec.trace ? { trace: rec.trace } : {}),
      ...(rec.service && m.source === 'otlp' ? { service: rec.service } : {}),
    },
    join: { ...(rec.trace ? { traceId: rec.trace.id } : {}), startMs: Date.parse(rec['@timestamp']) + k, endMs: Date.parse(rec['@timestamp']) + 12 - 2 * k },
    claims: [],
    ref: m.ref,
    recordId: a.record_id,
  }));
}

/**
 * Write records 0..n-1 through store.write() in batches; `events`: also each record's source events.
 * Returns the load time in seconds.
 */
export async function loadRecords(store, { n, batch = 5_000, events = false, log = (s) => process.stderr.write(s) }) {
  const r = prng(42);
  const t0 = performance.now();
  for (let i = 0; i < n; i += batch) {
    const records = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      const s = spec(j, n, r);
      for (const k of Object.keys(s)) if (s[k] === undefined) delete s[k];
      records.push(makeRecord(s));
    }
    await store.write({ records, events: events ? records.flatMap(eventsOf) : [], keys: [], deletedRecords: [], deadLetters: [] });
    if ((i / batch) % 20 === 0) log(`  ${store.kind}: ${i + records.length} records, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  await store.refresh();
  return (performance.now() - t0) / 1000;
}
