import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Request, RequestHandler, Response } from 'express';
import type { AuditRecord, AuditStore } from '../model/record';
import type { Logger } from '../instrumentation/logger';
import { PipelineError } from '../errors';

/**
 * The audit trail of the audit trail: every authenticated query of the API (`GET /v1/...`) becomes an
 * AuditRecord of record_type `api`, written through the normal `store.write()` path (so the ledger
 * and every other write hook see it). Searches leave `api` records out unless `type=api` is asked
 * for; reports and identity activity never include them; `GET /v1/audit-log` lists them.
 *
 * What is recorded: requests that passed authentication (a valid token), whatever their outcome —
 * 200, 400, 403 (wrong role), 404, 5xx, an export the client aborted. Not recorded: requests without
 * a valid token (401: there is no identity to record; they are counted in
 * auditmesh_api_requests_total), rate-limited requests (429: recording each would let a flood
 * amplify itself into writes), and POST /v1/ingest (data, not a query).
 *
 * Writes happen after the response, in the background, one batch at a time (records that arrive
 * while a write is in flight go into the next batch). The queue is bounded (`maxPending`); a full
 * queue drops and counts (`dropped`), a failed write is retried with backoff when retriable, then
 * dropped and counted (`failed`) with an error log. `flush()` waits for everything queued.
 */

/** What a route tells the audit trail about its request (set on `res.locals.apiAudit`). */
export interface ApiAuditNote {
  /** Use this record id instead of a random one (exports: `export-<export id>`, found again by id). */
  recordId?: string;
  /** The export manifest, kept in the record (`auditmesh.api.export`). */
  export?: Record<string, unknown>;
  /** Bytes of the response body (exports). */
  bytes?: number;
}

/**
 * Set by a route whose note is only known after the response may have closed (an export the client
 * aborted learns it at its next write): the record is built when this settles.
 */
export type ApiAuditReady = Promise<void>;

export interface ApiAuditOptions {
  store: AuditStore;
  log: Logger;
  /** Most records waiting for a write; beyond it new ones are dropped and counted. Default 10000. */
  maxPending?: number;
  /** Attempts of one batch write when the store error is retriable. Default 3. */
  maxAttempts?: number;
  now?: () => Date;
}

/** Event action of each route (route path → `event.action`); other /v1 GET routes: `api-request`. */
export const API_ACTIONS: Record<string, string> = {
  '/v1/records': 'records-search',
  '/v1/traces/:traceId': 'trace-read',
  '/v1/dead-letters': 'dead-letters-list',
  '/v1/identities/:id/activity': 'identity-activity',
  '/v1/reports/:name': 'report',
  '/v1/export': 'export',
  '/v1/export/:id/manifest': 'export-manifest',
  '/v1/audit-log': 'audit-log-read',
};

const SECRET_PARAM = /token|secret|passw|authorization|api[-_]?key|signature|session|cookie|credential/i;
const MAX_QUERY_CHARS = 2048;

/** The query string with the values of secret-looking parameters replaced (none of ours carry one). */
export function safeQuery(originalUrl: string): string | undefined {
  const i = originalUrl.indexOf('?');
  if (i < 0 || i === originalUrl.length - 1) return undefined;
  const parts = originalUrl.slice(i + 1).split('&').map((kv) => {
    const eq = kv.indexOf('=');
    const rawKey = eq < 0 ? kv : kv.slice(0, eq);
    let key = rawKey;
    try {
      key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
    } catch {
      /* keep the raw key */
    }
    return eq >= 0 && SECRET_PARAM.test(key) ? `${rawKey}=REDACTED` : kv;
  });
  const q = parts.join('&');
  return q.length > MAX_QUERY_CHARS ? `${q.slice(0, MAX_QUERY_CHARS)}…` : q;
}

/** `::ffff:10.0.0.1` → `10.0.0.1` (Elasticsearch's ip field would fold it, SQLite would not). */
export function clientIp(addr: string | undefined): string | undefined {
  if (!addr) return undefined;
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  const ip = m ? m[1]! : addr;
  return net.isIP(ip) ? ip : undefined;
}

const cap = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);

/** The `api` record of one finished request. */
export function apiRecord(req: Request, res: Response, startedAt: Date, endedAt: Date, note: ApiAuditNote | undefined): AuditRecord | undefined {
  const p = req.principal;
  if (!p) return undefined;
  const routePath = (req.route as { path?: unknown } | undefined)?.path;
  const action = typeof routePath === 'string' ? (API_ACTIONS[routePath] ?? 'api-request') : 'api-request';
  const path = cap(req.path, 2048);
  const started = startedAt.toISOString();
  const status = res.statusCode;
  const complete = res.writableFinished;
  const outcome = status < 400 && complete ? 'success' : 'failure';
  const id = note?.recordId ?? createHash('sha256').update(`api|${p.issuer}|${p.subject}|${started}|${path}|`).update(randomBytes(16)).digest('base64url').slice(0, 22);
  const type = ['access'];
  if (status === 401 || status === 403) type.push('denied');
  const http: Record<string, unknown> = { request: { method: req.method }, response: { status_code: status, ...(note?.bytes !== undefined ? { body: { bytes: note.bytes } } : {}) } };
  const rec: AuditRecord = {
    '@timestamp': started,
    event: {
      kind: 'event',
      category: ['web'],
      type,
      action,
      outcome,
      dataset: 'auditmesh.api',
      start: started,
      end: endedAt.toISOString(),
      duration: Math.max(0, endedAt.getTime() - startedAt.getTime()) * 1e6,
      ...(complete ? {} : { reason: 'the client closed the connection before the response ended' }),
    },
    user: { id: p.subject, name: p.subject, roles: [...p.roles] },
    url: { path, ...(safeQuery(req.originalUrl) ? { query: safeQuery(req.originalUrl) } : {}) },
    http,
    service: { name: 'auditmesh-api' },
    auditmesh: {
      record_id: id,
      record_type: 'api',
      sources: [],
      members: [],
      member_count: 0,
      keys: [],
      identity: { subject: p.subject, method: 'jwt', strength: 'jwt', verdict: 'verified', verified: true, issuer: p.issuer, claims: [], mismatch: false },
      version: 1,
      updated_at: endedAt.toISOString(),
      api: { action, ...(note?.export ? { export: note.export } : {}) },
    },
  };
  const ip = clientIp(req.socket.remoteAddress);
  if (ip) rec.source = { ip };
  const ua = req.get('user-agent');
  if (ua) rec.user_agent = { original: cap(ua, 1024) };
  rec.related = { user: [p.subject], ...(ip ? { ip: [ip] } : {}) };
  return rec;
}

export class ApiAuditTrail {
  private pending: AuditRecord[] = [];
  private writing: Promise<void> | undefined;
  private readonly maxPending: number;
  private readonly maxAttempts: number;
  private readonly now: () => Date;
  /** Records written, dropped because the queue was full, and lost to failed writes. */
  readonly stats = { written: 0, dropped: 0, failed: 0 };

  constructor(private readonly opts: ApiAuditOptions) {
    this.maxPending = opts.maxPending ?? 10_000;
    this.maxAttempts = opts.maxAttempts ?? 3;
    this.now = opts.now ?? (() => new Date());
  }

  /** Queue a record for writing. */
  record(rec: AuditRecord): void {
    if (this.pending.length >= this.maxPending) {
      if (this.stats.dropped++ === 0) this.opts.log.warn('api audit trail: queue full, dropping api records', { maxPending: this.maxPending });
      return;
    }
    this.pending.push(rec);
    this.kick();
  }

  /** Resolves when every record queued so far has been written (or given up). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Express middleware: records each authenticated `GET` (or `HEAD`) `/v1/...` once its response is over. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      // HEAD runs the GET handler (express), so it is a query too.
      if ((req.method !== 'GET' && req.method !== 'HEAD') || !req.path.startsWith('/v1/')) return next();
      const startedAt = this.now();
      // 'close' also fires when the client goes away mid-response (an aborted export is recorded too).
      res.once('close', () => {
        if (!req.principal || res.statusCode === 429) return;
        const endedAt = this.now();
        const build = () => {
          const rec = apiRecord(req, res, startedAt, endedAt, res.locals.apiAudit as ApiAuditNote | undefined);
          if (rec) this.record(rec);
        };
        const ready = res.locals.apiAuditReady as ApiAuditReady | undefined;
        if (ready) void ready.then(build, build);
        else build();
      });
      next();
    };
  }

  private kick(): void {
    if (this.writing) return;
    this.writing = this.drain().finally(() => {
      this.writing = undefined;
      if (this.pending.length) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length) {
      const records = this.pending.splice(0, 500);
      for (let attempt = 1; ; attempt++) {
        try {
          await this.opts.store.write({ records, events: [], keys: [], deletedRecords: [], deadLetters: [] });
          this.stats.written += records.length;
          break;
        } catch (e) {
          const retriable = e instanceof PipelineError && e.retriable;
          if (!retriable || attempt >= this.maxAttempts) {
            this.stats.failed += records.length;
            this.opts.log.error('api audit trail: writing api records failed', { records: records.length, error: (e as Error).message });
            break;
          }
          await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
        }
      }
    }
  }
}
