import { type AuditRecord, type AuditStore, type RecordPage, type RecordQuery, type RecordsByIpsQuery, type StoredEvent, type WriteBatch } from '../model/record';
import { matchesRecordsByIps, recordColumns } from '../store/query';

/** What the correlator reads of the store: its correlation state. */
export type CorrelationState = Pick<AuditStore, 'lookupKeys' | 'getRecords' | 'getEvents' | 'findRecordsByIps' | 'searchRecords' | 'refresh'>;

/**
 * The store as it will be once the batches handed to it have been written: the store's answers with
 * the pending (correlated, not yet acknowledged) write batches applied on top, in order, with the
 * store's own semantics (within a batch deletes apply before upserts; the last write of an id wins).
 *
 * This lets the pipeline correlate batch N+1 while batch N is still being written (see
 * PipelineRunner): the correlator sees N's records, events and keys although the store may not hold
 * them yet. Reads by id, key and address are merged; the one read that cannot be merged cheaply
 * (`searchRecords`, a general query) and `refresh` first wait until every pending batch is written.
 */
export class PendingWrites implements CorrelationState {
  private readonly pending: WriteBatch[] = [];
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly store: AuditStore) {}

  /** Batches correlated but not yet acknowledged by the store. */
  get size(): number {
    return this.pending.length;
  }

  /** A correlated batch is on its way to the store: reads see it from now on. */
  add(batch: WriteBatch): void {
    this.pending.push(batch);
  }

  /** The store acknowledged (or gave up on) `batch`: reads go to the store for it again. */
  remove(batch: WriteBatch): void {
    const i = this.pending.indexOf(batch);
    if (i >= 0) this.pending.splice(i, 1);
    if (!this.pending.length) for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once no batch is pending. */
  drained(): Promise<void> {
    return this.pending.length ? new Promise((r) => this.waiters.push(r)) : Promise.resolve();
  }

  /**
   * The pending batches as of NOW, taken before each store read: a batch the store acknowledges while
   * the read is in flight leaves `pending` at once, but the read may have been answered without it
   * (seen by the kill -9 crash test: a record rewritten without a member of the batch before it).
   * Overlaying a batch the store already holds changes nothing.
   */
  private snapshot(): WriteBatch[] {
    return [...this.pending];
  }

  async lookupKeys(keys: string[]): Promise<Map<string, string>> {
    const pending = this.snapshot();
    const out = await this.store.lookupKeys(keys);
    if (!pending.length) return out;
    const wanted = new Set(keys);
    for (const b of pending) for (const [k, rid] of b.keys) if (wanted.has(k)) out.set(k, rid);
    return out;
  }

  async getRecords(ids: string[]): Promise<Map<string, AuditRecord>> {
    const pending = this.snapshot();
    const out = await this.store.getRecords(ids);
    if (!pending.length) return out;
    const wanted = new Set(ids);
    for (const b of pending) {
      for (const id of b.deletedRecords) out.delete(id);
      for (const r of b.records) if (wanted.has(r.auditmesh.record_id)) out.set(r.auditmesh.record_id, r);
    }
    return out;
  }

  async getEvents(ids: string[]): Promise<Map<string, StoredEvent>> {
    const pending = this.snapshot();
    const out = await this.store.getEvents(ids);
    if (!pending.length) return out;
    const wanted = new Set(ids);
    for (const b of pending) for (const e of b.events) if (wanted.has(e.id)) out.set(e.id, e);
    return out;
  }

  async findRecordsByIps(q: RecordsByIpsQuery): Promise<AuditRecord[]> {
    const pending = this.snapshot();
    const found = await this.store.findRecordsByIps(q);
    if (!pending.length) return found;
    const ips = new Set(q.ips);
    const from = Date.parse(q.from), to = Date.parse(q.to);
    const matches = (r: AuditRecord) => matchesRecordsByIps(recordColumns(r), q, ips, from, to);
    const out = new Map(found.map((r) => [r.auditmesh.record_id, r]));
    for (const b of pending) {
      for (const id of b.deletedRecords) out.delete(id);
      for (const r of b.records) {
        const id = r.auditmesh.record_id;
        // The pending version replaces the stored one, and counts only if it still matches.
        out.delete(id);
        if (matches(r)) out.set(id, r);
      }
    }
    return [...out.values()].slice(0, q.limit);
  }

  async searchRecords(q: RecordQuery): Promise<RecordPage> {
    await this.drained();
    return this.store.searchRecords(q);
  }

  async refresh(): Promise<void> {
    await this.drained();
    return this.store.refresh();
  }
}
