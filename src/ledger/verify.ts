import type * as jose from 'jose';
import type { AuditRecord, AuditStore } from '../model/record';
import type { LedgerReader } from './backend';
import { contentHashOf, entryHash, GENESIS_HASH, type LedgerEntry, type StoredCheckpoint, versionKey } from './entry';
import { merkleRoot } from './merkle';
import { type CheckpointCheck, decodeCheckpoint, verifyCheckpoint } from './signing';

/**
 * Verification of a stored ledger (`GET /v1/ledger/verify`): re-hash every entry in the range and
 * check the chain links, re-hash every stored record version against its entry, compare each current
 * record with its latest ledgered version, verify every checkpoint's signature against the trusted
 * keys and its head hash and Merkle root against the entries, and, when checkpoints were exported
 * (ledger.exportDir), compare the stored checkpoints with the exported ones.
 *
 * Reasons (stable, snake_case):
 * - `entry_missing`: no entry with this seq (deleted, or the tail was cut: a checkpoint or the export covers it);
 * - `entry_duplicate`: a second entry with this seq;
 * - `entry_altered`: the entry's fields do not hash to its entry_hash, or the next entry's prev_hash
 *   does not match it (its fields and hash were both rewritten);
 * - `chain_broken`: prev_hash does not link to the previous entry and neither entry is the altered one;
 * - `version_missing` / `version_altered`: the stored record version is gone, or does not hash to
 *   the entry's content_hash;
 * - `record_missing` / `record_altered` / `record_not_deleted`: the current record is gone, differs from
 *   its latest ledgered version, or exists although its latest entry is a deletion;
 * - `checkpoint_invalid` (signature or key), `checkpoint_mismatch` (head hash, Merkle root, count or seq
 *   disagree with the entries), `checkpoint_missing` (named by the seq it ended at: the next one starts
 *   after a gap), `checkpoint_not_in_store` / `checkpoint_differs_from_export` (against the export).
 *
 * `first_broken` is the lowest-seq problem of the ledger itself (entries, versions, checkpoints); only
 * when the ledger is intact does it name a current-record problem (a deleted entry also makes its
 * record disagree with an older entry, but the entry is the broken thing).
 */

export interface VerifyRange {
  fromSeq?: number;
  toSeq?: number;
  /** ISO 8601; from inclusive, to exclusive. */
  fromTime?: string;
  toTime?: string;
}

/** Every `Problem.reason` (documented in the OpenAPI document of GET /v1/ledger/verify). */
export const PROBLEM_REASONS = [
  'entry_missing', 'entry_duplicate', 'entry_altered', 'chain_broken', 'version_missing', 'version_altered',
  'record_missing', 'record_altered', 'record_not_deleted', 'checkpoint_invalid', 'checkpoint_mismatch',
  'checkpoint_missing', 'checkpoint_not_in_store', 'checkpoint_differs_from_export',
] as const;
export type ProblemReason = (typeof PROBLEM_REASONS)[number];

export interface Problem {
  seq: number;
  record_id?: string;
  reason: ProblemReason;
  detail: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Seq range walked (widened to whole checkpoint intervals); null when the range holds no entry. */
  range: { from: number; to: number } | null;
  checked: { entries: number; versions: number; records: number; checkpoints: number };
  /** Records gone by retention (their first version's day is past elasticsearch.retentionDays). */
  expired_records: number;
  /** Entries after the last checkpoint (not yet signed; sealed on the next checkpoint). */
  unsealed_entries: number;
  first_broken?: Problem;
  /** The first problems (at most 100), in seq order. */
  problems: Problem[];
  problem_count: number;
}

export interface VerifyOptions {
  /** Checkpoints from the export (file / Kafka), the copy the store's administrators cannot rewrite. */
  exported?: StoredCheckpoint[];
  /**
   * Elasticsearch retention (elasticsearch.retentionDays > 0): daily record indices older than this
   * are deleted by auditmesh, so a record first written on such a day is expired, not missing.
   */
  retentionDays?: number;
  /** Clock, for the retention cut-off. */
  now?: () => Date;
  /** Yield to the event loop between pages (default true). */
  yieldEvery?: boolean;
}

const PAGE = 1000;
const MAX_PROBLEMS = 1000;
const RECORD_REASONS = new Set<string>(['record_missing', 'record_altered', 'record_not_deleted']);

class Problems {
  readonly list: Problem[] = [];
  count = 0;
  private readonly seen = new Set<string>();
  add(p: Problem): void {
    const k = `${p.seq}|${p.reason}`;
    if (this.seen.has(k)) return;
    this.seen.add(k);
    this.count++;
    if (this.list.length < MAX_PROBLEMS) this.list.push(p);
  }
  first(): Problem | undefined {
    const byLedger = this.list.filter((p) => !RECORD_REASONS.has(p.reason));
    const pool = byLedger.length ? byLedger : this.list;
    return pool.reduce<Problem | undefined>((a, p) => (!a || p.seq < a.seq ? p : a), undefined);
  }
}

export async function verifyLedger(reader: LedgerReader, store: Pick<AuditStore, 'getRecords'>, keys: jose.JSONWebKeySet, range: VerifyRange = {}, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const problems = new Problems();
  const checked = { entries: 0, versions: 0, records: 0, checkpoints: 0 };
  await reader.refresh();
  const last = await reader.lastSeq();
  const lastCp = await reader.checkpointBefore(Number.MAX_SAFE_INTEGER);
  const exported = new Map((opts.exported ?? []).map((c) => [c.seq, c.jws]));
  const maxExported = Math.max(0, ...exported.keys());
  const whole = range.fromSeq === undefined && range.toSeq === undefined && range.fromTime === undefined && range.toTime === undefined;

  let from: number;
  let to: number;
  if (range.fromTime !== undefined || range.toTime !== undefined) {
    const r = await reader.seqRangeForTime(range.fromTime, range.toTime);
    if (!r) return result(null, checked, 0, problems);
    from = r.from;
    to = r.to;
  } else {
    from = Math.max(1, range.fromSeq ?? 1);
    // The whole ledger ends where the entries, the stored checkpoints or the exported ones end:
    // a checkpoint beyond the last entry means the tail was cut.
    to = range.toSeq ?? (whole ? Math.max(last, lastCp?.seq ?? 0, maxExported) : last);
  }
  if (to < from) return result(null, checked, 0, problems);

  // Widen to whole checkpoint intervals, so every checkpoint in range can be checked.
  const before = await reader.checkpointBefore(from);
  const start = before ? Math.min(from, boundsOf(before).seq + 1) : 1;
  const cps: StoredCheckpoint[] = [];
  for (let f = start; ; ) {
    const page = await reader.checkpoints(f, Number.POSITIVE_INFINITY, PAGE);
    let done = page.length < PAGE;
    for (const c of page) {
      cps.push(c);
      if (c.seq >= to) {
        done = true;
        break;
      }
    }
    if (done || !page.length) break;
    f = page[page.length - 1]!.seq + 1;
  }
  const end = Math.max(to, cps.length ? cps[cps.length - 1]!.seq : 0);

  // Checkpoints: signatures first (independent of the entries).
  const checks = new Map<StoredCheckpoint, CheckpointCheck>();
  for (const c of cps) checks.set(c, await verifyCheckpoint(c.jws, keys));
  let prevCpSeq = before ? boundsOf(before).seq : 0;
  if (before && start > 1) {
    const b = await verifyCheckpoint(before.jws, keys);
    if (b.ok) prevCpSeq = b.payload.seq;
  }

  // Walk the entries interval by interval: hashes of the current interval only are kept.
  let cpIdx = 0;
  let interval = new Map<number, { hash: string; record_id: string }>();
  let prevHash: string | undefined;
  let prevEntry: LedgerEntry | undefined;
  if (start > 1) {
    const p = (await reader.entries(start - 1, start - 1, 2))[0];
    if (p) {
      prevHash = entryHash(p);
      prevEntry = p;
    }
  } else prevHash = GENESIS_HASH;
  let expected = start;
  const recordsBeyond = new Set<string>();
  let expiredCount = 0;

  const checkCheckpointsUpTo = async (seq: number) => {
    while (cpIdx < cps.length && cps[cpIdx]!.seq <= seq) {
      const c = cps[cpIdx++]!;
      checked.checkpoints++;
      const chk = checks.get(c)!;
      const at = interval.get(c.seq);
      const rid = at?.record_id;
      const base = { seq: c.seq, ...(rid ? { record_id: rid } : {}) };
      const exp = exported.get(c.seq);
      if (exp !== undefined && exp !== c.jws) problems.add({ ...base, reason: 'checkpoint_differs_from_export', detail: `the stored checkpoint ${c.seq} is not the one exported` });
      if (!chk.ok) {
        problems.add({ ...base, reason: 'checkpoint_invalid', detail: `checkpoint ${c.seq}: ${chk.reason}` });
        prevCpSeq = c.seq;
        continue;
      }
      const p = chk.payload;
      const bad = (detail: string) => problems.add({ ...base, reason: 'checkpoint_mismatch', detail: `checkpoint ${c.seq}: ${detail}` });
      if (p.seq !== c.seq) bad(`is stored as ${c.seq} but signs seq ${p.seq}`);
      if (p.first_seq > prevCpSeq + 1) {
        // The checkpoint that ended at first_seq - 1 is gone.
        const gone = p.first_seq - 1;
        const rec = interval.get(gone)?.record_id;
        problems.add({ seq: gone, ...(rec ? { record_id: rec } : {}), reason: 'checkpoint_missing', detail: `no checkpoint ends at ${gone}: checkpoint ${p.seq} starts at ${p.first_seq}, the previous one ends at ${prevCpSeq}` });
      } else if (p.first_seq < prevCpSeq + 1) {
        problems.add({ ...base, reason: 'checkpoint_mismatch', detail: `checkpoint ${p.seq} starts at ${p.first_seq}, inside the previous one (ends at ${prevCpSeq})` });
      }
      if (p.count !== p.seq - p.first_seq + 1) bad(`count ${p.count} does not match ${p.first_seq}..${p.seq}`);
      if (at && at.hash !== p.head_hash) bad(`head hash differs from entry ${p.seq}`);
      const leaves: string[] = [];
      for (let s = p.first_seq; s <= p.seq; s++) {
        const h = interval.get(s);
        if (h) leaves.push(h.hash);
      }
      if (leaves.length === p.count && leaves.length > 0) {
        if (merkleRoot(leaves) !== p.merkle_root) bad('Merkle root differs from the entries it covers');
      } else bad(`covers ${p.count} entries, ${leaves.length} found`);
      prevCpSeq = p.seq;
      interval = new Map([...interval].filter(([s]) => s > c.seq));
    }
  };

  for (let f = start; f <= end; ) {
    const page = await reader.entries(f, end, PAGE);
    if (!page.length) break;
    const pageIds = new Set<string>();
    const vKeys = new Map<string, LedgerEntry>();
    for (const e of page) {
      if (e.seq < expected) {
        problems.add({ seq: e.seq, record_id: e.record_id, reason: 'entry_duplicate', detail: `a second entry with seq ${e.seq}` });
        continue;
      }
      if (expected < e.seq) {
        // Entries expected..e.seq-1 are gone: name each of a short run, the first of a long one.
        if (e.seq - expected > 100) await missing(reader, problems, expected, e.seq - 1);
        else for (let s = expected; s < e.seq; s++) await missing(reader, problems, s);
        expected = e.seq;
        prevHash = undefined; // nothing to link to across the gap
      }
      checked.entries++;
      const h = entryHash(e);
      const selfOk = h === e.entry_hash;
      if (!selfOk) problems.add({ seq: e.seq, record_id: e.record_id, reason: 'entry_altered', detail: `entry ${e.seq} does not hash to its entry_hash` });
      if (prevHash !== undefined && e.prev_hash !== prevHash) {
        if (selfOk && prevEntry && prevEntry.seq === e.seq - 1) {
          problems.add({ seq: prevEntry.seq, record_id: prevEntry.record_id, reason: 'entry_altered', detail: `entry ${prevEntry.seq} is not the entry that entry ${e.seq} was chained to` });
        } else if (selfOk) {
          problems.add({ seq: e.seq, record_id: e.record_id, reason: 'chain_broken', detail: `prev_hash of entry ${e.seq} does not link to entry ${e.seq - 1}` });
        }
      }
      prevHash = h;
      prevEntry = e;
      expected = e.seq + 1;
      interval.set(e.seq, { hash: h, record_id: e.record_id });
      vKeys.set(versionKey(e.record_id, e.version, e.content_hash), e);
      pageIds.add(e.record_id);
    }
    const all = await reader.entriesOfRecords([...pageIds]);
    const latestSeq = (rid: string) => {
      const es = all.get(rid);
      return es?.length ? es[es.length - 1]!.seq : undefined;
    };
    // Stored versions: each must hash to its entry's content_hash.
    const versions = await reader.versions([...vKeys.keys()]);
    for (const [k, e] of vKeys) {
      const v = versions.get(k);
      checked.versions++;
      if (!v) problems.add({ seq: e.seq, record_id: e.record_id, reason: 'version_missing', detail: `version ${e.version} of record ${e.record_id} is not stored` });
      else if (v.from_current) {
        // Kept only as the current record: the record check below judges the latest version; an
        // older version without content of its own has lost it.
        if (latestSeq(e.record_id) !== e.seq) problems.add({ seq: e.seq, record_id: e.record_id, reason: 'version_missing', detail: `the content of version ${e.version} of record ${e.record_id} was not kept` });
      } else if (contentHashOf(v.record) !== e.content_hash) problems.add({ seq: e.seq, record_id: e.record_id, reason: 'version_altered', detail: `stored version ${e.version} of record ${e.record_id} does not hash to the entry's content_hash` });
    }
    // Current records: each must equal its latest ledgered version (or be absent after a deletion).
    const toCheck: LedgerEntry[] = [];
    const lastOfPage = page[page.length - 1]!.seq;
    for (const [rid, es] of all) {
      const latest = es[es.length - 1]!;
      if (latest.seq >= f && latest.seq <= lastOfPage) toCheck.push(latest);
      else if (latest.seq > end && !recordsBeyond.has(rid)) {
        recordsBeyond.add(rid);
        toCheck.push(latest);
      }
    }
    const current = toCheck.length ? await store.getRecords(toCheck.map((e) => e.record_id)) : new Map<string, AuditRecord>();
    const isDeletion = (e: LedgerEntry) => e.content_hash === contentHashOf(tombstoneOf(e));
    const gone = toCheck.filter((e) => !current.has(e.record_id) && !isDeletion(e));
    const expired = await expiredByRetention(reader, opts, gone.map((e) => all.get(e.record_id)![0]!));
    for (const e of toCheck) {
      if (expired.has(e.record_id)) {
        expiredCount++;
        continue;
      }
      checked.records++;
      const cur = current.get(e.record_id);
      const deleted = isDeletion(e);
      if (deleted) {
        if (cur) problems.add({ seq: e.seq, record_id: e.record_id, reason: 'record_not_deleted', detail: `record ${e.record_id} exists although entry ${e.seq} deleted it` });
      } else if (!cur) problems.add({ seq: e.seq, record_id: e.record_id, reason: 'record_missing', detail: `record ${e.record_id} (version ${e.version}, entry ${e.seq}) is not in the store` });
      else if (contentHashOf(cur) !== e.content_hash) problems.add({ seq: e.seq, record_id: e.record_id, reason: 'record_altered', detail: `record ${e.record_id} differs from version ${e.version} ledgered by entry ${e.seq}` });
    }
    await checkCheckpointsUpTo(lastOfPage);
    f = lastOfPage + 1;
    if (opts.yieldEvery !== false) await new Promise((r) => setImmediate(r));
  }
  if (expected <= end) {
    if (end - expected > 100) await missing(reader, problems, expected, end);
    else for (let s = expected; s <= end; s++) await missing(reader, problems, s);
  }
  await checkCheckpointsUpTo(Number.MAX_SAFE_INTEGER);

  // Exported checkpoints the store no longer has (a rewritten or truncated ledger).
  const stored = new Set(cps.map((c) => c.seq));
  for (const [seq] of exported) {
    if (seq >= start && seq <= end && !stored.has(seq)) problems.add({ seq, reason: 'checkpoint_not_in_store', detail: `exported checkpoint ${seq} is missing from the store` });
  }
  const sealed = Math.max(lastCp ? boundsOf(lastCp).seq : 0, 0);
  return result({ from: start, to: end }, checked, Math.max(0, last - sealed), problems, expiredCount);
}

/**
 * Records (by their FIRST entry) whose first version's @timestamp falls on a UTC day that retention
 * has deleted: the Elasticsearch store keeps a record in the daily index of its first write.
 */
async function expiredByRetention(reader: LedgerReader, opts: VerifyOptions, firstEntries: LedgerEntry[]): Promise<Set<string>> {
  const out = new Set<string>();
  const days = opts.retentionDays ?? 0;
  if (days <= 0 || !firstEntries.length) return out;
  const now = (opts.now ?? (() => new Date()))();
  const cutoff = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - days * 86_400_000;
  const versions = await reader.versions(firstEntries.map((e) => versionKey(e.record_id, e.version, e.content_hash)));
  for (const e of firstEntries) {
    const v = versions.get(versionKey(e.record_id, e.version, e.content_hash));
    const ts = Date.parse(String((v?.record as { '@timestamp'?: unknown } | undefined)?.['@timestamp'] ?? ''));
    if (!Number.isFinite(ts)) continue;
    const day = Date.UTC(new Date(ts).getUTCFullYear(), new Date(ts).getUTCMonth(), new Date(ts).getUTCDate());
    if (day < cutoff) out.add(e.record_id);
  }
  return out;
}

/** Tombstone of the entry's record at the entry's version, to recognise deletions by their hash. */
function tombstoneOf(e: LedgerEntry): unknown {
  return { auditmesh: { record_id: e.record_id, version: e.version, deleted: true } };
}

async function missing(reader: LedgerReader, problems: Problems, seq: number, through = seq): Promise<void> {
  // The version table still names the record whose entry was deleted (when only the entry was).
  const v = problems.count < MAX_PROBLEMS ? await reader.versionBySeq(seq) : undefined;
  const detail = through > seq ? `entries ${seq}..${through} are missing` : `entry ${seq} is missing`;
  problems.add({ seq, ...(v ? { record_id: v.record_id } : {}), reason: 'entry_missing', detail });
}

/** Seq bounds of a stored checkpoint (from its payload when it decodes, else its stored seq). */
function boundsOf(c: StoredCheckpoint): { seq: number; first: number } {
  const p = decodeCheckpoint(c.jws);
  return p ? { seq: p.seq, first: p.first_seq } : { seq: c.seq, first: c.seq };
}

function result(range: { from: number; to: number } | null, checked: VerifyResult['checked'], unsealed: number, problems: Problems, expired = 0): VerifyResult {
  const sorted = [...problems.list].sort((a, b) => a.seq - b.seq);
  const first = problems.first();
  return { ok: problems.count === 0, range, checked, expired_records: expired, unsealed_entries: unsealed, ...(first ? { first_broken: first } : {}), problems: sorted.slice(0, 100), problem_count: problems.count };
}
