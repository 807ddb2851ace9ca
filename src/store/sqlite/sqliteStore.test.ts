import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteStore } from './sqliteStore';
import { batchOf, CORPUS, makeDeadLetter, makeEvent, makeRecord, storeContract } from '../contract';

const dirs = new Map<SqliteStore, string>();

storeContract(
  'sqlite',
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditmesh-sqlite-contract-'));
    const store = new SqliteStore(dir);
    dirs.set(store, dir);
    return store;
  },
  async (s) => {
    await s.close();
    const dir = dirs.get(s as SqliteStore);
    dirs.delete(s as SqliteStore);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  },
);

describe('store/sqlite > durability', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditmesh-sqlite-kill-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps a batch whose write() resolved when the writing process is killed with SIGKILL right after', async () => {
    const trace = CORPUS[0]!.traceId!;
    const batch = batchOf({
      records: CORPUS.slice(0, 3).map(makeRecord),
      events: [makeEvent('ev-1', 'r01', CORPUS[0]!.ts, 'envoy', trace)],
      keys: [[`t:${trace}`, 'r01']],
      deadLetters: [makeDeadLetter('dl-1', CORPUS[0]!.ts)],
    });
    const batchFile = path.join(dir, 'batch.json');
    fs.writeFileSync(batchFile, JSON.stringify(batch));

    const child = spawn(process.execPath, [path.join(__dirname, 'testdata', 'child-writer.js'), dir, batchFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; acked: boolean }>((resolve) => {
      let acked = false;
      child.stdout.on('data', (d: Buffer) => {
        if (!acked && d.toString().includes('written')) {
          acked = true;
          child.kill('SIGKILL');
        }
      });
      child.on('exit', (code, signal) => resolve({ code, signal, acked }));
    });
    expect({ ...exit, stderr }).toEqual({ code: null, signal: 'SIGKILL', acked: true, stderr: '' });
    // The batch was committed to the WAL and never checkpointed by a clean close.
    expect(fs.statSync(path.join(dir, 'auditmesh.db-wal')).size).toBeGreaterThan(0);

    const store = new SqliteStore(dir);
    await store.init();
    try {
      expect(await store.getRecords(['r01', 'r02', 'r03'])).toEqual(new Map(batch.records.map((r) => [r.auditmesh.record_id, r])));
      expect((await store.getEvents(['ev-1'])).get('ev-1')).toEqual(batch.events[0]);
      expect((await store.lookupKeys([`t:${trace}`])).get(`t:${trace}`)).toBe('r01');
      expect((await store.listDeadLetters({ limit: 10 })).deadLetters).toEqual(batch.deadLetters);
      expect(store.counts()).toEqual({ records: 3, events: 1, deadLetters: 1 });
    } finally {
      await store.close();
    }
  });
});

describe('store/sqlite > keys and addresses as one JSON parameter', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditmesh-sqlite-json-'));
    store = new SqliteStore(dir);
    await store.init();
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // JSON.parse of a log line can yield a lone surrogate (a "\ud800" escape); the lookup's JSON
  // array must reach the same stored bytes as the bound parameter that wrote the key.
  it('finds keys and addresses with lone surrogates as they were written', async () => {
    const keys = ['r:lone-\ud800-high', 'r:\udc00', 'r:pair-\ud83d\ude00', 'r:nul-\u0000-x'];
    const rec = makeRecord({ id: 'r01', ts: '2024-05-12T08:00:00.000Z', sourceIp: 'fe80::\ud800' });
    await store.write(batchOf({ records: [rec], keys: keys.map((k): [string, string] => [k, 'r01']) }));
    expect(Object.fromEntries(await store.lookupKeys([...keys, 'r:lone-\ud801-high', 'r:\ufffd']))).toEqual(Object.fromEntries(keys.map((k) => [k, 'r01'])));
    const found = await store.findRecordsByIps({ ips: ['fe80::\ud800', 'fe80::\ud801'], from: '2024-05-12T07:00:00.000Z', to: '2024-05-12T09:00:00.000Z', recordType: 'request', limit: 10 });
    expect(found.map((r) => r.auditmesh.record_id)).toEqual(['r01']);
  });
});
