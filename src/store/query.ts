import { isSelfKeyed, type AuditRecord, type RecordQuery, type RecordsByIpsQuery } from '../model/record';
import { isoMs } from '../model/isoTime';
import { getPath } from '../parsers/common';

/**
 * Shared query semantics of both stores, so they give the same answers:
 * - order: newest first by `@timestamp`, ties by record id descending;
 * - time range: `from` inclusive, `to` exclusive;
 * - `text`: substring of url.path or user_agent.original, case-insensitive for ASCII letters only (other
 *   characters match exactly; SQLite LIKE and Lucene's case_insensitive fold ASCII only), plain text, never
 *   query syntax: `%`, `_`, `*`, `?`, `\`, quotes are literal characters;
 * - cursor: opaque, encodes the sort values of the last record of the page.
 */
export interface Cursor {
  ts: number;
  id: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.ts, c.id]), 'utf8').toString('base64url');
}

export function decodeCursor(s: string): Cursor | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && Number.isFinite(v[0]) && typeof v[1] === 'string' && v[1].length <= 64) {
      return { ts: v[0], id: v[1] };
    }
  } catch {
    /* fall through: invalid cursor */
  }
  return undefined;
}

/** The indexed projection of a record; both stores filter on exactly these values. */
export interface RecordColumns {
  id: string;
  ts: number;
  traceId: string | null;
  userId: string | null;
  sourceIp: string | null;
  verdict: string | null;
  service: string | null;
  method: string | null;
  status: number | null;
  outcome: string | null;
  recordType: string;
  path: string | null;
  userAgent: string | null;
  sources: string;
  /** rule.name */
  ruleName: string | null;
  /** panw.panos.action: the PAN-OS action of the firewall member (allow, deny, drop, ...). */
  firewallAction: string | null;
  /** auditmesh.identity.verified / mismatch as 0/1 (absent = 0, never null). */
  verified: 0 | 1;
  mismatch: 0 | 1;
  /** auditmesh.identity.method */
  identityMethod: string | null;
  /** user.roles as a JSON array of strings, null when there is none. */
  roles: string | null;
  /** source.nat.ip: the client address after source NAT (firewall sessions), for NAT-aware joins. */
  sourceNatIp: string | null;
  /** 1 when every key of the record is an event's own (`e:`): nothing joined it (model/record.ts isSelfKeyed). */
  selfKeyed: 0 | 1;
  /** The record's end in ms: the later of `event.end` and its latest member's timestamp (else @timestamp). */
  endTs: number;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : null);

/**
 * Whether a record answers a `findRecordsByIps` query: its type, @timestamp in [from, to) (ms), its
 * source address before or after NAT in `ips`, self-keyed and ending late enough when the query asks. For the
 * records a store or the write pipeline holds in memory (a search filters the same way).
 */
export function matchesRecordsByIps(c: RecordColumns, q: RecordsByIpsQuery, ips: ReadonlySet<string>, from: number, to: number): boolean {
  return (
    (!q.selfKeyedOnly || c.selfKeyed === 1) &&
    c.recordType === q.recordType &&
    c.ts >= from &&
    c.ts < to &&
    ((c.sourceIp !== null && ips.has(c.sourceIp)) || (c.sourceNatIp !== null && ips.has(c.sourceNatIp))) &&
    // Last: parsed only for the few records the cheaper tests kept.
    (q.endFrom === undefined || c.endTs >= Date.parse(q.endFrom))
  );
}

export function recordColumns(r: AuditRecord): RecordColumns {
  const status = getPath(r, 'http.response.status_code');
  return {
    id: r.auditmesh.record_id,
    ts: isoMs(r['@timestamp']),
    traceId: str(getPath(r, 'trace.id')),
    userId: str(getPath(r, 'user.id')),
    sourceIp: str(getPath(r, 'source.ip')),
    verdict: r.auditmesh.identity?.verdict ?? null,
    service: str(getPath(r, 'service.name')),
    method: str(getPath(r, 'http.request.method'))?.toUpperCase() ?? null,
    status: typeof status === 'number' ? status : null,
    outcome: str(getPath(r, 'event.outcome')),
    recordType: r.auditmesh.record_type,
    path: str(getPath(r, 'url.path')),
    userAgent: str(getPath(r, 'user_agent.original')),
    sources: r.auditmesh.sources.join(','),
    ruleName: str(getPath(r, 'rule.name')),
    firewallAction: str(getPath(r, 'panw.panos.action')),
    verified: r.auditmesh.identity?.verified === true ? 1 : 0,
    mismatch: r.auditmesh.identity?.mismatch === true ? 1 : 0,
    identityMethod: str(r.auditmesh.identity?.method),
    roles: rolesJson(getPath(r, 'user.roles')),
    sourceNatIp: str(getPath(r, 'source.nat.ip')),
    selfKeyed: isSelfKeyed(r) ? 1 : 0,
    endTs: endOf(r),
  };
}

/** See RecordColumns.endTs. */
function endOf(r: AuditRecord): number {
  let end = isoMs(String(getPath(r, 'event.end') ?? ''));
  if (!Number.isFinite(end)) end = -Infinity;
  const members = r.auditmesh.members ?? [];
  for (let i = 0; i < members.length; i++) {
    const t = isoMs(members[i]!.timestamp);
    if (t > end) end = t;
  }
  return Number.isFinite(end) ? end : isoMs(r['@timestamp']);
}

function rolesJson(v: unknown): string | null {
  const list = (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string' && x !== '');
  return list.length ? JSON.stringify(list) : null;
}
