import type { IdentityClaim } from '../model/events';
import type { AuditRecord } from '../model/record';

/**
 * The fields of an AuditRecord that the rules read, extracted once per record. Rules never walk
 * the ECS document themselves, so a field's meaning is decided here, in one place.
 */
export interface RecordView {
  record: AuditRecord;
  recordId: string;
  version: number;
  /** Event time (record @timestamp), ms since epoch. Rules use this, never the wall clock. */
  t: number;
  recordType: string;
  /** The record's identity (auditmesh.identity.subject), verified or not. */
  subject?: string;
  verified: boolean;
  /** The subject is a workload (SPIFFE id). */
  workload: boolean;
  sourceIp?: string;
  country?: string;
  path?: string;
  method?: string;
  status?: number;
  /** A firewall member denied, dropped or reset the session (event.type contains `denied`). */
  firewallDenied: boolean;
  claims: IdentityClaim[];
}

const obj = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export const isSpiffe = (s: string | undefined): boolean => Boolean(s && s.toLowerCase().startsWith('spiffe://'));

export function viewOf(r: AuditRecord): RecordView {
  const am = r.auditmesh;
  const id = am.identity;
  const source = obj(r.source);
  const geo = obj(source?.geo);
  const url = obj(r.url);
  const http = obj(r.http);
  const req = obj(http?.request);
  const resp = obj(http?.response);
  const event = obj(r.event);
  const types = Array.isArray(event?.type) ? (event!.type as unknown[]) : [];
  const status = resp?.status_code;
  const v: RecordView = {
    record: r,
    recordId: am.record_id,
    version: am.version,
    t: Date.parse(r['@timestamp']),
    recordType: am.record_type,
    verified: Boolean(id?.verified),
    workload: isSpiffe(id?.subject) || id?.method === 'spiffe',
    firewallDenied: am.sources.includes('panos') && types.includes('denied'),
    claims: id?.claims ?? [],
  };
  if (id?.subject) v.subject = id.subject;
  const ip = str(source?.ip);
  if (ip) v.sourceIp = ip;
  const cc = str(geo?.country_iso_code);
  if (cc) v.country = cc.toUpperCase();
  const p = str(url?.path);
  if (p) v.path = p;
  const m = str(req?.method);
  if (m) v.method = m.toUpperCase();
  if (typeof status === 'number') v.status = status;
  return v;
}

/** `prefix` matches `path` on a segment boundary: `/api/admin` ⊃ `/api/admin`, `/api/admin/x`, not `/api/administrators`. */
export function underPrefix(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === p || path.startsWith(`${p}/`) || path.startsWith(`${p}?`);
}

/** Whether a subject class is selected by a rule's `subjects` param. */
export function subjectSelected(v: RecordView, subjects: 'human' | 'workload' | 'all'): boolean {
  return subjects === 'all' || (subjects === 'workload' ? v.workload : !v.workload);
}
