import type { IdentityClaim, ParsedEvent } from '../model/events';
import type { AuditRecord, AuditStore, StoredEvent, WriteBatch } from '../model/record';
import { JwtVerifier } from '../identity/jwt';
import { buildRecord, recordIdFor } from './record';
import { canonicalPrincipal } from '../identity/resolve';
import { Metrics, noopMetrics } from '../instrumentation/metrics';

export interface CorrelatorOptions {
  maxMembersPerRecord: number;
  /** Time tolerance of address/time joins (clock skew between layers). */
  joinWindowMs: number;
}

/** Correlation keys of an event, strongest first. */
export function eventKeys(e: { id: string; source: string; kind: string; join: ParsedEvent['join']; ecs: ParsedEvent['ecs'] }): string[] {
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
const keyRank = (k: string) => KEY_RANK.findIndex((p) => k.startsWith(p));
const JOINED_BY: Record<string, string> = { 't:': 'trace.id', 'r:': 'http.request.id', 'fw:': 'firewall.session', 'e:': 'self' };

class UnionFind {
  private parent = new Map<string, string>();
  find(x: string): string {
    let root = x;
    for (let p = this.parent.get(root); p !== undefined && p !== root; p = this.parent.get(root)) root = p;
    if (!this.parent.has(root)) this.parent.set(root, root);
    // Path compression.
    for (let cur = x; cur !== root; ) {
      const next: string = this.parent.get(cur)!;
      this.parent.set(cur, root);
      cur = next;
    }
    return root;
  }
  union(a: string, b: string): void {
    const ra = this.find(a), rb = this.find(b);
    if (ra !== rb) this.parent.set(ra < rb ? rb : ra, ra < rb ? ra : rb);
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
    private readonly store: AuditStore,
    verifier: JwtVerifier | undefined,
    private readonly opts: CorrelatorOptions,
    private readonly metrics: Metrics = noopMetrics,
    private readonly clock: () => Date = () => new Date(),
  ) {
    // With no trusted issuer every token is judged `unknown_issuer`, with its claims and fingerprint.
    this.verifier = verifier ?? new JwtVerifier([]);
  }

  /** Verify tokens at event time and replace unverified JWT claims by verdicts; drop the tokens. */
  async verifyIdentity(e: ParsedEvent): Promise<StoredEvent> {
    let claims: IdentityClaim[] = e.claims;
    if (e.tokens?.length) {
      const at = Date.parse(e.timestamp);
      const verified: IdentityClaim[] = [];
      for (const t of e.tokens) {
        const v = await this.verifier.verify(t, Number.isFinite(at) ? at : this.clock().getTime(), e.source);
        verified.push({ ...v.claim, eventId: e.id });
      }
      const hashes = new Set(verified.map((c) => c.tokenSha256));
      claims = [
        ...claims.filter((c) => !(c.method === 'jwt' && c.tokenSha256 && hashes.has(c.tokenSha256))).map((c) =>
          c.method === 'jwt' && c.verdict === undefined ? { ...c, verdict: 'unknown_issuer' as const, reason: 'no identity issuer is configured' } : c,
        ),
        ...verified,
      ];
    } else {
      claims = claims.map((c) => (c.method === 'jwt' && c.verdict === undefined ? { ...c, verdict: 'malformed' as const, reason: 'token not available for verification' } : c));
    }
    const { tokens: _t, ...rest } = e;
    return { ...rest, claims: claims.map((c) => ({ ...c, eventId: c.eventId ?? e.id })), recordId: '' };
  }

  /** Correlate a batch of parsed events into a store write (without dead letters). */
  async correlate(input: ParsedEvent[]): Promise<Omit<WriteBatch, 'deadLetters'>> {
    const now = this.clock();
    const w = this.opts.joinWindowMs;
    // Dedupe within the batch (content-addressed ids: a redelivered message is the same event).
    const byId = new Map<string, ParsedEvent>();
    for (const e of input) byId.set(e.id, e);
    const events = await Promise.all([...byId.values()].map((e) => this.verifyIdentity(e)));

    const uf = new UnionFind();
    const evKeys = new Map<string, string[]>();
    for (const e of events) {
      const ks = eventKeys(e);
      evKeys.set(e.id, ks);
      uf.find(`ev:${e.id}`);
      for (const k of ks) uf.union(`ev:${e.id}`, k);
    }
    const allKeys = [...new Set([...evKeys.values()].flat())];
    const existing = await this.store.lookupKeys(allKeys);
    for (const [k, rid] of existing) uf.union(k, `rec:${rid}`);

    // A gateway record without trace headers joins the mesh's request by client address, method,
    // path and time — only when exactly one request matches (ambiguous candidates are not guessed).
    const joinedOverride = new Map<string, string>();
    const addressRec = new Map<string, string>();
    const ambiguous = new Map<string, AmbiguousJoin[]>();
    const traced = events.filter((e) => e.source !== 'panos' && (e.join.traceId || e.join.requestId));
    for (const e of events) {
      if (e.source === 'panos' || e.join.traceId || e.join.requestId || !e.join.clientIp || !e.join.method) continue;
      const t = e.join.startMs ?? Date.parse(e.timestamp);
      const inBatch = traced.filter((o) => o.join.clientIp === e.join.clientIp && sameRequest(o, e) && Math.abs((o.join.startMs ?? Date.parse(o.timestamp)) - t) <= w);
      const cands = new Set(inBatch.map((o) => uf.find(`ev:${o.id}`)));
      const stored = await this.store.searchRecords({ sourceIp: e.join.clientIp, method: e.join.method, from: new Date(t - w).toISOString(), to: new Date(t + w + 1).toISOString(), recordType: 'request', limit: 20 });
      const recOf = new Map<string, string>();
      for (const r of stored.records) {
        if (!r.trace || (r.url as { path?: string } | undefined)?.path !== e.join.path) continue;
        const root = uf.find(`rec:${r.auditmesh.record_id}`);
        cands.add(root);
        recOf.set(root, r.auditmesh.record_id);
      }
      if (cands.size === 1) {
        const root = [...cands][0]!;
        uf.union(`ev:${e.id}`, root);
        joinedOverride.set(e.id, 'address+time');
        const rid = recOf.get(root);
        if (rid) addressRec.set(e.id, rid);
      } else if (cands.size > 1) {
        ambiguous.set(e.id, [{ event_id: e.id, key: 'address+method+path+time', candidates: cands.size }]);
      }
    }

    // Components: events and existing records that belong together.
    const comps = new Map<string, { events: StoredEvent[]; recIds: Set<string>; keys: Set<string> }>();
    const comp = (root: string) => {
      let c = comps.get(root);
      if (!c) comps.set(root, (c = { events: [], recIds: new Set(), keys: new Set() }));
      return c;
    };
    for (const e of events) {
      const c = comp(uf.find(`ev:${e.id}`));
      c.events.push(e);
      for (const k of evKeys.get(e.id)!) {
        c.keys.add(k);
        const rid = existing.get(k);
        if (rid) c.recIds.add(rid);
      }
    }
    // Existing records pulled in by an address join (not by a key of the event).
    for (const [root, c] of comps) {
      for (const [k, rid] of existing) if (uf.find(k) === root) c.recIds.add(rid);
    }
    for (const [id, rid] of addressRec) comp(uf.find(`ev:${id}`)).recIds.add(rid);

    const recIds = [...new Set([...comps.values()].flatMap((c) => [...c.recIds]))];
    const prevRecords = recIds.length ? await this.store.getRecords(recIds) : new Map<string, AuditRecord>();
    const memberIds = [...prevRecords.values()].flatMap((r) => r.auditmesh.members.map((m) => m.event_id)).filter((id) => !byId.has(id));
    const prevEvents = memberIds.length ? await this.store.getEvents(memberIds) : new Map<string, StoredEvent>();

    const works = new Map<string, Work>();
    const out: Omit<WriteBatch, 'deadLetters'> = { events: [], records: [], keys: [], deletedRecords: [] };
    for (const c of comps.values()) {
      const sortedRecs = [...c.recIds].sort();
      const founding = [...c.keys].sort((a, b) => keyRank(a) - keyRank(b) || a.localeCompare(b))[0]!;
      const target = sortedRecs[0] ?? recordIdFor(founding);
      const work: Work = { target, members: new Map(), owned: new Set(), linked: new Map(), keys: new Set(c.keys), changedOwnership: new Set(), prev: prevRecords.get(target) };
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
      for (const e of c.events) {
        if (work.members.has(e.id)) this.metrics.duplicateEvents.add(1);
        else if (sortedRecs.length) amended++;
        work.members.set(e.id, e);
        work.owned.add(e.id);
        work.changedOwnership.add(e.id);
        work.linked.delete(e.id);
        const amb = ambiguous.get(e.id);
        if (amb) (ambiguous.get(target) ?? ambiguous.set(target, []).get(target)!).push(...amb);
      }
      if (amended) this.metrics.amendedEvents.add(amended);
      for (const rid of sortedRecs.slice(1)) out.deletedRecords.push(rid);
      works.set(target, work);
    }

    await this.linkFirewallSessions(works, prevRecords, ambiguous);

    for (const work of works.values()) {
      let all = [...work.members.values()].sort((a, b) => (Date.parse(a.timestamp) || 0) - (Date.parse(b.timestamp) || 0) || a.id.localeCompare(b.id));
      let partial = false;
      if (all.length > this.opts.maxMembersPerRecord) {
        partial = true;
        all = all.slice(0, this.opts.maxMembersPerRecord);
      }
      // Which key joined each member: the strongest key it shares with another member.
      const keyCount = new Map<string, number>();
      for (const e of all) for (const k of eventKeys(e)) keyCount.set(k, (keyCount.get(k) ?? 0) + 1);
      const joinedBy = new Map<string, string>();
      for (const e of all) {
        const linked = work.linked.get(e.id);
        if (linked) {
          joinedBy.set(e.id, linked);
          continue;
        }
        const shared = eventKeys(e).filter((k) => (keyCount.get(k) ?? 0) > 1).sort((a, b) => keyRank(a) - keyRank(b))[0];
        joinedBy.set(e.id, shared ? JOINED_BY[KEY_RANK[keyRank(shared)]!]! : (joinedOverride.get(e.id) ?? (work.prev?.auditmesh.members.find((m) => m.event_id === e.id)?.joined_by) ?? 'self'));
      }
      const keys = new Set<string>();
      for (const e of all) if (work.owned.has(e.id)) for (const k of eventKeys(e)) keys.add(k);
      for (const k of work.keys) keys.add(k);
      const record = buildRecord({ recordId: work.target, events: all, joinedBy, keys: [...keys], previous: work.prev, partial, now });
      const amb = ambiguous.get(work.target);
      if (amb?.length) {
        const seen = new Set<string>();
        record.auditmesh.ambiguous = amb.filter((a) => !seen.has(`${a.event_id}|${a.key}`) && seen.add(`${a.event_id}|${a.key}`));
      }
      if (partial) this.metrics.partialRecords.add(1);
      out.records.push(record);
      // Write new events and events whose owning record changed; unchanged members stay as they are.
      for (const id of work.changedOwnership) out.events.push({ ...work.members.get(id)!, recordId: work.target });
      for (const k of keys) out.keys.push([k, work.target]);
    }
    return out;
  }

  /**
   * Firewall sessions carry no trace id: a session is linked (as evidence, it stays owned by its own
   * session record) to every request of the same client address — pre- or post-NAT — whose time lies
   * within the session's span plus the join window (keep-alive: one session, several requests). A
   * request that matches more than one session is not guessed unless the User-ID names its identity.
   */
  private async linkFirewallSessions(works: Map<string, Work>, prevRecords: Map<string, AuditRecord>, ambiguous: Map<string, AmbiguousJoin[]>): Promise<void> {
    const w = this.opts.joinWindowMs;
    const sessions: { ev: StoredEvent; ips: string[]; from: number; to: number }[] = [];
    const requests: { work: Work; ip: string; t: number }[] = [];
    for (const work of works.values()) {
      const ownedEvents = [...work.owned].map((id) => work.members.get(id)!).filter(Boolean);
      const fw = ownedEvents.filter((e) => e.source === 'panos' && e.kind === 'traffic' && e.join.clientIp);
      for (const e of fw) {
        const start = e.join.startMs ?? Date.parse(e.timestamp);
        sessions.push({ ev: e, ips: [e.join.clientIp!, e.join.natClientIp].filter((x): x is string => Boolean(x) && x !== '0.0.0.0'), from: start - w, to: (e.join.endMs ?? start) + w });
      }
      if (ownedEvents.some((e) => e.source !== 'panos')) {
        const client = clientOf(ownedEvents);
        if (client) requests.push({ work, ip: client.ip, t: client.t });
      }
    }
    const link = (work: Work, ev: StoredEvent) => {
      if (work.owned.has(ev.id) || work.members.has(ev.id)) return false;
      work.members.set(ev.id, ev);
      work.linked.set(ev.id, 'address+time');
      return true;
    };
    // Sessions in this batch → requests in this batch or already stored.
    for (const s of sessions) {
      for (const r of requests) if (s.ips.includes(r.ip) && r.t >= s.from && r.t <= s.to) this.choose(r.work, [s.ev], link, ambiguous);
      for (const ip of s.ips) {
        const page = await this.store.searchRecords({ sourceIp: ip, from: new Date(s.from).toISOString(), to: new Date(s.to + 1).toISOString(), recordType: 'request', limit: 100 });
        for (const rec of page.records) {
          const rid = rec.auditmesh.record_id;
          let work = works.get(rid);
          if (!work) {
            const members = await this.store.getEvents(rec.auditmesh.members.map((m) => m.event_id));
            work = { target: rid, members, owned: new Set([...members.values()].filter((e) => e.recordId === rid).map((e) => e.id)), linked: new Map(rec.auditmesh.members.filter((m) => members.get(m.event_id)?.recordId !== rid).map((m) => [m.event_id, m.joined_by])), keys: new Set(rec.auditmesh.keys), changedOwnership: new Set(), prev: rec };
            prevRecords.set(rid, rec);
            for (const a of rec.auditmesh.ambiguous ?? []) (ambiguous.get(rid) ?? ambiguous.set(rid, []).get(rid)!).push(a);
            works.set(rid, work);
          }
          this.choose(work, [s.ev], link, ambiguous);
        }
      }
    }
    // Requests in this batch → sessions already stored.
    for (const r of requests) {
      // Session records are stamped with the session's log time (its end): look an hour either way.
      const page = await this.store.searchRecords({ sourceIp: r.ip, from: new Date(r.t - 3_600_000).toISOString(), to: new Date(r.t + 3_600_000).toISOString(), recordType: 'session', limit: 100 });
      const cands: StoredEvent[] = [];
      for (const rec of page.records) {
        const evs = await this.store.getEvents(rec.auditmesh.members.filter((m) => m.source === 'panos').map((m) => m.event_id));
        for (const e of evs.values()) {
          const start = e.join.startMs ?? Date.parse(e.timestamp);
          if (r.t >= start - w && r.t <= (e.join.endMs ?? start) + w) cands.push(e);
        }
      }
      if (cands.length) this.choose(r.work, cands, link, ambiguous);
    }
  }

  /** Link the one matching session; several → disambiguate by User-ID vs identity, else record the ambiguity. */
  private choose(work: Work, cands: StoredEvent[], link: (w: Work, e: StoredEvent) => boolean, ambiguous: Map<string, AmbiguousJoin[]>): void {
    const already = [...work.linked.keys()].filter((id) => work.members.get(id)?.source === 'panos');
    const all = [...new Map([...cands, ...already.map((id) => work.members.get(id)!)].map((e) => [e.id, e])).values()];
    if (all.length === 1) {
      link(work, all[0]!);
      return;
    }
    const subjects = new Set([...work.members.values()].flatMap((e) => e.claims.filter((c) => c.verdict === 'verified' || c.verdict === 'trusted_upstream').map((c) => canonicalPrincipal(c.subject))));
    const byUser = all.filter((e) => e.claims.some((c) => c.method === 'firewall_userid' && subjects.has(canonicalPrincipal(c.subject))));
    if (byUser.length === 1) {
      for (const id of already) if (id !== byUser[0]!.id) {
        work.members.delete(id);
        work.linked.delete(id);
      }
      link(work, byUser[0]!);
      return;
    }
    // Ambiguous: unlink what was linked by address alone and say so.
    for (const id of already) {
      work.members.delete(id);
      work.linked.delete(id);
    }
    const list = ambiguous.get(work.target) ?? ambiguous.set(work.target, []).get(work.target)!;
    list.push({ event_id: all.map((e) => e.id).sort().join(','), key: 'firewall address+time', candidates: all.length });
  }
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
}

export interface AmbiguousJoin {
  event_id: string;
  key: string;
  candidates: number;
}

function sameRequest(a: StoredEvent, b: StoredEvent): boolean {
  return (a.join.method ?? '').toUpperCase() === (b.join.method ?? '').toUpperCase() && (a.join.path ?? '') === (b.join.path ?? '');
}

/** The request's client address as the edge saw it: gateway, then mesh (XFF), then app; and its time. */
function clientOf(events: StoredEvent[]): { ip: string; t: number } | undefined {
  for (const src of ['tyk', 'envoy', 'otlp'] as const) {
    const e = events.filter((x) => x.source === src && x.join.clientIp).sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp))[0];
    if (e) return { ip: e.join.clientIp!, t: e.join.startMs ?? Date.parse(e.timestamp) };
  }
  return undefined;
}
