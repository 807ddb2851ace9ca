import type { IdentityClaim, ParsedEvent } from '../model/events';
import type { AuditRecord, RecordQuery, StoredEvent, WriteBatch } from '../model/record';
import type { CorrelationState } from '../pipeline/pendingWrites';
import { JwtVerifier } from '../identity/jwt';
import { buildRecord, byTime, maxOf, memoOf, minOf, recordIdFor, tsOf } from './record';
import { canonicalPrincipal } from '../identity/resolve';
import { Metrics, noopMetrics } from '../instrumentation/metrics';
import { extend } from '../model/extend';
import { byCodeUnits, sortSmall } from '../model/sortSmall';

export interface CorrelatorOptions {
  maxMembersPerRecord: number;
  /** Time tolerance of address/time joins (clock skew between layers). */
  joinWindowMs: number;
}

type Keyed = { id: string; source: string; kind: string; join: ParsedEvent['join']; ecs: ParsedEvent['ecs'] };

/** Correlation keys of an event, strongest first (memoized per event object). */
export function eventKeys(e: Keyed): string[] {
  const memo = memoOf(e as { timestamp?: string });
  return (memo.keys ??= computeKeys(e));
}

function computeKeys(e: Keyed): string[] {
  const keys: string[] = [];
  if (e.join.traceId) keys.push(`t:${e.join.traceId}`);
  if (e.join.requestId) keys.push(`r:${e.join.requestId.toLowerCase()}`);
  if (e.source === 'panos' && e.join.sessionId) {
    const obs = (e.ecs.observer as Record<string, unknown> | undefined) ?? {};
    const dev = String(obs.serial_number ?? obs.hostname ?? '-');
    keys.push(`fw:${dev}:${e.join.sessionId}:${e.join.clientIp ?? '-'}:${e.join.clientPort ?? '-'}`);
  }
  if (keys.length === 0) keys.push(`e:${e.id}`);
  return keys;
}

const KEY_RANK = ['t:', 'r:', 'fw:', 'e:'];
/** `auditmesh.ambiguous[].key` of a trace-less gateway record that matched several requests. */
const ADDRESS_AMBIGUITY = 'address+method+path+time';
const keyRank = (k: string) => KEY_RANK.findIndex((p) => k.startsWith(p));

/** The key a new record is named after: the strongest, then the first in locale order. */
function foundingKey(keys: Iterable<string>): string {
  let best: string[] = [];
  let bestRank = Infinity;
  for (const k of keys) {
    const r = keyRank(k);
    if (r < bestRank) {
      bestRank = r;
      best = [k];
    } else if (r === bestRank) best.push(k);
  }
  return best.length === 1 ? best[0]! : best.sort((a, b) => a.localeCompare(b))[0]!;
}

/** The stored form of an event (tokens dropped), always built with the same shape. */
function storedEvent(e: ParsedEvent, claims: IdentityClaim[]): StoredEvent {
  return { id: e.id, source: e.source, kind: e.kind, timestamp: e.timestamp, ecs: e.ecs, join: e.join, claims, ref: e.ref, recordId: '' };
}
const JOINED_BY: Record<string, string> = { 't:': 'trace.id', 'r:': 'http.request.id', 'fw:': 'firewall.session', 'e:': 'self' };

/**
 * Union-find over integer nodes (events, keys and stored records of one batch), with path
 * compression. Roots carry no meaning: components are named by their first event.
 */
class UnionFind {
  private readonly parent: number[] = [];
  /** A new singleton node. */
  add(): number {
    const n = this.parent.length;
    this.parent.push(n);
    return n;
  }
  find(x: number): number {
    const parent = this.parent;
    let root = x;
    while (parent[root] !== root) root = parent[root]!;
    while (parent[x] !== root) {
      const next = parent[x]!;
      parent[x] = root;
      x = next;
    }
    return root;
  }
  union(a: number, b: number): void {
    const ra = this.find(a), rb = this.find(b);
    if (ra !== rb) this.parent[ra < rb ? rb : ra] = ra < rb ? ra : rb;
  }
}

/**
 * Joins the events of one request across layers into one record. State lives in the store (keys →
 * record, record → members), so a late event — minutes later, or in another `auditmesh ingest` run —
 * finds and amends the record it belongs to. Records are rebuilt from their member events, so a
 * redelivered event changes nothing (idempotent).
 */
export class Correlator {
  private readonly verifier: JwtVerifier;

  constructor(
    private readonly store: CorrelationState,
    verifier: JwtVerifier | undefined,
    private readonly opts: CorrelatorOptions,
    private readonly metrics: Metrics = noopMetrics,
    private readonly clock: () => Date = () => new Date(),
  ) {
    // With no trusted issuer every token is judged `unknown_issuer`, with its claims and fingerprint.
    this.verifier = verifier ?? new JwtVerifier([]);
  }

  /** An event without tokens as stored: unverified JWT claims (no token to check) are `malformed`. */
  private stored(e: ParsedEvent): StoredEvent {
    let claims = e.claims;
    let fix = false;
    for (let i = 0; i < claims.length; i++) {
      const c = claims[i]!;
      if (c.eventId === undefined || (c.method === 'jwt' && c.verdict === undefined)) fix = true;
    }
    if (fix) {
      claims = claims.map((c) =>
        c.method === 'jwt' && c.verdict === undefined
          ? extend(c, { eventId: c.eventId ?? e.id, verdict: 'malformed' as const, reason: 'token not available for verification' })
          : extend(c, { eventId: c.eventId ?? e.id }),
      );
    }
    return storedEvent(e, claims);
  }

  /** Verify tokens at event time and replace unverified JWT claims by verdicts; drop the tokens. */
  async verifyIdentity(e: ParsedEvent): Promise<StoredEvent> {
    let claims: IdentityClaim[] = e.claims;
    if (e.tokens?.length) {
      const at = Date.parse(e.timestamp);
      const verified: IdentityClaim[] = [];
      for (const t of e.tokens) {
        const v = await this.verifier.verify(t, Number.isFinite(at) ? at : this.clock().getTime(), e.source);
        verified.push(extend(v.claim, { eventId: e.id }));
      }
      const hashes = new Set(verified.map((c) => c.tokenSha256));
      claims = [
        ...claims.filter((c) => !(c.method === 'jwt' && c.tokenSha256 && hashes.has(c.tokenSha256))).map((c) =>
          c.method === 'jwt' && c.verdict === undefined ? extend(c, { verdict: 'unknown_issuer' as const, reason: 'no identity issuer is configured' }) : c,
        ),
        ...verified,
      ];
    } else {
      claims = claims.map((c) => (c.method === 'jwt' && c.verdict === undefined ? extend(c, { verdict: 'malformed' as const, reason: 'token not available for verification' }) : c));
    }
    return storedEvent(e, claims.map((c) => (c.eventId === undefined ? extend(c, { eventId: e.id }) : c)));
  }

  /** Correlate a batch of parsed events into a store write (without dead letters). */
  async correlate(input: ParsedEvent[]): Promise<Omit<WriteBatch, 'deadLetters'>> {
    const now = this.clock();
    const w = this.opts.joinWindowMs;
    // Dedupe within the batch (content-addressed ids: a redelivered message is the same event).
    const byId = new Map<string, ParsedEvent>();
    for (let i = 0; i < input.length; i++) byId.set(input[i]!.id, input[i]!);
    const events: StoredEvent[] = [];
    for (const e of byId.values()) events.push(e.tokens?.length ? await this.verifyIdentity(e) : this.stored(e));
    /** Stored events made by this call (not shared with anyone): their record id is set in place. */
    const fresh = new Set<StoredEvent>(events);
    // Trace-less gateway events stored earlier that may belong to a request of this batch are
    // correlated again with it: the address join below then holds whichever side arrives first.
    const again = await this.storedTraceless(events);
    events.push(...again);
    const reevaluated = new Set(again.map((e) => e.id));

    // Nodes: events 0..n-1 (in batch order), then correlation keys and stored records as met.
    const uf = new UnionFind();
    for (let i = 0; i < events.length; i++) uf.add();
    const keyNode = new Map<string, number>();
    for (let i = 0; i < events.length; i++) {
      const ks = eventKeys(events[i]!);
      for (let j = 0; j < ks.length; j++) {
        const k = ks[j]!;
        let node = keyNode.get(k);
        if (node === undefined) keyNode.set(k, (node = uf.add()));
        uf.union(i, node);
      }
    }
    const recNode = new Map<string, number>();
    const recordNode = (rid: string) => {
      let node = recNode.get(rid);
      if (node === undefined) recNode.set(rid, (node = uf.add()));
      return node;
    };
    const existing = await this.store.lookupKeys([...keyNode.keys()]);
    for (const [k, rid] of existing) uf.union(keyNode.get(k)!, recordNode(rid));

    // A gateway record without trace headers joins the mesh's request by client address, method,
    // path and time — only when exactly one request matches (ambiguous candidates are not guessed).
    const joinedOverride = new Map<string, string>();
    /** Event index → the stored record it joined by address. */
    const addressRec = new Map<number, string>();
    const ambiguous = new Map<string, AmbiguousJoin[]>();
    let tracedByIp: Map<string, number[]> | undefined;
    let refreshed = false;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (!isTraceless(e)) continue;
      if (!tracedByIp) {
        tracedByIp = new Map();
        for (let j = 0; j < events.length; j++) {
          const o = events[j]!;
          if (o.source !== 'panos' && (o.join.traceId || o.join.requestId) && o.join.clientIp) (tracedByIp.get(o.join.clientIp) ?? tracedByIp.set(o.join.clientIp, []).get(o.join.clientIp)!).push(j);
        }
      }
      const t = e.join.startMs ?? tsOf(e);
      const cands = new Set<number>();
      for (const j of tracedByIp.get(e.join.clientIp!) ?? []) {
        const o = events[j]!;
        if (sameRequest(o, e) && Math.abs((o.join.startMs ?? tsOf(o)) - t) <= w) cands.add(uf.find(j));
      }
      // Search sees only refreshed data (Elasticsearch): make the batches acknowledged so far visible.
      if (!refreshed) await this.store.refresh();
      refreshed = true;
      const recOf = new Map<number, string>();
      for (const r of await this.storedRequests(e.join.clientIp!, e.join.method!, e.join.path ?? '', t)) {
        const root = uf.find(recordNode(r.auditmesh.record_id));
        cands.add(root);
        recOf.set(root, r.auditmesh.record_id);
      }
      if (cands.size === 1) {
        const root = [...cands][0]!;
        uf.union(i, root);
        joinedOverride.set(e.id, 'address+time');
        const rid = recOf.get(root);
        if (rid) addressRec.set(i, rid);
      } else if (cands.size > 1) {
        ambiguous.set(e.id, [{ event_id: e.id, key: ADDRESS_AMBIGUITY, candidates: cands.size }]);
      }
    }

    // Components: events and existing records that belong together, in the order of their first event.
    const comps = new Map<number, Component>();
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const root = uf.find(i);
      let c = comps.get(root);
      if (!c) comps.set(root, (c = { events: [], recIds: undefined, keys: new Set() }));
      c.events.push(e);
      const ks = eventKeys(e);
      for (let j = 0; j < ks.length; j++) c.keys.add(ks[j]!);
    }
    // Existing records reached through a key of the component (its own events' or another's).
    for (const [k, rid] of existing) (comps.get(uf.find(keyNode.get(k)!))!.recIds ??= new Set()).add(rid);
    for (const [i, rid] of addressRec) (comps.get(uf.find(i))!.recIds ??= new Set()).add(rid);

    const recIdSet = new Set<string>();
    for (const c of comps.values()) if (c.recIds) for (const rid of c.recIds) recIdSet.add(rid);
    const recIds = [...recIdSet];
    const prevRecords = recIds.length ? await this.store.getRecords(recIds) : new Map<string, AuditRecord>();
    const memberIds = [...prevRecords.values()].flatMap((r) => r.auditmesh.members.map((m) => m.event_id)).filter((id) => !byId.has(id));
    const prevEvents = memberIds.length ? await this.store.getEvents(memberIds) : new Map<string, StoredEvent>();

    const works = new Map<string, Work>();
    const out: Omit<WriteBatch, 'deadLetters'> = { events: [], records: [], keys: [], deletedRecords: [] };
    for (const c of comps.values()) {
      const sortedRecs = c.recIds ? sortSmall([...c.recIds], byCodeUnits) : [];
      const target = sortedRecs[0] ?? recordIdFor(foundingKey(c.keys));
      // A new record owns exactly its events, all written now: one set serves as both (neither changes later).
      const owned = new Set<string>();
      const work: Work = { target, members: new Map(), owned, linked: new Map(), keys: c.keys, changedOwnership: sortedRecs.length ? new Set() : owned, prev: prevRecords.get(target), isNew: !sortedRecs.length };
      for (const rid of sortedRecs) {
        const prev = prevRecords.get(rid);
        for (const m of prev?.auditmesh.members ?? []) {
          const ev = prevEvents.get(m.event_id);
          if (!ev) continue;
          work.members.set(ev.id, ev);
          if (ev.recordId === rid) {
            work.owned.add(ev.id);
            if (rid !== target) work.changedOwnership.add(ev.id);
          } else work.linked.set(ev.id, m.joined_by);
        }
        for (const k of prev?.auditmesh.keys ?? []) work.keys.add(k);
        for (const a of prev?.auditmesh.ambiguous ?? []) (ambiguous.get(target) ?? ambiguous.set(target, []).get(target)!).push(a);
      }
      let amended = 0;
      for (let i = 0; i < c.events.length; i++) {
        const e = c.events[i]!;
        // A re-evaluated gateway event is not a redelivery.
        if (work.members.has(e.id)) {
          if (!reevaluated.has(e.id)) this.metrics.duplicateEvents.add(1);
        } else if (sortedRecs.length) amended++;
        work.members.set(e.id, e);
        work.owned.add(e.id);
        if (work.changedOwnership !== work.owned) work.changedOwnership.add(e.id);
        if (work.linked.size) work.linked.delete(e.id);
        const amb = ambiguous.size ? ambiguous.get(e.id) : undefined;
        if (amb) (ambiguous.get(target) ?? ambiguous.set(target, []).get(target)!).push(...amb);
      }
      if (amended) this.metrics.amendedEvents.add(amended);
      for (const rid of sortedRecs.slice(1)) out.deletedRecords.push(rid);
      works.set(target, work);
    }

    await this.linkFirewallSessions(works, prevRecords, ambiguous, new Set(out.deletedRecords));

    for (const work of works.values()) {
      let all: StoredEvent[] = [];
      for (const e of work.members.values()) all.push(e);
      sortSmall(all, byTime);
      let partial = false;
      if (all.length > this.opts.maxMembersPerRecord) {
        partial = true;
        all = all.slice(0, this.opts.maxMembersPerRecord);
      }
      // Which key joined each member: the strongest key it shares with another member.
      const shared = sharedKeys(all);
      const prevJoined = work.prev ? new Map(work.prev.auditmesh.members.map((m) => [m.event_id, m.joined_by])) : undefined;
      const joinedBy = new Map<string, string>();
      for (let i = 0; i < all.length; i++) {
        const e = all[i]!;
        const linked = work.linked.size ? work.linked.get(e.id) : undefined;
        if (linked) {
          joinedBy.set(e.id, linked);
          continue;
        }
        const k = shared[i];
        joinedBy.set(e.id, k !== undefined ? JOINED_BY[KEY_RANK[keyRank(k)]!]! : (joinedOverride.get(e.id) ?? prevJoined?.get(e.id) ?? 'self'));
      }
      // The record's keys: its earlier ones, then its own members' (work.keys is not used after this).
      // A new record's own members are its component's events, whose keys the component already holds.
      const keys = work.keys;
      if (!work.isNew) for (let i = 0; i < all.length; i++) {
        if (!work.owned.has(all[i]!.id)) continue;
        const ks = eventKeys(all[i]!);
        for (let j = 0; j < ks.length; j++) keys.add(ks[j]!);
      }
      // An earlier ambiguity of a gateway record that has now been joined (re-evaluated with more data) is resolved.
      const amb = ambiguous.get(work.target);
      let ambUniq: AmbiguousJoin[] | undefined;
      if (amb) {
        const seenAmb = new Set<string>();
        ambUniq = amb.filter((a) => !(a.key === ADDRESS_AMBIGUITY && joinedOverride.has(a.event_id)) && !seenAmb.has(`${a.event_id}|${a.key}`) && seenAmb.add(`${a.event_id}|${a.key}`));
      }
      const record = buildRecord({ recordId: work.target, events: all, joinedBy, keys: [...keys], previous: work.prev, partial, ambiguous: ambUniq?.length ? ambUniq : undefined, now });
      if (partial) this.metrics.partialRecords.add(1);
      out.records.push(record);
      // Write new events and events whose owning record changed; unchanged members stay as they are.
      for (const id of work.changedOwnership) {
        const ev = work.members.get(id)!;
        if (fresh.has(ev)) {
          ev.recordId = work.target;
          out.events.push(ev);
        } else out.events.push(extend(ev, { recordId: work.target }));
      }
      // Only keys that are new or point elsewhere need writing. A key looked up in this batch is judged
      // by the key store itself, not by the record listing it: a batch whose write was cut short (a crash
      // in the middle of an Elasticsearch bulk) may have stored the record without all of its keys, and
      // its redelivery must write them.
      const prev = work.prev;
      for (const k of keys) if ((existing.size === 0 || existing.get(k) !== work.target) && (!prev || keyNode.has(k) || !prev.auditmesh.keys.includes(k))) out.keys.push([k, work.target]);
    }
    return out;
  }

  /**
   * Traced requests already stored that a trace-less gateway event at `t` may belong to: same client
   * address (the record's source.ip, or its client.ip: the X-Forwarded-For hop of a mesh that sits
   * behind the gateway, whose source.ip is the gateway), method and path, within the join window.
   * Only records reachable by a trace id or x-request-id count (another trace-less record does not).
   */
  private async storedRequests(ip: string, method: string, path: string, t: number): Promise<AuditRecord[]> {
    const w = this.opts.joinWindowMs;
    const out: AuditRecord[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 20; page++) {
      const q: RecordQuery = { method, from: new Date(t - w).toISOString(), to: new Date(t + w + 1).toISOString(), recordType: 'request', limit: 500 };
      if (path) q.text = path;
      if (cursor) q.cursor = cursor;
      const res = await this.store.searchRecords(q);
      for (const r of res.records) {
        if ((r.url as { path?: string } | undefined)?.path !== path) continue;
        if (!r.auditmesh.keys.some((k) => k.startsWith('t:') || k.startsWith('r:'))) continue;
        const src = (r.source as { ip?: string } | undefined)?.ip;
        const client = (r.client as { ip?: string } | undefined)?.ip;
        if (src === ip || client === ip) out.push(r);
      }
      if (!res.nextCursor) break;
      cursor = res.nextCursor;
    }
    return out;
  }

  /**
   * Trace-less gateway events already stored (their record has no trace or request key) that match
   * a traced request of this batch by client address, method, path and time: the gateway record
   * arrived before the mesh's. One store query per batch, by the batch's client addresses.
   */
  private async storedTraceless(events: StoredEvent[]): Promise<StoredEvent[]> {
    const w = this.opts.joinWindowMs;
    const isTraced = (e: StoredEvent) => e.source !== 'panos' && (e.join.traceId || e.join.requestId) && e.join.clientIp && e.join.method;
    let first = Infinity, last = -Infinity;
    const ips = new Set<string>();
    for (const e of events) {
      if (!isTraced(e)) continue;
      const t = e.join.startMs ?? tsOf(e);
      if (t < first) first = t;
      if (t > last) last = t;
      ips.add(e.join.clientIp!);
    }
    if (!ips.size) return [];
    const from = first - 2 * w, to = last + w + 1;
    const recs = await this.store.findRecordsByIps({ ips: [...ips], from: new Date(from).toISOString(), to: new Date(to).toISOString(), recordType: 'request', limit: 10_000, selfKeyedOnly: true });
    if (!recs.length) return [];
    const traced = events.filter(isTraced);
    const inBatch = new Set(events.map((e) => e.id));
    // Self-keyed already: every store answers selfKeyedOnly exactly (store/contract.ts).
    const ids = recs.flatMap((r) => r.auditmesh.members.filter((m) => m.source !== 'panos' && !inBatch.has(m.event_id)).map((m) => m.event_id));
    if (!ids.length) return [];
    const byIp = new Map<string, StoredEvent[]>();
    for (const e of traced) (byIp.get(e.join.clientIp!) ?? byIp.set(e.join.clientIp!, []).get(e.join.clientIp!)!).push(e);
    return [...(await this.store.getEvents(ids)).values()].filter((g) => {
      if (!isTraceless(g)) return false;
      const t = g.join.startMs ?? tsOf(g);
      return (byIp.get(g.join.clientIp!) ?? []).some((o) => sameRequest(o, g) && Math.abs((o.join.startMs ?? tsOf(o)) - t) <= w);
    });
  }

  /**
   * Firewall sessions carry no trace id: a session is linked (as evidence, it stays owned by its own
   * session record) to every request of the same client address — pre- or post-NAT — whose time lies
   * within the session's span plus the join window (keep-alive: one session, several requests). A
   * request that matches more than one session is not guessed unless the User-ID names its identity.
   * The store is asked once per batch and direction (by address list), not once per event.
   */
  private async linkFirewallSessions(works: Map<string, Work>, prevRecords: Map<string, AuditRecord>, ambiguous: Map<string, AmbiguousJoin[]>, deleted: ReadonlySet<string>): Promise<void> {
    const w = this.opts.joinWindowMs;
    const HOUR = 3_600_000;
    const sessions: Session[] = [];
    const requests: { work: Work; ip: string; t: number }[] = [];
    for (const work of works.values()) {
      const ownedEvents: StoredEvent[] = [];
      let http = false;
      for (const id of work.owned) {
        const e = work.members.get(id);
        if (!e) continue;
        ownedEvents.push(e);
        if (e.source !== 'panos') http = true;
        else if (e.kind === 'traffic' && e.join.clientIp) sessions.push(sessionOf(e, w));
      }
      if (http) {
        const client = clientOf(ownedEvents);
        if (client) requests.push({ work, ip: client.ip, t: client.t });
      }
    }
    if (!sessions.length && !requests.length) return;
    const cands = new Map<Work, Map<string, StoredEvent>>();
    const addCand = (work: Work, ev: StoredEvent) => {
      let m = cands.get(work);
      if (!m) cands.set(work, (m = new Map()));
      m.set(ev.id, ev);
    };
    const fits = (s: Session, t: number) => t >= s.from && t <= s.to;

    // Sessions of this batch ↔ requests of this batch.
    const reqByIp = new Map<string, typeof requests>();
    for (const r of requests) (reqByIp.get(r.ip) ?? reqByIp.set(r.ip, []).get(r.ip)!).push(r);
    for (const s of sessions) for (const ip of s.ips) for (const r of reqByIp.get(ip) ?? []) if (fits(s, r.t)) addCand(r.work, s.ev);

    // Sessions of this batch → requests already stored.
    if (sessions.length) {
      const ips = [...new Set(sessions.flatMap((s) => s.ips))];
      const from = minOf(sessions.map((s) => s.from)), to = maxOf(sessions.map((s) => s.to));
      // A record this batch merged into another (deleted) is not linked on its own: written again
      // here it would survive its deletion (seen by the poison fault test with a session and the
      // merging span in one batch); its members are in the merged record, which links the session.
      const recs = (await this.store.findRecordsByIps({ ips, from: new Date(from).toISOString(), to: new Date(to + 1).toISOString(), recordType: 'request', limit: 10_000 })).filter((r) => !works.has(r.auditmesh.record_id) && !deleted.has(r.auditmesh.record_id));
      const memberIds = recs.flatMap((r) => r.auditmesh.members.map((m) => m.event_id));
      const evs = memberIds.length ? await this.store.getEvents(memberIds) : new Map<string, StoredEvent>();
      const sesByIp = new Map<string, Session[]>();
      for (const s of sessions) for (const ip of s.ips) (sesByIp.get(ip) ?? sesByIp.set(ip, []).get(ip)!).push(s);
      for (const rec of recs) {
        const rid = rec.auditmesh.record_id;
        const members = new Map(rec.auditmesh.members.map((m) => [m.event_id, evs.get(m.event_id)]).filter((x): x is [string, StoredEvent] => x[1] !== undefined));
        const client = clientOf([...members.values()].filter((e) => e.recordId === rid));
        if (!client) continue;
        const matching = (sesByIp.get(client.ip) ?? []).filter((s) => fits(s, client.t));
        if (!matching.length) continue;
        let work = works.get(rid);
        if (!work) {
          work = {
            target: rid,
            members,
            owned: new Set([...members.values()].filter((e) => e.recordId === rid).map((e) => e.id)),
            linked: new Map(rec.auditmesh.members.filter((m) => members.get(m.event_id)?.recordId !== rid).map((m) => [m.event_id, m.joined_by])),
            keys: new Set(rec.auditmesh.keys),
            changedOwnership: new Set(),
            prev: rec,
            isNew: false,
          };
          prevRecords.set(rid, rec);
          for (const a of rec.auditmesh.ambiguous ?? []) (ambiguous.get(rid) ?? ambiguous.set(rid, []).get(rid)!).push(a);
          works.set(rid, work);
        }
        for (const s of matching) addCand(work, s.ev);
      }
    }

    // Requests of this batch → sessions already stored.
    if (requests.length) {
      const ips = [...new Set(requests.map((r) => r.ip))];
      const first = minOf(requests.map((r) => r.t));
      const from = first - HOUR, to = maxOf(requests.map((r) => r.t)) + HOUR;
      // Session records are stamped with the session's log time (its end): look an hour either way.
      // A session fits a request only if it ends within the join window before it (Session.to), so
      // sessions that ended earlier are not read: a busy client address has many (endFrom).
      const recs = await this.store.findRecordsByIps({ ips, from: new Date(from).toISOString(), to: new Date(to).toISOString(), recordType: 'session', limit: 10_000, endFrom: new Date(first - w).toISOString() });
      const ids = recs.flatMap((r) => r.auditmesh.members.filter((m) => m.source === 'panos').map((m) => m.event_id));
      const evs = ids.length ? await this.store.getEvents(ids) : new Map<string, StoredEvent>();
      const byIp = new Map<string, Session[]>();
      for (const e of evs.values()) {
        if (!e.join.clientIp) continue;
        const s = sessionOf(e, w);
        for (const ip of s.ips) (byIp.get(ip) ?? byIp.set(ip, []).get(ip)!).push(s);
      }
      for (const r of requests) for (const s of byIp.get(r.ip) ?? []) if (fits(s, r.t)) addCand(r.work, s.ev);
    }

    for (const [work, c] of cands) this.choose(work, [...c.values()], ambiguous);
  }

  /** Link the one matching session; several → disambiguate by User-ID vs identity, else record the ambiguity. */
  private choose(work: Work, cands: StoredEvent[], ambiguous: Map<string, AmbiguousJoin[]>): void {
    const already = [...work.linked.keys()].filter((id) => work.members.get(id)?.source === 'panos');
    const all = [...new Map([...cands, ...already.map((id) => work.members.get(id)!)].map((e) => [e.id, e])).values()].filter((e) => !work.owned.has(e.id));
    const unlinkAll = () => {
      for (const id of already) {
        work.members.delete(id);
        work.linked.delete(id);
      }
    };
    const link = (ev: StoredEvent) => {
      work.members.set(ev.id, ev);
      work.linked.set(ev.id, 'address+time');
    };
    if (all.length === 1) {
      link(all[0]!);
      return;
    }
    if (all.length === 0) return;
    const subjects = new Set([...work.members.values()].filter((e) => work.owned.has(e.id)).flatMap((e) => e.claims.filter((c) => c.verdict === 'verified' || c.verdict === 'trusted_upstream').map((c) => canonicalPrincipal(c.subject))));
    const byUser = all.filter((e) => e.claims.some((c) => c.method === 'firewall_userid' && subjects.has(canonicalPrincipal(c.subject))));
    unlinkAll();
    if (byUser.length === 1) {
      link(byUser[0]!);
      return;
    }
    // Ambiguous: nothing is linked by address alone; the record says so.
    const list = ambiguous.get(work.target) ?? ambiguous.set(work.target, []).get(work.target)!;
    list.push({ event_id: all.map((e) => e.id).sort().join(','), key: 'firewall address+time', candidates: all.length });
  }
}

interface Session {
  ev: StoredEvent;
  ips: string[];
  from: number;
  to: number;
}

function sessionOf(e: StoredEvent, w: number): Session {
  const start = e.join.startMs ?? tsOf(e);
  return { ev: e, ips: [e.join.clientIp, e.join.natClientIp].filter((x): x is string => Boolean(x) && x !== '0.0.0.0'), from: start - w, to: (e.join.endMs ?? start) + w };
}

interface Component {
  events: StoredEvent[];
  /** Stored records the component reaches (none for a new request). */
  recIds: Set<string> | undefined;
  keys: Set<string>;
}

/**
 * For each member (in order), the strongest of its keys that another member shares, if any. Pairwise
 * for a request's few members; counted in a map for large records.
 */
function sharedKeys(all: StoredEvent[]): (string | undefined)[] {
  const out: (string | undefined)[] = new Array(all.length);
  if (all.length <= 16) {
    // Each member's keys read once (a memo lookup per event, not one per pair and key).
    const kss: string[][] = new Array(all.length);
    for (let i = 0; i < all.length; i++) kss[i] = eventKeys(all[i]!);
    for (let i = 0; i < all.length; i++) {
      let found: string | undefined;
      // eventKeys are ordered strongest first.
      const ks = kss[i]!;
      for (let q = 0; q < ks.length && found === undefined; q++) {
        const k = ks[q]!;
        for (let j = 0; j < all.length && found === undefined; j++) if (j !== i && kss[j]!.includes(k)) found = k;
      }
      out[i] = found;
    }
    return out;
  }
  const count = new Map<string, number>();
  for (const e of all) for (const k of eventKeys(e)) count.set(k, (count.get(k) ?? 0) + 1);
  for (let i = 0; i < all.length; i++) out[i] = eventKeys(all[i]!).find((k) => count.get(k)! > 1);
  return out;
}

interface Work {
  target: string;
  members: Map<string, StoredEvent>;
  /** Members whose owning record is this one. */
  owned: Set<string>;
  /** Members owned by another record (firewall sessions linked as evidence) → how they were joined. */
  linked: Map<string, string>;
  keys: Set<string>;
  changedOwnership: Set<string>;
  prev?: AuditRecord | undefined;
  /** Made from this batch's events alone (no stored record): it owns exactly its component's events. */
  isNew: boolean;
}

export interface AmbiguousJoin {
  event_id: string;
  key: string;
  candidates: number;
}

/** A request event without trace id and x-request-id (a gateway record without trace headers): joined by address and time. */
function isTraceless(e: StoredEvent): boolean {
  return e.source !== 'panos' && !e.join.traceId && !e.join.requestId && Boolean(e.join.clientIp) && Boolean(e.join.method);
}

function sameRequest(a: StoredEvent, b: StoredEvent): boolean {
  return (a.join.method ?? '').toUpperCase() === (b.join.method ?? '').toUpperCase() && (a.join.path ?? '') === (b.join.path ?? '');
}

const CLIENT_LAYERS = ['tyk', 'envoy', 'otlp'] as const;
/** The request's client address as the edge saw it: gateway, then mesh (XFF), then app; and its time. */
function clientOf(events: StoredEvent[]): { ip: string; t: number } | undefined {
  for (let si = 0; si < CLIENT_LAYERS.length; si++) {
    const src = CLIENT_LAYERS[si]!;
    // The earliest (the first of equals) of the layer's events that name a client address.
    let e: StoredEvent | undefined;
    for (let i = 0; i < events.length; i++) {
      const x = events[i]!;
      if (x.source === src && x.join.clientIp && (e === undefined || tsOf(x) < tsOf(e))) e = x;
    }
    if (e) return { ip: e.join.clientIp!, t: e.join.startMs ?? tsOf(e) };
  }
  return undefined;
}
