import fs from 'node:fs';
import path from 'node:path';
import type * as jose from 'jose';
import type { AuditRecord } from '../model/record';
import { contentHashOf, entryHash, type StoredCheckpoint } from './entry';
import { EVIDENCE_FORMAT, type LedgerEvidence, type LedgerProof } from './evidence';
import { CHECKPOINTS_FILE, KEYS_FILE, readExportedCheckpoints } from './exporter';
import { verifyAuditPath } from './merkle';
import { type CheckpointCheck, verifyCheckpoint } from './signing';

/**
 * `auditmesh verify`: offline verification, with nothing but the files (and optionally trusted keys).
 *
 * Inputs it understands:
 * - an NDJSON export (`GET /v1/export?format=ndjson`): record lines, then ledger lines, each an object
 *   with one key: `ledger_keys` (JWKS), `ledger_checkpoint` ({ seq, jws }), `ledger_proof`,
 *   `ledger_missing`, or a whole `ledger_evidence` bundle; a sidecar `<file>.ledger.json` (a
 *   LedgerEvidence) is read too;
 * - a LedgerEvidence JSON file whose proofs carry their records (`record`), e.g. for a CSV export;
 * - a checkpoint export directory (ledger.exportDir: `checkpoints.jws`, `keys.json`): every signature
 *   and the contiguity of the signed intervals.
 *
 * For each exported record: canonical JSON → SHA-256 → its ledger entry → entry hash → Merkle audit
 * path → the root signed by a checkpoint → a trusted key. Trusted keys: `--jwks` (file or URL) when
 * given, else the export directory's keys.json (`--checkpoints`), else the keys embedded in the export
 * (which only shows the export is self-consistent: anyone can embed their own key, so the verdict says so).
 */

export interface OfflineOptions {
  /** Trusted keys: a JWKS file path or an http(s) URL. */
  jwks?: string;
  /** A checkpoint export directory to cross-check the export's checkpoints against. */
  checkpointsDir?: string;
}

export interface OfflineResult {
  ok: boolean;
  /** Human-readable report, one line per entry. */
  lines: string[];
  failures: string[];
}

interface Loaded {
  records: AuditRecord[];
  evidence: LedgerEvidence;
  /** Input lines that are neither records nor ledger lines. */
  unknownLines: number[];
}

export async function verifyOffline(target: string, opts: OfflineOptions = {}): Promise<OfflineResult> {
  const st = fs.statSync(target);
  if (st.isDirectory()) return verifyCheckpointDir(target, opts);
  return verifyExportFile(target, opts);
}

async function trustedKeys(opts: OfflineOptions, embedded: jose.JSONWebKeySet | undefined): Promise<{ keys: jose.JSONWebKeySet; from: string; trusted: boolean }> {
  if (opts.jwks) {
    let text: string;
    if (/^https?:\/\//i.test(opts.jwks)) {
      const res = await fetch(opts.jwks);
      if (!res.ok) throw new Error(`--jwks ${opts.jwks}: HTTP ${res.status}`);
      text = await res.text();
    } else text = fs.readFileSync(opts.jwks, 'utf8');
    const keys = JSON.parse(text) as jose.JSONWebKeySet;
    if (!Array.isArray(keys?.keys)) throw new Error(`--jwks ${opts.jwks}: not a JWKS ({ "keys": [...] })`);
    return { keys, from: `--jwks ${opts.jwks}`, trusted: true };
  }
  if (opts.checkpointsDir) {
    const file = path.join(opts.checkpointsDir, KEYS_FILE);
    if (fs.existsSync(file)) return { keys: JSON.parse(fs.readFileSync(file, 'utf8')) as jose.JSONWebKeySet, from: file, trusted: true };
  }
  return { keys: embedded ?? { keys: [] }, from: 'the export itself', trusted: false };
}

const kids = (k: jose.JSONWebKeySet) => k.keys.map((x) => x.kid ?? '?').join(', ') || 'none';

function load(file: string): Loaded {
  const text = fs.readFileSync(file, 'utf8');
  const ev: LedgerEvidence = { format: EVIDENCE_FORMAT, keys: { keys: [] }, checkpoints: [], proofs: [], missing: [] };
  const records: AuditRecord[] = [];
  const unknownLines: number[] = [];
  const merge = (e: Partial<LedgerEvidence>) => {
    for (const k of e.keys?.keys ?? []) if (!ev.keys.keys.some((x) => x.kid === k.kid)) ev.keys.keys.push(k);
    ev.checkpoints.push(...(e.checkpoints ?? []));
    ev.proofs.push(...(e.proofs ?? []));
    ev.missing.push(...(e.missing ?? []));
  };
  const trimmed = text.trimStart();
  let whole: unknown;
  if (trimmed.startsWith('{') && !trimmed.includes('\n{')) {
    try {
      whole = JSON.parse(text);
    } catch {
      whole = undefined;
    }
  }
  if (whole && (whole as LedgerEvidence).format === EVIDENCE_FORMAT) merge(whole as LedgerEvidence);
  else {
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (!line) return;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        unknownLines.push(i + 1);
        return;
      }
      if (o && typeof o === 'object' && (o as { auditmesh?: { record_id?: unknown } }).auditmesh?.record_id !== undefined) records.push(o as unknown as AuditRecord);
      else if (o.ledger_evidence) merge(o.ledger_evidence as LedgerEvidence);
      else if (o.ledger_keys) merge({ keys: o.ledger_keys as jose.JSONWebKeySet });
      else if (o.ledger_checkpoint) merge({ checkpoints: [o.ledger_checkpoint as StoredCheckpoint] });
      else if (o.ledger_proof) merge({ proofs: [o.ledger_proof as LedgerProof] });
      else if (o.ledger_missing) merge({ missing: [o.ledger_missing as LedgerEvidence['missing'][number]] });
      else unknownLines.push(i + 1);
    });
  }
  const sidecar = `${file}.ledger.json`;
  if (fs.existsSync(sidecar)) merge(JSON.parse(fs.readFileSync(sidecar, 'utf8')) as LedgerEvidence);
  return { records, evidence: ev, unknownLines };
}

async function verifyExportFile(file: string, opts: OfflineOptions): Promise<OfflineResult> {
  const lines: string[] = [];
  const failures: string[] = [];
  const fail = (s: string) => failures.push(s);
  const { records, evidence, unknownLines } = load(file);
  const { keys, from, trusted } = await trustedKeys(opts, evidence.keys);
  lines.push(`auditmesh verify ${file}`);
  if (unknownLines.length) fail(`${unknownLines.length} line(s) are neither records nor ledger evidence (first: line ${unknownLines[0]})`);

  // Which records: the exported ones, or (an evidence file alone) the records inside the proofs.
  let subjects: { record: AuditRecord; where: string }[] = records.map((r, i) => ({ record: r, where: `record ${r.auditmesh.record_id} (line ${i + 1})` }));
  let embedded = false;
  if (!subjects.length) {
    subjects = evidence.proofs.filter((p) => p.record !== undefined).map((p) => ({ record: p.record as AuditRecord, where: `record ${p.record_id} (in its proof)` }));
    embedded = subjects.length > 0;
  }
  if (!subjects.length) fail('no records found: give an NDJSON export of /v1/export or a ledger evidence file with the records');
  if (!evidence.checkpoints.length && subjects.length) fail('the export carries no ledger checkpoints (was it exported from a store with the ledger enabled?)');

  // Checkpoints: signature, by seq, and against the exported checkpoint directory when given.
  const checks = new Map<number, CheckpointCheck>();
  for (const c of evidence.checkpoints) {
    if (checks.has(c.seq)) continue;
    const chk = await verifyCheckpoint(c.jws, keys);
    checks.set(c.seq, chk);
    if (!chk.ok) fail(`checkpoint ${c.seq}: ${chk.reason}`);
    else if (chk.payload.seq !== c.seq) fail(`checkpoint ${c.seq}: signs seq ${chk.payload.seq}`);
  }
  if (opts.checkpointsDir) {
    const dir = readExportedCheckpoints(opts.checkpointsDir);
    const bySeq = new Map(dir.checkpoints.map((c) => [c.seq, c.jws]));
    for (const c of evidence.checkpoints) {
      const d = bySeq.get(c.seq);
      if (d === undefined) fail(`checkpoint ${c.seq} is not in ${opts.checkpointsDir}`);
      else if (d !== c.jws) fail(`checkpoint ${c.seq} differs from the one in ${opts.checkpointsDir}`);
    }
  }

  // Records → proofs.
  const proofs = new Map<string, LedgerProof[]>();
  for (const p of evidence.proofs) (proofs.get(p.record_id) ?? proofs.set(p.record_id, []).get(p.record_id)!).push(p);
  const missingWhy = new Map(evidence.missing.map((m) => [m.record_id, m.reason]));
  let good = 0;
  for (const { record, where } of subjects) {
    const rid = record.auditmesh.record_id;
    const version = record.auditmesh.version;
    let h: string;
    try {
      h = contentHashOf(record);
    } catch (e) {
      fail(`${where}: cannot be hashed (${(e as Error).message})`);
      continue;
    }
    const mine = proofs.get(rid) ?? [];
    const p = mine.find((x) => x.content_hash === h && x.version === version && x.entry?.content_hash === h);
    if (!p) {
      if (mine.some((x) => x.version === version)) fail(`${where}, version ${version}: its content (sha256 ${h.slice(0, 16)}…) is not what the ledger holds for this version (sha256 ${mine.find((x) => x.version === version)!.content_hash.slice(0, 16)}…): altered after auditmesh wrote it`);
      else fail(`${where}, version ${version}: no inclusion proof${missingWhy.has(rid) ? ` (${missingWhy.get(rid)})` : ''}`);
      continue;
    }
    const problem = proofProblem(p, h, checks);
    if (problem) {
      fail(`${where}: ${problem}`);
      continue;
    }
    good++;
  }

  const seqs = [...checks.keys()].sort((a, b) => a - b);
  lines.push(`  records: ${subjects.length}${embedded ? ' (embedded in the proofs; the export rows themselves are not checked)' : ''}, verified: ${good}`);
  lines.push(`  checkpoints: ${checks.size}${seqs.length ? ` (seq ${seqs[0]}..${seqs[seqs.length - 1]})` : ''}, signatures checked with keys from ${from} (kid ${kids(keys)})`);
  if (!trusted) lines.push('  warning: the keys came with the export itself; pass --jwks <file|url> (GET /v1/ledger/keys, or the export directory\'s keys.json) to check who signed');
  const ok = failures.length === 0;
  if (ok) lines.push(`OK: all ${good} record(s) match their ledger entries, and every entry is in a checkpoint signed by a ${trusted ? 'trusted' : 'embedded'} key`);
  else {
    lines.push(`FAILED: ${failures.length} problem(s)`);
    for (const f of failures.slice(0, 50)) lines.push(`  - ${f}`);
    if (failures.length > 50) lines.push(`  … and ${failures.length - 50} more`);
  }
  return { ok, lines, failures };
}

/** Why a proof does not tie content hash `h` to a signed checkpoint, or undefined when it does. */
function proofProblem(p: LedgerProof, h: string, checks: Map<number, CheckpointCheck>): string | undefined {
  const e = p.entry;
  if (!e || e.record_id !== p.record_id || e.version !== p.version || e.content_hash !== h) return 'the proof\'s ledger entry is for other content';
  let leaf: string;
  try {
    leaf = entryHash(e);
  } catch {
    return `ledger entry ${e.seq} is malformed`;
  }
  if (leaf !== e.entry_hash) return `ledger entry ${e.seq} does not hash to its entry_hash`;
  const chk = checks.get(p.checkpoint_seq);
  if (!chk) return `checkpoint ${p.checkpoint_seq} is not in the export`;
  if (!chk.ok) return `checkpoint ${p.checkpoint_seq} is not validly signed (${chk.reason})`;
  const cp = chk.payload;
  if (e.seq < cp.first_seq || e.seq > cp.seq) return `ledger entry ${e.seq} is outside checkpoint ${cp.seq} (${cp.first_seq}..${cp.seq})`;
  if (p.leaf_index !== e.seq - cp.first_seq || p.tree_size !== cp.count) return `proof position (${p.leaf_index} of ${p.tree_size}) does not match entry ${e.seq} in checkpoint ${cp.seq}`;
  if (!verifyAuditPath(leaf, p.leaf_index, cp.count, p.path, cp.merkle_root)) return `ledger entry ${e.seq} is not in checkpoint ${cp.seq}'s Merkle tree (audit path does not lead to the signed root)`;
  return undefined;
}

/** A checkpoint export directory: signatures, seq order and contiguous intervals. */
async function verifyCheckpointDir(dir: string, opts: OfflineOptions): Promise<OfflineResult> {
  const lines: string[] = [`auditmesh verify ${dir}`];
  const failures: string[] = [];
  if (!fs.existsSync(path.join(dir, CHECKPOINTS_FILE))) {
    return { ok: false, lines: [...lines, `FAILED: ${dir} has no ${CHECKPOINTS_FILE} (not a ledger.exportDir)`], failures: ['no checkpoints file'] };
  }
  const embeddedFile = path.join(dir, KEYS_FILE);
  const embedded = fs.existsSync(embeddedFile) ? (JSON.parse(fs.readFileSync(embeddedFile, 'utf8')) as jose.JSONWebKeySet) : undefined;
  const { keys, from } = await trustedKeys({ ...opts, checkpointsDir: dir }, embedded);
  const { checkpoints, conflicts, unreadable } = readExportedCheckpoints(dir);
  for (const c of conflicts) failures.push(`two different checkpoints for seq ${c.seq}`);
  for (const n of unreadable) failures.push(`line ${n} is not a checkpoint`);
  let prev = 0;
  for (const c of checkpoints) {
    const chk = await verifyCheckpoint(c.jws, keys);
    if (!chk.ok) {
      failures.push(`checkpoint ${c.seq}: ${chk.reason}`);
      prev = c.seq;
      continue;
    }
    const p = chk.payload;
    if (p.first_seq !== prev + 1) failures.push(`checkpoint ${p.seq} starts at ${p.first_seq}, the previous one ends at ${prev}${p.first_seq > prev + 1 ? ' (checkpoints missing)' : ''}`);
    if (p.count !== p.seq - p.first_seq + 1) failures.push(`checkpoint ${p.seq}: count ${p.count} does not match ${p.first_seq}..${p.seq}`);
    prev = p.seq;
  }
  lines.push(`  checkpoints: ${checkpoints.length}${checkpoints.length ? `, entries 1..${prev} sealed` : ''}; keys from ${from} (kid ${kids(keys)})`);
  const ok = failures.length === 0;
  if (ok) lines.push(`OK: every checkpoint is validly signed and the signed intervals are contiguous`);
  else {
    lines.push(`FAILED: ${failures.length} problem(s)`);
    for (const f of failures.slice(0, 50)) lines.push(`  - ${f}`);
  }
  return { ok, lines, failures };
}
