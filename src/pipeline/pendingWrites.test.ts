import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PendingWrites } from './pendingWrites';
import { SqliteStore } from '../store/sqlite/sqliteStore';
import type { AuditRecord, StoredEvent, WriteBatch } from '../model/record';

const T0 = Date.parse('2026-05-01T10:00:00Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();

function rec(id: string, opts: { ip?: string; natIp?: string; at?: number; type?: 'request' | 'session'; version?: number } = {}): AuditRecord {
  const source: Record<string, unknown> = {};
  if (opts.ip) source.ip = opts.ip;
  if (opts.natIp) source.nat = { ip: opts.natIp };
  return {
    '@timestamp': iso(opts.at ?? 0),
    source,
    auditmesh: { record_id: id, record_type: opts.type ?? 'request', sources: ['envoy'], members: [], member_count: 0, keys: [], identity: { verdict: 'no_token', verified: false, claims: [], mismatch: false }, version: opts.version ?? 1, updated_at: iso(0) },
  } as unknown as AuditRecord;
}
function ev(id: string, recordId: string): StoredEvent {
  return { id, source: 'envoy', kind: 'access_log', timestamp: iso(0), ecs: {}, join: {}, claims: [], ref: { source: 'envoy', topic: 't', partition: 0, offset: '0' }, recordId };
}
const batch = (b: Partial<WriteBatch>): WriteBatch => ({ events: [], records: [], keys: [], deletedRecords: [], deadLetters: [], ...b });
const byIps = (ips: string[], recordType: 'request' | 'session' = 'request') => ({ ips, from: iso(-1000), to: iso(1000), recordType, limit: 100 });
const ids = (rs: AuditRecord[]) => rs.map((r) => `${r.auditmesh.record_id}@${r.auditmesh.version}`).sort();

describe('pipeline/pendingWrites', () => {
  let dir: string;
  let store: SqliteStore;
  let pw: PendingWrites;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pending-'));
    store = new SqliteStore(dir);
    await store.init();
    pw = new PendingWrites(store);
    await store.write(batch({ records: [rec('A', { ip: '10.0.0.1' }), rec('B', { ip: '10.0.0.2' }), rec('S', { ip: '10.0.0.1', type: 'session' })], events: [ev('a1', 'A'), ev('b1', 'B')], keys: [['t:a', 'A'], ['t:b', 'B']] }));
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('still overlays a batch the store acknowledges while a read is in flight (the read may not have seen it)', async () => {
    const b = batch({ records: [rec('C', { ip: '10.0.0.3' })], events: [ev('c1', 'C')], keys: [['t:c', 'C']] });
    pw.add(b);
    // Every read is answered from the state BEFORE the batch, but only after its write was acknowledged.
    const stale = <T>(read: () => Promise<T>) => async (): Promise<T> => {
      const answer = await read();
      pw.remove(b);
      return answer;
    };
    const realKeys = store.lookupKeys.bind(store), realRecords = store.getRecords.bind(store), realEvents = store.getEvents.bind(store), realByIps = store.findRecordsByIps.bind(store);
    store.lookupKeys = (k) => stale(() => realKeys(k))();
    store.getRecords = (i) => stale(() => realRecords(i))();
    store.getEvents = (i) => stale(() => realEvents(i))();
    store.findRecordsByIps = (q) => stale(() => realByIps(q))();
    expect(Object.fromEntries(await pw.lookupKeys(['t:c']))).toEqual({ 't:c': 'C' });
    pw.add(b);
    expect([...(await pw.getRecords(['C'])).keys()]).toEqual(['C']);
    pw.add(b);
    expect([...(await pw.getEvents(['c1'])).keys()]).toEqual(['c1']);
    pw.add(b);
    expect(ids(await pw.findRecordsByIps(byIps(['10.0.0.3'])))).toEqual(['C@1']);
  });

  it('answers like the store when nothing is pending', async () => {
    expect(Object.fromEntries(await pw.lookupKeys(['t:a', 't:x']))).toEqual({ 't:a': 'A' });
    expect(ids(await pw.findRecordsByIps(byIps(['10.0.0.1'])))).toEqual(['A@1']);
  });

  it('applies pending batches in order on top of the store: keys, records (deletes before upserts), events', async () => {
    pw.add(batch({ records: [rec('A', { ip: '10.0.0.1', version: 2 }), rec('C', { ip: '10.0.0.3' })], events: [ev('b1', 'A'), ev('c1', 'C')], keys: [['t:b', 'A'], ['t:c', 'C']], deletedRecords: ['B'] }));
    pw.add(batch({ records: [rec('C', { ip: '10.0.0.3', version: 2 })], deletedRecords: ['C', 'A'] }));
    expect(Object.fromEntries(await pw.lookupKeys(['t:a', 't:b', 't:c', 't:x']))).toEqual({ 't:a': 'A', 't:b': 'A', 't:c': 'C' });
    // C deleted and re-written in the second batch survives (deletes apply first); A deleted.
    expect([...(await pw.getRecords(['A', 'B', 'C', 'Z'])).values()].map((r) => `${r.auditmesh.record_id}@${r.auditmesh.version}`)).toEqual(['C@2']);
    expect(Object.fromEntries([...(await pw.getEvents(['a1', 'b1', 'c1', 'zz']))].map(([id, e]) => [id, e.recordId]))).toEqual({ a1: 'A', b1: 'A', c1: 'C' });
    // The store itself has not changed.
    expect(Object.fromEntries(await store.lookupKeys(['t:b', 't:c']))).toEqual({ 't:b': 'B' });
  });

  it('finds pending records by address (pre- or post-NAT), type and time, and drops stored ones a pending batch deleted or moved away', async () => {
    pw.add(
      batch({
        records: [rec('B', { ip: '10.9.9.9', version: 2 }), rec('D', { ip: '192.0.2.1', natIp: '10.0.0.1' }), rec('E', { ip: '10.0.0.1', at: 5000 }), rec('F', { ip: '10.0.0.1', type: 'session' })],
        deletedRecords: ['A'],
      }),
    );
    // A deleted; D matches by its NAT address; E is outside the window; F is a session.
    expect(ids(await pw.findRecordsByIps(byIps(['10.0.0.1'])))).toEqual(['D@1']);
    expect(ids(await pw.findRecordsByIps(byIps(['10.0.0.1'], 'session')))).toEqual(['F@1', 'S@1']);
    // Sessions that end late enough (no event.end, no members: their @timestamp): a pending one too.
    pw.add(batch({ records: [rec('G', { ip: '10.0.0.1', type: 'session', at: 400 })] }));
    expect(ids(await pw.findRecordsByIps({ ...byIps(['10.0.0.1'], 'session'), endFrom: iso(300) }))).toEqual(['G@1']);
    expect(ids(await pw.findRecordsByIps({ ...byIps(['10.0.0.1'], 'session'), endFrom: iso(0) }))).toEqual(['F@1', 'G@1', 'S@1']);
    // B's pending version no longer has 10.0.0.2 (stored version had): not found by it, found by the new one.
    expect(ids(await pw.findRecordsByIps(byIps(['10.0.0.2'])))).toEqual([]);
    expect(ids(await pw.findRecordsByIps(byIps(['10.9.9.9'])))).toEqual(['B@2']);
  });

  it('makes searchRecords and refresh wait until every pending batch has been written', async () => {
    const b = batch({ records: [rec('G', { ip: '10.0.0.7' })] });
    pw.add(b);
    let searched = false;
    const search = pw.searchRecords({ limit: 10 }).then((r) => {
      searched = true;
      return r;
    });
    let refreshed = false;
    const refresh = pw.refresh().then(() => (refreshed = true));
    await new Promise((r) => setTimeout(r, 20));
    expect([searched, refreshed]).toEqual([false, false]);
    await store.write(b);
    pw.remove(b);
    expect((await search).records.map((r) => r.auditmesh.record_id)).toContain('G');
    await refresh;
    expect(refreshed).toBe(true);
    expect(pw.size).toBe(0);
  });
});
