import type Database from 'better-sqlite3';
import type { WriteBatch } from '../model/record';
import type { LedgerBackend } from './backend';
import { Chain, type ChainPolicy, type ChainState, EMPTY_CHAIN, type NewCheckpoint } from './chain';
import { canonicalForm, canonicalize } from './canonical';
import { contentHashOf, type LedgerEntry, type RecordVersion, type StoredCheckpoint, tombstone } from './entry';
import type { LedgerSigner } from './signing';

/**
 * The ledger of the embedded store, in the store's own SQLite file:
 *
 * - `ledger_entries` (seq primary key),
 * - `record_versions` (seq primary key, index on record_id): one small row per version (record id,
 *   version, content hash), so a record's history survives its amendments;
 * - `record_version_docs` (seq primary key): the content of every version that is no longer the
 *   current record. A record's LATEST version is not stored twice: it has no document row, meaning
 *   "the current record in `records`" (the store's own row; the brief's "the current record is the
 *   latest version"). When a batch amends or deletes the record, the hook — which runs BEFORE the
 *   batch's record rows (SqliteStore `{ before: true }`) — first copies the current document into a
 *   new document row for that version, so every superseded version keeps its content. An earlier
 *   write of the same id within one batch gets its document row directly. The documents are appended
 *   to a table of their own rather than filled into the version rows: growing a small row in place
 *   by a few KiB splits pages of a table of small rows, which cost ~10 % of ingest throughput where
 *   records are amended (bench/ledger.mjs `raw_pipeline`); an append does not. Files written before
 *   this table existed keep superseded documents in `record_versions.doc`, which is still read.
 *   Trade-off: an edit of the current row behind auditmesh's back is detected (its hash no longer
 *   matches the latest entry) but the edited row was the only copy of that latest version's content;
 *   older versions are unaffected.
 * - `ledger_checkpoints` (seq primary key): the signed checkpoints.
 *
 * Both big tables are keyed by seq, so every insert appends at the end of its B-tree. The one
 * secondary index is on record_id alone (a record has a few versions: the idempotency check by
 * (record_id, version, content_hash) and the lookups by record read those few rows); the short key
 * keeps the index small, which measurably matters for a random-order B-tree on the write path.
 *
 * `hook` runs inside each batch's transaction, before the batch's record rows: it reads the head, chains,
 * inserts entries, versions and due checkpoints; all of it commits with the batch or none of it does.
 * Nothing is cached between transactions, so a rolled-back batch leaves no trace, and several
 * processes may write the same file: the hook's first statement takes SQLite's write lock (waiting
 * busy_timeout for another writer) before it reads the head, so no two writers chain on one head.
 *
 * Per batch the hook does: one query for what is ledgered already of the batch's record ids; per
 * record one canonical serialization that yields both the hash and the document the store then
 * writes (`serializeRecord`); two inserts per entry (positional parameters); a copy of the current
 * document into a document row per amended record. bench/ledger.mjs measures what it costs.
 */
/** A version's content is the current `records` row: no document of its own (legacy files: `record_versions.doc`). */
const IN_RECORDS = '(v.doc IS NULL AND NOT EXISTS (SELECT 1 FROM record_version_docs d WHERE d.seq = v.seq))';
/** A version row with its document, if it has one (NULL: the current `records` row). */
const VERSION_ROW = 'SELECT v.record_id, v.version, v.content_hash, v.seq, COALESCE(d.doc, v.doc) AS doc FROM record_versions v LEFT JOIN record_version_docs d ON d.seq = v.seq';

export class SqliteLedger implements LedgerBackend {
  readonly kind = 'sqlite' as const;
  private stmts!: ReturnType<SqliteLedger['prepare']>;
  /** Entries appended by hooks since the process started (for metrics). */
  appended = 0;
  /** Checkpoints sealed inside transactions that may still roll back; exporters read committed ones. */
  sealed = 0;
  /** Time spent in the hook, ms (what the ledger costs the write path; bench/ledger.mjs reports it). */
  hookMs = 0;
  /** The records of the batch being written and their canonical JSON (same index), for `serializeRecord`. */
  private batchRecords: readonly object[] = [];
  private batchDocs: string[] = [];
  /** Index of the record the store serializes next (it writes them in batch order). */
  private cursor = 0;

  /**
   * The store's record serializer (SqliteStore.setRecordSerializer): the canonical JSON the hook
   * computed moments before (same transaction), so the store does not serialize the record again.
   * Stored documents are thus canonical JSON (sorted keys); any JSON reader sees the same record.
   */
  readonly serializeRecord = (r: object): string => {
    const i = this.cursor;
    if (this.batchRecords[i] === r) {
      this.cursor = i + 1;
      const doc = this.batchDocs[i]!;
      this.batchDocs[i] = ''; // handed over: garbage once the store has bound it (less for the GC to copy)
      return doc;
    }
    return canonicalize(r); // not the hook's next record (another order): the same JSON, computed again
  };

  /** After-hook (SqliteStore.addTransactionHook): drop the batch's documents once its rows are written. */
  readonly release = (): void => {
    this.batchRecords = [];
    this.batchDocs = [];
    this.cursor = 0;
  };

  constructor(
    private readonly db: Database.Database,
    private readonly signer: LedgerSigner,
    private readonly policy: ChainPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  async init(): Promise<void> {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS ledger_entries (
        seq INTEGER PRIMARY KEY, record_id TEXT NOT NULL, version INTEGER NOT NULL, content_hash TEXT NOT NULL,
        prev_hash TEXT NOT NULL, entry_hash TEXT NOT NULL, time TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS record_versions (
        seq INTEGER PRIMARY KEY, record_id TEXT NOT NULL, version INTEGER NOT NULL, content_hash TEXT NOT NULL, doc TEXT);
      CREATE INDEX IF NOT EXISTS record_versions_record ON record_versions(record_id);
      CREATE TABLE IF NOT EXISTS record_version_docs (seq INTEGER PRIMARY KEY, doc TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS ledger_checkpoints (seq INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL, time TEXT NOT NULL, jws TEXT NOT NULL);
    `);
    this.stmts = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      head: db.prepare('SELECT seq, entry_hash, time FROM ledger_entries ORDER BY seq DESC LIMIT 1'),
      lastCp: db.prepare('SELECT seq FROM ledger_checkpoints ORDER BY seq DESC LIMIT 1'),
      firstAfter: db.prepare('SELECT time FROM ledger_entries WHERE seq > ? ORDER BY seq LIMIT 1'),
      latestOf: db.prepare('SELECT version, content_hash FROM record_versions WHERE record_id = ? ORDER BY seq DESC LIMIT 1'),
      putEntry: db.prepare('INSERT INTO ledger_entries(seq, record_id, version, content_hash, prev_hash, entry_hash, time) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      // A no-op write: takes the write lock (waiting for another writer) before anything is read.
      lock: db.prepare('UPDATE ledger_checkpoints SET seq = seq WHERE 0'),
      versionsOf: db.prepare(`SELECT v.seq, v.version, v.content_hash, ${IN_RECORDS} AS in_records FROM record_versions v WHERE v.record_id = ?`),
      // The same for many ids (a JSON array): one statement per batch, each id looked up in the index.
      versionsOfMany: db.prepare(`SELECT v.record_id, v.seq, v.version, v.content_hash, ${IN_RECORDS} AS in_records FROM record_versions v WHERE v.record_id IN (SELECT value FROM json_each(?))`),
      // The record's current document becomes the content of its latest version (about to be replaced).
      keepCurrent: db.prepare('INSERT INTO record_version_docs(seq, doc) SELECT ?, doc FROM records WHERE id = ?'),
      putVersion: db.prepare('INSERT INTO record_versions(seq, record_id, version, content_hash) VALUES (?, ?, ?, ?)'),
      putDoc: db.prepare('INSERT INTO record_version_docs(seq, doc) VALUES (?, ?)'),
      putCp: db.prepare('INSERT INTO ledger_checkpoints(seq, first_seq, time, jws) VALUES (@seq, @first_seq, @time, @jws)'),
      hashes: db.prepare('SELECT entry_hash FROM ledger_entries WHERE seq >= ? AND seq <= ? ORDER BY seq').pluck(),
      entries: db.prepare('SELECT seq, record_id, version, content_hash, prev_hash, entry_hash, time FROM ledger_entries WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?'),
      entryAtOrAfterTime: db.prepare('SELECT seq, time FROM ledger_entries WHERE seq >= ? ORDER BY seq LIMIT 1'),
      versionBySeq: db.prepare(`${VERSION_ROW} WHERE v.seq = ?`),
      version: db.prepare(`${VERSION_ROW} WHERE v.record_id = ? AND v.version = ? AND v.content_hash = ?`),
      currentDoc: db.prepare('SELECT doc FROM records WHERE id = ?').pluck(),
      // Entries of a record, found through its versions (the entry table has no record index). An entry
      // whose version row is gone is still walked by verification, which reports the missing version.
      entriesOf: db.prepare(`SELECT e.seq, e.record_id, e.version, e.content_hash, e.prev_hash, e.entry_hash, e.time
        FROM record_versions v JOIN ledger_entries e ON e.seq = v.seq WHERE v.record_id = ? ORDER BY e.seq`),
      checkpoints: db.prepare('SELECT seq, jws FROM ledger_checkpoints WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?'),
      cpBefore: db.prepare('SELECT seq, jws FROM ledger_checkpoints WHERE seq < ? ORDER BY seq DESC LIMIT 1'),
    };
  }

  /** The transaction hook (before the batch's record rows and deletions): ledger every new record version and deletion. */
  readonly hook = (_db: Database.Database, batch: WriteBatch): void => {
    if (!batch.records.length && !batch.deletedRecords.length) return;
    const t0 = performance.now();
    try {
      this.ledgerBatch(batch);
    } finally {
      this.hookMs += performance.now() - t0;
    }
  };

  private ledgerBatch(batch: WriteBatch): void {
    const s = this.stmts;
    s.lock.run();
    let chain: Chain | undefined;
    const known = this.knownVersions(batch.records);
    /** Ids whose pre-batch document was moved into its version row already. */
    const kept = new Set<string>();
    /** `doc` null = the content is the record's row in `records` (its latest write in this batch). */
    const append = (recordId: string, version: number, contentHash: string, doc: string | null) => {
      let versions = known.get(recordId);
      if (versions === undefined) known.set(recordId, (versions = s.versionsOf.all(recordId) as KnownVersion[]));
      let same = false;
      let replaced = false;
      for (const k of versions) {
        if (k.version === version && k.content_hash === contentHash) same = true;
        else if (k.in_records) replaced = true;
      }
      // The current row is about to be replaced by other content (an amendment, a deletion, or even an
      // older version written again): its version keeps the current document.
      if (replaced && !kept.has(recordId)) {
        kept.add(recordId);
        for (const k of versions) {
          if (!k.in_records) continue;
          s.keepCurrent.run(k.seq, recordId);
          k.in_records = 0;
        }
      }
      // Ledgered already (a replay, or a record written again unchanged): nothing to append.
      if (same) return;
      chain ??= this.chain();
      const e = chain.append(recordId, version, contentHash);
      s.putVersion.run(e.seq, recordId, version, contentHash);
      if (doc !== null) s.putDoc.run(e.seq, doc);
      s.putEntry.run(e.seq, recordId, version, contentHash, e.prev_hash, e.entry_hash, e.time);
      versions.push({ seq: e.seq, version, content_hash: contentHash, in_records: doc === null ? 1 : 0 });
      this.appended++;
      const cp = chain.sealIfFull();
      if (cp) this.insertCheckpoint(cp);
    };
    // The store applies the batch's writes in order: the last write of an id is its current row.
    const records = batch.records;
    this.batchRecords = records;
    this.batchDocs = new Array<string>(records.length);
    this.cursor = 0;
    const lastWrite = new Map<string, number>();
    for (let i = 0; i < records.length; i++) lastWrite.set(records[i]!.auditmesh.record_id, i);
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const { json, hash } = canonicalForm(r);
      this.batchDocs[i] = json;
      const id = r.auditmesh.record_id;
      append(id, r.auditmesh.version, hash, lastWrite.get(id) === i ? null : json);
    }
    if (batch.deletedRecords.length) {
      for (const id of new Set(batch.deletedRecords)) {
        if (lastWrite.has(id)) continue; // deleted and written in one batch: the record survives
        const latest = s.latestOf.get(id) as { version: number; content_hash: string } | undefined;
        if (!latest) continue; // never ledgered (written before the ledger existed)
        if (latest.content_hash === contentHashOf(tombstone(id, latest.version))) continue; // already a tombstone
        const t = tombstone(id, latest.version + 1);
        const { json, hash } = canonicalForm(t);
        append(id, t.auditmesh.version, hash, json);
      }
    }
    if (chain) {
      const cp = (chain as Chain).sealIfDue();
      if (cp) this.insertCheckpoint(cp);
    }
  }

  /** The versions ledgered already of the records' ids, in one query (not one per record). */
  private knownVersions(records: WriteBatch['records']): Map<string, KnownVersion[]> {
    const known = new Map<string, KnownVersion[]>();
    if (!records.length) return known;
    for (const r of records) known.set(r.auditmesh.record_id, []);
    for (const row of this.stmts.versionsOfMany.all(JSON.stringify([...known.keys()])) as (KnownVersion & { record_id: string })[]) known.get(row.record_id)!.push(row);
    return known;
  }

  private chain(): Chain {
    return new Chain(this.readState(), this.policy, this.signer, this.now, (a, b) => this.stmts.hashes.all(a, b) as string[]);
  }

  private readState(): ChainState {
    const head = this.stmts.head.get() as { seq: number; entry_hash: string; time: string } | undefined;
    if (!head) return { ...EMPTY_CHAIN };
    const sealedSeq = (this.stmts.lastCp.get() as { seq: number } | undefined)?.seq ?? 0;
    const first = sealedSeq < head.seq ? (this.stmts.firstAfter.get(sealedSeq) as { time: string } | undefined) : undefined;
    return { seq: head.seq, hash: head.entry_hash, timeMs: Date.parse(head.time) || 0, sealedSeq, firstUnsealedMs: first ? Date.parse(first.time) || 0 : undefined };
  }

  private insertCheckpoint(cp: NewCheckpoint): void {
    this.stmts.putCp.run(cp);
    this.sealed++;
  }

  private seal(force: boolean): NewCheckpoint | undefined {
    // IMMEDIATE: take the write lock before reading the head (another process may be writing).
    return this.db
      .transaction(() => {
        const chain = this.chain();
        const cp = force ? chain.seal() : chain.sealIfDue();
        if (cp) this.insertCheckpoint(cp);
        return cp;
      })
      .immediate();
  }

  async checkpointNow(): Promise<NewCheckpoint | undefined> {
    return this.seal(true);
  }

  async tick(): Promise<NewCheckpoint | undefined> {
    return this.seal(false);
  }

  async sealedSeq(): Promise<number> {
    return (this.stmts.lastCp.get() as { seq: number } | undefined)?.seq ?? 0;
  }

  // ---- reads ---------------------------------------------------------------------------------

  async refresh(): Promise<void> {
    /* SQLite reads see committed writes. */
  }

  async lastSeq(): Promise<number> {
    return (this.stmts.head.get() as { seq: number } | undefined)?.seq ?? 0;
  }

  async entries(from: number, to: number, limit: number): Promise<LedgerEntry[]> {
    return this.stmts.entries.all(from, clampSeq(to), limit) as LedgerEntry[];
  }

  async seqRangeForTime(from: string | undefined, to: string | undefined): Promise<{ from: number; to: number } | undefined> {
    const last = await this.lastSeq();
    if (!last) return undefined;
    // Entry times never decrease along seq: binary search on the primary key, no time index.
    const firstAtOrAfter = (iso: string): number => {
      let lo = 1, hi = last + 1;
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2);
        const row = this.stmts.entryAtOrAfterTime.get(mid) as { seq: number; time: string } | undefined;
        if (!row || row.time >= iso) hi = mid;
        else lo = Math.max(mid + 1, row.seq + 1);
      }
      return lo;
    };
    const a = from ? firstAtOrAfter(from) : 1;
    const b = to ? firstAtOrAfter(to) - 1 : last;
    return a <= b ? { from: a, to: b } : undefined;
  }

  async versions(keys: string[]): Promise<Map<string, RecordVersion>> {
    const out = new Map<string, RecordVersion>();
    for (const k of keys) {
      const [rid, v, h] = splitKey(k);
      const row = this.stmts.version.get(rid, v, h) as VersionRow | undefined;
      if (row) out.set(k, this.toVersion(row));
    }
    return out;
  }

  async versionBySeq(seq: number): Promise<RecordVersion | undefined> {
    const row = this.stmts.versionBySeq.get(seq) as VersionRow | undefined;
    return row ? this.toVersion(row) : undefined;
  }

  private toVersion(r: VersionRow): RecordVersion {
    const base = { record_id: r.record_id, version: r.version, content_hash: r.content_hash, seq: r.seq };
    if (r.doc !== null) return { ...base, record: parseDoc(r.doc) };
    const cur = this.stmts.currentDoc.get(r.record_id) as string | undefined;
    return { ...base, record: cur === undefined ? undefined : parseDoc(cur), from_current: true };
  }

  async entriesOfRecords(recordIds: string[]): Promise<Map<string, LedgerEntry[]>> {
    const out = new Map<string, LedgerEntry[]>();
    for (const id of new Set(recordIds)) {
      const rows = this.stmts.entriesOf.all(id) as LedgerEntry[];
      if (rows.length) out.set(id, rows);
    }
    return out;
  }

  async checkpoints(from: number, to: number, limit: number): Promise<StoredCheckpoint[]> {
    return this.stmts.checkpoints.all(from, clampSeq(to), limit) as StoredCheckpoint[];
  }

  async checkpointBefore(seq: number): Promise<StoredCheckpoint | undefined> {
    return this.stmts.cpBefore.get(seq) as StoredCheckpoint | undefined;
  }
}

/** A version of a record id ledgered already; in_records = its content is the current `records` row. */
interface KnownVersion {
  seq: number;
  version: number;
  content_hash: string;
  in_records: number;
}

interface VersionRow {
  record_id: string;
  version: number;
  content_hash: string;
  seq: number;
  doc: string | null;
}

function parseDoc(doc: string): unknown {
  try {
    return JSON.parse(doc);
  } catch {
    return doc; // unparseable: verification reports the hash mismatch
  }
}

/** versionKey → its parts (record ids may contain '@'; version and hash never do). */
export function splitKey(k: string): [string, number, string] {
  const b = k.lastIndexOf('@');
  const a = k.lastIndexOf('@', b - 1);
  return [k.slice(0, a), Number(k.slice(a + 1, b)), k.slice(b + 1)];
}

function clampSeq(n: number): number {
  return Number.isFinite(n) ? n : Number.MAX_SAFE_INTEGER;
}
