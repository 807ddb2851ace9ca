import { canonicalHash, jsonString, sha256Hex } from './canonical';

/**
 * The ledger's vocabulary: entries (one per written record version), record versions (the content
 * each entry hashes) and checkpoints (signed Merkle roots over intervals of entries).
 */

/** prev_hash of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** One append-only ledger entry: record `record_id` was written as `version` with this content. */
export interface LedgerEntry {
  /** 1, 2, 3, ... without gaps. */
  seq: number;
  record_id: string;
  /** The record's `auditmesh.version` (a deletion tombstone: the version after the last one). */
  version: number;
  /** SHA-256 (hex) of the canonical JSON of the full record as written (see canonical.ts). */
  content_hash: string;
  /** entry_hash of entry seq-1 (GENESIS_HASH for seq 1). */
  prev_hash: string;
  /** SHA-256 (hex) of canonical({ seq, record_id, version, content_hash, prev_hash, time }). */
  entry_hash: string;
  /** When auditmesh appended it (ISO 8601, UTC, never decreasing along seq). */
  time: string;
}

/** Everything but entry_hash: what entry_hash covers. */
export type EntryFields = Omit<LedgerEntry, 'entry_hash'>;

export function entryHash(e: EntryFields): string {
  // canonicalize() of exactly these six members, written out (keys in canonical order); the unit test
  // checks it against canonicalHash.
  if (typeof e.record_id === 'string' && typeof e.content_hash === 'string' && typeof e.prev_hash === 'string' && typeof e.time === 'string' && Number.isFinite(e.seq) && Number.isFinite(e.version)) {
    // Finite numbers print as JSON.stringify prints them.
    return sha256Hex(`{"content_hash":${jsonString(e.content_hash)},"prev_hash":${jsonString(e.prev_hash)},"record_id":${jsonString(e.record_id)},"seq":${e.seq},"time":${jsonString(e.time)},"version":${e.version}}`);
  }
  return canonicalHash({ seq: e.seq, record_id: e.record_id, version: e.version, content_hash: e.content_hash, prev_hash: e.prev_hash, time: e.time });
}

/** The content a record id is ledgered with when auditmesh deletes it (merged into another record). */
export interface Tombstone {
  auditmesh: { record_id: string; version: number; deleted: true };
}

export function tombstone(recordId: string, version: number): Tombstone {
  return { auditmesh: { record_id: recordId, version, deleted: true } };
}

export function isTombstone(content: unknown): content is Tombstone {
  const am = (content as { auditmesh?: { deleted?: unknown } } | null)?.auditmesh;
  return typeof content === 'object' && content !== null && !('@timestamp' in content) && am?.deleted === true;
}

/** content_hash of a record (or tombstone) as it is ledgered. */
export function contentHashOf(content: unknown): string {
  return canonicalHash(content);
}

/** A stored version of a record: the content an entry's content_hash is over. */
export interface RecordVersion {
  record_id: string;
  version: number;
  content_hash: string;
  /** Seq of the entry that ledgered it. */
  seq: number;
  /** The record (or tombstone) exactly as written. */
  record: unknown;
  /**
   * SQLite: the content was read from the current record, because the store keeps a record's latest
   * version only there (see sqliteLedger.ts). Undefined record = the current record is gone too.
   */
  from_current?: true;
}

/** Key of an entry / version: (record_id, version, content_hash) makes appends idempotent. */
export function versionKey(recordId: string, version: number, contentHash: string): string {
  return `${recordId}@${version}@${contentHash}`;
}

/** What a checkpoint signs (the JWS payload, canonical JSON). */
export interface CheckpointPayload {
  /** Format version. */
  v: 1;
  /** Last entry covered: the ledger had `seq` entries when this was signed. */
  seq: number;
  /** First entry of this checkpoint's interval (previous checkpoint's seq + 1). */
  first_seq: number;
  /** Entries in the interval: seq - first_seq + 1. */
  count: number;
  /** entry_hash of entry `seq` (the chain head). */
  head_hash: string;
  /** Merkle root (merkle.ts) over the entry hashes of first_seq..seq. */
  merkle_root: string;
  /** Signing time, ISO 8601. */
  time: string;
}

/** A checkpoint as stored / exported: its seq and the compact JWS. */
export interface StoredCheckpoint {
  seq: number;
  jws: string;
}

/** Zero-padded seq: sorts as text, used as an Elasticsearch `_id`. */
export function padSeq(seq: number): string {
  return String(seq).padStart(20, '0');
}
