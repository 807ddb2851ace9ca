import type * as jose from 'jose';
import type { AuditRecord } from '../model/record';
import type { LedgerReader } from './backend';
import { contentHashOf, entryHash, type LedgerEntry, type StoredCheckpoint, versionKey } from './entry';
import { MerkleTree } from './merkle';
import { decodeCheckpoint } from './signing';

/**
 * Evidence that exported records are the ones auditmesh ledgered, checkable offline
 * (`auditmesh verify`): for each record its ledger entry and a Merkle audit path from the entry to
 * the root signed by a checkpoint, plus those checkpoints and the public keys (JWKS).
 *
 * Chain of trust a verifier walks: record → canonical JSON → SHA-256 = entry.content_hash → entry
 * fields → entry_hash → audit path → checkpoint.merkle_root → checkpoint signature → trusted key.
 */

export const EVIDENCE_FORMAT = 'auditmesh-ledger-evidence/1';

export interface LedgerProof {
  record_id: string;
  version: number;
  content_hash: string;
  /** The ledger entry (its entry_hash is recomputed by the verifier, not trusted). */
  entry: LedgerEntry;
  /** Seq of the checkpoint whose Merkle root the path leads to. */
  checkpoint_seq: number;
  /** Position of the entry in the checkpoint's interval: entry.seq - first_seq. */
  leaf_index: number;
  /** Entries in the interval (the checkpoint's count). */
  tree_size: number;
  /** RFC 9162 audit path, hex, from the leaf up. */
  path: string[];
  /** The record version itself, when asked for (exports whose rows are not full records, e.g. CSV). */
  record?: unknown;
}

export interface LedgerEvidence {
  format: typeof EVIDENCE_FORMAT;
  /** Public keys of the checkpoint signatures (also at GET /v1/ledger/keys). */
  keys: jose.JSONWebKeySet;
  checkpoints: StoredCheckpoint[];
  proofs: LedgerProof[];
  /** Records no proof could be made for, with the reason (e.g. written before the ledger existed). */
  missing: { record_id: string; version?: number; reason: string }[];
}

/** What to prove: a record as exported (hashed as it is), or a record id (and version) to look up. */
export type EvidenceRef = AuditRecord | { record_id: string; version?: number; content_hash?: string };

export interface EvidenceOptions {
  /** Put each proven version's full record into its proof. */
  includeRecords?: boolean;
}

export interface EvidenceSource {
  reader: LedgerReader;
  keys: () => jose.JSONWebKeySet;
  /** Seal the unsealed entries, so that every proof ends at a signed checkpoint. */
  checkpointNow: () => Promise<unknown>;
  sealedSeq: () => Promise<number>;
}

function isRecord(r: EvidenceRef): r is AuditRecord {
  return typeof (r as AuditRecord).auditmesh === 'object' && (r as AuditRecord).auditmesh !== null;
}

export async function buildEvidence(src: EvidenceSource, refs: EvidenceRef[], opts: EvidenceOptions = {}): Promise<LedgerEvidence> {
  const { reader } = src;
  await reader.refresh();
  const missing: LedgerEvidence['missing'] = [];
  const wanted: { rid: string; version?: number; hash?: string }[] = refs.map((r) =>
    isRecord(r)
      ? { rid: r.auditmesh.record_id, version: r.auditmesh.version, hash: contentHashOf(r) }
      : { rid: r.record_id, ...(r.version !== undefined ? { version: r.version } : {}), ...(r.content_hash ? { hash: r.content_hash } : {}) },
  );
  const byRecord = await reader.entriesOfRecords(wanted.map((w) => w.rid));
  const picked = new Map<number, LedgerEntry>();
  for (const w of wanted) {
    const es = byRecord.get(w.rid) ?? [];
    let e: LedgerEntry | undefined;
    if (w.hash !== undefined) e = es.find((x) => x.content_hash === w.hash && (w.version === undefined || x.version === w.version));
    else if (w.version !== undefined) e = [...es].reverse().find((x) => x.version === w.version);
    else e = es[es.length - 1];
    if (e) picked.set(e.seq, e);
    else {
      const reason = !es.length ? 'not_in_ledger' : w.hash !== undefined && es.some((x) => x.version === w.version) ? 'content_differs_from_ledger' : 'version_not_in_ledger';
      missing.push({ record_id: w.rid, ...(w.version !== undefined ? { version: w.version } : {}), reason });
    }
  }
  const entries = [...picked.values()].sort((a, b) => a.seq - b.seq);
  if (!entries.length) return { format: EVIDENCE_FORMAT, keys: src.keys(), checkpoints: [], proofs: [], missing };
  const maxSeq = entries[entries.length - 1]!.seq;
  if (maxSeq > (await src.sealedSeq())) {
    await src.checkpointNow();
    await reader.refresh();
  }

  // Checkpoints from the one covering the first entry to the one covering the last.
  const cps: StoredCheckpoint[] = [];
  for (let f = entries[0]!.seq; ; ) {
    const page = await reader.checkpoints(f, Number.POSITIVE_INFINITY, 1000);
    cps.push(...page);
    if (!page.length || page[page.length - 1]!.seq >= maxSeq || page.length < 1000) break;
    f = page[page.length - 1]!.seq + 1;
  }
  const versions = opts.includeRecords ? await reader.versions(entries.map((e) => versionKey(e.record_id, e.version, e.content_hash))) : undefined;
  const used: StoredCheckpoint[] = [];
  const proofs: LedgerProof[] = [];
  let i = 0;
  for (const cp of cps) {
    if (i >= entries.length) break;
    const p = decodeCheckpoint(cp.jws);
    if (!p) continue;
    const inCp: LedgerEntry[] = [];
    for (; i < entries.length && entries[i]!.seq <= p.seq; i++) {
      if (entries[i]!.seq >= p.first_seq) inCp.push(entries[i]!);
      else missing.push({ record_id: entries[i]!.record_id, version: entries[i]!.version, reason: 'no_checkpoint_covers_entry' });
    }
    if (!inCp.length) continue;
    const interval = await reader.entries(p.first_seq, p.seq, Number.MAX_SAFE_INTEGER);
    const complete = interval.length === p.count && interval.every((e, k) => e.seq === p.first_seq + k);
    if (!complete) {
      for (const e of inCp) missing.push({ record_id: e.record_id, version: e.version, reason: 'ledger_interval_incomplete' });
      continue;
    }
    const tree = new MerkleTree(interval.map((e) => entryHash(e)));
    used.push(cp);
    for (const e of inCp) {
      const idx = e.seq - p.first_seq;
      const proof: LedgerProof = { record_id: e.record_id, version: e.version, content_hash: e.content_hash, entry: e, checkpoint_seq: cp.seq, leaf_index: idx, tree_size: tree.size, path: tree.path(idx) };
      if (versions) {
        const v = versions.get(versionKey(e.record_id, e.version, e.content_hash));
        if (v) proof.record = v.record;
      }
      proofs.push(proof);
    }
  }
  for (; i < entries.length; i++) missing.push({ record_id: entries[i]!.record_id, version: entries[i]!.version, reason: 'no_checkpoint_covers_entry' });
  return { format: EVIDENCE_FORMAT, keys: src.keys(), checkpoints: used, proofs, missing };
}

/**
 * Evidence as NDJSON lines to follow the records of an NDJSON export: one object per line with a
 * single `ledger_*` key (`ledger_keys`, `ledger_checkpoint`, `ledger_proof`, `ledger_missing`), so a
 * consumer of the records skips them with one test (`'auditmesh' in line`). `auditmesh verify`
 * reads them back. Pass `keys: false` / `checkpoints` already sent to stream page by page.
 */
export function evidenceLines(ev: LedgerEvidence, opts: { keys?: boolean; skipCheckpoints?: Set<number> } = {}): string {
  let out = opts.keys === false ? '' : `${JSON.stringify({ ledger_keys: ev.keys })}\n`;
  for (const c of ev.checkpoints) {
    if (opts.skipCheckpoints?.has(c.seq)) continue;
    opts.skipCheckpoints?.add(c.seq);
    out += `${JSON.stringify({ ledger_checkpoint: c })}\n`;
  }
  for (const p of ev.proofs) out += `${JSON.stringify({ ledger_proof: p })}\n`;
  for (const m of ev.missing) out += `${JSON.stringify({ ledger_missing: m })}\n`;
  return out;
}
