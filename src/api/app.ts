import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import type { AuditStore } from '../model/record';
import type { Logger } from '../instrumentation/logger';
import type { Metrics } from '../instrumentation/metrics';
import { type Authenticator, type Role, rateLimit, requireRole } from './auth';
import { PipelineError } from '../errors';
import { SOURCE_TYPES, type SourceType } from '../model/events';
import { hex32, rangeProblem, recordsQuery, toRecordQuery } from './validation';

export interface ApiDeps {
  store: AuditStore;
  authn: Authenticator;
  log: Logger;
  metrics: Metrics;
  rateLimitPerMinute: number;
  /** Readiness of the data path beyond the store (e.g. Kafka consumers connected). */
  readiness?: () => Promise<Record<string, boolean>>;
  /** HTTP ingestion (embedded default): parse, correlate and store NDJSON lines of one source type. */
  ingest?: (type: SourceType, body: Buffer) => Promise<{ accepted: number; deadLettered: number; reasons: Record<string, number> }>;
  /** Prometheus exposition for /metrics. */
  metricsHandler?: (req: Request, res: Response) => void;
  /**
   * Feature routes (src/api/routes/*): each registers its endpoints with the shared middleware.
   * Registered after the core routes, before the 404 handler.
   */
  routes?: RouteModule[];
  /**
   * Middleware run before every route, after the security headers (e.g. the API audit trail,
   * api/apiAudit.ts, which must see every /v1 request, including those of the core routes).
   */
  middleware?: express.RequestHandler[];
}

/** What a route module gets: the app, the auth middleware factory, the rate limiter and the deps. */
export interface RouteContext {
  requireRole: (...roles: Role[]) => express.RequestHandler;
  limiter: express.RequestHandler;
  deps: ApiDeps;
}
export type RouteModule = (app: express.Express, ctx: RouteContext) => void;

function badRequest(res: Response, err: z.ZodError): void {
  res.status(400).json({
    error: 'bad_request',
    message: err.issues.map((i) => (i.code === 'unrecognized_keys' ? `unknown parameter(s): ${i.keys.join(', ')}` : `${i.path.join('.')}: ${i.message}`)).join('; '),
  });
}

const normTrace = (s: string) => (s.length === 16 ? s.padStart(32, '0') : s);

export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.set('trust proxy', false);
  const { store, authn, log, metrics } = deps;
  const readers = requireRole(authn, 'auditor', 'investigator', 'admin');
  const limiter = rateLimit(deps.rateLimitPerMinute);

  app.use((req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'no-store');
    res.on('finish', () => metrics.apiRequests.add(1, { route: req.route?.path ?? 'unmatched', status: String(res.statusCode) }));
    next();
  });
  for (const mw of deps.middleware ?? []) app.use(mw);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const checks: Record<string, boolean> = { store: await store.ping() };
    if (deps.readiness) Object.assign(checks, await deps.readiness());
    const ready = Object.values(checks).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks });
  });

  if (deps.metricsHandler) app.get('/metrics', deps.metricsHandler);

  app.get('/v1/records', readers, limiter, async (req, res, next) => {
    const p = recordsQuery.safeParse(req.query);
    if (!p.success) return badRequest(res, p.error);
    const v = p.data;
    const range = rangeProblem(v.from, v.to);
    if (range) {
      res.status(400).json({ error: 'bad_request', message: range });
      return;
    }
    if (v.limit !== undefined && v.size !== undefined && v.limit !== v.size) {
      res.status(400).json({ error: 'bad_request', message: 'limit and size are the same parameter; give one (or equal values)' });
      return;
    }
    // `api` records are the API's own audit trail: like /v1/audit-log, for admins only.
    if (v.type === 'api' && !req.principal?.roles.includes('admin')) {
      res.status(403).json({ error: 'forbidden', message: 'type=api (the API audit trail) requires the role: admin' });
      return;
    }
    const q = toRecordQuery(v, v.limit ?? v.size ?? 100);
    if (v.cursor) q.cursor = v.cursor;
    try {
      const page = await store.searchRecords(q);
      res.json({ records: page.records, count: page.records.length, next_cursor: page.nextCursor ?? null });
    } catch (e) {
      next(e);
    }
  });

  app.get('/v1/traces/:traceId', readers, limiter, async (req, res, next) => {
    const p = hex32.safeParse(req.params.traceId);
    if (!p.success) return badRequest(res, p.error);
    const none = z.object({}).strict().safeParse(req.query);
    if (!none.success) return badRequest(res, none.error);
    try {
      const t = await store.getTrace(normTrace(p.data));
      if (t.records.length === 0) {
        res.status(404).json({ error: 'not_found', message: `no record for trace ${p.data}` });
        return;
      }
      res.json({ trace_id: normTrace(p.data), records: t.records, events: t.events });
    } catch (e) {
      next(e);
    }
  });

  const dlQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100), cursor: z.string().max(512).optional() }).strict();
  app.get('/v1/dead-letters', requireRole(authn, 'investigator', 'admin'), limiter, async (req, res, next) => {
    const p = dlQuery.safeParse(req.query);
    if (!p.success) return badRequest(res, p.error);
    try {
      const page = await store.listDeadLetters(p.data.cursor ? { limit: p.data.limit, cursor: p.data.cursor } : { limit: p.data.limit });
      res.json({ dead_letters: page.deadLetters, next_cursor: page.nextCursor ?? null });
    } catch (e) {
      next(e);
    }
  });

  if (deps.ingest) {
    const ingest = deps.ingest;
    app.post('/v1/ingest/:type', requireRole(authn, 'admin'), limiter, express.raw({ type: () => true, limit: '64mb' }), async (req, res, next) => {
      const type = req.params.type as SourceType;
      if (!SOURCE_TYPES.includes(type)) {
        res.status(400).json({ error: 'bad_request', message: `unknown type '${req.params.type}': use one of ${SOURCE_TYPES.join(', ')}` });
        return;
      }
      try {
        const r = await ingest(type, Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
        res.status(202).json(r);
      } catch (e) {
        // The store did not take the batch for now (disk full, store unavailable): nothing of the
        // request was stored, and sending it again is safe (writes are idempotent).
        if (e instanceof PipelineError && e.stage === 'sink' && e.retriable) {
          log.warn('ingestion refused: the store did not take the batch', { code: e.code, error: e.message });
          const what = e.code === 'disk_full' ? "the store's disk is full" : `the store did not take the batch (${e.code})`;
          res.status(503).set('Retry-After', '30').json({ error: 'unavailable', code: e.code, message: `${what}: nothing of this request was stored; send it again later` });
          return;
        }
        next(e);
      }
    });
  }

  for (const mod of deps.routes ?? []) mod(app, { requireRole: (...roles) => requireRole(authn, ...roles), limiter, deps });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found', message: 'no such endpoint' });
  });

  // Errors: a clear message, never a stack trace to the client.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof PipelineError && err.code === 'invalid_cursor') {
      res.status(400).json({ error: 'bad_request', message: 'cursor: invalid or expired cursor' });
      return;
    }
    const status = (err as { status?: number }).status;
    if (status && status >= 400 && status < 500) {
      res.status(status).json({ error: 'bad_request', message: (err as Error).message });
      return;
    }
    log.error('api error', { error: (err as Error)?.message });
    res.status(503).json({ error: 'unavailable', message: 'the store did not answer; try again' });
  });
  return app;
}
