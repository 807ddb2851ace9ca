import net from 'node:net';
import type { Response } from 'express';
import { z } from 'zod';
import type { RecordQuery } from '../model/record';
import { SOURCE_TYPES, type SourceType } from '../model/events';

/**
 * Query-parameter validation of the API: every parameter typed and bounded, unknown parameters
 * rejected (`.strict()`), values handed to the stores only as typed values. The OpenAPI document
 * (openapi.ts) describes the same parameters; openapi.test.ts checks that they agree.
 */

export const VERDICTS = ['verified', 'invalid_signature', 'expired', 'not_yet_valid', 'wrong_audience', 'unknown_issuer', 'malformed', 'no_token', 'unverifiable', 'trusted_upstream'] as const;
export const RECORD_TYPES = ['request', 'session', 'event', 'api'] as const;
export const OUTCOMES = ['success', 'failure', 'unknown'] as const;

/** Most records one page returns. */
export const MAX_PAGE = 1000;
/** Longest time range of an aggregation (identity activity, reports), in days. */
export const MAX_RANGE_DAYS = 400;

const ISO_RE = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;
export const iso = z.string().refine((s) => ISO_RE.test(s) && !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z');
export const hex32 = z
  .string()
  .transform((s) => s.toLowerCase())
  .refine((s) => /^[0-9a-f]{32}$|^[0-9a-f]{16}$/.test(s), 'must be a 32- or 16-hex-digit trace id');
const CONTROL = /[\u0000-\u001f\u007f]/;
const noControl = (s: string) => !CONTROL.test(s);
const pageSize = z.coerce.number().int().min(1, `must be between 1 and ${MAX_PAGE}`).max(MAX_PAGE, `must be between 1 and ${MAX_PAGE}`);

/** The record filters shared by `/v1/records` and `/v1/export`. */
export const recordFilterShape = {
  from: iso.optional(),
  to: iso.optional(),
  'trace.id': hex32.optional(),
  'user.id': z.string().min(1).max(256).optional(),
  'source.ip': z.string().refine((s) => net.isIP(s) !== 0, 'must be an IPv4 or IPv6 address').optional(),
  verdict: z.enum(VERDICTS).optional(),
  'service.name': z.string().min(1).max(256).optional(),
  'http.request.method': z.string().regex(/^[A-Za-z]{1,16}$/, 'must be an HTTP method').optional(),
  'http.response.status_code': z.coerce.number().int().min(0).max(999).optional(),
  'event.outcome': z.enum(OUTCOMES).optional(),
  source: z.enum(SOURCE_TYPES as [SourceType, ...SourceType[]]).optional(),
  type: z.enum(RECORD_TYPES).optional(),
  q: z.string().min(1).max(256).optional(),
  'rule.name': z.string().min(1).max(256).optional(),
  'firewall.action': z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be a PAN-OS action such as allow, deny, drop, reset-both').optional(),
  'url.path': z.string().min(1).max(2048).refine(noControl, 'must not contain control characters').optional(),
  path_prefix: z
    .string()
    .min(1)
    .max(2048)
    .refine((s) => s.startsWith('/'), 'must start with /')
    .refine(noControl, 'must not contain control characters')
    .optional(),
  'identity.mismatch': z.enum(['true', 'false']).optional(),
};

export const recordsQuery = z
  .object({
    ...recordFilterShape,
    limit: pageSize.optional(),
    /** Elasticsearch's name for the page size, accepted as an alias of `limit`. */
    size: pageSize.optional(),
    cursor: z.string().max(512).optional(),
  })
  .strict();

export type RecordFilterParams = z.infer<z.ZodObject<typeof recordFilterShape>>;

const normTrace = (s: string) => (s.length === 16 ? s.padStart(32, '0') : s);

/** A message when the time range is inverted, else undefined. */
export function rangeProblem(from: string | undefined, to: string | undefined): string | undefined {
  if (from && to && Date.parse(from) >= Date.parse(to)) return 'from must be before to';
  return undefined;
}

/** The store query of validated filters. */
export function toRecordQuery(v: RecordFilterParams, limit: number): RecordQuery {
  const q: RecordQuery = { limit };
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
  if (v['rule.name']) q.ruleName = v['rule.name'];
  if (v['firewall.action']) q.firewallAction = v['firewall.action'];
  if (v['url.path']) q.path = v['url.path'];
  if (v.path_prefix) q.pathPrefix = v.path_prefix;
  if (v['identity.mismatch']) q.mismatch = v['identity.mismatch'] === 'true';
  return q;
}

export function badRequest(res: Response, err: z.ZodError | string): void {
  const message =
    typeof err === 'string'
      ? err
      : err.issues.map((i) => (i.code === 'unrecognized_keys' ? `unknown parameter(s): ${i.keys.join(', ')}` : `${i.path.join('.') || 'value'}: ${i.message}`)).join('; ');
  res.status(400).json({ error: 'bad_request', message });
}

/**
 * A validated [from, to) range for aggregations: defaults to the `defaultDays` before now, at most
 * MAX_RANGE_DAYS long. Returns ISO strings or a problem message.
 */
export function aggregationRange(from: string | undefined, to: string | undefined, defaultDays: number, now: Date): { from: string; to: string } | string {
  const toMs = to ? Date.parse(to) : now.getTime();
  const fromMs = from ? Date.parse(from) : toMs - defaultDays * 86_400_000;
  if (fromMs >= toMs) return 'from must be before to';
  if (toMs - fromMs > MAX_RANGE_DAYS * 86_400_000) return `the range from..to must be at most ${MAX_RANGE_DAYS} days`;
  return { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
}
