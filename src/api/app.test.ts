import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';
import { createApp } from './app';
import { createAuthenticator, mintToken, localSigningKey, LOCAL_ISSUER } from './auth';
import { SqliteStore } from '../store/sqlite/sqliteStore';
import { configSchema } from '../config/schema';
import { silentLogger } from '../instrumentation/logger';
import { noopMetrics } from '../instrumentation/metrics';
import { buildRecord } from '../correlate/record';
import type { StoredEvent } from '../model/record';

const TRACE = '0af7651916cd43dd8448eb211c80319c';

describe('api > records and traces', () => {
  let dir: string;
  let store: SqliteStore;
  let server: http.Server;
  let base: string;
  let auditor: string;

  const get = async (p: string, token?: string) => {
    const r = await fetch(`${base}${p}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    return { status: r.status, json: () => r.json() as Promise<any> };
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'api-'));
    store = new SqliteStore(dir);
    await store.init();
    const events: StoredEvent[] = [0, 1, 2].map((i) => ({
      id: `ev${i}`,
      source: 'envoy',
      kind: 'access_log',
      timestamp: `2026-03-01T10:0${i}:00.000Z`,
      ecs: { source: { ip: `10.0.0.${i}` }, url: { path: `/api/item/${i}` }, http: { request: { method: 'GET' }, response: { status_code: 200 } } },
      join: i === 0 ? { traceId: TRACE } : {},
      claims: [{ method: 'spiffe', subject: `spiffe://cluster.local/ns/a/sa/s${i}`, source: 'envoy', strength: 'mtls', verdict: 'trusted_upstream' }],
      ref: { source: 'envoy', file: 'f', line: i + 1 },
      recordId: `r${i}`,
    }));
    const records = events.map((e) =>
      buildRecord({ recordId: e.recordId, events: [e], joinedBy: new Map(), keys: e.join.traceId ? [`t:${TRACE}`] : [`e:${e.id}`], now: new Date('2026-03-01T11:00:00Z') }),
    );
    await store.write({ events, records, keys: [], deletedRecords: [], deadLetters: [] });
    const cfg = configSchema.parse({ dataDir: dir });
    const app = createApp({ store, authn: await createAuthenticator(cfg), log: silentLogger, metrics: noopMetrics, rateLimitPerMinute: 1000 });
    server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    auditor = await mintToken(dir, { role: 'auditor', subject: 'ann', ttlSeconds: 600, audience: 'auditmesh' });
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves health without a token', async () => {
    expect((await get('/healthz')).status).toBe(200);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { store: true } });
  });

  it('refuses records without a token and says how to get one', async () => {
    const r = await get('/v1/records');
    expect(r.status).toBe(401);
    expect((await r.json()).message).toMatch(/auditmesh token/);
  });

  it('refuses forged, expired and wrong-audience tokens', async () => {
    const { privateKey } = await jose.generateKeyPair('EdDSA');
    const { kid } = await localSigningKey(dir);
    const forged = await new jose.SignJWT({ roles: ['admin'] }).setProtectedHeader({ alg: 'EdDSA', kid }).setIssuer(LOCAL_ISSUER).setAudience('auditmesh').setSubject('eve').setExpirationTime('1h').sign(privateKey);
    expect((await get('/v1/records', forged)).status).toBe(401);
    const expired = await mintToken(dir, { role: 'auditor', subject: 'ann', ttlSeconds: -120, audience: 'auditmesh' });
    const r = await get('/v1/records', expired);
    expect(r.status).toBe(401);
    expect((await r.json()).message).toMatch(/expired/);
    const otherAud = await mintToken(dir, { role: 'auditor', subject: 'ann', ttlSeconds: 600, audience: 'someone-else' });
    expect((await get('/v1/records', otherAud)).status).toBe(401);
    expect((await get('/v1/records', 'not-a-token')).status).toBe(401);
  });

  it('refuses a role that may not call the endpoint', async () => {
    const tok = await mintToken(dir, { role: 'auditor', subject: 'ann', ttlSeconds: 600, audience: 'auditmesh' });
    expect((await get('/v1/dead-letters', tok)).status).toBe(403);
    const inv = await mintToken(dir, { role: 'investigator', subject: 'ivan', ttlSeconds: 600, audience: 'auditmesh' });
    expect((await get('/v1/dead-letters', inv)).status).toBe(200);
  });

  it('filters by trace id, source ip and time range, newest first', async () => {
    const all = await (await get('/v1/records', auditor)).json();
    expect(all.records.map((r: { auditmesh: { record_id: string } }) => r.auditmesh.record_id)).toEqual(['r2', 'r1', 'r0']);
    const byTrace = await (await get(`/v1/records?trace.id=${TRACE.toUpperCase()}`, auditor)).json();
    expect(byTrace.records.map((r: { auditmesh: { record_id: string } }) => r.auditmesh.record_id)).toEqual(['r0']);
    const byIp = await (await get('/v1/records?source.ip=10.0.0.1', auditor)).json();
    expect(byIp.records.map((r: { auditmesh: { record_id: string } }) => r.auditmesh.record_id)).toEqual(['r1']);
    const range = await (await get('/v1/records?from=2026-03-01T10:01:00Z&to=2026-03-01T10:02:00Z', auditor)).json();
    expect(range.records.map((r: { auditmesh: { record_id: string } }) => r.auditmesh.record_id)).toEqual(['r1']);
  });

  it('pages with a cursor', async () => {
    const p1 = await (await get('/v1/records?limit=2', auditor)).json();
    expect(p1.records).toHaveLength(2);
    expect(p1.next_cursor).toEqual(expect.any(String));
    const p2 = await (await get(`/v1/records?limit=2&cursor=${encodeURIComponent(p1.next_cursor)}`, auditor)).json();
    expect(p2.records.map((r: { auditmesh: { record_id: string } }) => r.auditmesh.record_id)).toEqual(['r0']);
    expect(p2.next_cursor).toBeNull();
  });

  it.each([
    ['limit=1001', /limit/],
    ['limit=0', /limit/],
    ['from=yesterday', /from/],
    ['source.ip=10.0.0.1%27%20OR%201%3D1', /source.ip/],
    ['trace.id=*', /trace.id/],
    ['user.id[$ne]=x', /unknown parameter/],
    ['cursor=AAAA', /cursor/],
    ['bogus=1', /unknown parameter/],
    ['from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z', /before/],
  ])('rejects %s with a clear 400', async (qs, msg) => {
    const r = await get(`/v1/records?${qs}`, auditor);
    expect(r.status).toBe(400);
    expect((await r.json()).message).toMatch(msg);
  });

  it('treats free text and user ids as plain values, not query syntax', async () => {
    for (const q of ["%' OR 1=1 --", '*', '_', 'item/1%']) {
      const r = await get(`/v1/records?q=${encodeURIComponent(q)}`, auditor);
      expect(r.status).toBe(200);
      expect((await r.json()).records).toHaveLength(0);
    }
    const hit = await (await get(`/v1/records?q=${encodeURIComponent('ITEM/2')}`, auditor)).json();
    expect(hit.records.map((r: { auditmesh: { record_id: string } }) => r.auditmesh.record_id)).toEqual(['r2']);
  });

  it('returns 404 for an unknown trace and 400 for a malformed trace id', async () => {
    expect((await get('/v1/traces/ffffffffffffffffffffffffffffffff', auditor)).status).toBe(404);
    expect((await get('/v1/traces/xyz', auditor)).status).toBe(400);
  });
});
