import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestApi, type TestApi } from '../testkit';
import { ANALYTICS_CORPUS, makeRecord, REPORTS_CONFIG } from '../../store/contract';
import type { AuditRecord } from '../../model/record';
import { createApp } from '../app';
import { createAuthenticator } from '../auth';
import { configSchema } from '../../config/schema';
import { silentLogger } from '../../instrumentation/logger';
import { noopMetrics } from '../../instrumentation/metrics';
import { exportRoutes, ExportManifests, type ExportManifest } from './export';
import { ApiAuditTrail } from '../apiAudit';
import type { SqliteStore } from '../../store/sqlite/sqliteStore';

const ids = (rs: AuditRecord[]) => rs.map((r) => r.auditmesh.record_id);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const DAY3 = '2024-06-03T00:00:00.000Z';
const h = (hhmm: string, day = '2024-06-03') => `${day}T${hhmm}:00.000Z`;
const SPIFFE = 'spiffe://cluster.local/ns/pay/sa/billing';

describe('api > identity activity, reports, export, audit log', () => {
  let api: TestApi;
  let auditor: string;
  let investigator: string;
  let admin: string;

  beforeAll(async () => {
    api = await startTestApi({ records: ANALYTICS_CORPUS.map(makeRecord), reports: REPORTS_CONFIG, now: () => new Date('2024-06-05T00:00:00.000Z') });
    auditor = await api.token('auditor', 'audrey');
    investigator = await api.token('investigator', 'ivan');
    admin = await api.token('admin', 'ada');
  });
  afterAll(() => api.close());

  const json = async (p: string, token: string) => {
    const r = await api.get(p, token);
    return { status: r.status, body: (await r.json()) as any };
  };

  describe('GET /v1/identities/:id/activity', () => {
    it("answers the identity's summary, an hourly timeline and its newest records", async () => {
      const { status, body } = await json(`/v1/identities/alice/activity?from=${DAY3}&to=2024-06-05T00:00:00Z`, investigator);
      expect(status).toBe(200);
      expect(body).toMatchObject({ identity: 'alice', from: DAY3, to: '2024-06-05T00:00:00.000Z', bucket: 'hour' });
      expect(body.summary).toMatchObject({
        records: 6,
        first_seen: h('08:15'),
        last_seen: h('20:00', '2024-06-04'),
        outcomes: { success: 4, failure: 2, unknown: 0 },
        verdicts: { verified: 6 },
        source_ips: [
          { ip: '10.0.0.1', count: 5 },
          { ip: '10.0.0.2', count: 1 },
        ],
      });
      expect(body.summary.resources).toHaveLength(6);
      expect(body.timeline).toHaveLength(48);
      expect(body.timeline.filter((b: { count: number }) => b.count > 0)).toEqual([
        { bucket: h('08:00'), count: 2, failures: 0 },
        { bucket: h('09:00'), count: 1, failures: 1 },
        { bucket: h('15:00'), count: 2, failures: 1 },
        { bucket: h('20:00', '2024-06-04'), count: 1, failures: 0 },
      ]);
      expect(ids(body.records)).toEqual(['a13', 'a12', 'a11', 'a03', 'a02', 'a01']);
    });

    it('takes a percent-encoded identity (SPIFFE ids contain /) and buckets by day beyond 3 days', async () => {
      const { status, body } = await json(`/v1/identities/${encodeURIComponent(SPIFFE)}/activity?from=2024-06-01T00:00:00Z&to=2024-06-05T00:00:00Z`, auditor);
      expect(status).toBe(200);
      expect(body.identity).toBe(SPIFFE);
      expect(body.bucket).toBe('day');
      expect(body.timeline).toEqual([
        { bucket: '2024-06-01T00:00:00.000Z', count: 0, failures: 0 },
        { bucket: '2024-06-02T00:00:00.000Z', count: 0, failures: 0 },
        { bucket: DAY3, count: 2, failures: 1 },
        { bucket: '2024-06-04T00:00:00.000Z', count: 0, failures: 0 },
      ]);
      expect(ids(body.records)).toEqual(['a07', 'a06']);
    });

    it('defaults to the 7 days before now', async () => {
      const { body } = await json('/v1/identities/alice/activity', auditor);
      expect(body).toMatchObject({ from: '2024-05-29T00:00:00.000Z', to: '2024-06-05T00:00:00.000Z', bucket: 'day' });
      expect(body.summary.records).toBe(6);
    });

    it('leaves api records out', async () => {
      const { body } = await json(`/v1/identities/ann/activity?from=${DAY3}&to=2024-06-06T00:00:00Z`, auditor);
      expect(body.summary.records).toBe(0);
      expect(body.records).toEqual([]);
    });

    it.each([
      ['from=2024-06-05T00:00:00Z&to=2024-06-01T00:00:00Z', /from must be before to/],
      ['from=2020-01-01T00:00:00Z&to=2024-06-01T00:00:00Z', /at most 400 days/],
      ['from=yesterday', /from/],
      ['limit=5', /unknown parameter/],
    ])('rejects %s with a clear 400', async (qs, msg) => {
      const { status, body } = await json(`/v1/identities/alice/activity?${qs}`, auditor);
      expect(status).toBe(400);
      expect(body.message).toMatch(msg);
    });
  });

  describe('GET /v1/reports/:name', () => {
    const range = `from=${DAY3}&to=2024-06-06T00:00:00Z`;

    it('answers sensitive-access grouped by identity with counts, failures, first/last seen and examples', async () => {
      const { status, body } = await json(`/v1/reports/sensitive-access?${range}`, auditor);
      expect(status).toBe(200);
      expect(body).toEqual({
        report: 'sensitive-access',
        from: DAY3,
        to: '2024-06-06T00:00:00.000Z',
        generated_at: '2024-06-05T00:00:00.000Z',
        groups: [
          { identity: 'alice', count: 4, failures: 1, first_seen: h('08:15'), last_seen: h('15:00'), examples: ['a11', 'a03', 'a02', 'a01'] },
          { identity: SPIFFE, count: 2, failures: 1, first_seen: h('12:00'), last_seen: h('12:00'), examples: ['a07', 'a06'] },
          { identity: '(unidentified)', count: 1, failures: 1, first_seen: h('14:05'), last_seen: h('14:05'), examples: ['a10'] },
          { identity: 'bob', count: 1, failures: 1, first_seen: h('11:30'), last_seen: h('11:30'), examples: ['a05'] },
          { identity: 'job[7]', count: 1, failures: 0, first_seen: h('10:00'), last_seen: h('10:00'), examples: ['a15'] },
        ],
        total: 9,
        identities: 5,
      });
    });

    it.each<[string, [string, number][]]>([
      ['denied-access', [['(unidentified)', 2], ['alice', 1], ['bob', 1]]],
      ['unverified-identity', [['bob', 2], ['(unidentified)', 1], ['job[7]', 1], ['jobs7', 1], ['svc-reporting', 1], ['svc-ünïcode', 1]]],
      ['privileged-actions', [['alice', 2], ['bob', 1], ['job[7]', 1]]],
      ['service-accounts', [[SPIFFE, 2], ['job[7]', 1], ['svc-reporting', 1], ['svc-ünïcode', 1]]],
    ])('answers %s', async (name, expected) => {
      const { status, body } = await json(`/v1/reports/${name}?${range}`, admin);
      expect(status).toBe(200);
      expect(body.groups.map((g: { identity: string; count: number }) => [g.identity, g.count])).toEqual(expected);
    });

    it('cuts to `limit` groups while total counts every record', async () => {
      const { body } = await json(`/v1/reports/sensitive-access?${range}&limit=1`, auditor);
      expect(body.groups.map((g: { identity: string }) => g.identity)).toEqual(['alice']);
      expect(body).toMatchObject({ total: 9, identities: 5 });
    });

    it.each([
      ['/v1/reports/everything', /unknown report 'everything'; use one of sensitive-access/],
      ['/v1/reports/sensitive-access?limit=1001', /limit/],
      ['/v1/reports/sensitive-access?user.id=alice', /unknown parameter/],
      ['/v1/reports/sensitive-access?from=2024-06-05T00:00:00Z&to=2024-06-05T00:00:00Z', /before/],
    ])('rejects %s with a clear 400', async (p, msg) => {
      const { status, body } = await json(p, auditor);
      expect(status).toBe(400);
      expect(body.message).toMatch(msg);
    });
  });

  describe('GET /v1/records with the new filters', () => {
    it.each<[string, string[]]>([
      ['rule.name=block-untrusted', ['a10', 'a09']],
      ['firewall.action=deny', ['a09']],
      ['url.path=%2Fapi%2Fadmin%2Fusers', ['a05', 'a01']],
      ['path_prefix=%2Fapi%2Fadmin%2F', ['a10', 'a05', 'a15', 'a02', 'a01']],
      ['identity.mismatch=true', ['a04']],
    ])('filters by %s', async (qs, expected) => {
      const { status, body } = await json(`/v1/records?${qs}`, auditor);
      expect(status).toBe(200);
      expect(ids(body.records)).toEqual(expected);
    });

    it('leaves api records out unless an admin asks for type=api', async () => {
      expect(ids((await json('/v1/records?user.id=ann', auditor)).body.records)).toEqual([]);
      const forbidden = await json('/v1/records?type=api', auditor);
      expect(forbidden.status).toBe(403);
      expect(forbidden.body.message).toMatch(/admin/);
      expect(ids((await json('/v1/records?type=api&user.id=ann', admin)).body.records)).toEqual(['a14']);
    });
  });

  describe('GET /v1/export', () => {
    it('streams NDJSON whose SHA-256 is the one in the manifest, with who, when, what and how many', async () => {
      const r = await api.get('/v1/export?format=ndjson&path_prefix=%2Fapi%2Fadmin', auditor);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/application\/x-ndjson/);
      expect(r.headers.get('transfer-encoding')).toBe('chunked');
      const id = r.headers.get('x-auditmesh-export-id')!;
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      const body = Buffer.from(await r.arrayBuffer());
      const lines = body.toString('utf8').split('\n');
      expect(lines.pop()).toBe('');
      expect(lines.map((l) => (JSON.parse(l) as AuditRecord).auditmesh.record_id)).toEqual(['a11', 'a10', 'a05', 'a15', 'a02', 'a01']);

      const m = await json(`/v1/export/${id}/manifest`, auditor);
      expect(m.status).toBe(200);
      expect(m.body).toMatchObject({
        export_id: id,
        format: 'ndjson',
        query: { format: 'ndjson', path_prefix: '/api/admin' },
        exported_by: { subject: 'audrey', issuer: 'auditmesh-local', roles: ['auditor'] },
        record_count: 6,
        bytes: body.length,
        complete: true,
      });
      expect(m.body.sha256).toBe(sha256(body));
      expect(Date.parse(m.body.exported_at)).not.toBeNaN();
    });

    it('writes CSV per RFC 4180 with formula injection neutralized, and its manifest hash matches too', async () => {
      const evil = [
        makeRecord({ id: 'c1', ts: '2024-07-01T10:00:00.000Z', userId: '=HYPERLINK("http://evil","x")', path: '/a,b"c', service: '+svc', sources: ['envoy', 'otlp'] }),
        makeRecord({ id: 'c2', ts: '2024-07-01T10:00:01.000Z', userId: '@SUM(1)', path: '-1+1', service: 'line\nbreak' }),
      ];
      await api.store.write({ records: evil, events: [], keys: [], deletedRecords: [], deadLetters: [] });
      const r = await api.get('/v1/export?format=csv&from=2024-07-01T00:00:00Z', admin);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/text\/csv/);
      const body = Buffer.from(await r.arrayBuffer());
      const text = body.toString('utf8');
      expect(text).toBe(
        '@timestamp,record_id,user.id,verdict,source.ip,http.request.method,url.path,http.response.status_code,event.outcome,service.name,trace.id,sources\r\n' +
          `2024-07-01T10:00:01.000Z,c2,'@SUM(1),no_token,,,'-1+1,,,"line\nbreak",,envoy\r\n` +
          `2024-07-01T10:00:00.000Z,c1,"'=HYPERLINK(""http://evil"",""x"")",no_token,,,"/a,b""c",,,'+svc,,envoy;otlp\r\n`,
      );
      const m = await json(`/v1/export/${r.headers.get('x-auditmesh-export-id')}/manifest`, admin);
      expect(m.body).toMatchObject({ format: 'csv', record_count: 2, bytes: body.length, sha256: sha256(body) });
    });

    it('honours limit and answers 404 / 400 for unknown or malformed manifest ids', async () => {
      const r = await api.get('/v1/export?limit=3', auditor);
      expect((await r.text()).trim().split('\n')).toHaveLength(3);
      expect((await api.get('/v1/export/AAAAAAAAAAAAAAAAAAAAAA/manifest', auditor)).status).toBe(404);
      expect((await api.get('/v1/export/not-an-id/manifest', auditor)).status).toBe(400);
    });

    it('is refused to investigators and for type=api to auditors', async () => {
      expect((await api.get('/v1/export', investigator)).status).toBe(403);
      expect((await api.get('/v1/export?type=api', auditor)).status).toBe(403);
    });

    it('keeps the manifest in the audit trail: found by id after the in-memory copy is gone (restart)', async () => {
      const r = await api.get('/v1/export?format=ndjson&user.id=bob', auditor);
      const body = Buffer.from(await r.arrayBuffer());
      const id = r.headers.get('x-auditmesh-export-id')!;
      await api.audit.flush();
      // A second app over the same store, with an empty manifest cache: as after a restart.
      const cfg = configSchema.parse({ dataDir: api.dir });
      const app2 = createApp({ store: api.store, authn: await createAuthenticator(cfg), log: silentLogger, metrics: noopMetrics, rateLimitPerMinute: 1000, routes: [exportRoutes()] });
      const server = http.createServer(app2);
      await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
      try {
        const m = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/export/${id}/manifest`, { headers: { authorization: `Bearer ${auditor}` } });
        expect(m.status).toBe(200);
        expect(await m.json()).toMatchObject({ export_id: id, record_count: 2, sha256: sha256(body), complete: true });
      } finally {
        server.closeAllConnections();
        await new Promise<void>((res) => server.close(() => res()));
      }
      const rec = (await api.store.getRecords([`export-${id}`])).get(`export-${id}`)!;
      expect(rec.auditmesh.record_type).toBe('api');
      expect(rec).toMatchObject({ event: { action: 'export', outcome: 'success' }, user: { id: 'audrey' }, http: { response: { status_code: 200, body: { bytes: body.length } } } });
    });
  });

  describe('the API audit trail', () => {
    it('records every authenticated GET /v1 request as an api record, listed by /v1/audit-log (admin only)', async () => {
      const who = await api.token('auditor', 'trail-tester');
      await api.get('/v1/records?user.id=alice&limit=2', who);
      await api.get('/v1/dead-letters', who); // 403: auditors may not
      await api.get('/v1/records?access_token=s3cr3t', who); // 400, and the value never stored
      await api.get('/v1/records', 'forged.token.value'); // 401: nobody to record
      await fetch(`${api.base}/v1/traces/ffffffffffffffffffffffffffffffff`, { method: 'HEAD', headers: { authorization: `Bearer ${who}` } }); // HEAD runs the query too
      await api.audit.flush();

      expect((await api.get('/v1/audit-log', auditor)).status).toBe(403);
      const { status, body } = await json('/v1/audit-log?user.id=trail-tester', admin);
      expect(status).toBe(200);
      const statusOf = (r: AuditRecord) => (r.http as { response: { status_code: number } }).response.status_code;
      const recs = (body.records as AuditRecord[]).sort((a, b) => statusOf(b) - statusOf(a));
      expect(recs.map((r) => [r.event && (r.event as { action: string }).action, (r.http as { response: { status_code: number } }).response.status_code, (r.event as { outcome: string }).outcome])).toEqual([
        ['trace-read', 404, 'failure'],
        ['dead-letters-list', 403, 'failure'],
        ['records-search', 400, 'failure'],
        ['records-search', 200, 'success'],
      ]);
      expect(recs[0]!.http).toMatchObject({ request: { method: 'HEAD' } });
      const ok = recs[3]!;
      expect(ok).toMatchObject({
        user: { id: 'trail-tester', name: 'trail-tester', roles: ['auditor'] },
        url: { path: '/v1/records', query: 'user.id=alice&limit=2' },
        http: { request: { method: 'GET' } },
        source: { ip: '127.0.0.1' },
        event: { category: ['web'], type: ['access'], dataset: 'auditmesh.api' },
        auditmesh: { record_type: 'api', identity: { subject: 'trail-tester', verified: true, verdict: 'verified', issuer: 'auditmesh-local', mismatch: false } },
      });
      expect(recs[1]!.event).toMatchObject({ type: ['access', 'denied'] });
      expect(recs[2]!.url).toEqual({ path: '/v1/records', query: 'access_token=REDACTED' });
      expect(JSON.stringify(recs)).not.toContain('s3cr3t');
    });

    it('keeps api records out of searches and reports', async () => {
      const svc = await startTestApi({ reports: { ...REPORTS_CONFIG, sensitive: { pathPrefixes: ['/v1'], services: ['auditmesh-api'] } } });
      try {
        const tok = await svc.token('auditor', 'svc-auditor');
        for (let i = 0; i < 3; i++) await svc.get('/v1/records', tok);
        await svc.audit.flush();
        expect(((await (await svc.get('/v1/records', tok)).json()) as { records: unknown[] }).records).toEqual([]);
        const now = Date.now();
        const range = `from=${new Date(now - 3600_000).toISOString()}&to=${new Date(now + 3600_000).toISOString()}`;
        for (const name of ['sensitive-access', 'unverified-identity', 'privileged-actions', 'service-accounts', 'denied-access']) {
          expect(await (await svc.get(`/v1/reports/${name}?${range}`, tok)).json()).toMatchObject({ total: 0, groups: [] });
        }
        // The same window does hold the api records.
        expect((await svc.store.searchRecords({ recordType: 'api', limit: 100 })).records.length).toBeGreaterThanOrEqual(3);
        const admin2 = await svc.token('admin', 'boss');
        await svc.audit.flush();
        const log = (await (await svc.get('/v1/audit-log?user.id=svc-auditor', admin2)).json()) as { count: number };
        expect(log.count).toBeGreaterThanOrEqual(4);
      } finally {
        await svc.close();
      }
    });
  });
});

describe('api > export streaming over many pages', () => {
  let api: TestApi;
  const N = 2345;
  beforeAll(async () => {
    const records = Array.from({ length: N }, (_, i) =>
      makeRecord({ id: `s${String(i).padStart(5, '0')}`, ts: new Date(Date.UTC(2024, 7, 1) + Math.floor(i / 3) * 1000).toISOString(), userId: `u${i % 7}`, path: `/p/${i}`, userAgent: 'x'.repeat(400) }),
    );
    api = await startTestApi({ records, reports: REPORTS_CONFIG });
  });
  afterAll(() => api.close());

  it('exports every record once, newest first, across the internal cursor pages', async () => {
    const tok = await api.token('auditor');
    const r = await api.get('/v1/export', tok);
    const body = Buffer.from(await r.arrayBuffer());
    const got = body.toString('utf8').trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).auditmesh.record_id);
    expect(got).toHaveLength(N);
    expect(new Set(got).size).toBe(N);
    const all: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await api.store.searchRecords({ limit: 1000, ...(cursor ? { cursor } : {}) });
      all.push(...ids(page.records));
      cursor = page.nextCursor;
    } while (cursor);
    expect(got).toEqual(all);
    const m = await (await api.get(`/v1/export/${r.headers.get('x-auditmesh-export-id')}/manifest`, tok)).json();
    expect(m).toMatchObject({ record_count: N, sha256: sha256(body), complete: true });
  });

  it('stops when the client goes away and says so in the manifest and the audit record', async () => {
    // The second page waits until the client is gone, so the export sees the disconnect deterministically.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const gated = Object.create(api.store) as SqliteStore;
    gated.searchRecords = async (q) => {
      if (q.cursor) await gate;
      return api.store.searchRecords(q);
    };
    const manifests = new ExportManifests();
    const audit = new ApiAuditTrail({ store: api.store, log: silentLogger });
    const cfg = configSchema.parse({ dataDir: api.dir });
    const app = createApp({ store: gated, authn: await createAuthenticator(cfg), log: silentLogger, metrics: noopMetrics, rateLimitPerMinute: 1000, routes: [exportRoutes({ manifests })], middleware: [audit.middleware()] });
    const server = http.createServer(app);
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
    try {
      const tok = await api.token('auditor', 'quitter');
      const id = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no data')), 5000);
        const req = http.get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/export`, { headers: { authorization: `Bearer ${tok}` } }, (res) => {
          res.once('data', () => {
            req.destroy();
            clearTimeout(timer);
            resolve(String(res.headers['x-auditmesh-export-id']));
          });
        });
        req.on('error', () => undefined);
      });
      await new Promise((res) => setTimeout(res, 50));
      release();
      let m: ExportManifest | undefined;
      for (let i = 0; i < 100 && !m; i++) {
        m = manifests.get(id);
        if (!m) await new Promise((res) => setTimeout(res, 20));
      }
      expect(m).toMatchObject({ complete: false, error: 'the client closed the connection', record_count: 1000 });
      await audit.flush();
      const rec = (await api.store.getRecords([`export-${id}`])).get(`export-${id}`)!;
      expect(rec.event).toMatchObject({ action: 'export', outcome: 'failure' });
      expect(rec.auditmesh.api?.export).toMatchObject({ complete: false, record_count: 1000 });
    } finally {
      release();
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
    }
  });
});
