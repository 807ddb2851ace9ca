import { type CheckpointPayload, entryHash, GENESIS_HASH, type LedgerEntry } from './entry';
import { merkleRoot } from './merkle';
import type { LedgerSigner } from './signing';

/** The end of the chain: the last entry (or genesis) and the last checkpoint. */
export interface ChainState {
  /** Last entry's seq (0 = empty ledger). */
  seq: number;
  /** Last entry's entry_hash (GENESIS_HASH when empty). */
  hash: string;
  /** Last entry's time in ms (0 when empty); entry times never decrease. */
  timeMs: number;
  /** Seq of the last checkpoint (0 = none yet). */
  sealedSeq: number;
  /** Time (ms) of the first entry after the last checkpoint, undefined when everything is sealed. */
  firstUnsealedMs: number | undefined;
}

export const EMPTY_CHAIN: ChainState = { seq: 0, hash: GENESIS_HASH, timeMs: 0, sealedSeq: 0, firstUnsealedMs: undefined };

/** A checkpoint made by the chain: its seq, first seq, time and the JWS. */
export interface NewCheckpoint {
  seq: number;
  first_seq: number;
  time: string;
  jws: string;
}

export interface ChainPolicy {
  /** Seal a checkpoint when this many entries are unsealed. 0 = never by count. */
  checkpointEveryEntries: number;
  /** Seal a checkpoint when the oldest unsealed entry is this old, in seconds. 0 = never by time. */
  checkpointEverySeconds: number;
}

/**
 * Appends entries to a chain state and seals checkpoints as the policy asks. Pure bookkeeping: the
 * caller persists each entry `append` returns and the `checkpoints` (inside its transaction or
 * bulk) and decides whether the new `state` becomes the committed one. `hashesOf(first, last)` must answer the entry hashes of
 * seqs first..last, including the ones appended here (the SQLite hook has inserted them already;
 * the Elasticsearch writer keeps them in memory).
 */
export class Chain {
  /** Entries appended by this chain (they are not kept: the caller persists each one as it comes). */
  appended = 0;
  readonly checkpoints: NewCheckpoint[] = [];
  state: ChainState;
  /** toISOString() of the last entry time (a batch's entries mostly share one millisecond). */
  private isoMs = Number.NaN;
  private iso = '';

  constructor(
    start: ChainState,
    private readonly policy: ChainPolicy,
    private readonly signer: LedgerSigner,
    private readonly now: () => number,
    private readonly hashesOf: (first: number, last: number) => string[],
  ) {
    this.state = { ...start };
  }

  /** Append one entry (the caller persists it before the next append or seal). */
  append(recordId: string, version: number, contentHash: string): LedgerEntry {
    // Hot path (one call per record version written): the state is owned by this chain (copied in
    // the constructor), so it is updated in place.
    const s = this.state;
    const timeMs = Math.max(this.now(), s.timeMs);
    if (timeMs !== this.isoMs) {
      this.iso = new Date(timeMs).toISOString();
      this.isoMs = timeMs;
    }
    const entry: LedgerEntry = { seq: s.seq + 1, record_id: recordId, version, content_hash: contentHash, prev_hash: s.hash, entry_hash: '', time: this.iso };
    entry.entry_hash = entryHash(entry);
    s.seq = entry.seq;
    s.hash = entry.entry_hash;
    s.timeMs = timeMs;
    s.firstUnsealedMs ??= timeMs;
    this.appended++;
    return entry;
  }

  /** Seal if the count policy asks for it (call after persisting each appended entry). */
  sealIfFull(): NewCheckpoint | undefined {
    const n = this.policy.checkpointEveryEntries;
    if (n > 0 && this.state.seq - this.state.sealedSeq >= n) return this.seal();
    return undefined;
  }

  /** Seal if the time policy asks for it. */
  sealIfDue(): NewCheckpoint | undefined {
    const t = this.policy.checkpointEverySeconds;
    const first = this.state.firstUnsealedMs;
    if (t > 0 && first !== undefined && this.state.seq > this.state.sealedSeq && this.now() - first >= t * 1000) return this.seal();
    return undefined;
  }

  /** Seal every unsealed entry now (nothing to do when all are sealed). */
  seal(): NewCheckpoint | undefined {
    const s = this.state;
    if (s.seq <= s.sealedSeq) return undefined;
    const first = s.sealedSeq + 1;
    // Fewer hashes than seqs means entries were lost or deleted: the checkpoint still seals what is
    // there (writing must not stop), and verification names the missing entries.
    const hashes = this.hashesOf(first, s.seq);
    const time = new Date(Math.max(this.now(), s.timeMs)).toISOString();
    const root = hashes.length ? merkleRoot(hashes) : GENESIS_HASH;
    const payload: CheckpointPayload = { v: 1, seq: s.seq, first_seq: first, count: s.seq - first + 1, head_hash: s.hash, merkle_root: root, time };
    const cp: NewCheckpoint = { seq: s.seq, first_seq: first, time, jws: this.signer.sign(payload) };
    this.state = { ...s, sealedSeq: s.seq, firstUnsealedMs: undefined };
    this.checkpoints.push(cp);
    return cp;
  }
}
