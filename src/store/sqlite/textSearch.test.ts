import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteStore } from './sqliteStore';
import { batchOf, makeRecord } from '../contract';
import type { RecordQuery } from '../../model/record';

describe('store/sqlite > free-text search on the covering index', () => {
  let dir: string;
  let store: SqliteStore;
  const T = Date.parse('2024-06-01T00:00:00Z');
  // 3,000 records, two per second (ties on ts are broken by id): paths and user agents to match,
  // an `api` record now and then (left out unless asked for), and records of other filters.
  const specs = Array.from({ length: 3000 }, (_, i) => ({
    id: `t${String(i).padStart(5, '0')}`,
    ts: new Date(T + Math.floor(i / 2) * 1000).toISOString(),
    path: `/api/orders/${i % 400}`,
    userAgent: i % 7 === 0 ? 'curl/8.5.0' : 'Mozilla/5.0 Firefox/125.0',
    userId: `u${i % 5}`,
    verdict: (i % 3 === 0 ? 'verified' : 'expired') as 'verified' | 'expired',
    ...(i % 50 === 0 ? { recordType: 'api' as const } : {}),
  }));

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditmesh-sqlite-text-'));
    store = new SqliteStore(dir);
    await store.init();
    await store.write(batchOf({ records: specs.map(makeRecord) }));
  });
  afterAll(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const newestFirst = (xs: typeof specs) => [...xs].sort((a, b) => Date.parse(b.ts) - Date.parse(a.ts) || (a.id < b.id ? 1 : -1)).map((s) => s.id);
  async function all(q: RecordQuery): Promise<string[]> {
    const got: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.searchRecords({ ...q, ...(cursor ? { cursor } : {}) });
      got.push(...page.records.map((r) => r.auditmesh.record_id));
      cursor = page.nextCursor;
    } while (cursor && ++pages < 100);
    return got;
  }

  it('walks only the covering index for text alone (with time and cursor), the documents of the page afterwards', async () => {
    const db = store.database;
    const seen: string[] = [];
    const prepare = db.prepare.bind(db);
    const spy = jest.spyOn(db, 'prepare').mockImplementation(((sql: string) => (seen.push(sql), prepare(sql))) as typeof db.prepare);
    try {
      const first = await store.searchRecords({ text: 'orders/1', limit: 5, from: new Date(T).toISOString() });
      await store.searchRecords({ text: 'orders/1', limit: 5, cursor: first.nextCursor! });
    } finally {
      spy.mockRestore();
    }
    expect(seen).toHaveLength(2);
    for (const sql of seen) {
      const named = [...new Set([...sql.matchAll(/@(\w+)/g)].map((m) => m[1]!))];
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(Object.fromEntries(named.map((n) => [n, n === 'limit' ? 5 : n === 'cid' || n === 'text' ? 'x' : 0]))) as { detail: string }[]).map((r) => r.detail);
      expect(plan).toEqual(expect.arrayContaining([expect.stringMatching(/^SCAN records USING COVERING INDEX records_text|^SEARCH records USING COVERING INDEX records_text/)]));
    }
  });

  it.each([
    ['a path, paged', { text: 'orders/12', limit: 37 }, (s: (typeof specs)[0]) => s.path.includes('orders/12') && s.id !== undefined],
    ['a user agent, case-insensitive, in a time range', { text: 'CURL', limit: 100, from: new Date(T + 200_000).toISOString(), to: new Date(T + 900_000).toISOString() }, (s: (typeof specs)[0]) => s.userAgent.startsWith('curl') && Date.parse(s.ts) >= T + 200_000 && Date.parse(s.ts) < T + 900_000],
    ['with another filter (the plain query)', { text: 'orders/3', verdict: 'verified', limit: 50 } as RecordQuery, (s: (typeof specs)[0]) => s.path.includes('orders/3') && s.verdict === 'verified'],
    ['nothing', { text: 'no-such-thing', limit: 10 }, () => false],
  ])('finds %s exactly as a scan would, newest first', async (_name, q, match) => {
    expect(await all(q)).toEqual(newestFirst(specs.filter((s) => !s.recordType && match(s))));
  });

  it('finds api records only when asked for them', async () => {
    expect(await all({ text: 'orders/', recordType: 'api', limit: 25 })).toEqual(newestFirst(specs.filter((s) => s.recordType === 'api')));
  });
});
