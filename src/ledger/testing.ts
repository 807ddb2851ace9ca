/// <reference types="jest" />
/**
 * The tamper-evidence suite every ledger backend must pass (SQLite in sqliteLedger.test.ts, real
 * Elasticsearch in test/integration/ledger.int.test.ts): one audit trail written through the store,
 * then one direct edit of the store per test, bypassing auditmesh, and verification must name the
 * broken entry.
 *
 * The trail (checkpoint every 3 entries, none by time):
 *   batch 1: a v1, b v1, c v1            → entries 1, 2, 3; checkpoint 3
 *   batch 2: a v2 (amended), b v1 again  → entry 4 (b unchanged: no entry)
 *   batch 3: d v1, c merged away         → entries 5, 6 (c's deletion tombstone, version 2); checkpoint 6
 *   batch 2 replayed                     → nothing
 *   batch 4: e v1                        → entry 7 (sealed when evidence or close asks)
 */
import * as jose from 'jose';
import type { AuditRecord, AuditStore, WriteBatch } from '../model/record';
import { canonicalize } from './canonical';
import type { CheckpointPayload, LedgerEntry } from './entry';
import { entryHash } from './entry';
import type { Ledger } from './ledger';
import { CHECKPOINT_TYP } from './signing';

export function trailRecord(id: string, version: number, extra: Record<string, unknown> = {}): AuditRecord {
  const ts = '2026-03-01T10:00:00.000Z';
  return {
    '@timestamp': ts,
    event: { kind: 'event', outcome: 'success' },
    user: { id: `user-${id}` },
    url: { path: `/api/${id}` },
    http: { request: { method: 'GET' }, response: { status_code: 200 } },
    source: { ip: '10.0.0.1' },
    ...extra,
    auditmesh: {
      record_id: id,
      record_type: 'request',
      sources: ['envoy'],
      members: [{ event_id: `${id}-e1`, source: 'envoy', kind: 'access_log', timestamp: ts, ref: { source: 'envoy', topic: 'mesh', partition: 0, offset: '1' }, joined_by: 'self' }],
      member_count: 1,
      keys: [`x:${id}`],
      identity: { verdict: 'no_token', verified: false, claims: [], mismatch: false },
      version,
      updated_at: ts,
    },
  } as AuditRecord;
}

const batch = (b: Partial<WriteBatch>): WriteBatch => ({ events: [], records: [], keys: [], deletedRecords: [], deadLetters: [], ...b });

export const TRAIL = {
  b1: batch({ records: [trailRecord('a', 1), trailRecord('b', 1), trailRecord('c', 1)] }),
  b2: batch({ records: [trailRecord('a', 2, { http: { request: { method: 'GET' }, response: { status_code: 403 } } }), trailRecord('b', 1)] }),
  b3: batch({ records: [trailRecord('d', 1)], deletedRecords: ['c'] }),
  b4: batch({ records: [trailRecord('e', 1, { note: 'ünïcödé ✓' })] }),
};

export async function writeTrail(store: AuditStore): Promise<void> {
  await store.write(TRAIL.b1);
  await store.write(TRAIL.b2);
  await store.write(TRAIL.b3);
  await store.write(TRAIL.b2);
  await store.write(TRAIL.b4);
}

/** Direct edits of the store, bypassing auditmesh. */
export interface Tamper {
  /** Rewrite the current record (`mutate` edits the parsed document). */
  editRecord(id: string, mutate: (r: AuditRecord) => void): Promise<void>;
  deleteRecord(id: string): Promise<void>;
  /** Rewrite a stored record version's content. */
  editVersion(recordId: string, version: number, mutate: (r: AuditRecord) => void): Promise<void>;
  /** Rewrite the stored entry with this seq (fields as stored, entry_hash included). */
  editEntry(seq: number, mutate: (e: LedgerEntry) => void): Promise<void>;
  deleteEntry(seq: number): Promise<void>;
  /** Swap the seq values of two stored entries. */
  swapSeq(a: number, b: number): Promise<void>;
  replaceCheckpoint(seq: number, jws: string): Promise<void>;
  deleteCheckpoint(seq: number): Promise<void>;
  /** Raw stored checkpoint JWS. */
  checkpointJws(seq: number): Promise<string>;
}

export interface Harness {
  store: AuditStore;
  ledger: Ledger;
  tamper: Tamper;
  /** Directory of the checkpoint export, when the harness configured one. */
  exportDir?: string;
}

/** A checkpoint signed by a key auditmesh does not hold (what a store administrator could make). */
export async function forgeCheckpoint(payload: CheckpointPayload): Promise<string> {
  const { privateKey, publicKey } = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const kid = await jose.calculateJwkThumbprint(await jose.exportJWK(publicKey));
  return new jose.CompactSign(new TextEncoder().encode(canonicalize(payload))).setProtectedHeader({ alg: 'EdDSA', kid, typ: CHECKPOINT_TYP }).sign(privateKey);
}

function payloadOf(jws: string): CheckpointPayload {
  return JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')) as CheckpointPayload;
}

/**
 * The suite. `make` builds a fresh store with its ledger attached (checkpointEveryEntries 3,
 * checkpointEverySeconds 0, an exportDir) and writes nothing; `dispose` closes and removes it.
 */
export function ledgerTamperSuite(name: string, make: () => Promise<Harness>, dispose: (h: Harness) => Promise<void>): void {
  describe(`ledger > tamper evidence (${name})`, () => {
    let h: Harness;
    beforeEach(async () => {
      h = await make();
      await writeTrail(h.store);
    });
    afterEach(async () => {
      await dispose(h);
    });

    const broken = async (from?: { fromSeq?: number; toSeq?: number }) => {
      const res = await h.ledger.verify(from ?? {});
      expect(res.ok).toBe(false);
      return res.first_broken!;
    };

    it('verifies an untouched trail: every entry, version, current record and checkpoint', async () => {
      const res = await h.ledger.verify();
      expect(res.problems).toEqual([]);
      expect(res).toMatchObject({ ok: true, range: { from: 1, to: 7 }, checked: { entries: 7, versions: 7, checkpoints: 2 }, unsealed_entries: 1 });
      // a, b, d, e are current; c's latest entry is its deletion (absent, as it should be).
      expect(res.checked.records).toBe(5);
      const part = await h.ledger.verify({ fromSeq: 4, toSeq: 5 });
      expect(part).toMatchObject({ ok: true, range: { from: 4, to: 6 } });
      const byTime = await h.ledger.verify({ fromTime: '2000-01-01T00:00:00Z', toTime: '2100-01-01T00:00:00Z' });
      expect(byTime).toMatchObject({ ok: true, checked: { entries: 7 } });
    });

    it('appends one entry per new version: unchanged and replayed records add none, a merge adds a tombstone', async () => {
      const before = await h.ledger.backend.lastSeq();
      await h.store.write(TRAIL.b1);
      await h.store.write(TRAIL.b3);
      await h.store.write(TRAIL.b4);
      expect(await h.ledger.backend.lastSeq()).toBe(before);
      await h.ledger.backend.refresh();
      const es = await h.ledger.backend.entries(1, 100, 100);
      expect(es.map((e) => `${e.seq}:${e.record_id}@${e.version}`)).toEqual(['1:a@1', '2:b@1', '3:c@1', '4:a@2', '5:d@1', '6:c@2', '7:e@1']);
      for (const [i, e] of es.entries()) {
        expect(e.entry_hash).toBe(entryHash(e));
        if (i) expect(e.prev_hash).toBe(es[i - 1]!.entry_hash);
      }
      const history = await h.ledger.backend.versions(es.filter((e) => e.record_id === 'a').map((e) => `a@${e.version}@${e.content_hash}`));
      expect([...history.values()].map((v) => (v.record as AuditRecord).http)).toEqual([
        { request: { method: 'GET' }, response: { status_code: 200 } },
        { request: { method: 'GET' }, response: { status_code: 403 } },
      ]);
    });

    it('names the record edited directly in the store (record_altered)', async () => {
      await h.tamper.editRecord('b', (r) => ((r.user as Record<string, unknown>).id = 'mallory'));
      expect(await broken()).toMatchObject({ seq: 2, record_id: 'b', reason: 'record_altered' });
    });

    it('names the record deleted directly from the store (record_missing)', async () => {
      await h.tamper.deleteRecord('d');
      expect(await broken()).toMatchObject({ seq: 5, record_id: 'd', reason: 'record_missing' });
    });

    it('names an edited past version (version_altered)', async () => {
      await h.tamper.editVersion('a', 1, (r) => ((r.http as { response: { status_code: number } }).response.status_code = 500));
      expect(await broken()).toMatchObject({ seq: 1, record_id: 'a', reason: 'version_altered' });
    });

    it('names an entry whose fields were edited (entry_altered)', async () => {
      await h.tamper.editEntry(4, (e) => (e.version = 9));
      expect(await broken()).toMatchObject({ seq: 4, record_id: 'a', reason: 'entry_altered' });
    });

    it('names an entry rewritten consistently, hash included (the next entry no longer links to it)', async () => {
      await h.tamper.editEntry(4, (e) => {
        e.time = '2020-01-01T00:00:00.000Z';
        e.entry_hash = entryHash(e);
      });
      expect(await broken()).toMatchObject({ seq: 4, record_id: 'a', reason: 'entry_altered' });
    });

    it('names a deleted ledger entry (entry_missing) and the record it ledgered', async () => {
      await h.tamper.deleteEntry(2);
      expect(await broken()).toMatchObject({ seq: 2, record_id: 'b', reason: 'entry_missing' });
    });

    it('names reordered entries (two seqs swapped)', async () => {
      await h.tamper.swapSeq(2, 3);
      expect(await broken()).toMatchObject({ seq: 2, reason: 'entry_altered' });
    });

    it('names a checkpoint replaced by one signed with another key (checkpoint_invalid)', async () => {
      const p = payloadOf(await h.tamper.checkpointJws(3));
      await h.tamper.replaceCheckpoint(3, await forgeCheckpoint({ ...p, time: new Date().toISOString() }));
      expect(await broken()).toMatchObject({ seq: 3, record_id: 'c', reason: 'checkpoint_invalid' });
    });

    it('names a checkpoint whose payload was edited without its signature (checkpoint_invalid)', async () => {
      const jws = await h.tamper.checkpointJws(6);
      const [hd, , sig] = jws.split('.');
      const p = payloadOf(jws);
      const edited = `${hd}.${Buffer.from(canonicalize({ ...p, merkle_root: '0'.repeat(64) })).toString('base64url')}.${sig}`;
      await h.tamper.replaceCheckpoint(6, edited);
      expect(await broken()).toMatchObject({ seq: 6, reason: 'checkpoint_invalid' });
    });

    it('names a checkpoint replaced by another genuine one (checkpoint_mismatch)', async () => {
      await h.tamper.replaceCheckpoint(6, await h.tamper.checkpointJws(3));
      expect(await broken()).toMatchObject({ seq: 6, reason: 'checkpoint_mismatch' });
    });

    it('names a deleted checkpoint by the seq it ended at (checkpoint_missing)', async () => {
      await h.tamper.deleteCheckpoint(3);
      expect(await broken()).toMatchObject({ seq: 3, record_id: 'c', reason: 'checkpoint_missing' });
    });

    it('detects a cut-off tail (entries and their checkpoint deleted) against the exported checkpoints', async () => {
      await h.ledger.exportNow();
      await h.tamper.deleteEntry(7);
      await h.tamper.deleteEntry(6);
      await h.tamper.deleteCheckpoint(6);
      const fb = await broken();
      expect(fb).toMatchObject({ seq: 6 });
      expect(['entry_missing', 'checkpoint_not_in_store']).toContain(fb.reason);
    });

    it('names the broken entry within a verified range, and a range before it still verifies', async () => {
      await h.tamper.editEntry(5, (e) => (e.content_hash = 'f'.repeat(64)));
      expect(await broken({ fromSeq: 4, toSeq: 7 })).toMatchObject({ seq: 5, record_id: 'd', reason: 'entry_altered' });
      expect((await h.ledger.verify({ fromSeq: 1, toSeq: 3 })).ok).toBe(true);
    });
  });
}
