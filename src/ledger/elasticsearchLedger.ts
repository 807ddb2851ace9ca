import { errors, type Client, type estypes } from '@elastic/elasticsearch';
import type { AuditRecord, AuditStore, WriteBatch } from '../model/record';
import type { Logger } from '../instrumentation/logger';
import { docId, type ExtensionOp } from '../store/elasticsearch/elasticsearchStore';
import { classifyRequestError } from '../store/elasticsearch/retry';
import type { LedgerBackend } from './backend';
import { Chain, type ChainPolicy, type ChainState, EMPTY_CHAIN, type NewCheckpoint } from './chain';
import { canonicalHash } from './canonical';
import { type LedgerEntry, padSeq, type RecordVersion, type StoredCheckpoint, tombstone, versionKey } from './entry';
import type { LedgerSigner } from './signing';

const PAGE = 1000;

/**
 * The ledger of the Elasticsearch store (P = index prefix):
 *
 * - `P-ledger`: entries, `_id` = `record_id@version@content_hash` (so an entry can never be written
 *   twice), one shard (a shard applies its bulk items in order and a rejection hits all of them);
 * - `P-record-versions`: every version's full record (`record`, not indexed), same `_id`;
 * - `P-ledger-checkpoints`: signed checkpoints, `_id` = seq zero-padded.
 *
 * The write path is a bulk extension (ElasticsearchStore.addWriteExtension): the entries, versions and
 * due checkpoints of a batch are `create` operations in the batch's own `_bulk`.
 *
 * SINGLE WRITER. The head (last seq and hash, unsealed entry hashes) is kept in memory, recovered at
 * start from the indices (refresh, then the highest seq), and assumed to change only through this
 * process: run one auditmesh writer per index prefix (Kafka consumer groups already give one
 * instance per partition set; do not point two ingesting instances at one prefix). A second writer
 * would fork the chain, and verification would name the first forked seq. Within the process, writes
 * that carry ledger operations are serialized (a lock from building the operations until the store
 * reports how the bulk ended). When a write fails, the tentative head is dropped and re-read from
 * Elasticsearch before the next write, so whatever part of the bulk did land is chained on.
 */
export class ElasticsearchLedger implements LedgerBackend {
  readonly kind = 'elasticsearch' as const;
  readonly ledgerIndex: string;
  readonly versionsIndex: string;
  readonly checkpointsIndex: string;
  /** Committed head; undefined = re-read from Elasticsearch before the next write. */
  private state: ChainState | undefined;
  /** entry_hash of every committed entry after the last checkpoint (seq state.sealedSeq + 1, ...). */
  private unsealed: string[] = [];
  private tentative: { state: ChainState; unsealed: string[] } | undefined;
  private readonly lock = new Lock();
  appended = 0;
  sealed = 0;

  constructor(
    private readonly client: Client,
    prefix: string,
    private readonly store: Pick<AuditStore, 'getRecords'>,
    private readonly signer: LedgerSigner,
    private readonly policy: ChainPolicy,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.ledgerIndex = `${prefix}-ledger`;
    this.versionsIndex = `${prefix}-record-versions`;
    this.checkpointsIndex = `${prefix}-ledger-checkpoints`;
  }

  async init(): Promise<void> {
    const keyword = { type: 'keyword' } as const;
    const indices: [string, estypes.MappingTypeMapping][] = [
      [this.ledgerIndex, { dynamic: false, properties: { seq: { type: 'long' }, record_id: keyword, version: { type: 'long' }, content_hash: keyword, prev_hash: keyword, entry_hash: keyword, time: { type: 'date' } } }],
      [this.versionsIndex, { dynamic: false, properties: { record_id: keyword, version: { type: 'long' }, content_hash: keyword, seq: { type: 'long' }, record: { type: 'object', enabled: false } } }],
      [this.checkpointsIndex, { dynamic: false, properties: { seq: { type: 'long' }, first_seq: { type: 'long' }, time: { type: 'date' }, jws: { type: 'keyword', index: false, doc_values: false } } }],
    ];
    for (const [index, mappings] of indices) {
      try {
        // One shard: a shard applies its bulk items in order. Replicas 0-1: one copy more as soon as there is a second node.
        await this.client.indices.create({ index, settings: { number_of_shards: 1, auto_expand_replicas: '0-1' }, mappings });
      } catch (e) {
        if (e instanceof errors.ResponseError && (e.meta.body as { error?: { type?: string } })?.error?.type === 'resource_already_exists_exception') continue;
        throw classifyRequestError(e, `create index ${index}`);
      }
    }
    await this.lock.run(() => this.recover());
  }

  /** Re-read the head, the last checkpoint and the unsealed entry hashes (caller holds the lock). */
  private async recover(): Promise<void> {
    await this.refresh();
    const head = (await this.search<LedgerEntry>(this.ledgerIndex, { match_all: {} }, [{ seq: 'desc' }], 1))[0];
    if (!head) {
      this.state = { ...EMPTY_CHAIN };
      this.unsealed = [];
      return;
    }
    const cp = (await this.search<{ seq: number }>(this.checkpointsIndex, { match_all: {} }, [{ seq: 'desc' }], 1))[0];
    const sealedSeq = cp?.seq ?? 0;
    const tail = await this.entries(sealedSeq + 1, head.seq, Number.MAX_SAFE_INTEGER);
    if (tail.length !== head.seq - sealedSeq) {
      this.log.error('ledger: entries missing after the last checkpoint; new entries chain on the highest seq and verification will name the gap', { sealed_seq: sealedSeq, head_seq: head.seq, found: tail.length });
    }
    this.unsealed = tail.map((e) => e.entry_hash);
    this.state = { seq: head.seq, hash: head.entry_hash, timeMs: Date.parse(head.time) || 0, sealedSeq, firstUnsealedMs: tail[0] ? Date.parse(tail[0].time) || 0 : undefined };
    this.log.info('ledger head recovered from elasticsearch', { seq: head.seq, sealed_seq: sealedSeq });
  }

  /** A chain over the committed state whose unsealed hashes include what it appends. */
  private chain(): { chain: Chain; tent: { base: number; hashes: string[] } } {
    const state = this.state!;
    const tent = { base: state.sealedSeq + 1, hashes: [...this.unsealed] };
    const chain = new Chain(state, this.policy, this.signer, this.now, (a, b) => tent.hashes.slice(a - tent.base, b - tent.base + 1));
    return { chain, tent };
  }

  /** The write extension: ledger operations for the batch's bulk. The lock is released in `settled`. */
  readonly extension = async (batch: WriteBatch): Promise<ExtensionOp[]> => {
    await this.lock.acquire();
    if (!this.state) await this.recover();
    // The store writes the last version of each record id in a batch; so does the ledger.
    const records = new Map<string, AuditRecord>();
    for (const r of batch.records) records.set(r.auditmesh.record_id, r);
    const deleted = [...new Set(batch.deletedRecords)].filter((id) => !records.has(id));
    const items: { recordId: string; version: number; hash: string; content: unknown; key: string }[] = [];
    for (const r of records.values()) {
      const hash = canonicalHash(r); // hashed as canonical UTF-8 bytes, no JSON string made
      items.push({ recordId: r.auditmesh.record_id, version: r.auditmesh.version, hash, content: r, key: versionKey(r.auditmesh.record_id, r.auditmesh.version, hash) });
    }
    if (deleted.length) {
      // Tombstone version = current version + 1 (read before the bulk deletes it). A record already
      // gone (a replayed batch) needs none: its tombstone went out with the first attempt.
      for (const [id, cur] of await this.store.getRecords(deleted)) {
        const t = tombstone(id, cur.auditmesh.version + 1);
        const hash = canonicalHash(t);
        items.push({ recordId: id, version: t.auditmesh.version, hash, content: t, key: versionKey(id, t.auditmesh.version, hash) });
      }
    }
    if (!items.length) return [];
    const found = await this.mgetSeqs(items.map((i) => i.key));
    const { chain, tent } = this.chain();
    const ops: ExtensionOp[] = [];
    const pushCp = (cp: NewCheckpoint | undefined) => {
      if (!cp) return;
      ops.push({ action: 'create', index: this.checkpointsIndex, id: padSeq(cp.seq), doc: cp });
      tent.hashes = tent.hashes.slice(cp.seq + 1 - tent.base);
      tent.base = cp.seq + 1;
    };
    const seen = new Set<string>();
    for (const it of items) {
      if (seen.has(it.key)) continue;
      seen.add(it.key);
      const f = found.get(it.key);
      if (f?.entry) {
        // Ledgered already (a replay): re-send the version only if that part of an earlier bulk failed.
        if (!f.version) ops.push(this.versionOp(it, f.entry));
        continue;
      }
      const e = chain.append(it.recordId, it.version, it.hash);
      tent.hashes.push(e.entry_hash);
      ops.push({ action: 'create', index: this.ledgerIndex, id: docId(it.key), doc: e });
      ops.push(this.versionOp(it, e.seq));
      pushCp(chain.sealIfFull());
    }
    if (chain.appended) pushCp(chain.sealIfDue());
    this.tentative = { state: chain.state, unsealed: tent.hashes };
    return ops;
  };

  private versionOp(it: { recordId: string; version: number; hash: string; content: unknown; key: string }, seq: number): ExtensionOp {
    const doc: RecordVersion = { record_id: it.recordId, version: it.version, content_hash: it.hash, seq, record: it.content };
    return { action: 'create', index: this.versionsIndex, id: docId(it.key), doc };
  }

  /** How the bulk carrying the extension's operations ended: commit or drop the tentative head. */
  readonly settled = (error?: unknown): void => {
    if (error === undefined) {
      if (this.tentative) {
        const before = this.state?.seq ?? 0;
        this.state = this.tentative.state;
        this.unsealed = this.tentative.unsealed;
        this.appended += this.state.seq - before;
      }
    } else {
      this.state = undefined;
      this.log.warn('ledger: batch write failed; the head will be re-read from elasticsearch before the next write', { error: (error as Error)?.message });
    }
    this.tentative = undefined;
    this.lock.release();
  };

  /**
   * Which keys have an entry (its seq) and a version document: real-time mgets of the entries, then
   * of the version documents of the keys that have one (a replay). A key without an entry is appended
   * whatever its version document says, so new keys, the common case, cost one lookup, not two.
   */
  private async mgetSeqs(keys: string[]): Promise<Map<string, { entry?: number; version: boolean }>> {
    const out = new Map<string, { entry?: number; version: boolean }>();
    const ledgered: string[] = [];
    for (let i = 0; i < keys.length; i += PAGE) {
      const chunk = keys.slice(i, i + PAGE);
      const docs = chunk.map((k) => ({ _index: this.ledgerIndex, _id: docId(k), _source: ['seq'] }));
      const res = await this.call('ledger: look up entries', () => this.client.mget<{ seq?: number }>({ docs, realtime: true }));
      chunk.forEach((k, j) => {
        const e = res.docs[j] as estypes.GetGetResult<{ seq?: number }>;
        const entry = e?.found ? e._source?.seq : undefined;
        if (entry === undefined) out.set(k, { version: false });
        else {
          out.set(k, { entry, version: false });
          ledgered.push(k);
        }
      });
    }
    for (let i = 0; i < ledgered.length; i += PAGE) {
      const chunk = ledgered.slice(i, i + PAGE);
      const docs = chunk.map((k) => ({ _index: this.versionsIndex, _id: docId(k), _source: false }));
      const res = await this.call('ledger: look up record versions', () => this.client.mget({ docs, realtime: true }));
      chunk.forEach((k, j) => {
        if ((res.docs[j] as estypes.GetGetResult | undefined)?.found) out.get(k)!.version = true;
      });
    }
    return out;
  }

  private async seal(force: boolean): Promise<NewCheckpoint | undefined> {
    return this.lock.run(async () => {
      if (!this.state) await this.recover();
      const { chain, tent } = this.chain();
      const cp = force ? chain.seal() : chain.sealIfDue();
      if (!cp) return undefined;
      try {
        await this.call('ledger: write checkpoint', () => this.client.create({ index: this.checkpointsIndex, id: padSeq(cp.seq), document: cp, refresh: false }));
      } catch (e) {
        this.state = undefined;
        throw e;
      }
      this.state = chain.state;
      this.unsealed = tent.hashes.slice(cp.seq + 1 - tent.base);
      this.sealed++;
      return cp;
    });
  }

  async checkpointNow(): Promise<NewCheckpoint | undefined> {
    return this.seal(true);
  }

  async tick(): Promise<NewCheckpoint | undefined> {
    return this.seal(false);
  }

  async sealedSeq(): Promise<number> {
    return this.lock.run(async () => {
      if (!this.state) await this.recover();
      return this.state!.sealedSeq;
    });
  }

  // ---- reads (search sees refreshed data: callers refresh() first) ---------------------------

  async refresh(): Promise<void> {
    await this.call('ledger: refresh', () =>
      this.client.indices.refresh({ index: [this.ledgerIndex, this.versionsIndex, this.checkpointsIndex], ignore_unavailable: true, allow_no_indices: true }),
    );
  }

  async lastSeq(): Promise<number> {
    return (await this.search<LedgerEntry>(this.ledgerIndex, { match_all: {} }, [{ seq: 'desc' }], 1))[0]?.seq ?? 0;
  }

  async entries(from: number, to: number, limit: number): Promise<LedgerEntry[]> {
    const range: estypes.QueryDslNumberRangeQuery = { gte: from };
    if (Number.isFinite(to)) range.lte = to;
    return this.search<LedgerEntry>(this.ledgerIndex, { range: { seq: range } }, [{ seq: 'asc' }, { entry_hash: 'asc' }], limit);
  }

  async seqRangeForTime(from: string | undefined, to: string | undefined): Promise<{ from: number; to: number } | undefined> {
    const range: estypes.QueryDslDateRangeQuery = {};
    if (from) range.gte = from;
    if (to) range.lt = to;
    const q: estypes.QueryDslQueryContainer = { range: { time: range } };
    const a = (await this.search<LedgerEntry>(this.ledgerIndex, q, [{ seq: 'asc' }], 1))[0];
    const b = (await this.search<LedgerEntry>(this.ledgerIndex, q, [{ seq: 'desc' }], 1))[0];
    return a && b ? { from: a.seq, to: b.seq } : undefined;
  }

  async versions(keys: string[]): Promise<Map<string, RecordVersion>> {
    const out = new Map<string, RecordVersion>();
    for (let i = 0; i < keys.length; i += PAGE) {
      const chunk = keys.slice(i, i + PAGE);
      const res = await this.call('ledger: get versions', () => this.client.mget<RecordVersion>({ docs: chunk.map((k) => ({ _index: this.versionsIndex, _id: docId(k) })), realtime: true }));
      chunk.forEach((k, j) => {
        const d = res.docs[j] as estypes.GetGetResult<RecordVersion>;
        if (d?.found && d._source) out.set(k, d._source);
      });
    }
    return out;
  }

  async versionBySeq(seq: number): Promise<RecordVersion | undefined> {
    return (await this.search<RecordVersion>(this.versionsIndex, { term: { seq } }, [{ seq: 'asc' }], 1))[0];
  }

  async entriesOfRecords(recordIds: string[]): Promise<Map<string, LedgerEntry[]>> {
    const out = new Map<string, LedgerEntry[]>();
    const ids = [...new Set(recordIds)];
    for (let i = 0; i < ids.length; i += PAGE) {
      const rows = await this.search<LedgerEntry>(this.ledgerIndex, { terms: { record_id: ids.slice(i, i + PAGE) } }, [{ seq: 'asc' }, { entry_hash: 'asc' }], Number.MAX_SAFE_INTEGER);
      for (const e of rows) (out.get(e.record_id) ?? out.set(e.record_id, []).get(e.record_id)!).push(e);
    }
    return out;
  }

  async checkpoints(from: number, to: number, limit: number): Promise<StoredCheckpoint[]> {
    const range: estypes.QueryDslNumberRangeQuery = { gte: from };
    if (Number.isFinite(to)) range.lte = to;
    const rows = await this.search<StoredCheckpoint>(this.checkpointsIndex, { range: { seq: range } }, [{ seq: 'asc' }], limit);
    return rows.map((c) => ({ seq: c.seq, jws: c.jws }));
  }

  async checkpointBefore(seq: number): Promise<StoredCheckpoint | undefined> {
    const c = (await this.search<StoredCheckpoint>(this.checkpointsIndex, { range: { seq: { lt: seq } } }, [{ seq: 'desc' }], 1))[0];
    return c ? { seq: c.seq, jws: c.jws } : undefined;
  }

  /** Every hit (at most `max`), paged with search_after. */
  private async search<T>(index: string, query: estypes.QueryDslQueryContainer, sort: estypes.SortCombinations[], max: number): Promise<T[]> {
    const out: T[] = [];
    let after: estypes.SortResults | undefined;
    while (out.length < max) {
      const size = Math.min(PAGE, max - out.length);
      const res = await this.call(`ledger: search ${index}`, () =>
        this.client.search<T>({ index, ignore_unavailable: true, allow_no_indices: true, query, sort, size, track_total_hits: false, ...(after ? { search_after: after } : {}) }),
      );
      const hits = res.hits.hits;
      for (const h of hits) out.push(h._source!);
      if (hits.length < size) break;
      after = hits[hits.length - 1]!.sort;
    }
    return out;
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw classifyRequestError(e, what);
    }
  }
}

/** A FIFO lock whose release may happen in another call (the write extension's `settled`). */
class Lock {
  private held = false;
  private readonly waiters: (() => void)[] = [];
  acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((r) => this.waiters.push(r));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.held = false;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
