import type { IdentityClaim, ParsedEvent } from '../model/events';
import type { AuditRecord, AuditStore, StoredEvent, WriteBatch } from '../model/record';
import { JwtVerifier } from '../identity/jwt';
import { buildRecord, recordIdFor } from './record';
import { Metrics, noopMetrics } from '../instrumentation/metrics';

export interface CorrelatorOptions {
  maxMembersPerRecord: number;
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
    // Dedupe within the batch (Kafka redelivery, repeated file lines keep distinct ids by position).
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

    const recIds = [...new Set([...comps.values()].flatMap((c) => [...c.recIds]))];
    const prevRecords = recIds.length ? await this.store.getRecords(recIds) : new Map<string, AuditRecord>();
    const memberIds = [...prevRecords.values()].flatMap((r) => r.auditmesh.members.map((m) => m.event_id)).filter((id) => !byId.has(id));
    const prevEvents = memberIds.length ? await this.store.getEvents(memberIds) : new Map<string, StoredEvent>();

    const out: Omit<WriteBatch, 'deadLetters'> = { events: [], records: [], keys: [], deletedRecords: [] };
    for (const c of comps.values()) {
      const sortedRecs = [...c.recIds].sort();
      const founding = [...c.keys].sort((a, b) => keyRank(a) - keyRank(b) || a.localeCompare(b))[0]!;
      const target = sortedRecs[0] ?? recordIdFor(founding);
      const members = new Map<string, StoredEvent>();
      const moved = new Set<string>();
      for (const rid of sortedRecs) {
        for (const m of prevRecords.get(rid)?.auditmesh.members ?? []) {
          const ev = prevEvents.get(m.event_id);
          if (ev) {
            members.set(ev.id, ev);
            if (rid !== target) moved.add(ev.id);
          }
        }
        for (const k of prevRecords.get(rid)?.auditmesh.keys ?? []) c.keys.add(k);
      }
      let amended = 0;
      for (const e of c.events) {
        if (members.has(e.id)) this.metrics.duplicateEvents.add(1);
        else if (sortedRecs.length) amended++;
        members.set(e.id, e);
      }
      if (amended) this.metrics.amendedEvents.add(amended);
      let all = [...members.values()].sort((a, b) => (Date.parse(a.timestamp) || 0) - (Date.parse(b.timestamp) || 0) || a.id.localeCompare(b.id));
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
        const shared = eventKeys(e).filter((k) => (keyCount.get(k) ?? 0) > 1).sort((a, b) => keyRank(a) - keyRank(b))[0];
        joinedBy.set(e.id, shared ? JOINED_BY[KEY_RANK[keyRank(shared)]!]! : 'self');
      }
      const keys = new Set<string>();
      for (const e of all) for (const k of eventKeys(e)) keys.add(k);
      for (const k of c.keys) keys.add(k);
      const record = buildRecord({ recordId: target, events: all, joinedBy, keys: [...keys], previous: prevRecords.get(target), partial, now });
      if (partial) this.metrics.partialRecords.add(1);
      out.records.push(record);
      // Write new events and events moved from merged records; unchanged members stay as they are.
      for (const e of c.events) out.events.push({ ...e, recordId: target });
      for (const id of moved) if (!byId.has(id)) out.events.push({ ...members.get(id)!, recordId: target });
      for (const k of keys) out.keys.push([k, target]);
      for (const rid of sortedRecs.slice(1)) out.deletedRecords.push(rid);
    }
    return out;
  }
}
