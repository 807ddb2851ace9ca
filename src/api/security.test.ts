/**
 * Security of every /v1 route over a real HTTP server (port 0) on the embedded store: authentication,
 * roles, hostile input in every filter, page limits and the per-identity rate limit.
 */
import * as jose from 'jose';
import { startTestApi, type TestApi } from './testkit';
import { localSigningKey, LOCAL_ISSUER, type Role } from './auth';
import { ANALYTICS_CORPUS, makeRecord, REPORTS_CONFIG } from '../store/contract';
import { openApiDocument } from './openapi';
import { RECORD_FILTER_PARAMS } from './openapi';

interface Route {
  method: 'GET' | 'POST';
  path: string;
  /** The documented path it exercises. */
  doc: string;
  roles: Role[];
}

const ROUTES: Route[] = [
  { method: 'GET', path: '/v1/records', doc: '/v1/records', roles: ['auditor', 'investigator', 'admin'] },
  { method: 'GET', path: '/v1/traces/0af7651916cd43dd8448eb211c80319c', doc: '/v1/traces/{traceId}', roles: ['auditor', 'investigator', 'admin'] },
  { method: 'GET', path: '/v1/dead-letters', doc: '/v1/dead-letters', roles: ['investigator', 'admin'] },
  { method: 'GET', path: '/v1/identities/alice/activity', doc: '/v1/identities/{id}/activity', roles: ['auditor', 'investigator', 'admin'] },
  { method: 'GET', path: '/v1/reports/denied-access', doc: '/v1/reports/{name}', roles: ['auditor', 'admin'] },
  { method: 'GET', path: '/v1/export', doc: '/v1/export', roles: ['auditor', 'admin'] },
  { method: 'GET', path: '/v1/export/AAAAAAAAAAAAAAAAAAAAAA/manifest', doc: '/v1/export/{id}/manifest', roles: ['auditor', 'admin'] },
  { method: 'GET', path: '/v1/audit-log', doc: '/v1/audit-log', roles: ['admin'] },
  { method: 'POST', path: '/v1/ingest/envoy', doc: '/v1/ingest/{type}', roles: ['admin'] },
];
const ALL_ROLES: Role[] = ['auditor', 'investigator', 'admin'];

const HOSTILE = [
  "' OR 1=1 --",
  "'; DROP TABLE records; --",
  '*',
  '*:*',
  '\\',
  '{"$ne":1}',
  '{"$gt":""}',
  '%',
  '_',
  '\u0000',
  'a\u0000b',
  '../../etc/passwd',
  '${jndi:ldap://x/a}',
  '<script>alert(1)</script>',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ünïcödé 日本',
  '\u202etxt.exe',
  'x'.repeat(5000),
  'NaN',
  '-1',
  '1e309',
];

describe('api > security of every /v1 route', () => {
  let api: TestApi;
  const tokens: Partial<Record<Role | 'none', string>> = {};

  const call = async (r: Pick<Route, 'method' | 'path'>, token?: string, auth?: string) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (auth) headers.authorization = auth;
    const res = await fetch(`${api.base}${r.path}`, { method: r.method, headers, ...(r.method === 'POST' ? { body: '' } : {}) });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) as any };
  };

  beforeAll(async () => {
    api = await startTestApi({ records: ANALYTICS_CORPUS.map(makeRecord), reports: REPORTS_CONFIG });
    for (const role of ALL_ROLES) tokens[role] = await api.token(role, `sec-${role}`);
  });
  afterAll(() => api.close());

  it('covers every /v1 route of the OpenAPI document', () => {
    const documented = Object.entries(openApiDocument().paths as Record<string, Record<string, unknown>>)
      .filter(([p]) => p.startsWith('/v1/'))
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    expect(ROUTES.map((r) => `${r.method} ${r.doc}`).sort()).toEqual(documented);
  });

  describe('authentication (401)', () => {
    const bad: [string, () => Promise<string | { header: string }>][] = [
      ['no token', async () => ({ header: '' })],
      ['a Basic header', async () => ({ header: 'Basic YWRtaW46YWRtaW4=' })],
      ['garbage', async () => 'not-a-token'],
      ['an expired token', async () => api.token('admin', 'late', -120)],
      ['a wrong audience', async () => api.token('admin', 'elsewhere', 600, 'another-service')],
      [
        'a forged signature (another key, same kid)',
        async () => {
          const { kid } = await localSigningKey(api.dir);
          const { privateKey } = await jose.generateKeyPair('EdDSA');
          return new jose.SignJWT({ roles: ['admin'] }).setProtectedHeader({ alg: 'EdDSA', kid }).setIssuer(LOCAL_ISSUER).setAudience('auditmesh').setSubject('eve').setExpirationTime('1h').sign(privateKey);
        },
      ],
      [
        'a wrong issuer (right key)',
        async () => {
          const { privateKey, kid } = await localSigningKey(api.dir);
          return new jose.SignJWT({ roles: ['admin'] }).setProtectedHeader({ alg: 'EdDSA', kid }).setIssuer('evil').setAudience('auditmesh').setSubject('eve').setExpirationTime('1h').sign(privateKey);
        },
      ],
      [
        'an unsigned token (alg none)',
        async () => new jose.UnsecuredJWT({ roles: ['admin'] }).setIssuer(LOCAL_ISSUER).setAudience('auditmesh').setSubject('eve').setExpirationTime('1h').encode(),
      ],
      [
        'an HS256 token keyed with the public key',
        async () => {
          const { publicJwk, kid } = await localSigningKey(api.dir);
          return new jose.SignJWT({ roles: ['admin'] })
            .setProtectedHeader({ alg: 'HS256', kid })
            .setIssuer(LOCAL_ISSUER)
            .setAudience('auditmesh')
            .setSubject('eve')
            .setExpirationTime('1h')
            .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
        },
      ],
    ];

    it.each(bad)('refuses %s on every /v1 route', async (_label, make) => {
      const t = await make();
      for (const r of ROUTES) {
        const res = typeof t === 'string' ? await call(r, t) : await call(r, undefined, t.header || undefined);
        expect({ route: r.path, status: res.status }).toEqual({ route: r.path, status: 401 });
        expect(res.json()).toMatchObject({ error: 'unauthorized' });
      }
    });
  });

  describe('roles (403)', () => {
    it.each(ALL_ROLES)('lets %s call exactly its routes', async (role) => {
      for (const r of ROUTES) {
        const res = await call(r, tokens[role]);
        const allowed = r.roles.includes(role);
        expect({ route: r.path, role, forbidden: res.status === 403 }).toEqual({ route: r.path, role, forbidden: !allowed });
        if (allowed) expect([200, 202, 404]).toContain(res.status);
        else expect(res.json().message).toMatch(/requires one of the roles/);
      }
    });

    it('refuses a valid token without any known role everywhere', async () => {
      const { privateKey, kid } = await localSigningKey(api.dir);
      const t = await new jose.SignJWT({ roles: ['superuser', 'root'] }).setProtectedHeader({ alg: 'EdDSA', kid }).setIssuer(LOCAL_ISSUER).setAudience('auditmesh').setSubject('nobody').setExpirationTime('1h').sign(privateKey);
      for (const r of ROUTES) expect({ route: r.path, status: (await call(r, t)).status }).toEqual({ route: r.path, status: 403 });
    });
  });

  describe('hostile input: a 400 or a correct empty answer, never an error', () => {
    const filterNames = RECORD_FILTER_PARAMS.map((p) => p.name);

    it.each(filterNames)('/v1/records and /v1/export: hostile values of %s', async (name) => {
      for (const v of HOSTILE) {
        const qs = `${encodeURIComponent(name)}=${encodeURIComponent(v)}`;
        const rec = await call({ method: 'GET', path: `/v1/records?${qs}` }, tokens.admin);
        expect({ name, v: v.slice(0, 30), status: rec.status === 200 || rec.status === 400 }).toEqual({ name, v: v.slice(0, 30), status: true });
        if (rec.status === 200) expect({ name, v: v.slice(0, 30), records: rec.json().records }).toEqual({ name, v: v.slice(0, 30), records: [] });
        else expect(rec.json().message).toMatch(name === 'from' || name === 'to' || !v ? /./ : new RegExp(name.replace(/\./g, '\\.')));
        const exp = await call({ method: 'GET', path: `/v1/export?${qs}` }, tokens.auditor);
        expect([200, 400]).toContain(exp.status);
        if (exp.status === 200) expect(exp.text).toBe('');
      }
    });

    it('/v1/identities/:id/activity: hostile identities', async () => {
      for (const v of HOSTILE) {
        const res = await call({ method: 'GET', path: `/v1/identities/${encodeURIComponent(v)}/activity?from=2024-06-01T00:00:00Z&to=2024-06-08T00:00:00Z` }, tokens.investigator);
        expect({ v: v.slice(0, 30), ok: res.status === 200 || res.status === 400 }).toEqual({ v: v.slice(0, 30), ok: true });
        if (res.status === 200) expect(res.json().summary.records).toBe(0);
      }
      // A malformed percent-encoding is a 400, not a crash.
      expect((await call({ method: 'GET', path: '/v1/identities/%E0%A4%A/activity' }, tokens.auditor)).status).toBe(400);
    });

    it('/v1/reports/:name and /v1/audit-log: hostile names and filters', async () => {
      for (const v of HOSTILE) {
        expect((await call({ method: 'GET', path: `/v1/reports/${encodeURIComponent(v)}` }, tokens.auditor)).status).toBe(400);
        const log = await call({ method: 'GET', path: `/v1/audit-log?user.id=${encodeURIComponent(v)}` }, tokens.admin);
        expect([200, 400]).toContain(log.status);
        if (log.status === 200) expect(log.json().records).toEqual([]);
        const m = await call({ method: 'GET', path: `/v1/export/${encodeURIComponent(v)}/manifest` }, tokens.auditor);
        expect([400, 404]).toContain(m.status);
      }
    });

    it.each([
      '/v1/records?user.id[]=alice',
      '/v1/records?user.id=alice&user.id=bob',
      '/v1/records?user.id[$ne]=x',
      '/v1/records?limit=1&limit=2',
      '/v1/records?from[gte]=2024-01-01',
      '/v1/records?a[]=1',
      '/v1/export?format=ndjson&format=csv',
      '/v1/export?format=xml',
      '/v1/identities/alice/activity?from=2024-06-01T00:00:00Z&from=2024-06-02T00:00:00Z',
      '/v1/reports/denied-access?limit[]=5',
      '/v1/audit-log?cursor[]=x',
      '/v1/dead-letters?limit[$gt]=1',
      '/v1/traces/0af7651916cd43dd8448eb211c80319c?x[]=1',
    ])('rejects query-string arrays and objects: %s', async (p) => {
      const res = await call({ method: 'GET', path: p }, tokens.admin);
      expect(res.status).toBe(400);
      expect(res.json().error).toBe('bad_request');
    });

    it.each([
      '/v1/records?limit=1001',
      '/v1/records?size=1001',
      '/v1/records?limit=0',
      '/v1/dead-letters?limit=1001',
      '/v1/audit-log?limit=1001',
      '/v1/reports/denied-access?limit=1001',
      '/v1/export?limit=10000001',
      '/v1/export?limit=0',
    ])('rejects an oversized or empty page: %s', async (p) => {
      const res = await call({ method: 'GET', path: p }, tokens.admin);
      expect(res.status).toBe(400);
      expect(res.json().message).toMatch(/limit|size/);
    });
  });

  describe('rate limit (429)', () => {
    let limited: TestApi;
    beforeAll(async () => {
      limited = await startTestApi({ records: [], reports: REPORTS_CONFIG, rateLimitPerMinute: 2 });
    });
    afterAll(() => limited.close());

    it('limits each identity on every /v1 route', async () => {
      for (const r of ROUTES) {
        const tok = await limited.token(r.roles[0]!, `rl-${r.path}`);
        const statuses: number[] = [];
        for (let i = 0; i < 3; i++) {
          const res = await fetch(`${limited.base}${r.path}`, { method: r.method, headers: { authorization: `Bearer ${tok}` }, ...(r.method === 'POST' ? { body: '' } : {}) });
          await res.arrayBuffer();
          statuses.push(res.status);
          if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
        }
        expect({ route: r.path, third: statuses[2], firstTwo: statuses.slice(0, 2).some((s) => s === 429) }).toEqual({ route: r.path, third: 429, firstTwo: false });
      }
    });
  });
});
