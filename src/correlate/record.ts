import { createHash } from 'node:crypto';
import type { Ecs, IdentityClaim, SourceType } from '../model/events';
import type { AuditRecord, MemberRef, StoredEvent } from '../model/record';
import { resolveIdentity } from '../identity/resolve';

/** Deterministic record id from the record's founding correlation key. */
export function recordIdFor(key: string): string {
  return createHash('sha256').update(`rec|${key}`).digest('base64url').slice(0, 22);
}

/**
 * Which layer's value wins for each top-level ECS field group of a request record. The edge-most
 * layer knows the real client; the mesh and app know the service; the firewall owns network policy.
 */
const PRIORITY: Record<string, SourceType[]> = {
  source: ['panos', 'tyk', 'envoy', 'otlp'],
  destination: ['envoy', 'otlp', 'tyk', 'panos'],
  http: ['tyk', 'envoy', 'otlp', 'panos'],
  url: ['tyk', 'envoy', 'otlp', 'panos'],
  user_agent: ['tyk', 'envoy', 'otlp', 'panos'],
  rule: ['panos', 'envoy', 'tyk', 'otlp'],
  observer: ['panos', 'tyk', 'envoy', 'otlp'],
  network: ['panos', 'envoy', 'tyk', 'otlp'],
  service: ['otlp', 'envoy', 'tyk', 'panos'],
  trace: ['otlp', 'envoy', 'tyk', 'panos'],
  span: ['otlp', 'envoy', 'tyk', 'panos'],
};
const DEFAULT_PRIORITY: SourceType[] = ['envoy', 'tyk', 'otlp', 'panos'];
/** Fields owned by the record itself, never copied from members. */
const RECORD_OWNED = new Set(['@timestamp', 'auditmesh', 'user', 'event', 'related']);

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function getHttpRequest(doc: Record<string, unknown>): Record<string, unknown> | undefined {
  const h = doc.http;
  return isObj(h) && isObj(h.request) ? h.request : undefined;
}

/**
 * Remember a value on an object in a non-enumerable symbol property: invisible to JSON, for-in,
 * Object.keys and Jest's equality. A WeakMap did the same job, but with every event of a batch in
 * it its ephemeron bookkeeping made garbage collection measurably slower (bench/correlate.mjs).
 */
export function remember<T>(o: object, key: symbol, value: T): T {
  if (Object.isExtensible(o)) Object.defineProperty(o, key, { value, writable: true });
  return value;
}

const TS_MS = Symbol('auditmesh.tsMs');
/** Event time in ms (memoized per event object). */
export function tsOf(e: StoredEvent): number {
  const t = (e as unknown as Record<symbol, number | undefined>)[TS_MS];
  return t !== undefined ? t : remember(e, TS_MS, Date.parse(e.timestamp) || 0);
}

/**
 * Copy-on-write merge: the record shares sub-objects with its member events until it needs to
 * change one, then copies that object (shallowly) and marks it as its own. Member events are
 * never mutated, and the common case (one contributor per field group) copies nothing.
 */
class Merger {
  private readonly owned = new Set<object>();

  /** `parent[key]` as an object this record owns (copied on first write). */
  own(parent: Record<string, unknown>, key: string): Record<string, unknown> {
    const cur = parent[key];
    if (isObj(cur) && this.owned.has(cur)) return cur;
    const copy: Record<string, unknown> = isObj(cur) ? { ...cur } : {};
    this.owned.add(copy);
    parent[key] = copy;
    return copy;
  }

  /** Fill `parent[key]` with the fields of `src` it does not have yet (first writer wins, deep). */
  fill(parent: Record<string, unknown>, key: string, src: unknown): void {
    if (src === undefined || src === null) return;
    const cur = parent[key];
    if (cur === undefined) {
      parent[key] = src;
      return;
    }
    if (!isObj(cur) || !isObj(src)) return;
    let target: Record<string, unknown> | undefined;
    for (const k in src) {
      const v = src[k];
      if (v === undefined || v === null) continue;
      const c = cur[k];
      if (c !== undefined && !(isObj(c) && isObj(v))) continue;
      target ??= this.own(parent, key);
      this.fill(target, k, v);
    }
  }
}

/** Events grouped by source, each group in time order (events are sorted by time already). */
function bySource(events: StoredEvent[]): Map<SourceType, StoredEvent[]> {
  const m = new Map<SourceType, StoredEvent[]>();
  for (const e of events) (m.get(e.source) ?? m.set(e.source, []).get(e.source)!).push(e);
  return m;
}

/** Events ordered so the most authoritative for `group` come first; within a layer, earliest first. */
function ordered(groups: Map<SourceType, StoredEvent[]>, group: string): StoredEvent[] {
  const out: StoredEvent[] = [];
  for (const src of PRIORITY[group] ?? DEFAULT_PRIORITY) for (const e of groups.get(src) ?? []) out.push(e);
  return out;
}

export interface BuildInput {
  recordId: string;
  events: StoredEvent[];
  joinedBy: Map<string, string>;
  keys: string[];
  previous?: AuditRecord;
  partial?: boolean;
  /** Joins not made (several candidates); part of the content, so compared for the version. */
  ambiguous?: AuditRecord['auditmesh']['ambiguous'];
  now: Date;
}

/** Build the unified record from its member events. Pure: same members → same content. */
export function buildRecord(inp: BuildInput): AuditRecord {
  const events = [...inp.events].sort((a, b) => tsOf(a) - tsOf(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const doc: Record<string, unknown> = {};
  const merger = new Merger();
  const layers = bySource(events);
  const groups = new Set<string>();
  for (const e of events) for (const k in e.ecs) if (!RECORD_OWNED.has(k)) groups.add(k);
  for (const g of [...groups].sort()) {
    for (const src of PRIORITY[g] ?? DEFAULT_PRIORITY) {
      const layer = layers.get(src);
      if (layer) for (const e of layer) merger.fill(doc, g, e.ecs[g]);
    }
  }

  // The request's trace id even when only a join key carried it (e.g. a traceparent header in Tyk's raw request).
  const traceId = events.find((e) => e.join.traceId)?.join.traceId;
  if (traceId && (!isObj(doc.trace) || doc.trace.id === undefined)) merger.own(doc, 'trace').id = traceId;
  const requestId = events.find((e) => e.join.requestId)?.join.requestId;
  if (requestId && (getHttpRequest(doc)?.id === undefined)) merger.own(merger.own(doc, 'http'), 'request').id = requestId;

  const sources = [...new Set(events.map((e) => e.source))].sort() as SourceType[];
  const hasHttp = events.some((e) => e.source !== 'panos');
  const recordType: AuditRecord['auditmesh']['record_type'] = hasHttp ? 'request' : events.some((e) => e.kind === 'traffic') ? 'session' : 'event';

  // event.*: a single-event record keeps the event's own classification; a request gets ours.
  const event: Ecs = {};
  if (events.length === 1) Object.assign(event, events[0]!.ecs.event ?? {});
  else Object.assign(event, (ordered(layers, 'http')[0]!.ecs.event as Ecs | undefined) ?? {});
  const starts = events.map(tsOf).filter((n) => n > 0);
  const start = starts.length ? minOf(starts) : Date.parse(inp.now.toISOString());
  const ends = events.map((e) => e.join.endMs ?? tsOf(e)).filter((n) => n > 0);
  const end = ends.length ? maxOf(ends) : start;
  event.kind = (event.kind as string | undefined) ?? 'event';
  if (events.length > 1) {
    event.start = new Date(start).toISOString();
    event.end = new Date(end).toISOString();
    event.duration = (end - start) * 1e6;
  }
  // Outcome: a denial anywhere (firewall deny, 4xx/5xx at the edge) makes the request a failure.
  const outcomes = events.map((e) => (e.ecs.event as Ecs | undefined)?.outcome).filter((o): o is string => typeof o === 'string');
  if (outcomes.length > 0) event.outcome = outcomes.includes('failure') && events.length > 1 ? 'failure' : (event.outcome ?? outcomes[0]);
  event.dataset = 'auditmesh.audit';
  if (event.category === undefined) event.category = hasHttp ? ['web', 'network'] : ['network'];

  const claims: IdentityClaim[] = [];
  for (const e of events) for (const c of e.claims) claims.push(c.eventId === undefined ? { ...c, eventId: e.id } : c);
  const identity = resolveIdentity(claims);
  const user: Ecs = {};
  const evUser = events.length === 1 ? (events[0]!.ecs.user as Ecs | undefined) : undefined;
  if (evUser) Object.assign(user, evUser);
  if (identity.subject) {
    user.id = identity.subject;
    const best = identity.claims.find((c) => c.subject === identity.subject && c.method === identity.method);
    if (user.name === undefined) user.name = identity.subject;
    if (best?.email) user.email = best.email;
    if (best?.groups?.length) user.roles = best.groups;
  }

  const related: { ip: string[]; user: string[]; hash: string[] } = { ip: [], user: [], hash: [] };
  for (const e of events) {
    for (const p of ['source', 'destination']) {
      const o = e.ecs[p] as Ecs | undefined;
      if (typeof o?.ip === 'string') related.ip.push(o.ip);
      const nat = o?.nat as Ecs | undefined;
      if (typeof nat?.ip === 'string') related.ip.push(nat.ip);
    }
    for (const c of e.claims) {
      if (c.subject) related.user.push(c.subject);
      if (c.tokenSha256) related.hash.push(c.tokenSha256);
    }
  }

  const members: MemberRef[] = events.map((e) => ({
    event_id: e.id,
    source: e.source,
    kind: e.kind,
    timestamp: e.timestamp,
    ref: e.ref,
    joined_by: inp.joinedBy.get(e.id) ?? 'self',
  }));

  // Service chain: services of spans in start order (root first), deduplicated.
  const services: string[] = [];
  for (const e of events) {
    const svc = (e.ecs.service as Ecs | undefined)?.name;
    if (e.source === 'otlp' && typeof svc === 'string' && !services.includes(svc)) services.push(svc);
  }

  const out: Record<string, unknown> = { '@timestamp': new Date(start).toISOString(), ...doc, event };
  if (Object.keys(user).length) out.user = user;
  const uniq = (a: string[]) => [...new Set(a)].sort();
  const rel: Ecs = {};
  if (related.ip.length) rel.ip = uniq(related.ip);
  if (related.user.length) rel.user = uniq(related.user);
  if (related.hash.length) rel.hash = uniq(related.hash);
  if (Object.keys(rel).length) out.related = rel;

  const am: AuditRecord['auditmesh'] = {
    record_id: inp.recordId,
    record_type: recordType,
    sources,
    members,
    member_count: members.length,
    keys: [...inp.keys].sort(),
    identity,
    version: 1,
    updated_at: inp.now.toISOString(),
  };
  if (services.length) am.services = services;
  if (inp.partial) am.partial = true;
  if (inp.ambiguous?.length) am.ambiguous = inp.ambiguous;
  out.auditmesh = am;
  const rec = out as AuditRecord;
  if (inp.previous) {
    const same = contentHash(inp.previous) === contentHash(rec);
    am.version = same ? inp.previous.auditmesh.version : inp.previous.auditmesh.version + 1;
    if (same) am.updated_at = inp.previous.auditmesh.updated_at;
  }
  return rec;
}

/** Hash of a record's content, ignoring version bookkeeping. */
export function contentHash(r: AuditRecord): string {
  const { version: _v, updated_at: _u, ...am } = r.auditmesh;
  return createHash('sha256').update(JSON.stringify({ ...r, auditmesh: am })).digest('hex');
}

/** Smallest / largest of a list without spreading it into arguments (no call-stack limit). */
export function minOf(xs: readonly number[]): number {
  let m = Infinity;
  for (const x of xs) if (x < m) m = x;
  return m;
}
export function maxOf(xs: readonly number[]): number {
  let m = -Infinity;
  for (const x of xs) if (x > m) m = x;
  return m;
}
