import { startTestApi, type TestApi } from './testkit';
import { ANALYTICS_CORPUS, makeRecord, REPORTS_CONFIG } from '../store/contract';
import { recordsQuery } from './validation';
import { RECORDS_PARAMS } from './openapi';

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

/** A value each documented parameter accepts, from its schema. */
function exampleOf(schema: Record<string, unknown>): string {
  if (schema.example !== undefined) return String(schema.example);
  if (Array.isArray(schema.enum)) return String(schema.enum[0]);
  if (schema.type === 'integer') return String(schema.minimum ?? 1);
  if (schema.format === 'date-time') return '2024-06-03T00:00:00Z';
  return 'x';
}

describe('api > OpenAPI document', () => {
  let api: TestApi;
  let doc: { openapi: string; paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, unknown> } };
  let admin: string;

  beforeAll(async () => {
    api = await startTestApi({ records: ANALYTICS_CORPUS.map(makeRecord), reports: REPORTS_CONFIG });
    admin = await api.token('admin');
    const r = await api.get('/openapi.json');
    expect(r.status).toBe(200);
    doc = (await r.json()) as typeof doc;
  });
  afterAll(() => api.close());

  it('is an OpenAPI 3.1 document served without a token, with the bearerAuth scheme', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  });

  it('documents every registered route, and registers every documented one', () => {
    const documented = Object.entries(doc.paths)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    expect(documented).toEqual(registeredRoutes(api.app));
  });

  it('marks every /v1 operation as bearer-protected with its roles, and the rest as public', () => {
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const op of Object.values(ops)) {
        if (p.startsWith('/v1/')) {
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

  it('documents parameters every GET /v1 endpoint accepts over HTTP, and an undocumented one is a 400', async () => {
    const concrete: Record<string, string> = { traceId: '0af7651916cd43dd8448eb211c80319c', id: 'alice', name: 'sensitive-access' };
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
