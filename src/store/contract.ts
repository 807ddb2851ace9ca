/// <reference types="jest" />
/**
 * Behaviour every AuditStore engine must show, with identical answers (SqliteStore and
 * ElasticsearchStore both run it). Fixtures are hand-built records, events and dead letters.
 *
 * Usage (in a *.test.ts / *.int.test.ts):
 *   storeContract('sqlite', async () => new SqliteStore(tmpDir()), async (s) => { await s.close(); rm(...) });
 *
 * `makeStore` returns a fresh, EMPTY, not yet initialized store for every test; the suite calls
 * `init()`. `cleanup` (default: `close()`) must close the store and may delete its data.
 */
import type { DeadLetter, SourceType, Verdict } from '../model/events';
import type { AuditRecord, AuditStore, RecordQuery, RecordType, StoredEvent, WriteBatch } from '../model/record';
import type { ClaimMethod } from '../model/events';
import type { ReportQuery } from '../model/analytics';
import { PipelineError } from '../errors';
import { finishActivity } from './analytics';
import { REPORT_NAMES, reportPredicate, type ReportName, type ReportsConfig } from './reports';

// ---- fixtures ------------------------------------------------------------------------------

export interface RecordSpec {
  id: string;
  ts: string;
  traceId?: string;
  userId?: string;
  sourceIp?: string;
  verdict?: Verdict;
  service?: string;
  method?: string;
  status?: number;
  outcome?: 'success' | 'failure' | 'unknown';
  sources?: SourceType[];
  recordType?: RecordType;
  path?: string;
  userAgent?: string;
  /** rule.name */
  ruleName?: string;
  /** panw.panos.action */
  firewallAction?: string;
  /** Default: verdict === 'verified'. */
  verified?: boolean;
  mismatch?: boolean;
  identityMethod?: ClaimMethod;
  /** user.roles */
  roles?: string[];
}

/** A unified record with the ECS fields the search API filters on. */
export function makeRecord(s: RecordSpec): AuditRecord {
  const sources = s.sources ?? ['envoy'];
  const r: AuditRecord = {
    '@timestamp': s.ts,
    event: { kind: 'event', category: ['web', 'network'], dataset: 'auditmesh.audit', ...(s.outcome ? { outcome: s.outcome } : {}) },
    auditmesh: {
      record_id: s.id,
      record_type: s.recordType ?? 'request',
      sources,
      members: sources.map((source, i) => ({
        event_id: `${s.id}-m${i}`,
        source,
        kind: source === 'panos' ? 'traffic' : 'access_log',
        timestamp: s.ts,
        ref: { source, topic: `${source}-logs`, partition: 0, offset: String(100 + i) },
        joined_by: i === 0 ? 'self' : 'trace.id',
      })),
      member_count: sources.length,
      keys: s.traceId ? [`t:${s.traceId}`] : [`x:${s.id}`],
      identity: {
        verdict: s.verdict ?? 'no_token',
        verified: s.verified ?? s.verdict === 'verified',
        claims: [],
        mismatch: s.mismatch ?? false,
        ...(s.userId ? { subject: s.userId } : {}),
        ...(s.identityMethod ? { method: s.identityMethod } : {}),
      },
      version: 1,
      updated_at: s.ts,
    },
  };
  if (s.traceId) r.trace = { id: s.traceId };
  if (s.userId) r.user = { id: s.userId, name: s.userId };
  if (s.sourceIp) r.source = { ip: s.sourceIp, port: 51514 };
  if (s.service) r.service = { name: s.service };
  if (s.method !== undefined || s.status !== undefined) {
    const http: Record<string, unknown> = {};
    if (s.method !== undefined) http.request = { method: s.method };
    if (s.status !== undefined) http.response = { status_code: s.status };
    r.http = http;
  }
  if (s.path !== undefined) r.url = { path: s.path };
  if (s.userAgent !== undefined) r.user_agent = { original: s.userAgent };
  if (s.roles && r.user) (r.user as Record<string, unknown>).roles = s.roles;
  if (s.ruleName !== undefined) r.rule = { name: s.ruleName };
  if (s.firewallAction !== undefined) r.panw = { panos: { type: 'TRAFFIC', action: s.firewallAction } };
  return r;
}

export function makeEvent(id: string, recordId: string, ts: string, source: SourceType = 'envoy', traceId?: string): StoredEvent {
  return {
    id,
    source,
    kind: source === 'otlp' ? 'span' : 'access_log',
    timestamp: ts,
    ecs: { '@timestamp': ts, event: { kind: 'event' }, ...(traceId ? { trace: { id: traceId } } : {}) },
    join: traceId ? { traceId } : {},
    claims: [],
    ref: { source, topic: `${source}-logs`, partition: 1, offset: id.length.toString() },
    recordId,
  };
}

export function makeDeadLetter(id: string, ts: string, reason = 'bad input'): DeadLetter {
  return {
    id,
    timestamp: ts,
    ref: { source: 'tyk', topic: 'tyk-analytics', partition: 0, offset: '7' },
    code: 'invalid_json',
    reason,
    stage: 'parse',
    originalBase64: Buffer.from(`{not json ${id}`).toString('base64'),
    originalBytes: 11 + id.length,
  };
}

export function batchOf(b: Partial<WriteBatch>): WriteBatch {
  return { events: [], records: [], keys: [], deletedRecords: [], deadLetters: [], ...b };
}

const at = (base: string, plusMs: number): string => new Date(Date.parse(base) + plusMs).toISOString();
const idsOf = (rs: AuditRecord[]): string[] => rs.map((r) => r.auditmesh.record_id);
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

/** Newest first, ties by id descending (ids are ASCII, so JS order = byte order). */
const newestFirst = (a: AuditRecord, b: AuditRecord) =>
  Date.parse(b['@timestamp']) - Date.parse(a['@timestamp']) || (a.auditmesh.record_id < b.auditmesh.record_id ? 1 : a.auditmesh.record_id > b.auditmesh.record_id ? -1 : 0);

const BASE = '2024-05-10T10:00:00.000Z';

/** The search corpus: one record per second from BASE, r01 oldest. */
export const CORPUS: RecordSpec[] = [
  { id: 'r01', ts: at(BASE, 0), traceId: 'aa000000000000000000000000000001', userId: 'alice', sourceIp: '10.0.0.1', verdict: 'verified', service: 'checkout', method: 'GET', status: 200, outcome: 'success', sources: ['envoy', 'otlp'], path: '/api/orders/42', userAgent: 'Mozilla/5.0 Firefox/125.0' },
  { id: 'r02', ts: at(BASE, 1000), traceId: 'aa000000000000000000000000000002', userId: 'bob', sourceIp: '10.0.0.2', verdict: 'invalid_signature', service: 'checkout', method: 'POST', status: 401, outcome: 'failure', sources: ['tyk'], path: '/api/login', userAgent: 'curl/8.5.0' },
  { id: 'r03', ts: at(BASE, 2000), traceId: 'aa000000000000000000000000000003', userId: 'alice', sourceIp: '2001:db8::1', verdict: 'expired', service: 'catalog', method: 'get', status: 503, outcome: 'failure', sources: ['envoy'], path: '/catalog/100%_off', userAgent: 'okhttp/4.12.0' },
  { id: 'r04', ts: at(BASE, 3000), sourceIp: '192.168.1.5', verdict: 'no_token', outcome: 'success', sources: ['panos'], recordType: 'session' },
  { id: 'r05', ts: at(BASE, 4000), userId: 'carol', sourceIp: '192.168.1.6', verdict: 'unverifiable', outcome: 'unknown', sources: ['panos'], recordType: 'event' },
  { id: 'r06', ts: at(BASE, 5000), service: 'files', method: 'GET', status: 200, outcome: 'success', path: '/files/a_b.txt' },
  { id: 'r07', ts: at(BASE, 6000), service: 'files', method: 'GET', status: 200, outcome: 'success', path: '/files/a*b' },
  { id: 'r08', ts: at(BASE, 7000), service: 'files', method: 'PUT', status: 201, outcome: 'success', path: '/q/"quoted"/x' },
  { id: 'r09', ts: at(BASE, 8000), service: 'files', method: 'GET', status: 404, outcome: 'failure', path: '/dir\\sub' },
  { id: 'r10', ts: at(BASE, 9000), service: 'files', method: 'GET', status: 200, outcome: 'success', path: '/fn(1)' },
  { id: 'r11', ts: at(BASE, 10000), service: 'files', method: 'GET', status: 200, outcome: 'success', path: '/ärger/Straße', userAgent: 'Agent/ÄÖÜ' },
  { id: 'r12', ts: at(BASE, 11000), service: 'files', method: 'DELETE', status: 204, outcome: 'success', path: '/files/axb' },
  { id: 'r13', ts: at(BASE, 12000), service: 'files', method: 'GET', status: 200, outcome: 'success', path: "/it's/here" },
  { id: 'r14', ts: at(BASE, 13000), service: 'files', method: 'GET', status: 200, outcome: 'success', path: '/files/a%b', userAgent: 'MOZILLA-compatible bot' },
];

const DAY3 = '2024-06-03T00:00:00.000Z';
const h = (hhmm: string, day = '2024-06-03') => `${day}T${hhmm}:00.000Z`;
const SPIFFE = 'spiffe://cluster.local/ns/pay/sa/billing';

/**
 * Fixtures of the analytics filters, identity activity and reports (issue 5): identities verified by
 * JWT (alice, with group `admins`), with a mismatch (bob), SPIFFE, glob-matched service accounts,
 * no identity (firewall denials), and one `api` record that every answer must leave out.
 */
export const ANALYTICS_CORPUS: RecordSpec[] = [
  { id: 'a01', ts: h('08:15'), userId: 'alice', method: 'GET', path: '/api/admin/users', status: 200, outcome: 'success', service: 'admin', verdict: 'verified', identityMethod: 'jwt', roles: ['admins'], sourceIp: '10.0.0.1', sources: ['envoy', 'otlp'] },
  { id: 'a02', ts: h('08:45'), userId: 'alice', method: 'DELETE', path: '/api/admin/users/9', status: 204, outcome: 'success', service: 'admin', verdict: 'verified', identityMethod: 'jwt', roles: ['admins'], sourceIp: '10.0.0.1', sources: ['envoy', 'tyk'] },
  { id: 'a03', ts: h('09:10'), userId: 'alice', method: 'POST', path: '/api/payments/charge', status: 403, outcome: 'failure', service: 'payments', verdict: 'verified', identityMethod: 'jwt', roles: ['admins'], sourceIp: '10.0.0.2', sources: ['envoy'] },
  { id: 'a04', ts: h('11:00'), userId: 'bob', method: 'GET', path: '/api/orders/1', status: 200, outcome: 'success', service: 'orders', verdict: 'trusted_upstream', verified: true, mismatch: true, identityMethod: 'jwt_payload', sourceIp: '10.0.0.3', sources: ['envoy'] },
  { id: 'a05', ts: h('11:30'), userId: 'bob', method: 'POST', path: '/api/admin/users', status: 401, outcome: 'failure', service: 'admin', verdict: 'invalid_signature', identityMethod: 'jwt', sourceIp: '10.0.0.3', sources: ['tyk'] },
  { id: 'a06', ts: h('12:00'), userId: SPIFFE, method: 'GET', path: '/api/payments/ledger', status: 200, outcome: 'success', service: 'payments', verdict: 'trusted_upstream', verified: true, identityMethod: 'spiffe', sourceIp: '10.0.1.5', sources: ['envoy'] },
  { id: 'a07', ts: h('12:00'), userId: SPIFFE, method: 'PUT', path: '/internal/sync', status: 500, outcome: 'failure', service: 'billing', verdict: 'trusted_upstream', verified: true, identityMethod: 'spiffe', sourceIp: '10.0.1.5', sources: ['envoy'] },
  { id: 'a08', ts: h('13:00'), userId: 'svc-reporting', method: 'GET', path: '/api/reports/daily', status: 200, outcome: 'success', service: 'reports', verdict: 'unverifiable', identityMethod: 'tyk_key', sourceIp: '10.0.2.1', sources: ['tyk'] },
  { id: 'a09', ts: h('14:00'), outcome: 'failure', verdict: 'no_token', sourceIp: '192.168.1.10', sources: ['panos'], recordType: 'session', ruleName: 'block-untrusted', firewallAction: 'deny' },
  { id: 'a10', ts: h('14:05'), method: 'GET', path: '/api/admin/x', outcome: 'failure', service: 'admin', verdict: 'no_token', sourceIp: '192.168.1.10', sources: ['envoy', 'panos'], ruleName: 'block-untrusted', firewallAction: 'reset-both' },
  { id: 'a11', ts: h('15:00'), userId: 'alice', method: 'GET', path: '/api/administrators', status: 200, outcome: 'success', service: 'admin', verdict: 'verified', identityMethod: 'jwt', roles: ['admins'], sourceIp: '10.0.0.1', sources: ['envoy'] },
  { id: 'a12', ts: h('15:30'), userId: 'alice', method: 'GET', path: '/API/ADMIN/users', status: 404, outcome: 'failure', service: 'admin', verdict: 'verified', identityMethod: 'jwt', roles: ['admins'], sourceIp: '10.0.0.1', sources: ['envoy'] },
  { id: 'a13', ts: h('20:00', '2024-06-04'), userId: 'alice', method: 'GET', path: '/api/orders/2', status: 200, outcome: 'success', service: 'orders', verdict: 'verified', identityMethod: 'jwt', roles: ['admins'], sourceIp: '10.0.0.1', sources: ['envoy', 'panos'], ruleName: 'allow-web', firewallAction: 'allow' },
  { id: 'a14', ts: h('09:00', '2024-06-05'), userId: 'ann', method: 'GET', path: '/v1/records', status: 200, outcome: 'success', verdict: 'verified', identityMethod: 'jwt', sourceIp: '127.0.0.1', sources: [], recordType: 'api' },
  { id: 'a15', ts: h('10:00'), userId: 'job[7]', method: 'POST', path: '/api/admin/jobs', status: 200, outcome: 'success', service: 'batch', verdict: 'unverifiable', identityMethod: 'tyk_key', sourceIp: '10.0.3.1', sources: ['tyk'] },
  { id: 'a16', ts: h('10:30'), userId: 'svc-ünïcode', method: 'GET', path: '/api/health', status: 200, outcome: 'success', service: 'health', verdict: 'unverifiable', identityMethod: 'tyk_key', sourceIp: '10.0.3.2', sources: ['tyk'] },
  { id: 'a17', ts: h('10:45'), userId: 'jobs7', method: 'GET', path: '/api/health', status: 200, outcome: 'success', service: 'health', verdict: 'unverifiable', identityMethod: 'tyk_key', sourceIp: '10.0.3.3', sources: ['tyk'] },
];

/** The reports configuration of the fixtures (config `reports`). */
export const REPORTS_CONFIG: ReportsConfig = {
  sensitive: { pathPrefixes: ['/api/admin', '/api/payments'], services: ['billing'] },
  adminPathPrefixes: ['/api/admin'],
  adminGroups: ['admins'],
  serviceAccountPatterns: ['svc-*', 'job[?]'],
};

// ---- the suite -----------------------------------------------------------------------------

export function storeContract(name: string, makeStore: () => Promise<AuditStore>, cleanup?: (s: AuditStore) => Promise<void>): void {
  describe(`store contract: ${name}`, () => {
    let store: AuditStore;
    const open = async (): Promise<AuditStore> => {
      const s = await makeStore();
      await s.init();
      return s;
    };
    const dispose = async (s: AuditStore): Promise<void> => (cleanup ? cleanup(s) : s.close());
    /** A fresh, empty store for every test of the enclosing describe. */
    const freshStorePerTest = () => {
      beforeEach(async () => {
        store = await open();
      });
      afterEach(async () => {
        if (store) await dispose(store);
      });
    };
    /** One store for all tests of the enclosing describe, seeded once (the tests only read). */
    const sharedStore = (seed: (s: AuditStore) => Promise<void>) => {
      let shared: AuditStore | undefined;
      beforeAll(async () => {
        shared = await open();
        await seed(shared);
        await shared.refresh();
      });
      beforeEach(() => {
        store = shared!;
      });
      afterAll(async () => {
        if (shared) await dispose(shared);
      });
    };

    const search = async (q: Partial<RecordQuery>): Promise<string[]> => idsOf((await store.searchRecords({ limit: 1000, ...q })).records);

    describe('lifecycle', () => {
      freshStorePerTest();

      it('answers ping once initialized', async () => {
        expect(await store.ping()).toBe(true);
      });
    });

    describe('reads by id', () => {
      freshStorePerTest();

      it('reads back records, events and keys right after the write, without a refresh', async () => {
        const a = makeRecord(CORPUS[0]!);
        const b = makeRecord(CORPUS[1]!);
        const e1 = makeEvent('ev-1', 'r01', at(BASE, 10), 'envoy', 'aa000000000000000000000000000001');
        const e2 = makeEvent('ev-2', 'r01', at(BASE, 20), 'otlp', 'aa000000000000000000000000000001');
        const e3 = makeEvent('ev-3', 'r02', at(BASE, 1000), 'tyk');
        await store.write(batchOf({ records: [a, b], events: [e1, e2, e3], keys: [['t:aa000000000000000000000000000001', 'r01'], ['r:req-2', 'r02']] }));

        const recs = await store.getRecords(['r01', 'r02', 'nope']);
        expect([...recs.keys()].sort()).toEqual(['r01', 'r02']);
        expect(recs.get('r01')).toEqual(a);
        expect(recs.get('r02')).toEqual(b);
        const evs = await store.getEvents(['ev-3', 'ev-1', 'ev-2', 'ev-missing']);
        expect([...evs.keys()].sort()).toEqual(['ev-1', 'ev-2', 'ev-3']);
        expect(evs.get('ev-2')).toEqual(e2);
        const keys = await store.lookupKeys(['r:req-2', 't:aa000000000000000000000000000001', 'r:unknown', 'r:req-2']);
        expect(Object.fromEntries(keys)).toEqual({ 'r:req-2': 'r02', 't:aa000000000000000000000000000001': 'r01' });
      });

      it('returns empty maps for empty and unknown input', async () => {
        expect((await store.getRecords([])).size).toBe(0);
        expect((await store.getEvents(['x'])).size).toBe(0);
        expect((await store.lookupKeys([])).size).toBe(0);
        expect((await store.lookupKeys(['t:none'])).size).toBe(0);
      });

      it('handles keys that are long or contain any character', async () => {
        const long = `r:${'x'.repeat(600)}`;
        const odd = 'a:10.0.0.1|443|GET|/p?q="1"&r=\\/#frag ünïcode';
        await store.write(batchOf({ records: [makeRecord(CORPUS[0]!)], keys: [[long, 'r01'], [odd, 'r01'], ['#hash-like', 'r01']] }));
        expect(Object.fromEntries(await store.lookupKeys([long, odd, '#hash-like', `r:${'x'.repeat(599)}`]))).toEqual({ [long]: 'r01', [odd]: 'r01', '#hash-like': 'r01' });
      });

      it('looks up any number of keys at once', async () => {
        const known = ['t:bb000000000000000000000000000007', 'r:req-1200', 'fw:dev:9:10.0.0.9:4000'];
        await store.write(batchOf({ records: [makeRecord(CORPUS[0]!)], keys: known.map((k): [string, string] => [k, 'r01']) }));
        // Beyond one statement's old chunk (500) and spread over it: first, middle, last.
        const asked = Array.from({ length: 1_999 }, (_, i) => `r:req-${i}`).concat(known[0]!, known[2]!);
        expect(Object.fromEntries(await store.lookupKeys(asked))).toEqual(Object.fromEntries(known.map((k) => [k, 'r01'])));
      });

      it('points a key at the record of its latest write', async () => {
        await store.write(batchOf({ records: [makeRecord(CORPUS[0]!)], keys: [['t:k', 'r01']] }));
        await store.write(batchOf({ records: [makeRecord(CORPUS[1]!)], keys: [['t:k', 'r02']] }));
        expect((await store.lookupKeys(['t:k'])).get('t:k')).toBe('r02');
      });
    });

    describe('writes', () => {
      freshStorePerTest();

      it('is idempotent: replaying a batch changes nothing', async () => {
        const recs = CORPUS.slice(0, 3).map(makeRecord);
        const evs = [makeEvent('ev-1', 'r01', at(BASE, 1), 'envoy', 'aa000000000000000000000000000001'), makeEvent('ev-2', 'r01', at(BASE, 2), 'otlp', 'aa000000000000000000000000000001')];
        const batch = batchOf({ records: recs, events: evs, keys: [['t:aa000000000000000000000000000001', 'r01']], deadLetters: [makeDeadLetter('dl-1', at(BASE, 5))] });
        await store.write(batch);
        await store.refresh();
        const before = {
          search: await store.searchRecords({ limit: 100 }),
          trace: await store.getTrace('aa000000000000000000000000000001'),
          dls: await store.listDeadLetters({ limit: 100 }),
          recs: await store.getRecords(['r01', 'r02', 'r03']),
        };
        await store.write(batch);
        await store.write(batch);
        await store.refresh();
        expect(await store.searchRecords({ limit: 100 })).toEqual(before.search);
        expect(before.search.records).toHaveLength(3);
        expect(await store.getTrace('aa000000000000000000000000000001')).toEqual(before.trace);
        expect(before.trace.events).toHaveLength(2);
        expect(await store.listDeadLetters({ limit: 100 })).toEqual(before.dls);
        expect(before.dls.deadLetters).toHaveLength(1);
        expect(await store.getRecords(['r01', 'r02', 'r03'])).toEqual(before.recs);
      });

      it('accepts an empty batch', async () => {
        await store.write(batchOf({}));
        await store.refresh();
        expect((await store.searchRecords({ limit: 10 })).records).toEqual([]);
      });

      it('replaces an amended record everywhere, even when its @timestamp moves to another day', async () => {
        const v1 = makeRecord({ id: 'am1', ts: '2024-05-11T08:00:00.000Z', userId: 'first', traceId: 'bb000000000000000000000000000001', path: '/v1' });
        await store.write(batchOf({ records: [v1] }));
        await store.refresh();
        const v2 = makeRecord({ id: 'am1', ts: '2024-05-09T23:59:59.000Z', userId: 'second', traceId: 'bb000000000000000000000000000001', path: '/v2' });
        v2.auditmesh.version = 2;
        await store.write(batchOf({ records: [v2] }));
        expect((await store.getRecords(['am1'])).get('am1')).toEqual(v2);
        await store.refresh();
        expect(await search({})).toEqual(['am1']);
        expect(await search({ userId: 'first' })).toEqual([]);
        expect(await search({ userId: 'second' })).toEqual(['am1']);
        expect(await search({ text: 'v1' })).toEqual([]);
        expect(await search({ from: '2024-05-11T00:00:00.000Z' })).toEqual([]);
        expect(await search({ from: '2024-05-09T00:00:00.000Z', to: '2024-05-10T00:00:00.000Z' })).toEqual(['am1']);
        expect((await store.searchRecords({ limit: 10 })).records[0]).toEqual(v2);
        expect(idsOf((await store.getTrace('bb000000000000000000000000000001')).records)).toEqual(['am1']);
      });

      it('keeps the last version when a batch carries the same record twice', async () => {
        const v1 = makeRecord({ id: 'dup', ts: at(BASE, 0), path: '/one' });
        const v2 = makeRecord({ id: 'dup', ts: at(BASE, 5), path: '/two' });
        await store.write(batchOf({ records: [v1, v2] }));
        expect((await store.getRecords(['dup'])).get('dup')).toEqual(v2);
        await store.refresh();
        expect(await search({})).toEqual(['dup']);
      });

      it('removes deletedRecords from reads, search and traces, and moves their events to the surviving record', async () => {
        const trace = 'cc000000000000000000000000000001';
        const a = makeRecord({ id: 'ma', ts: at(BASE, 1000), traceId: trace, userId: 'u1' });
        const b = makeRecord({ id: 'mb', ts: at(BASE, 2000), traceId: trace, userId: 'u2' });
        const ea = makeEvent('ev-a', 'ma', at(BASE, 1000), 'envoy', trace);
        const eb = makeEvent('ev-b', 'mb', at(BASE, 2000), 'otlp', trace);
        await store.write(batchOf({ records: [a, b], events: [ea, eb], keys: [['t:a', 'ma'], ['t:b', 'mb']] }));
        await store.refresh();
        expect(await search({ traceId: trace })).toEqual(['mb', 'ma']);

        const merged = makeRecord({ id: 'ma', ts: at(BASE, 1000), traceId: trace, userId: 'u1', sources: ['envoy', 'otlp'] });
        await store.write(batchOf({ records: [merged], events: [{ ...eb, recordId: 'ma' }], keys: [['t:a', 'ma'], ['t:b', 'ma']], deletedRecords: ['mb'] }));
        expect([...(await store.getRecords(['ma', 'mb'])).keys()]).toEqual(['ma']);
        expect((await store.getEvents(['ev-b'])).get('ev-b')?.recordId).toBe('ma');
        expect(Object.fromEntries(await store.lookupKeys(['t:a', 't:b']))).toEqual({ 't:a': 'ma', 't:b': 'ma' });
        await store.refresh();
        expect(await search({ traceId: trace })).toEqual(['ma']);
        expect(await search({ userId: 'u2' })).toEqual([]);
        const t = await store.getTrace(trace);
        expect(idsOf(t.records)).toEqual(['ma']);
        expect(t.events.map((e) => [e.id, e.recordId])).toEqual([['ev-a', 'ma'], ['ev-b', 'ma']]);
      });

      it('applies deletes before upserts: a record deleted and written in one batch is kept', async () => {
        const a = makeRecord(CORPUS[0]!);
        await store.write(batchOf({ records: [a] }));
        await store.write(batchOf({ records: [a], deletedRecords: ['r01', 'never-existed'] }));
        expect((await store.getRecords(['r01'])).get('r01')).toEqual(a);
        await store.refresh();
        expect(await search({})).toEqual(['r01']);
      });

      it('ignores deletes of unknown records', async () => {
        await store.write(batchOf({ deletedRecords: ['ghost-1', 'ghost-2'] }));
        await store.refresh();
        expect(await search({})).toEqual([]);
      });
    });

    describe('records by source ip (correlation support)', () => {
      freshStorePerTest();

      const T = '2024-05-12T08:00:00.000Z';
      const byIp = (ips: string[], from: string, to: string, recordType: 'request' | 'session' = 'request', limit = 100) =>
        store.findRecordsByIps({ ips, from, to, recordType, limit }).then((rs) => idsOf(rs).sort());
      const seed = () =>
        store.write(
          batchOf({
            records: [
              makeRecord({ id: 'ipA', ts: at(T, 0), sourceIp: '10.1.0.1' }),
              makeRecord({ id: 'ipB', ts: at(T, 1000), sourceIp: '10.1.0.2' }),
              makeRecord({ id: 'ipC', ts: at(T, 2000), sourceIp: '10.1.0.1', recordType: 'session', sources: ['panos'] }),
              makeRecord({ id: 'ipD', ts: at(T, 3000), sourceIp: '10.1.0.3' }),
              makeRecord({ id: 'ipE', ts: at(T, 10_000), sourceIp: '10.1.0.1' }),
              makeRecord({ id: 'ipF', ts: at(T, 4000), sourceIp: 'fd00::1' }),
            ],
          }),
        );

      it('finds records of one type by any of several source ips in [from, to), right after the write (no refresh)', async () => {
        await seed();
        expect(await byIp(['10.1.0.1', '10.1.0.2'], T, at(T, 10_000))).toEqual(['ipA', 'ipB']);
        expect(await byIp(['10.1.0.1', '10.1.0.2'], at(T, 1000), at(T, 10_001))).toEqual(['ipB', 'ipE']);
        expect(await byIp(['10.1.0.1'], T, at(T, 10_000), 'session')).toEqual(['ipC']);
        expect(await byIp(['fd00::1', '10.9.9.9'], T, at(T, 60_000))).toEqual(['ipF']);
        expect(await byIp([], T, at(T, 60_000))).toEqual([]);
        expect(await store.findRecordsByIps({ ips: ['10.1.0.1', '10.1.0.2', '10.1.0.3'], from: T, to: at(T, 60_000), recordType: 'request', limit: 2 })).toHaveLength(2);
      });

      it('takes any number of addresses, and returns a record its address and NAT address both match once', async () => {
        const nat = makeRecord({ id: 'natA', ts: at(T, 0), sourceIp: '10.4.0.1' });
        (nat.source as Record<string, unknown>).nat = { ip: '203.0.113.9' };
        await store.write(batchOf({ records: [nat, makeRecord({ id: 'natB', ts: at(T, 1000), sourceIp: '10.4.0.2' })] }));
        const ips = Array.from({ length: 1_200 }, (_, i) => `10.5.${i >> 8}.${i & 255}`);
        ips.splice(5, 0, '10.4.0.2');
        ips.splice(700, 0, '10.4.0.1');
        ips.splice(1_100, 0, '203.0.113.9');
        const found = await store.findRecordsByIps({ ips, from: T, to: at(T, 60_000), recordType: 'request', limit: 100 });
        expect(idsOf(found).sort()).toEqual(['natA', 'natB']);
      });

      it('sees amendments and deletions right after the write (no refresh)', async () => {
        await seed();
        await store.refresh();
        expect(await byIp(['10.1.0.1'], T, at(T, 60_000))).toEqual(['ipA', 'ipE']);
        await store.write(batchOf({ records: [makeRecord({ id: 'ipA', ts: at(T, 0), sourceIp: '10.1.0.7' })], deletedRecords: ['ipE'] }));
        expect(await byIp(['10.1.0.1'], T, at(T, 60_000))).toEqual([]);
        expect(await byIp(['10.1.0.7'], T, at(T, 60_000))).toEqual(['ipA']);
      });

      it('with selfKeyedOnly, only records whose every key is an event\'s own (e:)', async () => {
        const keyed = (id: string, keys: string[], ts: string) => {
          const r = makeRecord({ id, ts, sourceIp: '10.2.0.1' });
          r.auditmesh.keys = keys;
          return r;
        };
        await store.write(
          batchOf({
            records: [
              keyed('self1', ['e:ev-1'], at(T, 0)),
              keyed('self2', ['e:ev-2', 'e:ev-3'], at(T, 100)),
              keyed('traced', ['e:ev-4', 't:0af7651916cd43dd8448eb211c80319c'], at(T, 200)),
              keyed('requested', ['r:req-1'], at(T, 300)),
              keyed('fw', ['fw:dev:1:10.2.0.1:5000'], at(T, 400)),
              keyed('mixed', ['e:ev-5', 'r:req-2'], at(T, 500)),
            ],
          }),
        );
        const q = { ips: ['10.2.0.1'], from: T, to: at(T, 60_000), recordType: 'request' as const, limit: 100 };
        expect(idsOf(await store.findRecordsByIps({ ...q, selfKeyedOnly: true })).sort()).toEqual(['self1', 'self2']);
        expect(idsOf(await store.findRecordsByIps(q)).sort()).toEqual(['fw', 'mixed', 'requested', 'self1', 'self2', 'traced']);
        // [from, to) holds for them too, to the millisecond.
        expect(idsOf(await store.findRecordsByIps({ ...q, selfKeyedOnly: true, from: at(T, 100), to: at(T, 101) }))).toEqual(['self2']);
        expect(idsOf(await store.findRecordsByIps({ ...q, selfKeyedOnly: true, from: at(T, 0), to: at(T, 1) }))).toEqual(['self1']);
        expect(await store.findRecordsByIps({ ...q, selfKeyedOnly: true, from: at(T, 1), to: at(T, 100) })).toEqual([]);
        expect(await store.findRecordsByIps({ ...q, selfKeyedOnly: true, recordType: 'session' })).toEqual([]);
        // Amended to carry a trace key: no longer self-keyed, at once.
        await store.write(batchOf({ records: [keyed('self2', ['e:ev-2', 't:4bf92f3577b34da6a3ce929d0e0e4736'], at(T, 100))] }));
        expect(idsOf(await store.findRecordsByIps({ ...q, selfKeyedOnly: true }))).toEqual(['self1']);
      });

      it('with endFrom, only records whose event.end or latest member is that late', async () => {
        // Firewall sessions stamped with their log time; they end at event.end, or at their last member.
        const session = (id: string, ts: string, opts: { end?: string; memberAt?: string } = {}) => {
          const r = makeRecord({ id, ts, sourceIp: '10.3.0.1', recordType: 'session', sources: ['panos'] });
          if (opts.end) (r.event as Record<string, unknown>).end = opts.end;
          if (opts.memberAt) r.auditmesh.members.push({ ...r.auditmesh.members[0]!, event_id: `${id}-late`, timestamp: opts.memberAt });
          return r;
        };
        await store.write(
          batchOf({
            records: [
              session('ended', at(T, 0), { end: at(T, 1_000) }),
              session('endsLater', at(T, 0), { end: at(T, 9_000) }),
              session('lateMember', at(T, 0), { end: at(T, 1_000), memberAt: at(T, 8_000) }),
              session('stampOnly', at(T, 7_000)),
              session('stampEarly', at(T, 2_000)),
            ],
          }),
        );
        await store.refresh();
        const q = { ips: ['10.3.0.1'], from: at(T, -3_600_000), to: at(T, 3_600_000), recordType: 'session' as const, limit: 100 };
        expect(idsOf(await store.findRecordsByIps(q)).sort()).toEqual(['ended', 'endsLater', 'lateMember', 'stampEarly', 'stampOnly']);
        expect(idsOf(await store.findRecordsByIps({ ...q, endFrom: at(T, 5_000) })).sort()).toEqual(['endsLater', 'lateMember', 'stampOnly']);
        expect(idsOf(await store.findRecordsByIps({ ...q, endFrom: at(T, 8_000) })).sort()).toEqual(['endsLater', 'lateMember']);
        // The bound is inclusive; the address and time filters still apply.
        expect(idsOf(await store.findRecordsByIps({ ...q, endFrom: at(T, 9_000) }))).toEqual(['endsLater']);
        expect(await store.findRecordsByIps({ ...q, ips: ['10.3.0.2'], endFrom: at(T, 0) })).toEqual([]);
        // Amended to end earlier: no longer found, at once.
        await store.write(batchOf({ records: [session('endsLater', at(T, 0), { end: at(T, 3_000) })] }));
        expect(idsOf(await store.findRecordsByIps({ ...q, endFrom: at(T, 5_000) })).sort()).toEqual(['lateMember', 'stampOnly']);
        // Any record type: a request that ends late enough.
        const req = makeRecord({ id: 'req', ts: at(T, 0), sourceIp: '10.3.0.1' });
        (req.event as Record<string, unknown>).end = at(T, 6_000);
        await store.write(batchOf({ records: [req] }));
        const r = { ...q, recordType: 'request' as const };
        expect(idsOf(await store.findRecordsByIps({ ...r, endFrom: at(T, 6_000) }))).toEqual(['req']);
        expect(await store.findRecordsByIps({ ...r, endFrom: at(T, 6_001) })).toEqual([]);
      });
    });

    describe('search filters', () => {
      sharedStore((s) => s.write(batchOf({ records: CORPUS.map(makeRecord) })));
      const all = [...CORPUS].reverse().map((r) => r.id);

      it('returns everything newest first without filters', async () => {
        expect(await search({})).toEqual(all);
        expect((await store.searchRecords({ limit: 1000 })).records).toEqual([...CORPUS].reverse().map(makeRecord));
      });

      it('treats `from` as inclusive and `to` as exclusive', async () => {
        expect(await search({ from: CORPUS[2]!.ts, to: CORPUS[5]!.ts })).toEqual(['r05', 'r04', 'r03']);
        expect(await search({ from: at(CORPUS[2]!.ts, 1), to: at(CORPUS[5]!.ts, 1) })).toEqual(['r06', 'r05', 'r04']);
        expect(await search({ from: CORPUS[13]!.ts })).toEqual(['r14']);
        expect(await search({ to: CORPUS[1]!.ts })).toEqual(['r01']);
        expect(await search({ from: CORPUS[3]!.ts, to: CORPUS[3]!.ts })).toEqual([]);
        // Other spellings of the same instants.
        expect(await search({ from: '2024-05-10T12:00:02+02:00', to: '2024-05-10T10:00:05Z' })).toEqual(['r05', 'r04', 'r03']);
      });

      it.each<[string, Partial<RecordQuery>, string[]]>([
        ['trace id', { traceId: 'aa000000000000000000000000000002' }, ['r02']],
        ['unknown trace id', { traceId: 'ff000000000000000000000000000000' }, []],
        ['user id', { userId: 'alice' }, ['r03', 'r01']],
        ['user id (exact, case-sensitive)', { userId: 'Alice' }, []],
        ['source ip v4', { sourceIp: '10.0.0.1' }, ['r01']],
        ['source ip v6', { sourceIp: '2001:db8::1' }, ['r03']],
        ['unknown source ip', { sourceIp: '10.0.0.9' }, []],
        ['verdict', { verdict: 'verified' }, ['r01']],
        ['verdict unverifiable', { verdict: 'unverifiable' }, ['r05']],
        ['service', { service: 'checkout' }, ['r02', 'r01']],
        ['method (stored in any case)', { method: 'GET' }, ['r14', 'r13', 'r11', 'r10', 'r09', 'r07', 'r06', 'r03', 'r01']],
        ['method (queried in lower case)', { method: 'post' }, ['r02']],
        ['status', { status: 401 }, ['r02']],
        ['status 503', { status: 503 }, ['r03']],
        ['outcome failure', { outcome: 'failure' }, ['r09', 'r03', 'r02']],
        ['outcome unknown', { outcome: 'unknown' }, ['r05']],
        ['source (one of several)', { source: 'otlp' }, ['r01']],
        ['source panos', { source: 'panos' }, ['r05', 'r04']],
        ['source tyk', { source: 'tyk' }, ['r02']],
        ['record type session', { recordType: 'session' }, ['r04']],
        ['record type event', { recordType: 'event' }, ['r05']],
        ['several filters at once', { userId: 'alice', method: 'GET', text: 'orders' }, ['r01']],
        ['filters and a time range', { service: 'files', status: 200, from: CORPUS[6]!.ts, to: CORPUS[12]!.ts }, ['r11', 'r10', 'r07']],
      ])('filters by %s', async (_label, q, expected) => {
        expect(await search(q)).toEqual(expected);
      });

      it.each<[string, string[]]>([
        ['API', ['r02', 'r01']],
        ['orders/4', ['r01']],
        ['mozilla', ['r14', 'r01']],
        ['CURL/8', ['r02']],
        ['%', ['r14', 'r03']],
        ['100%_off', ['r03']],
        ['_', ['r06', 'r03']],
        ['a_b', ['r06']],
        ['a%b', ['r14']],
        ['*', ['r07']],
        ['a*b', ['r07']],
        ['?', []],
        ['a?b', []],
        ['"', ['r08']],
        ['"quoted"', ['r08']],
        ['\\', ['r09']],
        ['dir\\sub', ['r09']],
        ['(', ['r10']],
        ['fn(1)', ['r10']],
        ["'", ['r13']],
        ['ärger', ['r11']],
        ['RGER/STRA', ['r11']],
        ['Agent/ÄÖÜ', ['r11']],
      ])('matches free text %j literally as a case-insensitive substring of url.path or user_agent.original', async (text, expected) => {
        expect(await search({ text })).toEqual(expected);
      });

      it('folds ASCII letters only: non-ASCII letters must match exactly on both engines', async () => {
        expect(await search({ text: 'ÄRGER' })).toEqual([]);
        expect(await search({ text: 'agent/äöü' })).toEqual([]);
      });

      it.each([
        "' OR '1'='1",
        "'; DROP TABLE records; --",
        '" OR 1=1 --',
        '*:*',
        'url.path:*',
        ') OR (',
        '") OR ("a',
        '%%%',
        '\\*',
        '\\%',
        '.*',
        '[a-z]+',
        '/api/* OR *',
        '<script>alert(1)</script>',
        'e\u0000x',
        '${jndi:ldap://x}',
      ])('treats query syntax %j as plain text: no error and no unrelated matches', async (text) => {
        expect(await search({ text })).toEqual([]);
      });

      it('ignores empty filter values', async () => {
        expect(await search({ text: '', userId: '', traceId: '', service: '' })).toEqual(all);
      });
    });

    describe('pagination', () => {
      // 250 records, four per timestamp; ids deliberately not in time order.
      const many = Array.from({ length: 250 }, (_, i) =>
        makeRecord({ id: `p${String((i * 37) % 250).padStart(3, '0')}`, ts: at(BASE, Math.floor(i / 4) * 1000), sources: i % 2 ? ['tyk'] : ['envoy'], path: `/page/${i}` }),
      );
      const expected = [...many].sort(newestFirst).map((r) => r.auditmesh.record_id);

      describe('over a fixed set', () => {
        sharedStore((s) => s.write(batchOf({ records: many })));

        it('pages 250 records by 100: three pages, newest first, ties by id descending, no duplicate, no gap', async () => {
          const pages: string[][] = [];
          let cursor: string | undefined;
          do {
            const page = await store.searchRecords({ limit: 100, ...(cursor ? { cursor } : {}) });
            pages.push(idsOf(page.records));
            cursor = page.nextCursor;
          } while (cursor && pages.length < 10);
          expect(pages.map((p) => p.length)).toEqual([100, 100, 50]);
          expect(pages.flat()).toEqual(expected);
          expect(new Set(pages.flat()).size).toBe(250);
        });

        it('pages a filtered search the same way', async () => {
          const want = [...many].filter((r) => r.auditmesh.sources.includes('tyk')).sort(newestFirst).map((r) => r.auditmesh.record_id);
          const got: string[] = [];
          let cursor: string | undefined;
          let n = 0;
          do {
            const page = await store.searchRecords({ limit: 40, source: 'tyk', ...(cursor ? { cursor } : {}) });
            got.push(...idsOf(page.records));
            cursor = page.nextCursor;
          } while (cursor && ++n < 10);
          expect(got).toEqual(want);
        });

        it('gives no cursor when the page holds exactly the rest', async () => {
          expect((await store.searchRecords({ limit: 250 })).nextCursor).toBeUndefined();
          const first = await store.searchRecords({ limit: 249 });
          expect(first.nextCursor).toBeDefined();
          const last = await store.searchRecords({ limit: 249, cursor: first.nextCursor! });
          expect(idsOf(last.records)).toEqual(expected.slice(249));
          expect(last.nextCursor).toBeUndefined();
        });

        it.each([
          ['not base64 json', 'not a cursor!'],
          ['one element', b64('[1]')],
          ['wrong types', b64('["a","b"]')],
          ['an object', b64('{"ts":1,"id":"x"}')],
          ['a non-finite time', b64('[1e999,"x"]')],
          ['an id too long', b64(JSON.stringify([1, 'x'.repeat(65)]))],
        ])('rejects an invalid cursor (%s) with code invalid_cursor', async (_label, cursor) => {
          const err = await store.searchRecords({ limit: 10, cursor }).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(PipelineError);
          expect(err).toMatchObject({ code: 'invalid_cursor', retriable: false });
        });
      });

      describe('while records arrive', () => {
        freshStorePerTest();

        it('continues after the cursor even when newer records arrive between pages', async () => {
          await store.write(batchOf({ records: many }));
          await store.refresh();
          const first = await store.searchRecords({ limit: 100 });
          await store.write(batchOf({ records: [makeRecord({ id: 'zz-newest', ts: at(BASE, 10_000_000) })] }));
          await store.refresh();
          const second = await store.searchRecords({ limit: 100, cursor: first.nextCursor! });
          expect(idsOf(second.records)).toEqual(expected.slice(100, 200));
        });
      });
    });

    describe('search filters of issue 5 (rule, firewall action, url.path, mismatch, api records)', () => {
      sharedStore((s) => s.write(batchOf({ records: [...CORPUS, ...ANALYTICS_CORPUS].map(makeRecord) })));
      const JUNE = { from: '2024-06-01T00:00:00.000Z' };

      it.each<[string, Partial<RecordQuery>, string[]]>([
        ['rule name', { ruleName: 'block-untrusted' }, ['a10', 'a09']],
        ['rule name (exact, case-sensitive)', { ruleName: 'Block-Untrusted' }, []],
        ['firewall action deny', { firewallAction: 'deny' }, ['a09']],
        ['firewall action reset-both', { firewallAction: 'reset-both' }, ['a10']],
        ['firewall action allow', { firewallAction: 'allow' }, ['a13']],
        ['url.path exact', { path: '/api/admin/users' }, ['a05', 'a01']],
        ['url.path exact (no prefix match)', { path: '/api/admin' }, []],
        ['path prefix (plain string prefix)', { pathPrefix: '/api/admin' }, ['a11', 'a10', 'a05', 'a15', 'a02', 'a01']],
        ['path prefix with a trailing slash', { pathPrefix: '/api/admin/' }, ['a10', 'a05', 'a15', 'a02', 'a01']],
        ['path prefix equal to a whole path', { pathPrefix: '/api/admin/users' }, ['a05', 'a02', 'a01']],
        ['path prefix (case-sensitive)', { pathPrefix: '/API' }, ['a12']],
        ['path prefix with % and _ as literal characters', { pathPrefix: '/files/a_' }, ['r06']],
        ['path prefix with %', { pathPrefix: '/catalog/100%' }, ['r03']],
        ['path prefix with *', { pathPrefix: '/files/a*' }, ['r07']],
        ['path prefix with a backslash', { pathPrefix: '/dir\\' }, ['r09']],
        ['path prefix with non-ASCII letters (exact, no folding)', { pathPrefix: '/ärger/S' }, ['r11']],
        ['path prefix with non-ASCII letters in another case', { pathPrefix: '/ÄRGER' }, []],
        ['path prefix ending in the last code point', { pathPrefix: '/files/\u{10FFFF}' }, []],
        ['mismatch true', { mismatch: true }, ['a04']],
        ['mismatch false', { mismatch: false, from: h('11:00'), to: h('12:00') }, ['a05']],
        ['user id of an api record: api records are left out of searches', { userId: 'ann' }, []],
        ['record type api: only api records', { recordType: 'api' }, ['a14']],
        ['record type api and user id', { recordType: 'api', userId: 'ann' }, ['a14']],
        ['prefix, firewall action and time range', { pathPrefix: '/api/', firewallAction: 'reset-both', from: h('14:00'), to: h('15:00') }, ['a10']],
      ])('filters by %s', async (_label, q, expected) => {
        expect(await search(q)).toEqual(expected);
      });

      it('leaves api records out of an unfiltered search', async () => {
        const ids = await search(JUNE);
        expect(ids).toHaveLength(ANALYTICS_CORPUS.length - 1);
        expect(ids).not.toContain('a14');
      });

      it('pages a path-prefix search with the cursor, no gap and no duplicate', async () => {
        const got: string[] = [];
        let cursor: string | undefined;
        let n = 0;
        do {
          const page = await store.searchRecords({ limit: 2, pathPrefix: '/api/', ...JUNE, ...(cursor ? { cursor } : {}) });
          got.push(...idsOf(page.records));
          cursor = page.nextCursor;
        } while (cursor && ++n < 20);
        expect(got).toEqual(['a13', 'a11', 'a10', 'a08', 'a06', 'a05', 'a04', 'a17', 'a16', 'a15', 'a03', 'a02', 'a01']);
      });
    });

    describe('identity activity', () => {
      sharedStore((s) => s.write(batchOf({ records: ANALYTICS_CORPUS.map(makeRecord) })));
      const activity = async (userId: string, from: string, to: string, bucket: 'hour' | 'day') =>
        finishActivity(await store.identityActivity({ userId, from, to, bucket }), Date.parse(from), Date.parse(to), bucket);

      it("summarizes an identity's records: resources, sources, outcomes, verdicts, source ips and an hourly timeline", async () => {
        const a = await activity('alice', DAY3, '2024-06-05T00:00:00.000Z', 'hour');
        expect(a.summary).toEqual({
          records: 6,
          first_seen: h('08:15'),
          last_seen: h('20:00', '2024-06-04'),
          resources: [
            { path: '/API/ADMIN/users', service: 'admin', count: 1 },
            { path: '/api/admin/users', service: 'admin', count: 1 },
            { path: '/api/admin/users/9', service: 'admin', count: 1 },
            { path: '/api/administrators', service: 'admin', count: 1 },
            { path: '/api/orders/2', service: 'orders', count: 1 },
            { path: '/api/payments/charge', service: 'payments', count: 1 },
          ],
          sources: [
            { source: 'envoy', count: 6 },
            { source: 'otlp', count: 1 },
            { source: 'panos', count: 1 },
            { source: 'tyk', count: 1 },
          ],
          outcomes: { success: 4, failure: 2, unknown: 0 },
          verdicts: { verified: 6 },
          source_ips: [
            { ip: '10.0.0.1', count: 5 },
            { ip: '10.0.0.2', count: 1 },
          ],
        });
        expect(a.timeline).toHaveLength(48);
        expect(a.timeline[0]).toEqual({ bucket: DAY3, count: 0, failures: 0 });
        expect(a.timeline.filter((b) => b.count > 0)).toEqual([
          { bucket: h('08:00'), count: 2, failures: 0 },
          { bucket: h('09:00'), count: 1, failures: 1 },
          { bucket: h('15:00'), count: 2, failures: 1 },
          { bucket: h('20:00', '2024-06-04'), count: 1, failures: 0 },
        ]);
      });

      it('buckets by day, counts repeated resources and ips, and respects [from, to)', async () => {
        const a = await activity('alice', '2024-06-01T00:00:00.000Z', '2024-06-08T00:00:00.000Z', 'day');
        expect(a.timeline.map((b) => [b.bucket.slice(0, 10), b.count, b.failures])).toEqual([
          ['2024-06-01', 0, 0],
          ['2024-06-02', 0, 0],
          ['2024-06-03', 5, 2],
          ['2024-06-04', 1, 0],
          ['2024-06-05', 0, 0],
          ['2024-06-06', 0, 0],
          ['2024-06-07', 0, 0],
        ]);
        const bob = await activity('bob', DAY3, h('11:30'), 'hour');
        expect(bob.summary).toMatchObject({ records: 1, first_seen: h('11:00'), last_seen: h('11:00'), outcomes: { success: 1, failure: 0, unknown: 0 }, verdicts: { trusted_upstream: 1 } });
        const svc = await activity(SPIFFE, DAY3, '2024-06-04T00:00:00.000Z', 'hour');
        expect(svc.summary.resources).toEqual([
          { path: '/api/payments/ledger', service: 'payments', count: 1 },
          { path: '/internal/sync', service: 'billing', count: 1 },
        ]);
        expect(svc.summary.source_ips).toEqual([{ ip: '10.0.1.5', count: 2 }]);
      });

      it('answers zeros for an identity without records, and leaves api records out', async () => {
        for (const who of ['nobody', 'ann', 'Alice']) {
          const a = await activity(who, DAY3, '2024-06-06T00:00:00.000Z', 'hour');
          expect(a.summary).toEqual({ records: 0, first_seen: null, last_seen: null, resources: [], sources: [], outcomes: { success: 0, failure: 0, unknown: 0 }, verdicts: {}, source_ips: [] });
          expect(a.timeline.every((b) => b.count === 0)).toBe(true);
        }
      });
    });

    describe('reports grouped by identity', () => {
      sharedStore((s) => s.write(batchOf({ records: ANALYTICS_CORPUS.map(makeRecord) })));
      const RANGE = { from: DAY3, to: '2024-06-06T00:00:00.000Z' };
      const report = (name: ReportName, extra: Partial<ReportQuery> = {}) =>
        store.reportByIdentity({ where: reportPredicate(name, REPORTS_CONFIG), limit: 100, examples: 5, ...RANGE, ...extra });
      const g = (identity: string | null, count: number, failures: number, first: string, last: string, examples: string[]) => ({
        identity,
        count,
        failures,
        firstSeenMs: Date.parse(first),
        lastSeenMs: Date.parse(last),
        examples,
      });

      it('sensitive-access: configured path prefixes (case-sensitive string prefixes) or services', async () => {
        expect(await report('sensitive-access')).toEqual({
          groups: [
            g('alice', 4, 1, h('08:15'), h('15:00'), ['a11', 'a03', 'a02', 'a01']),
            g(SPIFFE, 2, 1, h('12:00'), h('12:00'), ['a07', 'a06']),
            g(null, 1, 1, h('14:05'), h('14:05'), ['a10']),
            g('bob', 1, 1, h('11:30'), h('11:30'), ['a05']),
            g('job[7]', 1, 0, h('10:00'), h('10:00'), ['a15']),
          ],
          total: 9,
          identities: 5,
        });
      });

      it('denied-access: failures with HTTP 401/403 or a firewall action that denies', async () => {
        expect(await report('denied-access')).toEqual({
          groups: [g(null, 2, 2, h('14:00'), h('14:05'), ['a10', 'a09']), g('alice', 1, 1, h('09:10'), h('09:10'), ['a03']), g('bob', 1, 1, h('11:30'), h('11:30'), ['a05'])],
          total: 4,
          identities: 3,
        });
      });

      it('unverified-identity: request records whose identity is not verified or whose layers disagree', async () => {
        expect(await report('unverified-identity')).toEqual({
          groups: [
            g('bob', 2, 1, h('11:00'), h('11:30'), ['a05', 'a04']),
            g(null, 1, 1, h('14:05'), h('14:05'), ['a10']),
            g('job[7]', 1, 0, h('10:00'), h('10:00'), ['a15']),
            g('jobs7', 1, 0, h('10:45'), h('10:45'), ['a17']),
            g('svc-reporting', 1, 0, h('13:00'), h('13:00'), ['a08']),
            g('svc-ünïcode', 1, 0, h('10:30'), h('10:30'), ['a16']),
          ],
          total: 7,
          identities: 6,
        });
      });

      it('privileged-actions: state-changing methods on admin paths or by members of admin groups', async () => {
        expect(await report('privileged-actions')).toEqual({
          groups: [g('alice', 2, 1, h('08:45'), h('09:10'), ['a03', 'a02']), g('bob', 1, 1, h('11:30'), h('11:30'), ['a05']), g('job[7]', 1, 0, h('10:00'), h('10:00'), ['a15'])],
          total: 4,
          identities: 3,
        });
      });

      it('service-accounts: SPIFFE identities or user ids matching the configured globs (only * and ? are special)', async () => {
        expect(await report('service-accounts')).toEqual({
          groups: [
            g(SPIFFE, 2, 1, h('12:00'), h('12:00'), ['a07', 'a06']),
            g('job[7]', 1, 0, h('10:00'), h('10:00'), ['a15']),
            g('svc-reporting', 1, 0, h('13:00'), h('13:00'), ['a08']),
            g('svc-ünïcode', 1, 0, h('10:30'), h('10:30'), ['a16']),
          ],
          total: 5,
          identities: 4,
        });
      });

      it('cuts to the biggest groups (total counts all) and respects the time range and the examples cap', async () => {
        const cut = await report('sensitive-access', { limit: 2, examples: 2 });
        expect(cut).toEqual({ groups: [g('alice', 4, 1, h('08:15'), h('15:00'), ['a11', 'a03']), g(SPIFFE, 2, 1, h('12:00'), h('12:00'), ['a07', 'a06'])], total: 9, identities: 5 });
        expect(await report('denied-access', { from: h('12:00'), to: h('14:05') })).toEqual({ groups: [g(null, 1, 1, h('14:00'), h('14:00'), ['a09'])], total: 1, identities: 1 });
        expect(await report('denied-access', { from: '2024-07-01T00:00:00.000Z', to: '2024-07-02T00:00:00.000Z' })).toEqual({ groups: [], total: 0, identities: 0 });
      });

      it('matches globs per code point and literally apart from * and ?', async () => {
        const ids = async (glob: string) => (await store.reportByIdentity({ where: { field: 'userId', glob }, limit: 100, examples: 0, ...RANGE })).groups.map((x) => x.identity);
        expect(await ids('svc-?nïcode')).toEqual(['svc-ünïcode']);
        expect(await ids('job[?]')).toEqual(['job[7]']);
        expect(await ids('job?7')).toEqual(['jobs7']);
        expect(await ids('*')).toEqual(['alice', 'bob', SPIFFE, 'job[7]', 'jobs7', 'svc-reporting', 'svc-ünïcode']);
        expect(await ids('SVC-*')).toEqual([]);
        expect(await ids('spiffe://*/sa/*')).toEqual([SPIFFE]);
        expect(await ids('\\*')).toEqual([]);
      });

      it('matches nothing for empty configured lists, never everything', async () => {
        const empty: ReportsConfig = { sensitive: { pathPrefixes: [], services: [] }, adminPathPrefixes: [], adminGroups: [], serviceAccountPatterns: [] };
        for (const name of REPORT_NAMES) {
          const r = await store.reportByIdentity({ where: reportPredicate(name, empty), limit: 100, examples: 5, ...RANGE });
          if (name === 'sensitive-access' || name === 'privileged-actions') expect(r).toEqual({ groups: [], total: 0, identities: 0 });
        }
      });
    });

    describe('traces', () => {
      const trace = 'dd000000000000000000000000000001';
      sharedStore(async (s) => {
        const late = makeRecord({ id: 'tA', ts: at(BASE, 5000), traceId: trace, sources: ['envoy', 'otlp'] });
        const early = makeRecord({ id: 'tB', ts: at(BASE, 1000), traceId: trace });
        const other = makeRecord({ id: 'tC', ts: at(BASE, 3000), traceId: 'dd000000000000000000000000000002' });
        await s.write(
          batchOf({
            records: [late, early, other],
            events: [
              makeEvent('e-a2', 'tA', at(BASE, 5500), 'otlp', trace),
              makeEvent('e-a1', 'tA', at(BASE, 5000), 'envoy', trace),
              makeEvent('e-b3', 'tB', at(BASE, 1000), 'envoy', trace),
              makeEvent('e-b2', 'tB', at(BASE, 1000), 'envoy', trace),
              makeEvent('e-b1', 'tB', at(BASE, 900), 'tyk', trace),
              makeEvent('e-c1', 'tC', at(BASE, 3000), 'envoy', 'dd000000000000000000000000000002'),
            ],
          }),
        );
      });

      it('returns the records of a trace (oldest first) and their events in time order, ties by id', async () => {
        const t = await store.getTrace(trace);
        expect(idsOf(t.records)).toEqual(['tB', 'tA']);
        expect(t.events.map((e) => e.id)).toEqual(['e-b1', 'e-b2', 'e-b3', 'e-a1', 'e-a2']);
        expect(t.events[0]).toEqual(makeEvent('e-b1', 'tB', at(BASE, 900), 'tyk', trace));
      });

      it('returns nothing for an unknown or empty trace id', async () => {
        expect(await store.getTrace('dd00000000000000000000000000ffff')).toEqual({ records: [], events: [] });
        expect(await store.getTrace('')).toEqual({ records: [], events: [] });
      });
    });

    describe('dead letters', () => {
      freshStorePerTest();

      it('lists dead letters newest first, ties by id descending, with a cursor', async () => {
        const dls = [
          makeDeadLetter('dl-1', at(BASE, 1000)),
          makeDeadLetter('dl-2', at(BASE, 2000)),
          makeDeadLetter('dl-3b', at(BASE, 3000)),
          makeDeadLetter('dl-3a', at(BASE, 3000)),
          makeDeadLetter('dl-5', at(BASE, 5000)),
        ];
        await store.write(batchOf({ deadLetters: dls }));
        await store.refresh();
        const pages: string[][] = [];
        let cursor: string | undefined;
        do {
          const page = await store.listDeadLetters({ limit: 2, ...(cursor ? { cursor } : {}) });
          pages.push(page.deadLetters.map((d) => d.id));
          cursor = page.nextCursor;
        } while (cursor && pages.length < 10);
        expect(pages).toEqual([['dl-5', 'dl-3b'], ['dl-3a', 'dl-2'], ['dl-1']]);
        expect((await store.listDeadLetters({ limit: 10 })).deadLetters[0]).toEqual(dls[4]);
      });

      it('keeps the first copy of a dead letter id', async () => {
        await store.write(batchOf({ deadLetters: [makeDeadLetter('dl-x', at(BASE, 0), 'first reason')] }));
        await store.write(batchOf({ deadLetters: [makeDeadLetter('dl-x', at(BASE, 9000), 'second reason')] }));
        await store.refresh();
        const { deadLetters, nextCursor } = await store.listDeadLetters({ limit: 10 });
        expect(deadLetters.map((d) => d.reason)).toEqual(['first reason']);
        expect(nextCursor).toBeUndefined();
      });

      it('lists nothing on an empty store and rejects an invalid cursor', async () => {
        expect(await store.listDeadLetters({ limit: 10 })).toEqual({ deadLetters: [] });
        await expect(store.listDeadLetters({ limit: 10, cursor: 'garbage' })).rejects.toMatchObject({ code: 'invalid_cursor' });
      });
    });
  });
}
