import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as jose from 'jose';
import { configSchema } from '../config/schema';
import { createLogger } from '../instrumentation/logger';
import type { AuditRecord } from '../model/record';
import { SqliteStore } from '../store/sqlite/sqliteStore';
import { runCli } from '../cli';
import { attachLedger, type Ledger } from './ledger';
import { evidenceLines, type LedgerEvidence } from './evidence';
import { verifyOffline } from './offline';
import { forgeCheckpoint, writeTrail } from './testing';

const quiet = createLogger('error');

describe('ledger/offline > auditmesh verify', () => {
  let dir: string;
  let exportDir: string;
  let store: SqliteStore;
  let ledger: Ledger;
  let records: AuditRecord[];
  let ev: LedgerEvidence;
  let file: string;

  /** What /v1/export?format=ndjson sends: the records, then the ledger lines. */
  const writeExport = (recs: AuditRecord[], e: LedgerEvidence, name = 'export.ndjson') => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, recs.map((r) => JSON.stringify(r) + '\n').join('') + evidenceLines(e));
    return f;
  };
  const cli = async (...args: string[]) => {
    let out = '';
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
    const err = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
    try {
      return { code: await runCli(['verify', ...args]), out };
    } finally {
      spy.mockRestore();
      err.mockRestore();
    }
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-ledger-offline-'));
    exportDir = path.join(dir, 'checkpoints');
    store = new SqliteStore(path.join(dir, 'data'));
    await store.init();
    const cfg = configSchema.parse({ dataDir: path.join(dir, 'data'), ledger: { checkpointEveryEntries: 3, checkpointEverySeconds: 0, exportDir } });
    ledger = (await attachLedger(cfg, store, { log: quiet }))!;
    await writeTrail(store);
    records = [...(await store.getRecords(['a', 'b', 'd', 'e'])).values()];
    ev = (await ledger.evidenceFor(records))!;
    file = writeExport(records, ev);
    fs.writeFileSync(path.join(dir, 'keys.json'), JSON.stringify(ledger.keys()));
  });
  afterAll(async () => {
    await ledger.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('verifies an untouched export with the trusted keys (exit 0, clear verdict)', async () => {
    const { code, out } = await cli('--jwks', path.join(dir, 'keys.json'), file);
    expect(code).toBe(0);
    expect(out).toMatch(/OK: all 4 record\(s\) match their ledger entries/);
    expect(out).toMatch(/checkpoints: 3 \(seq 3\.\.7\)/);
  });

  it('verifies an export written by an earlier auditmesh (testdata: before the canonical serializer was rewritten for speed)', async () => {
    const fixture = path.join(__dirname, 'testdata', 'export-before-fast-canonical.ndjson');
    const jwks = path.join(__dirname, 'testdata', 'export-before-fast-canonical.keys.json');
    expect(await verifyOffline(fixture, { jwks })).toMatchObject({ ok: true, failures: [] });
    // One byte of a record changed (a non-ASCII one): the same file no longer verifies.
    const edited = path.join(dir, 'fixture-edited.ndjson');
    fs.writeFileSync(edited, fs.readFileSync(fixture, 'utf8').replace('ünïcödé', 'ünïcödè'));
    expect((await verifyOffline(edited, { jwks })).ok).toBe(false);
  });

  it('verifies with the keys embedded in the export, and says that this does not prove who signed', async () => {
    const res = await verifyOffline(file);
    expect(res.ok).toBe(true);
    expect(res.lines.join('\n')).toMatch(/warning: the keys came with the export itself/);
  });

  it('takes the trusted keys and checkpoints from the checkpoint export directory (--checkpoints)', async () => {
    await ledger.exportNow();
    const res = await verifyOffline(file, { checkpointsDir: exportDir });
    expect(res).toMatchObject({ ok: true, failures: [] });
  });

  it('fails, naming the record, when an exported record was edited (exit 1)', async () => {
    const edited = records.map((r) => (r.auditmesh.record_id === 'd' ? { ...r, user: { id: 'mallory' } } : r));
    const f = writeExport(edited, ev, 'edited.ndjson');
    const { code, out } = await cli('--jwks', path.join(dir, 'keys.json'), f);
    expect(code).toBe(1);
    expect(out).toMatch(/FAILED: 1 problem/);
    expect(out).toMatch(/record d \(line 3\), version 1: its content .* is not what the ledger holds/);
  });

  it('fails when a proof was tampered with (a flipped audit path hash), or its entry', async () => {
    const bad: LedgerEvidence = { ...ev, proofs: ev.proofs.map((p) => (p.record_id === 'a' ? { ...p, path: [p.path[0]!.replace(/^./, (c) => (c === '0' ? '1' : '0')), ...p.path.slice(1)] } : p)) };
    const res = await verifyOffline(writeExport(records, bad, 'badpath.ndjson'));
    expect(res.ok).toBe(false);
    expect(res.failures).toEqual([expect.stringMatching(/record a .*not in checkpoint 6's Merkle tree/)]);
    const bad2: LedgerEvidence = { ...ev, proofs: ev.proofs.map((p) => (p.record_id === 'b' ? { ...p, entry: { ...p.entry, time: '2020-01-01T00:00:00.000Z' } } : p)) };
    const res2 = await verifyOffline(writeExport(records, bad2, 'badentry.ndjson'));
    expect(res2.failures).toEqual([expect.stringMatching(/record b .*ledger entry 2 does not hash to its entry_hash/)]);
  });

  it('fails when a checkpoint was replaced by one signed with another key, even if the keys were swapped in the export', async () => {
    const cp = ev.checkpoints.find((c) => c.seq === 6)!;
    const payload = JSON.parse(Buffer.from(cp.jws.split('.')[1]!, 'base64url').toString('utf8'));
    const forged = await forgeCheckpoint({ ...payload, merkle_root: 'a'.repeat(64) });
    const bad: LedgerEvidence = { ...ev, checkpoints: ev.checkpoints.map((c) => (c.seq === 6 ? { seq: 6, jws: forged } : c)) };
    const f = writeExport(records, bad, 'forged.ndjson');
    const res = await verifyOffline(f, { jwks: path.join(dir, 'keys.json') });
    expect(res.ok).toBe(false);
    expect(res.failures).toContain('checkpoint 6: signed by a key that is not trusted');
    expect(res.failures.some((x) => /record a .*checkpoint 6 is not validly signed/.test(x))).toBe(true);
  });

  it('fails with the wrong trusted keys', async () => {
    const { publicKey } = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const other = { keys: [{ ...(await jose.exportJWK(publicKey)), kid: 'someone-else' }] };
    fs.writeFileSync(path.join(dir, 'other.json'), JSON.stringify(other));
    const { code, out } = await cli('--jwks', path.join(dir, 'other.json'), file);
    expect(code).toBe(1);
    expect(out).toMatch(/checkpoint 3: signed by a key that is not trusted/);
  });

  it('fails when a record has no proof (e.g. a record slipped into the export)', async () => {
    const extra = { ...records[0]!, auditmesh: { ...records[0]!.auditmesh, record_id: 'intruder' } } as AuditRecord;
    const res = await verifyOffline(writeExport([...records, extra], ev, 'extra.ndjson'));
    expect(res.failures).toEqual([expect.stringMatching(/record intruder .*no inclusion proof/)]);
  });

  it('verifies an evidence file whose proofs carry the records (for CSV exports)', async () => {
    const withRecords = await ledger.evidenceFor(records, { includeRecords: true });
    const f = path.join(dir, 'evidence.json');
    fs.writeFileSync(f, JSON.stringify(withRecords));
    const res = await verifyOffline(f);
    expect(res.ok).toBe(true);
    expect(res.lines.join('\n')).toMatch(/records: 4 \(embedded in the proofs/);
  });

  it('verifies a checkpoint export directory, and fails when a line in it was replaced', async () => {
    await ledger.exportNow();
    expect(await cli(exportDir)).toMatchObject({ code: 0, out: expect.stringMatching(/OK: every checkpoint is validly signed/) });
    const copy = path.join(dir, 'cp-copy');
    fs.mkdirSync(copy);
    fs.copyFileSync(path.join(exportDir, 'keys.json'), path.join(copy, 'keys.json'));
    const lines = fs.readFileSync(path.join(exportDir, 'checkpoints.jws'), 'utf8').split('\n').filter(Boolean);
    fs.writeFileSync(path.join(copy, 'checkpoints.jws'), [lines[0], lines[2]].join('\n') + '\n'); // checkpoint 6 removed
    const { code, out } = await cli(copy);
    expect(code).toBe(1);
    expect(out).toMatch(/checkpoint 7 starts at 7, the previous one ends at 3 \(checkpoints missing\)/);
  });

  it('answers usage errors with exit 2', async () => {
    expect((await cli()).code).toBe(2);
    expect((await cli(path.join(dir, 'nope.ndjson'))).code).toBe(2);
  });
});
