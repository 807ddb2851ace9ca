import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createApp } from '../app';
import { createAuthenticator, mintToken } from '../auth';
import { alertRoutes, alertsOpenApiPaths, alertsQuery } from './alerts';
import { SqliteStore } from '../../store/sqlite/sqliteStore';
import { configSchema } from '../../config/schema';
import { silentLogger } from '../../instrumentation/logger';
import { noopMetrics } from '../../instrumentation/metrics';
import { SqliteAlertStore } from '../../detect/store/sqliteAlertStore';
import { rec } from '../../detect/testdata/records';
import { rulesFrom, testEngine } from '../../detect/testdata/engine';

const T = Date.parse('2026-03-10T10:00:00Z');
const H = 3_600_000;

describe('api > alerts', () => {
  let dir: string;
  let store: SqliteStore;
  let server: http.Server;
  let base: string;
  const tokens: Record<string, string> = {};

  const call = async (p: string, role = 'auditor', init: RequestInit = {}) => {
    const r = await fetch(`${base}${p}`, { ...init, headers: { ...(role ? { authorization: `Bearer ${tokens[role]}` } : {}), 'content-type': 'application/json' } });
    return { status: r.status, body: (await r.json()) as any };
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alerts-api-'));
    store = new SqliteStore(dir);
    await store.init();
    const alertStore = new SqliteAlertStore(store.database);
    await alertStore.init();
    // 12 incidents of two rules over twelve hours, for three people.
    const te = await testEngine(
      rulesFrom(`rules:
  - { id: mismatch, type: identity_mismatch, severity: high, suppressionWindowSeconds: 60, description: layers disagree on the user }
  - { id: expired, type: expired_token, severity: medium, suppressionWindowSeconds: 60, description: a token used after expiry }
`),
      { db: store.database },
    );
    const records = Array.from({ length: 12 }, (_, i) =>
      i % 3 === 2
        ? rec({ id: `x${i}`, t: T + i * H, verified: false, ip: '198.18.0.9', claims: [{ method: 'jwt', subject: 'carol', source: 'tyk', strength: 'jwt', verdict: 'expired' }] })
        : rec({ id: `m${i}`, t: T + i * H, subject: i % 3 ? 'bob' : 'alice', mismatches: [{ a: 'x', b: 'y', methods: ['jwt', 'otel_enduser'] }] }),
    );
    await te.run(records);
    const cfg = configSchema.parse({ dataDir: dir });
    const app = createApp({ store, authn: await createAuthenticator(cfg), log: silentLogger, metrics: noopMetrics, rateLimitPerMinute: 10_000, routes: [alertRoutes(alertStore)] });
    server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const role of ['auditor', 'investigator', 'admin'] as const) tokens[role] = await mintToken(dir, { role, subject: `${role}-1`, ttlSeconds: 600, audience: 'auditmesh' });
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists alerts newest first, with the records that triggered them and without internal fields', async () => {
    const r = await call('/v1/alerts');
    expect(r.status).toBe(200);
    expect(r.body.count).toBe(12);
    expect(r.body.alerts[0]).toMatchObject({ rule_id: 'expired', identity: 'carol', first_seen: new Date(T + 11 * H).toISOString(), records: { ids: ['x11'], count: 1, truncated: false }, status: 'open' });
    expect(r.body.alerts[0].seen).toBeUndefined();
    expect(r.body.next_cursor).toBeNull();
  });

  it('filters by rule, severity, identity, status and time (alerts active in [from, to))', async () => {
    expect((await call('/v1/alerts?rule=mismatch')).body.count).toBe(8);
    expect((await call('/v1/alerts?severity=medium')).body.count).toBe(4);
    expect((await call('/v1/alerts?identity=alice')).body.alerts.map((a: any) => a.records.ids[0])).toEqual(['m9', 'm6', 'm3', 'm0']);
    const from = new Date(T + 2 * H).toISOString(), to = new Date(T + 5 * H).toISOString();
    expect((await call(`/v1/alerts?from=${from}&to=${to}`)).body.alerts.map((a: any) => a.records.ids[0])).toEqual(['m4', 'm3', 'x2']);
    expect((await call('/v1/alerts?status=resolved')).body.count).toBe(0);
  });

  it('pages with a cursor without gaps or repeats', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r: { body: any } = await call(`/v1/alerts?limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...r.body.alerts.map((a: any) => a.id));
      cursor = r.body.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(12);
    expect(new Set(seen).size).toBe(12);
  });

  it('rejects bad parameters with the key and the fix', async () => {
    expect(await call('/v1/alerts?severity=urgent')).toMatchObject({ status: 400, body: { message: expect.stringMatching(/^severity: Invalid enum value/) } });
    expect(await call('/v1/alerts?limit=0')).toMatchObject({ status: 400, body: { message: 'limit: must be between 1 and 1000' } });
    expect(await call('/v1/alerts?rule=x&color=red')).toMatchObject({ status: 400, body: { message: 'unknown parameter(s): color' } });
    expect(await call('/v1/alerts?cursor=nope')).toMatchObject({ status: 400, body: { message: expect.stringMatching(/cursor/) } });
    expect(await call('/v1/alerts/not-an-id')).toMatchObject({ status: 400 });
  });

  it('serves one alert by id, 404 when unknown', async () => {
    const [first] = (await call('/v1/alerts?limit=1')).body.alerts;
    expect(await call(`/v1/alerts/${first.id}`)).toMatchObject({ status: 200, body: { id: first.id, records: first.records } });
    expect((await call('/v1/alerts/AAAAAAAAAAAAAAAAAAAAAA')).status).toBe(404);
  });

  it('needs a token; auditors read, investigators and admins also change the status', async () => {
    expect((await call('/v1/alerts', '')).status).toBe(401);
    const [a] = (await call('/v1/alerts?identity=bob&limit=1')).body.alerts;
    const patch = (role: string, body: unknown) => call(`/v1/alerts/${a.id}`, role, { method: 'PATCH', body: JSON.stringify(body) });
    expect((await patch('auditor', { status: 'resolved' })).status).toBe(403);
    expect(await patch('investigator', { status: 'bogus' })).toMatchObject({ status: 400 });
    expect(await patch('investigator', { status: 'acknowledged' })).toMatchObject({ status: 200, body: { status: 'acknowledged', status_updated_by: 'investigator-1' } });
    expect((await call('/v1/alerts?status=acknowledged')).body.alerts.map((x: any) => x.id)).toEqual([a.id]);
    expect((await call('/v1/alerts/dead-letters', 'auditor')).status).toBe(403);
    expect(await call('/v1/alerts/dead-letters', 'admin')).toMatchObject({ status: 200, body: { dead_letters: [] } });
  });

  it('documents its routes and query parameters in OpenAPI', () => {
    const paths = alertsOpenApiPaths() as Record<string, Record<string, { parameters?: { name: string; in: string }[]; 'x-roles': string[] }>>;
    expect(Object.entries(paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)).sort()).toEqual(
      ['GET /v1/alerts', 'GET /v1/alerts/dead-letters', 'GET /v1/alerts/{id}', 'PATCH /v1/alerts/{id}'],
    );
    expect(paths['/v1/alerts']!.get!.parameters!.map((p) => p.name).sort()).toEqual(Object.keys(alertsQuery.shape).sort());
    expect(paths['/v1/alerts/{id}']!.patch!['x-roles']).toEqual(['investigator', 'admin']);
  });
});
