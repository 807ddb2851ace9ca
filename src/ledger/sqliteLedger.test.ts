import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { configSchema } from '../config/schema';
import { createLogger } from '../instrumentation/logger';
import type { AuditRecord } from '../model/record';
import { SqliteStore } from '../store/sqlite/sqliteStore';
import { attachLedger, ledgerEvidenceFor, ledgerOf } from './ledger';
import { type Harness, ledgerTamperSuite, TRAIL, trailRecord, writeTrail } from './testing';
import type { LedgerEntry } from './entry';
import { readExportedCheckpoints } from './exporter';
import { decodeCheckpoint, PUBLIC_KEYS_FILE, rotateLedgerKey, verifyCheckpoint } from './signing';
import { evidenceLines } from './evidence';
import { verifyOffline } from './offline';

const quiet = createLogger('error');

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'am-ledger-'));
}

async function sqliteHarness(ledger: Record<string, unknown> = {}): Promise<Harness & { dir: string; raw: Database.Database }> {
  const dir = tmp();
  const exportDir = path.join(dir, 'export');
  const cfg = configSchema.parse({ dataDir: dir, ledger: { checkpointEveryEntries: 3, checkpointEverySeconds: 0, exportDir, ...ledger } });
  const store = new SqliteStore(dir);
  await store.init();
  const l = (await attachLedger(cfg, store, { log: quiet }))!;
  // A second connection to the same file: what an attacker with file access does.
  const raw = new Database(store.file);
  const tamper: Harness['tamper'] = {
    async editRecord(id, mutate) {
      const row = raw.prepare('SELECT doc FROM records WHERE id = ?').get(id) as { doc: string };
      const r = JSON.parse(row.doc) as AuditRecord;
      mutate(r);
      raw.prepare('UPDATE records SET doc = ? WHERE id = ?').run(JSON.stringify(r), id);
    },
    async deleteRecord(id) {
      raw.prepare('DELETE FROM records WHERE id = ?').run(id);
    },
    async editVersion(rid, version, mutate) {
      const { seq } = raw.prepare('SELECT seq FROM record_versions WHERE record_id = ? AND version = ?').get(rid, version) as { seq: number };
      const row = raw.prepare('SELECT doc FROM record_version_docs WHERE seq = ?').get(seq) as { doc: string };
      const r = JSON.parse(row.doc) as AuditRecord;
      mutate(r);
      raw.prepare('UPDATE record_version_docs SET doc = ? WHERE seq = ?').run(JSON.stringify(r), seq);
    },
    async editEntry(seq, mutate) {
      const e = raw.prepare('SELECT * FROM ledger_entries WHERE seq = ?').get(seq) as LedgerEntry;
      mutate(e);
      raw.prepare('UPDATE ledger_entries SET record_id=@record_id, version=@version, content_hash=@content_hash, prev_hash=@prev_hash, entry_hash=@entry_hash, time=@time WHERE seq=@seq').run(e);
    },
    async deleteEntry(seq) {
      raw.prepare('DELETE FROM ledger_entries WHERE seq = ?').run(seq);
    },
    async swapSeq(a, b) {
      raw.transaction(() => {
        raw.prepare('UPDATE ledger_entries SET seq = -1 WHERE seq = ?').run(a);
        raw.prepare('UPDATE ledger_entries SET seq = ? WHERE seq = ?').run(a, b);
        raw.prepare('UPDATE ledger_entries SET seq = ? WHERE seq = -1').run(b);
      })();
    },
    async replaceCheckpoint(seq, jws) {
      raw.prepare('UPDATE ledger_checkpoints SET jws = ? WHERE seq = ?').run(jws, seq);
    },
    async deleteCheckpoint(seq) {
      raw.prepare('DELETE FROM ledger_checkpoints WHERE seq = ?').run(seq);
    },
    async checkpointJws(seq) {
      return (raw.prepare('SELECT jws FROM ledger_checkpoints WHERE seq = ?').get(seq) as { jws: string }).jws;
    },
  };
  return { store, ledger: l, tamper, exportDir, dir, raw };
}

async function dispose(h: Harness): Promise<void> {
  const x = h as Harness & { dir: string; raw: Database.Database };
  await h.ledger.close();
  x.raw.close();
  await h.store.close();
  fs.rmSync(x.dir, { recursive: true, force: true });
}

ledgerTamperSuite('sqlite', () => sqliteHarness(), dispose);

describe('ledger/sqlite > write path', () => {
  let h: Awaited<ReturnType<typeof sqliteHarness>>;
  afterEach(async () => h && (await dispose(h)));

  it('commits entries, versions and checkpoints with the batch, or none of them when the batch rolls back', async () => {
    h = await sqliteHarness();
    (h.store as SqliteStore).addTransactionHook(() => {
      throw new Error('disk on fire');
    });
    await expect(h.store.write(TRAIL.b1)).rejects.toThrow('disk on fire');
    const n = (t: string) => (h.raw.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    expect([n('records'), n('ledger_entries'), n('record_versions'), n('record_version_docs'), n('ledger_checkpoints')]).toEqual([0, 0, 0, 0, 0]);
  });

  it('keeps every version: the latest lives only in the records table, superseded ones are copied into record_version_docs', async () => {
    h = await sqliteHarness();
    await writeTrail(h.store);
    const docs = h.raw
      .prepare('SELECT v.record_id, v.version, NOT EXISTS (SELECT 1 FROM record_version_docs d WHERE d.seq = v.seq) AS in_records FROM record_versions v ORDER BY v.seq')
      .all();
    expect(docs).toEqual([
      { record_id: 'a', version: 1, in_records: 0 }, // superseded by a v2
      { record_id: 'b', version: 1, in_records: 1 },
      { record_id: 'c', version: 1, in_records: 0 }, // c was deleted (merged): its last content kept
      { record_id: 'a', version: 2, in_records: 1 },
      { record_id: 'd', version: 1, in_records: 1 },
      { record_id: 'c', version: 2, in_records: 0 }, // the tombstone
      { record_id: 'e', version: 1, in_records: 1 },
    ]);
    // One id written twice in one batch: both versions ledgered, both contents kept.
    await h.store.write({ events: [], keys: [], deletedRecords: [], deadLetters: [], records: [trailRecord('f', 1), trailRecord('f', 2, { note: 'amended' })] });
    const f = await h.ledger.backend.entriesOfRecords(['f']);
    const v = await h.ledger.backend.versions(f.get('f')!.map((e) => `f@${e.version}@${e.content_hash}`));
    expect([...v.values()].map((x) => [x.version, (x.record as { note?: string }).note ?? null, x.from_current ?? false])).toEqual([
      [1, null, false],
      [2, 'amended', true],
    ]);
    expect((await h.ledger.verify()).ok).toBe(true);
  });

  it('reads a file written before record_version_docs existed (superseded documents in record_versions.doc), and amends it', async () => {
    h = await sqliteHarness();
    await writeTrail(h.store);
    // The earlier layout: the documents in the version rows, no document rows.
    h.raw.exec(`UPDATE record_versions SET doc = (SELECT d.doc FROM record_version_docs d WHERE d.seq = record_versions.seq);
      DELETE FROM record_version_docs;`);
    const before = await h.ledger.backend.entriesOfRecords(['a']);
    const a = await h.ledger.backend.versions(before.get('a')!.map((e) => `a@${e.version}@${e.content_hash}`));
    expect([...a.values()].map((x) => [x.version, x.from_current ?? false, x.record === undefined])).toEqual([
      [1, false, false],
      [2, true, false],
    ]);
    expect((await h.ledger.verify()).ok).toBe(true);
    // A legacy document is not copied again; the current one (a v2) is, when a v3 replaces it.
    await h.store.write({ events: [], keys: [], deletedRecords: [], deadLetters: [], records: [trailRecord('a', 3, { note: 'third' })] });
    const after = await h.ledger.backend.entriesOfRecords(['a']);
    const v = await h.ledger.backend.versions(after.get('a')!.map((e) => `a@${e.version}@${e.content_hash}`));
    expect([...v.values()].map((x) => [x.version, x.from_current ?? false, (x.record as { note?: string } | undefined)?.note ?? null])).toEqual([
      [1, false, null],
      [2, false, null],
      [3, true, 'third'],
    ]);
    expect((h.raw.prepare('SELECT count(*) AS n FROM record_version_docs').get() as { n: number }).n).toBe(1);
    expect((await h.ledger.verify()).ok).toBe(true);
  });

  it('is attached to the store: ledgerOf finds it, and a second process (new store on the same file) continues the chain', async () => {
    h = await sqliteHarness();
    expect(ledgerOf(h.store)).toBe(h.ledger);
    await h.store.write(TRAIL.b1);
    // Another writer on the same file (e.g. `auditmesh ingest` while `serve` runs).
    const cfg = configSchema.parse({ dataDir: h.dir, ledger: { checkpointEveryEntries: 3, checkpointEverySeconds: 0 } });
    const other = new SqliteStore(h.dir);
    await other.init();
    const l2 = (await attachLedger(cfg, other, { log: quiet }))!;
    await other.write(TRAIL.b2);
    await h.store.write(TRAIL.b3);
    await l2.close();
    await other.close();
    expect((await h.ledger.verify()).ok).toBe(true);
    expect(await h.ledger.backend.lastSeq()).toBe(6);
  });

  it('seals by age: the oldest unsealed entry older than checkpointEverySeconds gets a checkpoint on the next write or tick', async () => {
    let now = Date.parse('2026-03-01T10:00:00Z');
    const dir = tmp();
    const cfg = configSchema.parse({ dataDir: dir, ledger: { checkpointEveryEntries: 0, checkpointEverySeconds: 60 } });
    const store = new SqliteStore(dir);
    await store.init();
    const l = (await attachLedger(cfg, store, { log: quiet, now: () => now }))!;
    try {
      await store.write(TRAIL.b1);
      expect(await l.backend.sealedSeq()).toBe(0);
      now += 30_000;
      await l.tick();
      expect(await l.backend.sealedSeq()).toBe(0);
      now += 31_000;
      await l.tick();
      expect(await l.backend.sealedSeq()).toBe(3);
      await store.write(TRAIL.b2);
      now += 61_000;
      await store.write(TRAIL.b3); // sealed inside this batch's transaction
      expect(await l.backend.sealedSeq()).toBe(6);
      expect((await l.verify()).ok).toBe(true);
    } finally {
      await l.close();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exports checkpoints to exportDir (one JWS per line, with keys.json) and the file verifies with those keys', async () => {
    h = await sqliteHarness();
    await writeTrail(h.store);
    await h.ledger.close(); // seals entry 7, exports
    const { checkpoints, conflicts } = readExportedCheckpoints(h.exportDir!);
    expect(checkpoints.map((c) => c.seq)).toEqual([3, 6, 7]);
    expect(conflicts).toEqual([]);
    const keys = JSON.parse(fs.readFileSync(path.join(h.exportDir!, 'keys.json'), 'utf8'));
    for (const c of checkpoints) expect(await verifyCheckpoint(c.jws, keys)).toMatchObject({ ok: true });
    // A restart exports nothing twice and cuts a torn last line.
    fs.appendFileSync(path.join(h.exportDir!, 'checkpoints.jws'), 'eyJhbGciOi');
    const cfg = configSchema.parse({ dataDir: h.dir, ledger: { checkpointEveryEntries: 3, checkpointEverySeconds: 0, exportDir: h.exportDir } });
    const again = new SqliteStore(h.dir);
    await again.init();
    const l2 = (await attachLedger(cfg, again, { log: quiet }))!;
    await l2.close();
    await again.close();
    const text = fs.readFileSync(path.join(h.exportDir!, 'checkpoints.jws'), 'utf8');
    expect(text.split('\n').filter(Boolean)).toHaveLength(3);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('evidence: every exported record gets a proof to a signed checkpoint; unsealed entries are sealed first', async () => {
    h = await sqliteHarness();
    await writeTrail(h.store);
    const recs = await h.store.getRecords(['a', 'b', 'd', 'e']);
    const ev = (await ledgerEvidenceFor(h.store, [...recs.values()]))!;
    expect(ev.missing).toEqual([]);
    expect(ev.proofs.map((p) => [p.record_id, p.entry.seq, p.checkpoint_seq, p.leaf_index, p.tree_size])).toEqual([
      ['b', 2, 3, 1, 3],
      ['a', 4, 6, 0, 3],
      ['d', 5, 6, 1, 3],
      ['e', 7, 7, 0, 1],
    ]);
    expect(ev.checkpoints.map((c) => c.seq)).toEqual([3, 6, 7]);
    // A record that differs from what was ledgered gets no proof.
    const forged = { ...trailRecord('b', 1), user: { id: 'mallory' } };
    const ev2 = (await ledgerEvidenceFor(h.store, [forged, { record_id: 'zzz' }]))!;
    expect(ev2.proofs).toEqual([]);
    expect(ev2.missing).toEqual([
      { record_id: 'b', version: 1, reason: 'content_differs_from_ledger' },
      { record_id: 'zzz', reason: 'not_in_ledger' },
    ]);
  });
});

describe('ledger/sqlite > signing key rotation', () => {
  const kidOf = (jws: string) => (JSON.parse(Buffer.from(jws.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string }).kid;

  it('signs new checkpoints with the new key and still verifies the ones the previous key signed (stored ledger, exports, offline)', async () => {
    const h = await sqliteHarness();
    try {
      await h.store.write(TRAIL.b1); // entries 1-3, checkpoint 3
      const kidA = h.ledger.keys().keys[0]!.kid!;
      await h.ledger.close();
      await h.store.close();

      expect(await rotateLedgerKey(h.dir)).toEqual({ kid: expect.any(String), previousKid: kidA });
      const cfg = configSchema.parse({ dataDir: h.dir, ledger: { checkpointEveryEntries: 3, checkpointEverySeconds: 0, exportDir: h.exportDir } });
      const store = new SqliteStore(h.dir);
      await store.init();
      const l = (await attachLedger(cfg, store, { log: quiet }))!;
      h.store = store;
      h.ledger = l;
      const kidB = l.signer.kid;
      expect(kidB).not.toBe(kidA);
      expect(l.keys().keys.map((k) => k.kid)).toEqual([kidB, kidA]); // current first
      expect(l.keys().keys.every((k) => !('d' in k))).toBe(true);

      await store.write(TRAIL.b2);
      await store.write(TRAIL.b3); // entries 4-6, checkpoint 6
      await l.checkpointNow();
      const cps = await l.backend.checkpoints(1, Number.POSITIVE_INFINITY, 100);
      expect(cps.map((c) => [c.seq, kidOf(c.jws)])).toEqual([[3, kidA], [6, kidB]]);
      expect(await l.verify()).toMatchObject({ ok: true, checked: { checkpoints: 2 } });

      // The export directory's keys.json and an export's embedded keys list both kids; offline verification passes.
      const exported = JSON.parse(fs.readFileSync(path.join(h.exportDir!, 'keys.json'), 'utf8')) as { keys: { kid: string }[] };
      expect(exported.keys.map((k) => k.kid).sort()).toEqual([kidA, kidB].sort());
      const recs = [...(await store.getRecords(['a', 'b', 'd'])).values()];
      const ev = await l.evidenceFor(recs);
      expect(ev.checkpoints.map((c) => decodeCheckpoint(c.jws)!.seq)).toEqual([3, 6]);
      const file = path.join(h.dir, 'export.ndjson');
      fs.writeFileSync(file, recs.map((r) => `${JSON.stringify(r)}\n`).join('') + evidenceLines(ev));
      const jwks = path.join(h.dir, 'jwks.json');
      fs.writeFileSync(jwks, JSON.stringify(l.keys()));
      expect(await verifyOffline(file, { jwks })).toMatchObject({ ok: true, failures: [] });
      expect(await verifyOffline(file)).toMatchObject({ ok: true });
      // Trusting only the new key: the record proven by the old key's checkpoint fails.
      fs.writeFileSync(jwks, JSON.stringify({ keys: [l.keys().keys[0]] }));
      expect((await verifyOffline(file, { jwks })).ok).toBe(false);

      // Dropping the previous key from the remembered keys stops trusting its checkpoints.
      await l.close();
      await store.close();
      const known = path.join(h.dir, PUBLIC_KEYS_FILE);
      const jw = JSON.parse(fs.readFileSync(known, 'utf8')) as { keys: { kid: string }[] };
      fs.writeFileSync(known, JSON.stringify({ keys: jw.keys.filter((k) => k.kid !== kidA) }));
      const store2 = new SqliteStore(h.dir);
      await store2.init();
      const l2 = (await attachLedger(configSchema.parse({ dataDir: h.dir, ledger: { checkpointEveryEntries: 3, checkpointEverySeconds: 0 } }), store2, { log: quiet }))!;
      h.store = store2;
      h.ledger = l2;
      expect(l2.keys().keys.map((k) => k.kid)).toEqual([kidB]);
      expect(await l2.verify()).toMatchObject({ ok: false, first_broken: { seq: 3, reason: 'checkpoint_invalid' } });
    } finally {
      await dispose(h);
    }
  });
});
