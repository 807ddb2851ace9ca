import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteStore } from './sqliteStore';
import { batchOf, makeRecord } from '../contract';

describe('store/sqlite > path prefix search, narrow and broad', () => {
  let dir: string;
  let store: SqliteStore;
  const T = Date.parse('2024-06-01T00:00:00Z');
  // 6,000 records: 5,500 under /api/ (broad: more than the 5,000 probe), 500 under /static/.
  const specs = Array.from({ length: 6000 }, (_, i) => ({ id: `p${String(i).padStart(5, '0')}`, ts: new Date(T + Math.floor(i / 2) * 1000).toISOString(), path: i % 12 === 0 ? `/static/${i}` : `/api/items/${i}` }));

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditmesh-sqlite-prefix-'));
    store = new SqliteStore(dir);
    await store.init();
    await store.write(batchOf({ records: specs.map(makeRecord) }));
  });
  afterAll(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const expected = (prefix: string) =>
    specs
      .filter((s) => s.path.startsWith(prefix))
      .sort((a, b) => Date.parse(b.ts) - Date.parse(a.ts) || (a.id < b.id ? 1 : -1))
      .map((s) => s.id);

  it.each(['/api/', '/api/items/1', '/static/', '/static/12', '/nothing'])('pages %s newest first, exactly like a scan would', async (prefix) => {
    const got: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.searchRecords({ pathPrefix: prefix, limit: 1000, ...(cursor ? { cursor } : {}) });
      got.push(...page.records.map((r) => r.auditmesh.record_id));
      cursor = page.nextCursor;
    } while (cursor && ++pages < 20);
    expect(got).toEqual(expected(prefix));
  });
});
