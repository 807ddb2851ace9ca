import type { Ecs, IdentityClaim, SourceType } from '../model/events';
import type { AuditRecord, MemberRef, StoredEvent } from '../model/record';
import { resolveIdentity } from '../identity/resolve';
import { extend } from '../model/extend';
import { sha256 } from '../model/digest';
import { canonicalIsoMs } from '../model/isoTime';
import { byCodeUnits, sortSmall, uniqSorted } from '../model/sortSmall';

/** Deterministic record id from the record's founding correlation key. */
export function recordIdFor(key: string): string {
  return sha256(`rec|${key}`, 'base64url').slice(0, 22);
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

/** Values derived from an event once and kept with it: its time in ms, its correlation keys. */
export interface EventMemo {
  ts: number;
  /** The event's timestamp is exactly `new Date(ts).toISOString()` (a record can reuse the string). */
  iso: boolean;
  keys: string[] | undefined;
}

/** A constructor that returns its argument: a subclass's field initializers then run on that object. */
class Stamp {
  constructor(o: object) {
    return o as Stamp;
  }
}

/**
 * An event's memo, kept in a private field stamped onto the event object (the subclass of a
 * constructor that returns its argument): invisible to JSON, for-in, Object.keys, Object.assign,
 * spread and Jest's equality, like the non-enumerable symbol property it replaces, which
 * `Object.defineProperty` made cost a runtime call per event. A WeakMap did the same job, but with
 * every event of a batch in it its ephemeron bookkeeping made garbage collection measurably slower.
 */
class MemoSlot extends Stamp {
  #memo: EventMemo;
  private constructor(o: object, memo: EventMemo) {
    super(o);
    this.#memo = memo;
  }
  static get(o: object): EventMemo | undefined {
    return #memo in o ? (o as MemoSlot).#memo : undefined;
  }
  /** A frozen or sealed object keeps no memo (it is then derived again on each use). */
  static set(o: object, memo: EventMemo): EventMemo {
    if (Object.isExtensible(o)) new MemoSlot(o, memo);
    return memo;
  }
}

/** The event's memo (one private field per event, so events keep few hidden classes). */
export function memoOf(e: { timestamp?: string }): EventMemo {
  const m = MemoSlot.get(e);
  if (m !== undefined) return m;
  const iso = canonicalIsoMs(e.timestamp as string);
  return MemoSlot.set(e, { ts: iso !== undefined ? iso : Date.parse(e.timestamp as string) || 0, iso: iso !== undefined, keys: undefined });
}

/** Event time in ms (memoized per event object). */
export function tsOf(e: StoredEvent): number {
  return memoOf(e).ts;
}

/**
 * Copy-on-write merge: the record shares sub-objects with its member events until it needs to
 * change one, then copies that object (shallowly) and marks it as its own. Member events are
 * never mutated, and the common case (one contributor per field group) copies nothing.
 */
class Merger {
  /** Created on the first copy: most records take every field group whole from one member. */
  private owned: Set<object> | undefined;

  /** `parent[key]` as an object this record owns (copied on first write). */
  own(parent: Record<string, unknown>, key: string): Record<string, unknown> {
    const cur = parent[key];
    if (isObj(cur) && this.owned?.has(cur)) return cur;
    const copy: Record<string, unknown> = isObj(cur) ? extend(cur) : {};
    (this.owned ??= new Set()).add(copy);
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

export interface BuildInput {
  recordId: string;
  events: StoredEvent[];
  joinedBy: Map<string, string>;
  keys: string[];
  previous?: AuditRecord;
  partial?: boolean;
  /** Joins not made (several candidates); part of the content, so compared for the version. */
  ambiguous?: AuditRecord['auditmesh']['ambiguous'] | undefined;
  now: Date;
}

/** Members in time order, then by event id (the order of a record's member list). */
export const byTime = (a: StoredEvent, b: StoredEvent): number => tsOf(a) - tsOf(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** `now` as an ISO string, formatted once per batch (every record of a batch shares it; keyed by value, not by object). */
let lastNowMs = NaN;
let lastNowIso = '';
function isoOf(now: Date): string {
  const ms = now.getTime();
  if (ms !== lastNowMs) {
    lastNowIso = now.toISOString();
    lastNowMs = ms;
  }
  return lastNowIso;
}

/**
 * Build the unified record from its member events. Pure: same members → same content.
 * Written for the hot path of correlation: one pass over the members for the bookkeeping, field
 * groups merged straight into the output document, no per-source lists.
 */
export function buildRecord(inp: BuildInput): AuditRecord {
  let sorted = true;
  for (let i = 1; i < inp.events.length && sorted; i++) if (byTime(inp.events[i - 1]!, inp.events[i]!) > 0) sorted = false;
  const events = sorted ? inp.events : sortSmall(inp.events.slice(), byTime);
  const n = events.length;

  let start = Infinity;
  let end = -Infinity;
  // The members' own timestamp strings for start and end when they are already what toISOString writes.
  let startStr: string | undefined;
  let endStr: string | undefined;
  let traceId: string | undefined;
  let requestId: string | undefined;
  let hasHttp = false;
  let hasTraffic = false;
  let firstOutcome: string | undefined;
  let failure = false;
  const sources: SourceType[] = [];
  const groups: string[] = [];
  const claims: IdentityClaim[] = [];
  const relIp: string[] = [];
  const relUser: string[] = [];
  const relHash: string[] = [];
  const services: string[] = [];
  const members: MemberRef[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const e = events[i]!;
    const ecs = e.ecs;
    const memo = memoOf(e);
    const t = memo.ts;
    if (t > 0 && t < start) {
      start = t;
      startStr = memo.iso ? e.timestamp : undefined;
    }
    const te = e.join.endMs ?? t;
    if (te > 0 && te > end) {
      end = te;
      endStr = te === t && memo.iso ? e.timestamp : undefined;
    }
    if (!traceId && e.join.traceId) traceId = e.join.traceId;
    if (!requestId && e.join.requestId) requestId = e.join.requestId;
    if (!sources.includes(e.source)) sources.push(e.source);
    if (e.source !== 'panos') hasHttp = true;
    if (e.kind === 'traffic') hasTraffic = true;
    for (const k in ecs) if (!RECORD_OWNED.has(k) && !groups.includes(k)) groups.push(k);
    const outcome = (ecs.event as Ecs | undefined)?.outcome;
    if (typeof outcome === 'string') {
      firstOutcome ??= outcome;
      if (outcome === 'failure') failure = true;
    }
    relatedIps(ecs.source as Ecs | undefined, relIp);
    relatedIps(ecs.destination as Ecs | undefined, relIp);
    const ecl = e.claims;
    for (let j = 0; j < ecl.length; j++) {
      const c = ecl[j]!;
      claims.push(c.eventId === undefined ? extend(c, { eventId: e.id }) : c);
      if (c.subject) relUser.push(c.subject);
      if (c.tokenSha256) relHash.push(c.tokenSha256);
    }
    if (e.source === 'otlp') {
      const svc = (ecs.service as Ecs | undefined)?.name;
      if (typeof svc === 'string' && !services.includes(svc)) services.push(svc);
    }
    members[i] = { event_id: e.id, source: e.source, kind: e.kind, timestamp: e.timestamp, ref: e.ref, joined_by: inp.joinedBy.get(e.id) ?? 'self' };
  }
  if (start === Infinity) start = inp.now.getTime();
  if (end === -Infinity) end = start;
  const startIso = startStr ?? new Date(start).toISOString();

  // Field groups in name order, each filled from the layers in its priority order (earliest first
  // within a layer); the document's keys: @timestamp, the groups, event, user, related, auditmesh.
  const out: Record<string, unknown> = { '@timestamp': startIso };
  const merger = new Merger();
  sortSmall(groups, byCodeUnits);
  for (let gi = 0; gi < groups.length; gi++) {
    const g = groups[gi]!;
    const order = PRIORITY[g] ?? DEFAULT_PRIORITY;
    for (let si = 0; si < order.length; si++) {
      const src = order[si]!;
      if (!sources.includes(src)) continue;
      for (let i = 0; i < n; i++) {
        const e = events[i]!;
        if (e.source === src) merger.fill(out, g, e.ecs[g]);
      }
    }
  }

  // The request's trace id even when only a join key carried it (e.g. a traceparent header in Tyk's raw request).
  if (traceId && (!isObj(out.trace) || out.trace.id === undefined)) merger.own(out, 'trace').id = traceId;
  if (requestId && getHttpRequest(out)?.id === undefined) merger.own(merger.own(out, 'http'), 'request').id = requestId;

  const recordType: AuditRecord['auditmesh']['record_type'] = hasHttp ? 'request' : hasTraffic ? 'session' : 'event';

  // event.*: a single-event record keeps the event's own classification; a request gets ours (from
  // the first member in the priority order of the http group).
  const event: Ecs = {};
  if (n === 1) Object.assign(event, events[0]!.ecs.event ?? {});
  else Object.assign(event, (firstByPriority(events, sources, 'http').ecs.event as Ecs | undefined) ?? {});
  event.kind = (event.kind as string | undefined) ?? 'event';
  if (n > 1) {
    event.start = startIso;
    event.end = endStr ?? (end === start ? startIso : new Date(end).toISOString());
    event.duration = (end - start) * 1e6;
  }
  // Outcome: a denial anywhere (firewall deny, 4xx/5xx at the edge) makes the request a failure.
  if (firstOutcome !== undefined) event.outcome = failure && n > 1 ? 'failure' : (event.outcome ?? firstOutcome);
  event.dataset = 'auditmesh.audit';
  if (event.category === undefined) event.category = hasHttp ? ['web', 'network'] : ['network'];
  out.event = event;

  const identity = resolveIdentity(claims);
  const user: Ecs = {};
  const evUser = n === 1 ? (events[0]!.ecs.user as Ecs | undefined) : undefined;
  if (evUser) Object.assign(user, evUser);
  if (identity.subject) {
    user.id = identity.subject;
    const best = identity.claims.find((c) => c.subject === identity.subject && c.method === identity.method);
    if (user.name === undefined) user.name = identity.subject;
    if (best?.email) user.email = best.email;
    if (best?.groups?.length) user.roles = best.groups;
  }
  for (const _ in user) {
    out.user = user;
    break;
  }
  if (relIp.length || relUser.length || relHash.length) {
    const rel: Ecs = {};
    if (relIp.length) rel.ip = uniqSorted(relIp);
    if (relUser.length) rel.user = uniqSorted(relUser);
    if (relHash.length) rel.hash = uniqSorted(relHash);
    out.related = rel;
  }

  const am: AuditRecord['auditmesh'] = {
    record_id: inp.recordId,
    record_type: recordType,
    sources: sortSmall(sources, byCodeUnits),
    members,
    member_count: n,
    keys: sortSmall(inp.keys.slice(), byCodeUnits),
    identity,
    version: 1,
    updated_at: isoOf(inp.now),
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

/** Push `o.ip` and `o.nat.ip` (of an ECS source or destination) when they are strings. */
function relatedIps(o: Ecs | undefined, out: string[]): void {
  if (o === undefined) return;
  if (typeof o.ip === 'string') out.push(o.ip);
  const nat = o.nat as Ecs | undefined;
  if (typeof nat?.ip === 'string') out.push(nat.ip);
}

/** The first member in `group`'s priority order of layers (earliest first within a layer). */
function firstByPriority(events: StoredEvent[], sources: SourceType[], group: string): StoredEvent {
  const order = PRIORITY[group] ?? DEFAULT_PRIORITY;
  for (let si = 0; si < order.length; si++) {
    const src = order[si]!;
    if (!sources.includes(src)) continue;
    for (let i = 0; i < events.length; i++) if (events[i]!.source === src) return events[i]!;
  }
  return undefined as unknown as StoredEvent;
}

/** Hash of a record's content, ignoring version bookkeeping. */
export function contentHash(r: AuditRecord): string {
  const { version: _v, updated_at: _u, ...am } = r.auditmesh;
  return sha256(JSON.stringify({ ...r, auditmesh: am }), 'hex');
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
