import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from './sqliteStore';
import { ANALYTICS_CORPUS, makeRecord, REPORTS_CONFIG } from '../contract';
import { reportPredicate } from '../reports';
import { recordColumns } from '../query';

/** The records table as the first version created it (before the columns of issue 5). */
const V1_SCHEMA = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  INSERT INTO meta VALUES ('schema_version', '1');
  CREATE TABLE records (
    id TEXT PRIMARY KEY, ts INTEGER NOT NULL, trace_id TEXT, user_id TEXT, source_ip TEXT, verdict TEXT,
    service TEXT, method TEXT, status INTEGER, outcome TEXT, record_type TEXT NOT NULL, path TEXT,
    user_agent TEXT, sources TEXT NOT NULL, doc TEXT NOT NULL);
  CREATE INDEX records_ts ON records(ts DESC, id DESC);
`;

describe('store/sqlite > upgrade of a database created before the analytics columns', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditmesh-sqlite-upgrade-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('adds the columns and indexes on open and fills them from the stored documents', async () => {
    const db = new Database(path.join(dir, 'auditmesh.db'));
    db.exec(V1_SCHEMA);
    const ins = db.prepare(`INSERT INTO records(id, ts, trace_id, user_id, source_ip, verdict, service, method, status, outcome, record_type, path, user_agent, sources, doc)
      VALUES (@id, @ts, @traceId, @userId, @sourceIp, @verdict, @service, @method, @status, @outcome, @recordType, @path, @userAgent, @sources, @doc)`);
    for (const spec of ANALYTICS_CORPUS) {
      const r = makeRecord(spec);
      const c = recordColumns(r);
      ins.run({ id: c.id, ts: c.ts, traceId: c.traceId, userId: c.userId, sourceIp: c.sourceIp, verdict: c.verdict, service: c.service, method: c.method, status: c.status, outcome: c.outcome, recordType: c.recordType, path: c.path, userAgent: c.userAgent, sources: c.sources, doc: JSON.stringify(r) });
    }
    db.close();

    const store = new SqliteStore(dir);
    await store.init();
    try {
      const cols = (store.database.prepare('PRAGMA table_info(records)').all() as { name: string }[]).map((c) => c.name);
      expect(cols).toEqual(expect.arrayContaining(['rule_name', 'fw_action', 'verified', 'mismatch', 'id_method', 'roles']));
      const indexes = (store.database.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'").all() as { name: string }[]).map((i) => i.name);
      expect(indexes).toEqual(expect.arrayContaining(['records_path', 'records_service', 'records_fw_action', 'records_rule_name', 'records_type_ts']));
      expect((await store.searchRecords({ limit: 10, firewallAction: 'deny' })).records.map((r) => r.auditmesh.record_id)).toEqual(['a09']);
      expect((await store.searchRecords({ limit: 10, mismatch: true })).records.map((r) => r.auditmesh.record_id)).toEqual(['a04']);
      const r = await store.reportByIdentity({ where: reportPredicate('privileged-actions', REPORTS_CONFIG), limit: 10, examples: 5 });
      expect(r.groups.map((g) => [g.identity, g.count])).toEqual([['alice', 2], ['bob', 1], ['job[7]', 1]]);
    } finally {
      await store.close();
    }
    // A second open finds nothing to add.
    const again = new SqliteStore(dir);
    await again.init();
    await again.close();
  });

  it('adds and fills self_keyed and end_ts on a database that has the other analytics columns', async () => {
    const T = '2026-03-01T10:00:00.000Z';
    const keyed = (id: string, keys: string[]) => {
      const r = makeRecord({ id, ts: T, sourceIp: '10.2.0.1' });
      r.auditmesh.keys = keys;
      return r;
    };
    const session = (id: string, end: string) => {
      const r = makeRecord({ id, ts: T, sourceIp: '10.2.0.1', recordType: 'session', sources: ['panos'] });
      (r.event as Record<string, unknown>).end = end;
      return r;
    };
    const first = new SqliteStore(dir);
    await first.init();
    await first.write({
      records: [keyed('self', ['e:ev-1']), keyed('traced', ['e:ev-2', 't:0af7651916cd43dd8448eb211c80319c']), session('short', '2026-03-01T10:00:02.000Z'), session('long', '2026-03-01T10:00:40.000Z')],
      events: [],
      keys: [],
      deletedRecords: [],
      deadLetters: [],
    });
    // The database as the version before these columns wrote it (their indexes first).
    first.database.exec(`DROP INDEX records_self_ip; DROP INDEX records_self_nat_ip; DROP INDEX records_self_type_ts; DROP INDEX records_session_ip_end; DROP INDEX records_session_nat_ip_end;
      ALTER TABLE records DROP COLUMN self_keyed; ALTER TABLE records DROP COLUMN end_ts;`);
    await first.close();

    const store = new SqliteStore(dir);
    await store.init();
    try {
      const q = { ips: ['10.2.0.1'], from: T, to: '2026-03-01T10:01:00.000Z', recordType: 'request' as const, limit: 10 };
      expect((await store.findRecordsByIps({ ...q, selfKeyedOnly: true })).map((r) => r.auditmesh.record_id)).toEqual(['self']);
      expect((await store.findRecordsByIps(q)).map((r) => r.auditmesh.record_id).sort()).toEqual(['self', 'traced']);
      const s = { ...q, recordType: 'session' as const };
      expect((await store.findRecordsByIps({ ...s, endFrom: '2026-03-01T10:00:10.000Z' })).map((r) => r.auditmesh.record_id)).toEqual(['long']);
      expect((await store.findRecordsByIps(s)).map((r) => r.auditmesh.record_id).sort()).toEqual(['long', 'short']);
    } finally {
      await store.close();
    }
  });
});
