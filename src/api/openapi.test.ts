import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import { startTestApi, type TestApi } from './testkit';
import { ANALYTICS_CORPUS, makeRecord, REPORTS_CONFIG } from '../store/contract';
import { recordsQuery } from './validation';
import { RECORDS_PARAMS } from './openapi';
import { createApp } from './app';
import { createAuthenticator, mintToken, type Role } from './auth';
import { queryApiRoutes } from './routes/queryApi';
import { ledgerOpenApiPaths, ledgerRoutes } from './routes/ledger';
import { SqliteStore } from '../store/sqlite/sqliteStore';
import { configSchema } from '../config/schema';
import { silentLogger } from '../instrumentation/logger';
import { noopMetrics } from '../instrumentation/metrics';
import { attachLedger, type Ledger } from '../ledger/ledger';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
}
interface Operation {
  parameters?: { name: string; in: string; required?: boolean; schema: Record<string, unknown> }[];
  security?: unknown[];
  'x-roles'?: string[];
  responses: Record<string, unknown>;
}

/** Every `METHOD /path` the app registered, in OpenAPI path syntax (`:id` → `{id}`). */
function registeredRoutes(app: unknown): string[] {
  const stack = (app as { router?: { stack: Layer[] }; _router?: { stack: Layer[] } }).router?.stack ?? (app as { _router: { stack: Layer[] } })._router.stack;
  const out: string[] = [];
  for (const l of stack) {
    if (!l.route) continue;
    const p = l.route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    for (const m of Object.keys(l.route.methods)) out.push(`${m.toUpperCase()} ${p}`);
  }
  return out.sort();
}

function documentedRoutes(doc: Doc): string[] {
  return Object.entries(doc.paths)
    .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
    .sort();
}

/** A value each documented parameter accepts, from its schema. */
function exampleOf(schema: Record<string, unknown>): string {
  if (schema.example !== undefined) return String(schema.example);
  if (Array.isArray(schema.enum)) return String(schema.enum[0]);
  if (schema.type === 'integer') return String(schema.minimum ?? 1);
  if (schema.format === 'date-time') return '2024-06-03T00:00:00Z';
  return 'x';
}

/** /v1 operations that need no token (public key material). */
const PUBLIC_V1 = new Set(['GET /v1/ledger/keys']);

interface Doc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, unknown> };
}

/**
 * The API as main.ts composes it with the ledger enabled: the query API (its /openapi.json with the
 * ledger's path items) plus the ledger routes, over an embedded store whose writes are ledgered.
 */
interface LedgerApi {
  base: string;
  app: express.Express;
  token(role: Role): Promise<string>;
  get(p: string, token?: string): Promise<Response>;
  recordId: string;
  close(): Promise<void>;
}

async function startLedgerApi(): Promise<LedgerApi> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditmesh-openapi-'));
  const cfg = configSchema.parse({ dataDir: dir, ledger: { enabled: true, checkpointEveryEntries: 4, checkpointEverySeconds: 0 } });
  const store = new SqliteStore(dir);
  await store.init();
  const ledger: Ledger = (await attachLedger(cfg, store, { log: silentLogger }))!;
  const records = ANALYTICS_CORPUS.map(makeRecord);
  await store.write({ records, events: [], keys: [], deletedRecords: [], deadLetters: [] });
  const app = createApp({
    store,
    authn: await createAuthenticator(cfg),
    log: silentLogger,
    metrics: noopMetrics,
    rateLimitPerMinute: 100_000,
    ingest: async () => ({ accepted: 0, deadLettered: 0, reasons: {} }),
    metricsHandler: (_req, res) => {
      res.type('text/plain').send('');
    },
    routes: [...queryApiRoutes({ reports: REPORTS_CONFIG, openApiExtraPaths: ledgerOpenApiPaths() }), ledgerRoutes()],
  });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    app,
    recordId: records[0]!.auditmesh.record_id,
    token: (role) => mintToken(dir, { role, subject: `${role}-user`, ttlSeconds: 600, audience: 'auditmesh' }),
    get: (p, token) => fetch(`${base}${p}`, { headers: token ? { authorization: `Bearer ${token}` } : {} }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await ledger.close();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('api > OpenAPI document (the API with the ledger enabled)', () => {
  let api: LedgerApi;
  let doc: Doc;
  let admin: string;

  beforeAll(async () => {
    api = await startLedgerApi();
    admin = await api.token('admin');
    const r = await api.get('/openapi.json');
    expect(r.status).toBe(200);
    doc = (await r.json()) as Doc;
  });
  afterAll(() => api.close());

  it('is an OpenAPI 3.1 document served without a token, with the bearerAuth scheme', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  });

  it('documents every registered route, and registers every documented one', () => {
    expect(documentedRoutes(doc)).toEqual(registeredRoutes(api.app));
    expect(documentedRoutes(doc)).toEqual(expect.arrayContaining(['GET /v1/ledger/keys', 'GET /v1/ledger/verify', 'GET /v1/ledger/proof/{recordId}']));
  });

  it('marks every /v1 operation as bearer-protected with its roles, and the rest (and the ledger keys) as public', () => {
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(ops)) {
        if (p.startsWith('/v1/') && !PUBLIC_V1.has(`${m.toUpperCase()} ${p}`)) {
          expect(op.security).toEqual([{ bearerAuth: [] }]);
          expect(op['x-roles']!.length).toBeGreaterThan(0);
          expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '429'].filter((s) => !(p === '/v1/ingest/{type}' && s === '200'))));
        } else expect(op.security).toEqual([]);
      }
    }
  });

  it('documents exactly the query parameters the /v1/records validator knows', () => {
    const documented = doc.paths['/v1/records']!.get!.parameters!.filter((x) => x.in === 'query').map((x) => x.name);
    expect(documented.sort()).toEqual(Object.keys(recordsQuery.shape).sort());
    expect(RECORDS_PARAMS.map((x) => x.name).sort()).toEqual(documented.sort());
  });

  it('accepts every documented /v1/records parameter with a value of its schema', () => {
    for (const p of doc.paths['/v1/records']!.get!.parameters!) {
      const r = recordsQuery.safeParse({ [p.name]: exampleOf(p.schema) });
      expect({ name: p.name, ok: r.success }).toEqual({ name: p.name, ok: true });
    }
  });

  it('rejects values outside the documented limits, and any undocumented parameter', () => {
    for (const p of doc.paths['/v1/records']!.get!.parameters!) {
      const s = p.schema;
      const bad: string[] = [];
      if (typeof s.maxLength === 'number') bad.push('/'.repeat(s.maxLength + 1));
      if (Array.isArray(s.enum)) bad.push('not-in-enum');
      if (typeof s.maximum === 'number') bad.push(String(s.maximum + 1));
      if (typeof s.minimum === 'number') bad.push(String(s.minimum - 1));
      if (s.type === 'integer') bad.push('1.5');
      for (const v of bad) expect({ name: p.name, v: v.slice(0, 20), ok: recordsQuery.safeParse({ [p.name]: v }).success }).toEqual({ name: p.name, v: v.slice(0, 20), ok: false });
    }
    for (const undocumented of ['bogus', 'user', 'user.name', 'url.full', 'query', 'sort', 'q[]', 'limit[$gt]']) expect(recordsQuery.safeParse({ [undocumented]: '1' }).success).toBe(false);
  });

  it('documents the security each GET route really has: secured ones refuse a request without a token, public ones answer it', async () => {
    const concrete: Record<string, string> = { traceId: '0af7651916cd43dd8448eb211c80319c', id: 'alice', name: 'sensitive-access', recordId: api.recordId };
    for (const [p, ops] of Object.entries(doc.paths)) {
      const op = ops.get;
      if (!op) continue;
      const url = p.replace(/\{(\w+)\}/g, (_m, k: string) => (p.includes('/export/') && k === 'id' ? 'AAAAAAAAAAAAAAAAAAAAAA' : concrete[k]!));
      const r = await api.get(url);
      await r.arrayBuffer();
      expect({ url, status: r.status === 401 ? 401 : 'answered' }).toEqual({ url, status: op.security!.length ? 401 : 'answered' });
    }
  });

  it('documents the ledger routes with the answers they give', async () => {
    const keys = await api.get('/v1/ledger/keys');
    expect(keys.status).toBe(200);
    expect(Object.keys((doc.paths['/v1/ledger/keys']!.get!.responses['200'] as { content: object }).content)).toEqual([keys.headers.get('content-type')!.split(';')[0]]);
    const auditor = await api.token('auditor');
    const v = (await (await api.get('/v1/ledger/verify?from=1&to=5', auditor)).json()) as Record<string, unknown>;
    const verifySchema = (doc.paths['/v1/ledger/verify']!.get!.responses['200'] as { content: { 'application/json': { schema: { required: string[] } } } }).content['application/json'].schema;
    expect(v).toMatchObject({ ok: true });
    expect(Object.keys(v)).toEqual(expect.arrayContaining(verifySchema.required));
    const proof = (await (await api.get(`/v1/ledger/proof/${api.recordId}`, auditor)).json()) as Record<string, unknown>;
    const proofSchema = (doc.paths['/v1/ledger/proof/{recordId}']!.get!.responses['200'] as { content: { 'application/json': { schema: { required: string[] } } } }).content['application/json'].schema;
    expect(Object.keys(proof).sort()).toEqual([...proofSchema.required].sort());
    expect((await api.get('/v1/ledger/verify', await api.token('investigator'))).status).toBe(403);
    expect(doc.paths['/v1/ledger/verify']!.get!['x-roles']).toEqual(['auditor', 'admin']);
  });

  it('documents parameters every GET /v1 endpoint accepts over HTTP, and an undocumented one is a 400', async () => {
    const concrete: Record<string, string> = { traceId: '0af7651916cd43dd8448eb211c80319c', id: 'alice', name: 'sensitive-access', recordId: api.recordId };
    for (const [p, ops] of Object.entries(doc.paths)) {
      const op = ops.get;
      if (!op || !p.startsWith('/v1/')) continue;
      const url = p.replace(/\{(\w+)\}/g, (_m, k: string) => (p.includes('/export/') && k === 'id' ? 'AAAAAAAAAAAAAAAAAAAAAA' : concrete[k]!));
      for (const param of op.parameters ?? []) {
        if (param.in !== 'query' || param.name === 'cursor') continue;
        const r = await api.get(`${url}?${encodeURIComponent(param.name)}=${encodeURIComponent(exampleOf(param.schema))}`, admin);
        await r.arrayBuffer();
        expect({ url, param: param.name, refused: [400, 401, 403, 500].includes(r.status) }).toEqual({ url, param: param.name, refused: false });
      }
      const r = await api.get(`${url}?undocumented=1`, admin);
      await r.arrayBuffer();
      expect({ url, status: r.status }).toEqual({ url, status: 400 });
    }
  });
});

describe('api > OpenAPI document (the query API alone, as the API tests compose it)', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ records: [], reports: REPORTS_CONFIG });
  });
  afterAll(() => api.close());

  it('documents exactly the routes that app registers (no ledger routes there, none documented)', async () => {
    const doc = (await (await api.get('/openapi.json')).json()) as Doc;
    expect(documentedRoutes(doc)).toEqual(registeredRoutes(api.app));
    expect(documentedRoutes(doc).filter((r) => r.includes('/ledger/'))).toEqual([]);
  });
});
