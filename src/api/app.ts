import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import net from 'node:net';
import type { AuditStore, RecordQuery } from '../model/record';
import type { Logger } from '../instrumentation/logger';
import type { Metrics } from '../instrumentation/metrics';
import { type Authenticator, type Role, rateLimit, requireRole } from './auth';
import { PipelineError } from '../errors';
import { SOURCE_TYPES, type SourceType } from '../model/events';

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
}

/** What a route module gets: the app, the auth middleware factory, the rate limiter and the deps. */
export interface RouteContext {
  requireRole: (...roles: Role[]) => express.RequestHandler;
  limiter: express.RequestHandler;
  deps: ApiDeps;
}
export type RouteModule = (app: express.Express, ctx: RouteContext) => void;

const VERDICTS = ['verified', 'invalid_signature', 'expired', 'not_yet_valid', 'wrong_audience', 'unknown_issuer', 'malformed', 'no_token', 'unverifiable', 'trusted_upstream'] as const;
const iso = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) && !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z');
const hex32 = z.string().transform((s) => s.toLowerCase()).refine((s) => /^[0-9a-f]{32}$|^[0-9a-f]{16}$/.test(s), 'must be a 32- or 16-hex-digit trace id');

const recordsQuery = z
  .object({
    from: iso.optional(),
    to: iso.optional(),
    'trace.id': hex32.optional(),
    'user.id': z.string().min(1).max(256).optional(),
    'source.ip': z.string().refine((s) => net.isIP(s) !== 0, 'must be an IPv4 or IPv6 address').optional(),
    verdict: z.enum(VERDICTS).optional(),
    'service.name': z.string().min(1).max(256).optional(),
    'http.request.method': z.string().regex(/^[A-Za-z]{1,16}$/, 'must be an HTTP method').optional(),
    'http.response.status_code': z.coerce.number().int().min(0).max(999).optional(),
    'event.outcome': z.enum(['success', 'failure', 'unknown']).optional(),
    source: z.enum(SOURCE_TYPES as [SourceType, ...SourceType[]]).optional(),
    type: z.enum(['request', 'session', 'event']).optional(),
    q: z.string().min(1).max(256).optional(),
    limit: z.coerce.number().int().min(1, 'must be between 1 and 1000').max(1000, 'must be between 1 and 1000').optional(),
    /** Elasticsearch's name for the page size, accepted as an alias of `limit`. */
    size: z.coerce.number().int().min(1, 'must be between 1 and 1000').max(1000, 'must be between 1 and 1000').optional(),
    cursor: z.string().max(512).optional(),
  })
  .strict();

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
    if (v.from && v.to && Date.parse(v.from) >= Date.parse(v.to)) {
      res.status(400).json({ error: 'bad_request', message: 'from must be before to' });
      return;
    }
    if (v.limit !== undefined && v.size !== undefined && v.limit !== v.size) {
      res.status(400).json({ error: 'bad_request', message: 'limit and size are the same parameter; give one (or equal values)' });
      return;
    }
    const q: RecordQuery = { limit: v.limit ?? v.size ?? 100 };
    if (v.from) q.from = new Date(v.from).toISOString();
    if (v.to) q.to = new Date(v.to).toISOString();
    if (v['trace.id']) q.traceId = normTrace(v['trace.id']);
    if (v['user.id']) q.userId = v['user.id'];
    if (v['source.ip']) q.sourceIp = v['source.ip'];
    if (v.verdict) q.verdict = v.verdict;
    if (v['service.name']) q.service = v['service.name'];
    if (v['http.request.method']) q.method = v['http.request.method'].toUpperCase();
    if (v['http.response.status_code'] !== undefined) q.status = v['http.response.status_code'];
    if (v['event.outcome']) q.outcome = v['event.outcome'];
    if (v.source) q.source = v.source;
    if (v.type) q.recordType = v.type;
    if (v.q) q.text = v.q;
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
