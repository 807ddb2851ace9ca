import type { IdentityClaim } from '../../model/events';
import type { AuditRecord } from '../../model/record';

/** Hand-built audit records for rule and engine tests (only the fields the rules read). */
export interface RecOptions {
  id?: string;
  version?: number;
  t?: string | number;
  type?: AuditRecord['auditmesh']['record_type'];
  subject?: string;
  verified?: boolean;
  verdict?: AuditRecord['auditmesh']['identity']['verdict'];
  method?: IdentityClaim['method'];
  claims?: IdentityClaim[];
  mismatches?: AuditRecord['auditmesh']['identity']['mismatches'];
  ip?: string;
  country?: string;
  path?: string;
  httpMethod?: string;
  status?: number;
  sources?: AuditRecord['auditmesh']['sources'];
  eventType?: string[];
  members?: number;
}

let n = 0;
export function rec(o: RecOptions = {}): AuditRecord {
  const id = o.id ?? `rec-${++n}`;
  const t = typeof o.t === 'number' ? new Date(o.t).toISOString() : (o.t ?? '2026-03-10T10:00:00.000Z');
  const verified = o.verified ?? (o.subject !== undefined);
  const r: Record<string, unknown> = {
    '@timestamp': t,
    event: { kind: 'event', outcome: (o.status ?? 200) >= 400 ? 'failure' : 'success', ...(o.eventType ? { type: o.eventType } : {}) },
  };
  if (o.ip || o.country) r.source = { ...(o.ip ? { ip: o.ip } : {}), ...(o.country ? { geo: { country_iso_code: o.country } } : {}) };
  if (o.path) r.url = { path: o.path };
  if (o.status !== undefined || o.httpMethod) r.http = { request: { method: o.httpMethod ?? 'GET' }, ...(o.status !== undefined ? { response: { status_code: o.status } } : {}) };
  const claims = o.claims ?? (o.subject ? [{ method: o.method ?? 'jwt', subject: o.subject, source: 'tyk', strength: 'jwt', verdict: verified ? 'verified' : 'unverifiable', eventId: `${id}-e1` } as IdentityClaim] : []);
  r.auditmesh = {
    record_id: id,
    record_type: o.type ?? 'request',
    sources: o.sources ?? ['tyk'],
    members: [],
    member_count: o.members ?? 1,
    keys: [],
    identity: {
      ...(o.subject ? { subject: o.subject, method: o.method ?? 'jwt', strength: 'jwt' } : {}),
      verdict: o.verdict ?? (verified ? 'verified' : 'no_token'),
      verified,
      claims,
      mismatch: Boolean(o.mismatches?.length),
      ...(o.mismatches ? { mismatches: o.mismatches } : {}),
    },
    version: o.version ?? 1,
    updated_at: t,
  };
  return r as unknown as AuditRecord;
}

export const at = (iso: string, plusMs = 0) => Date.parse(iso) + plusMs;
