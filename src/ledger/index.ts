/**
 * Tamper-evident audit trail (issue 9). Entry points:
 *
 * - `attachLedger(cfg, store, { log })`: hook the ledger into a store's writes (runtime.ts);
 * - `ledgerOf(store)`: the attached ledger (verify, keys, evidence);
 * - `ledgerEvidenceFor(store, records)`: inclusion proofs + checkpoints + keys for an export;
 * - `verifyExport(...)` (offline.ts): what `auditmesh verify` runs, with no access to auditmesh.
 */
export { attachLedger, Ledger, ledgerEvidenceFor, ledgerOf } from './ledger';
export { EVIDENCE_FORMAT, evidenceLines, type EvidenceRef, type LedgerEvidence, type LedgerProof } from './evidence';
export { canonicalize, canonicalHash } from './canonical';
export { contentHashOf, entryHash, type CheckpointPayload, type LedgerEntry, type StoredCheckpoint } from './entry';
export type { VerifyRange, VerifyResult, Problem } from './verify';
