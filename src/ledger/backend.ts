import type { LedgerEntry, RecordVersion, StoredCheckpoint } from './entry';
import type { NewCheckpoint } from './chain';

/**
 * What verification and evidence read from a ledger, whichever store keeps it. Reads return what
 * is stored, tampered or not: judging it is verify.ts's job.
 */
export interface LedgerReader {
  /** Make writes visible to the reads below (Elasticsearch refresh; a no-op for SQLite). */
  refresh(): Promise<void>;
  /** Highest seq stored, 0 when empty. */
  lastSeq(): Promise<number>;
  /**
   * Entries with from ≤ seq ≤ to in seq order, at most `limit`; page on with from = last seq + 1.
   * Two stored entries with one seq (only possible by tampering in Elasticsearch) are both returned.
   */
  entries(from: number, to: number, limit: number): Promise<LedgerEntry[]>;
  /** Seq range of the entries whose time is in [from, to) (ISO 8601); undefined when none is. */
  seqRangeForTime(from: string | undefined, to: string | undefined): Promise<{ from: number; to: number } | undefined>;
  /** Versions by versionKey(record_id, version, content_hash). */
  versions(keys: string[]): Promise<Map<string, RecordVersion>>;
  /** The version ledgered by entry `seq` (names the record of a deleted entry). */
  versionBySeq(seq: number): Promise<RecordVersion | undefined>;
  /** Every entry of each record, in seq order. */
  entriesOfRecords(recordIds: string[]): Promise<Map<string, LedgerEntry[]>>;
  /** Checkpoints with from ≤ seq ≤ to (to may be Infinity), in seq order, at most `limit`. */
  checkpoints(from: number, to: number, limit: number): Promise<StoredCheckpoint[]>;
  /** The last checkpoint with seq < `seq`. */
  checkpointBefore(seq: number): Promise<StoredCheckpoint | undefined>;
}

/** A store's ledger: the reader plus the writer's controls. */
export interface LedgerBackend extends LedgerReader {
  readonly kind: 'sqlite' | 'elasticsearch';
  /** Create tables / indices and recover the head. */
  init(): Promise<void>;
  /** Seal the entries not covered by a checkpoint yet (nothing when all are sealed). */
  checkpointNow(): Promise<NewCheckpoint | undefined>;
  /** Seal when the time policy asks (called by the ledger's timer). */
  tick(): Promise<NewCheckpoint | undefined>;
  /** Seq of the last committed checkpoint, 0 when none. */
  sealedSeq(): Promise<number>;
}
