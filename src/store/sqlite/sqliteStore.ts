import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { DeadLetter } from '../../model/events';
import { type AuditRecord, type AuditStore, type DeadLetterQuery, type RecordPage, type RecordQuery, type RecordsByIpsQuery, type StoredEvent, type WriteBatch } from '../../model/record';
import { PipelineError } from '../../errors';
import { decodeCursor, encodeCursor, recordColumns } from '../query';
import { isoMs } from '../../model/isoTime';
import type { IdentityActivityAggregates, IdentityActivityQuery, ReportAggregates, ReportQuery } from '../../model/analytics';
import { prefixUpperBound } from '../analytics';
import { identityActivitySql, reportByIdentitySql } from './sqliteAnalytics';

/**
 * Columns added after the first schema (filters and aggregations of issue 5): added to an existing
 * database on open and filled from the stored documents (see addAnalyticsColumns).
 */
const ANALYTICS_COLUMNS: [name: string, decl: string][] = [
  ['rule_name', 'TEXT'],
  ['fw_action', 'TEXT'],
  ['verified', 'INTEGER NOT NULL DEFAULT 0'],
  ['mismatch', 'INTEGER NOT NULL DEFAULT 0'],
  ['id_method', 'TEXT'],
  ['roles', 'TEXT'],
  ['source_nat_ip', 'TEXT'],
  ['self_keyed', 'INTEGER NOT NULL DEFAULT 0'],
  ['end_ts', 'INTEGER'],
];

/**
 * Indexes of the search filters and aggregations (EXPLAIN QUERY PLAN checked at 1M records, see
 * bench/query.mjs): path exact/prefix and sensitive paths, services, firewall actions, rule names,
 * record type (the audit log lists `api` records newest first), and covering indexes of the reports and
 * of the free-text search.
 */
/** Beyond this many matching paths a prefix search walks the time index instead of sorting matches. */
const BROAD_PREFIX_ROWS = 5000;

const ANALYTICS_INDEXES = `
  CREATE INDEX IF NOT EXISTS records_path ON records(path, ts);
  CREATE INDEX IF NOT EXISTS records_service ON records(service, ts);
  CREATE INDEX IF NOT EXISTS records_fw_action ON records(fw_action, ts);
  CREATE INDEX IF NOT EXISTS records_rule_name ON records(rule_name, ts);
  CREATE INDEX IF NOT EXISTS records_source_nat_ip ON records(source_nat_ip, ts);
  CREATE INDEX IF NOT EXISTS records_type_ts ON records(record_type, ts DESC, id DESC);
  -- covering index of the report aggregations (sqliteAnalytics.ts): one pass over the time range, no table reads
  CREATE INDEX IF NOT EXISTS records_report ON records(ts, record_type, user_id, outcome, status, method, service, path, fw_action, verified, mismatch, id_method);
  -- covering index of the free-text search (searchRecords with only text and time): newest first, no table reads
  CREATE INDEX IF NOT EXISTS records_text ON records(ts DESC, id DESC, record_type, path, user_agent);
  -- the trace-less lookup of every correlated batch (findRecordsByIps selfKeyedOnly): partial, so it holds
  -- only the few records nothing joined, and the traced records of the batch's addresses are never read
  CREATE INDEX IF NOT EXISTS records_self_ip ON records(source_ip, ts) WHERE self_keyed = 1;
  CREATE INDEX IF NOT EXISTS records_self_nat_ip ON records(source_nat_ip, ts) WHERE self_keyed = 1;
  -- ... and whether there is any such record in the window at all (usually none: traces propagate)
  CREATE INDEX IF NOT EXISTS records_self_type_ts ON records(record_type, ts) WHERE self_keyed = 1;
  -- the requests → stored firewall sessions lookup of every batch (findRecordsByIps endFrom): by the
  -- session's end, so a busy client address's older sessions are not read again for every batch
  CREATE INDEX IF NOT EXISTS records_session_ip_end ON records(source_ip, end_ts) WHERE record_type = 'session';
  CREATE INDEX IF NOT EXISTS records_session_nat_ip_end ON records(source_nat_ip, end_ts) WHERE record_type = 'session';
`;

const SCHEMA_VERSION = 1;

/** Runs inside a batch's write transaction (synchronously, better-sqlite3 style). */
export type TransactionHook = (db: Database.Database, batch: WriteBatch) => void;

/**
 * The embedded audit store: SQLite in WAL mode with synchronous=FULL, so an acknowledged batch
 * survives kill -9 and power loss. One transaction per batch makes every write atomic.
 */
export class SqliteStore implements AuditStore {
  readonly kind = 'sqlite' as const;
  private db!: Database.Database;
  private readonly hooks: TransactionHook[] = [];
  private readonly beforeHooks: TransactionHook[] = [];
  private serializeRecord: (r: AuditRecord) => string = (r) => JSON.stringify(r);
  private stmts!: ReturnType<SqliteStore['prepare']>;
  readonly file: string;

  constructor(dataDir: string, opts: { readonly?: boolean } = {}) {
    this.file = path.join(dataDir, 'auditmesh.db');
    this.readonly = opts.readonly ?? false;
  }
  private readonly readonly: boolean;

  async init(): Promise<void> {
    try {
      this.open();
    } catch (e) {
      if (this.db?.open) this.db.close();
      const code = (e as { code?: string }).code ?? '';
      if (this.isDiskFull(code)) {
        throw new PipelineError(`embedded store: the disk is full (${code} opening ${this.file}); free some space`, 'disk_full', true, 'sink', { cause: e });
      }
      throw new PipelineError(`cannot open embedded store ${this.file}: ${(e as Error).message}`, 'store_open_failed', false, 'sink', { cause: e });
    }
  }

  /**
   * An SQLite error that means "no space left": SQLITE_FULL, or an I/O error (growing the WAL index
   * in shared memory, for one) while the data dir's filesystem has no free blocks.
   */
  private isDiskFull(code: string): boolean {
    if (code.startsWith('SQLITE_FULL')) return true;
    if (!code.startsWith('SQLITE_IOERR')) return false;
    try {
      return fs.statfsSync(path.dirname(this.file)).bavail === 0;
    } catch {
      return false; // cannot tell: reported as the I/O error it is
    }
  }

  /** Open the file (WAL, fsync on commit), create or migrate the schema, prepare the statements. */
  private open(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    this.db = new Database(this.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    // Planner statistics (STAT4): without them SQLite may sort a broad path-prefix match instead of
    // walking the time index. Bounded sampling keeps `optimize` cheap at any size (see maybeOptimize).
    this.db.pragma('analysis_limit = 1000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS events (
        id TEXT PRIMARY KEY, record_id TEXT NOT NULL, ts INTEGER NOT NULL, source TEXT NOT NULL, doc TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS events_record ON events(record_id);
      CREATE TABLE IF NOT EXISTS records (
        id TEXT PRIMARY KEY, ts INTEGER NOT NULL, trace_id TEXT, user_id TEXT, source_ip TEXT, verdict TEXT,
        service TEXT, method TEXT, status INTEGER, outcome TEXT, record_type TEXT NOT NULL, path TEXT,
        user_agent TEXT, sources TEXT NOT NULL, doc TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS records_ts ON records(ts DESC, id DESC);
      CREATE INDEX IF NOT EXISTS records_trace ON records(trace_id);
      CREATE INDEX IF NOT EXISTS records_user ON records(user_id, ts DESC);
      CREATE INDEX IF NOT EXISTS records_source_ip ON records(source_ip, ts DESC);
      CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, record_id TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS dead_letters (id TEXT PRIMARY KEY, ts INTEGER NOT NULL, doc TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS dead_letters_ts ON dead_letters(ts DESC, id DESC);
    `);
    this.db.prepare('INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)').run('schema_version', String(SCHEMA_VERSION));
    this.addAnalyticsColumns();
    this.db.pragma('optimize = 0x10002');
    this.stmts = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      putEvent: db.prepare('INSERT INTO events(id, record_id, ts, source, doc) VALUES (@id, @recordId, @ts, @source, @doc) ON CONFLICT(id) DO UPDATE SET record_id = excluded.record_id, doc = excluded.doc'),
      putRecord: db.prepare(`INSERT INTO records(id, ts, trace_id, user_id, source_ip, verdict, service, method, status, outcome, record_type, path, user_agent, sources, doc,
          rule_name, fw_action, verified, mismatch, id_method, roles, source_nat_ip, self_keyed, end_ts)
        VALUES (@id, @ts, @traceId, @userId, @sourceIp, @verdict, @service, @method, @status, @outcome, @recordType, @path, @userAgent, @sources, @doc,
          @ruleName, @firewallAction, @verified, @mismatch, @identityMethod, @roles, @sourceNatIp, @selfKeyed, @endTs)
        ON CONFLICT(id) DO UPDATE SET ts=excluded.ts, trace_id=excluded.trace_id, user_id=excluded.user_id, source_ip=excluded.source_ip,
          verdict=excluded.verdict, service=excluded.service, method=excluded.method, status=excluded.status, outcome=excluded.outcome,
          record_type=excluded.record_type, path=excluded.path, user_agent=excluded.user_agent, sources=excluded.sources, doc=excluded.doc,
          rule_name=excluded.rule_name, fw_action=excluded.fw_action, verified=excluded.verified, mismatch=excluded.mismatch,
          id_method=excluded.id_method, roles=excluded.roles, source_nat_ip=excluded.source_nat_ip, self_keyed=excluded.self_keyed, end_ts=excluded.end_ts`),
      delRecord: db.prepare('DELETE FROM records WHERE id = ?'),
      putKey: db.prepare('INSERT INTO keys(key, record_id) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET record_id = excluded.record_id'),
      putDead: db.prepare('INSERT OR IGNORE INTO dead_letters(id, ts, doc) VALUES (?, ?, ?)'),
      getKey: db.prepare('SELECT record_id FROM keys WHERE key = ?'),
      getRecord: db.prepare('SELECT doc FROM records WHERE id = ?'),
      lookupKeys: db.prepare('SELECT asked.key AS i, keys.record_id FROM json_each(?) AS asked JOIN keys ON keys.key = asked.value'),
      getEvent: db.prepare('SELECT doc, record_id FROM events WHERE id = ?'),
      anySelfKeyed: db.prepare('SELECT 1 FROM records INDEXED BY records_self_type_ts WHERE self_keyed = 1 AND record_type = ? AND ts >= ? AND ts < ? LIMIT 1'),
    };
  }

  /**
   * Add the ANALYTICS_COLUMNS a database created by an older version lacks, fill them from every
   * stored record (one transaction), then create their indexes. A no-op on an up-to-date database.
   */
  private addAnalyticsColumns(): void {
    const have = new Set((this.db.prepare('PRAGMA table_info(records)').all() as { name: string }[]).map((c) => c.name));
    const missing = ANALYTICS_COLUMNS.filter(([name]) => !have.has(name));
    if (missing.length) {
      this.db.transaction(() => {
        for (const [name, decl] of missing) this.db.exec(`ALTER TABLE records ADD COLUMN ${name} ${decl}`);
        const upd = this.db.prepare('UPDATE records SET rule_name=@ruleName, fw_action=@firewallAction, verified=@verified, mismatch=@mismatch, id_method=@identityMethod, roles=@roles, source_nat_ip=@sourceNatIp, self_keyed=@selfKeyed, end_ts=@endTs WHERE id=@id');
        // Pages by rowid: better-sqlite3 cannot write while a read statement is being iterated.
        const page = this.db.prepare('SELECT rowid AS n, doc FROM records WHERE rowid > ? ORDER BY rowid LIMIT 1000');
        for (let after = -Infinity; ; ) {
          const rows = page.all(after) as { n: number; doc: string }[];
          if (!rows.length) break;
          for (const row of rows) {
            const c = recordColumns(JSON.parse(row.doc) as AuditRecord);
            upd.run({ id: c.id, ruleName: c.ruleName, firewallAction: c.firewallAction, verified: c.verified, mismatch: c.mismatch, identityMethod: c.identityMethod, roles: c.roles, sourceNatIp: c.sourceNatIp, selfKeyed: c.selfKeyed, endTs: c.endTs });
          }
          after = rows[rows.length - 1]!.n;
        }
      })();
    }
    this.db.exec(ANALYTICS_INDEXES);
  }

  /** The database, for features that keep their own tables in the same file (alerts, ledger). */
  get database(): Database.Database {
    return this.db;
  }

  /**
   * Run `hook` inside every batch's transaction, after the batch's rows (default) or, with
   * `{ before: true }`, before its record rows and deletions (after its event rows): it then still
   * sees the records the batch replaces, e.g. a record's previous version (the ledger keeps it), and
   * what it hands to `serializeRecord` lives only while the records are written. All commit or none do.
   */
  addTransactionHook(hook: TransactionHook, opts: { before?: boolean } = {}): void {
    (opts.before ? this.beforeHooks : this.hooks).push(hook);
  }

  /**
   * How a record's `doc` is written (default JSON.stringify). The ledger sets canonical JSON (sorted
   * keys), which it computes for every record anyway: one serialization per record instead of two.
   */
  setRecordSerializer(serialize: (r: AuditRecord) => string): void {
    this.serializeRecord = serialize;
  }

  async close(): Promise<void> {
    if (!this.db?.open) return;
    this.optimize(); // SQLite's advice: refresh statistics that drifted before closing
    this.db.close();
  }

  private batchesSinceOptimize = 0;
  /** Every 200 batches, `PRAGMA optimize`: re-analyzes only tables whose size changed a lot (cheap). */
  private maybeOptimize(): void {
    if (++this.batchesSinceOptimize < 200) return;
    this.batchesSinceOptimize = 0;
    this.optimize();
  }

  /**
   * `PRAGMA optimize`. Statistics only (it writes sqlite_stat1): on a full disk it fails, and that
   * must neither fail a batch that is already committed nor stop the store from closing.
   */
  private optimize(): void {
    try {
      this.db.pragma('optimize');
    } catch (e) {
      if (!String((e as { code?: string }).code).startsWith('SQLITE_FULL')) throw e;
    }
  }

  async ping(): Promise<boolean> {
    try {
      this.db.prepare('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }

  async lookupKeys(keys: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (keys.length === 0) return out;
    // The keys go in as one JSON array (json_each): binding thousands of parameters one by one cost
    // more than the index lookups. Each row names the asked key by its position: a key with a lone
    // surrogate (JSON.parse of a log line can make one) is stored as bytes that read back as U+FFFD.
    for (const row of this.stmts.lookupKeys.all(JSON.stringify(keys)) as { i: number; record_id: string }[]) out.set(keys[row.i]!, row.record_id);
    return out;
  }

  async getRecords(ids: string[]): Promise<Map<string, AuditRecord>> {
    const out = new Map<string, AuditRecord>();
    for (const id of ids) {
      const row = this.stmts.getRecord.get(id) as { doc: string } | undefined;
      if (row) out.set(id, JSON.parse(row.doc) as AuditRecord);
    }
    return out;
  }

  async getEvents(ids: string[]): Promise<Map<string, StoredEvent>> {
    const out = new Map<string, StoredEvent>();
    for (const id of ids) {
      const row = this.stmts.getEvent.get(id) as { doc: string; record_id: string } | undefined;
      if (row) out.set(id, { ...(JSON.parse(row.doc) as StoredEvent), recordId: row.record_id });
    }
    return out;
  }

  async write(batch: WriteBatch): Promise<void> {
    const s = this.stmts;
    const tx = this.db.transaction((b: WriteBatch) => {
      for (const e of b.events) s.putEvent.run({ id: e.id, recordId: e.recordId, ts: isoMs(e.timestamp) || 0, source: e.source, doc: JSON.stringify(e) });
      for (const h of this.beforeHooks) h(this.db, b);
      for (const id of b.deletedRecords) s.delRecord.run(id);
      for (const r of b.records) s.putRecord.run({ ...recordColumns(r), doc: this.serializeRecord(r) });
      for (const [k, id] of b.keys) s.putKey.run(k, id);
      for (const d of b.deadLetters) s.putDead.run(d.id, Date.parse(d.timestamp) || 0, JSON.stringify(d));
      for (const h of this.hooks) h(this.db, b);
    });
    try {
      tx(batch);
    } catch (e) {
      // better-sqlite3 reports extended result codes (SQLITE_IOERR_WRITE, SQLITE_BUSY_SNAPSHOT, …).
      // The transaction was rolled back: nothing of the batch is stored, it can be written again.
      const code = (e as { code?: string }).code ?? '';
      const full = this.isDiskFull(code);
      throw new PipelineError(
        full ? `embedded store: the disk is full (${code} writing ${this.file}); nothing of the batch was stored, free some space` : `embedded store write failed: ${(e as Error).message}`,
        full ? 'disk_full' : 'store_write_failed',
        full || code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_IOERR'),
        'sink',
        { cause: e },
      );
    }
    this.maybeOptimize();
  }

  async searchRecords(q: RecordQuery): Promise<RecordPage> {
    const where: string[] = [];
    const args: Record<string, unknown> = {};
    if (q.from) { where.push('ts >= @from'); args.from = Date.parse(q.from); }
    if (q.to) { where.push('ts < @to'); args.to = Date.parse(q.to); }
    if (q.traceId) { where.push('trace_id = @traceId'); args.traceId = q.traceId; }
    if (q.userId) { where.push('user_id = @userId'); args.userId = q.userId; }
    if (q.sourceIp) { where.push('source_ip = @sourceIp'); args.sourceIp = q.sourceIp; }
    if (q.verdict) { where.push('verdict = @verdict'); args.verdict = q.verdict; }
    if (q.service) { where.push('service = @service'); args.service = q.service; }
    if (q.method) { where.push('method = @method'); args.method = q.method.toUpperCase(); }
    if (q.status !== undefined) { where.push('status = @status'); args.status = q.status; }
    if (q.outcome) { where.push('outcome = @outcome'); args.outcome = q.outcome; }
    if (q.recordType) { where.push('record_type = @recordType'); args.recordType = q.recordType; }
    else where.push("record_type != 'api'");
    if (q.ruleName) { where.push('rule_name = @ruleName'); args.ruleName = q.ruleName; }
    if (q.firewallAction) { where.push('fw_action = @fwAction'); args.fwAction = q.firewallAction; }
    if (q.path) { where.push('path = @path'); args.path = q.path; }
    if (q.pathPrefix) {
      // A range on the BINARY-collated column: case-sensitive (LIKE is not) and exact. Which index
      // serves it depends on how many paths match, which the planner cannot know: a narrow prefix
      // reads records_path and sorts the few matches; a broad one (`/api/`) walks records_ts newest
      // first and stops at the page (`+path` keeps the planner off records_path).
      const hi = prefixUpperBound(q.pathPrefix);
      args.pathLo = q.pathPrefix;
      if (hi !== undefined) args.pathHi = hi;
      const col = this.prefixIsBroad(q.pathPrefix, hi) ? '+path' : 'path';
      where.push(`${col} >= @pathLo`);
      if (hi !== undefined) where.push(`${col} < @pathHi`);
    }
    if (q.mismatch !== undefined) { where.push('mismatch = @mismatch'); args.mismatch = q.mismatch ? 1 : 0; }
    if (q.source) { where.push("(',' || sources || ',') LIKE @source ESCAPE '\\'"); args.source = `%,${likeEscape(q.source)},%`; }
    if (q.text) {
      // instr(), not LIKE: no pattern syntax to escape, and LIKE stops reading its pattern at a NUL
      // character ('e\0x' would act as '%e'). ASCII case folding only, like SQLite's lower() and
      // Elasticsearch's case_insensitive wildcard (JS toLowerCase() would also fold 'Ä').
      where.push("(instr(lower(coalesce(path,'')), @text) > 0 OR instr(lower(coalesce(user_agent,'')), @text) > 0)");
      args.text = asciiLower(q.text);
    }
    if (q.cursor) {
      const c = decodeCursor(q.cursor);
      if (!c) throw new PipelineError('invalid cursor', 'invalid_cursor', false, 'api');
      // A row value: SQLite seeks records_ts(ts DESC, id DESC) to the cursor instead of scanning to it.
      where.push('(ts, id) < (@cts, @cid)');
      args.cts = c.ts;
      args.cid = c.id;
    }
    // Free text alone (with time, cursor, record type) matches anywhere in path and user agent, so it
    // walks the records newest first until the page is full: on records_text that walk reads only the
    // index, and the page's documents are read afterwards (1M records: 30-70 ms instead of 0.2-1.3 s
    // for a rare term, bench/dashboard.mjs). Other filters have their own indexes: the plain query.
    const textOnly = Boolean(q.text) && !q.traceId && !q.userId && !q.sourceIp && !q.verdict && !q.service && !q.method && q.status === undefined && !q.outcome && !q.ruleName && !q.firewallAction && !q.path && !q.pathPrefix && q.mismatch === undefined && !q.source;
    const sql = textOnly
      ? `SELECT id, ts, doc FROM records WHERE id IN (SELECT id FROM records INDEXED BY records_text WHERE ${where.join(' AND ')} ORDER BY ts DESC, id DESC LIMIT @limit) ORDER BY ts DESC, id DESC`
      : `SELECT id, ts, doc FROM records ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY ts DESC, id DESC LIMIT @limit`;
    args.limit = q.limit + 1;
    const rows = this.db.prepare(sql).all(args) as { id: string; ts: number; doc: string }[];
    const more = rows.length > q.limit;
    const page = more ? rows.slice(0, q.limit) : rows;
    const last = page[page.length - 1];
    const out: RecordPage = { records: page.map((r) => JSON.parse(r.doc) as AuditRecord) };
    if (more && last) out.nextCursor = encodeCursor({ ts: last.ts, id: last.id });
    return out;
  }

  /** More than BROAD_PREFIX_ROWS records have a url.path with this prefix (counted on records_path, capped). */
  private prefixIsBroad(lo: string, hi: string | undefined): boolean {
    const sql = `SELECT count(*) AS n FROM (SELECT 1 FROM records INDEXED BY records_path WHERE path >= ? ${hi === undefined ? '' : 'AND path < ?'} LIMIT ${BROAD_PREFIX_ROWS + 1})`;
    const row = this.db.prepare(sql).get(...(hi === undefined ? [lo] : [lo, hi])) as { n: number };
    return row.n > BROAD_PREFIX_ROWS;
  }

  async findRecordsByIps(q: RecordsByIpsQuery): Promise<AuditRecord[]> {
    if (q.ips.length === 0) return [];
    const from = Date.parse(q.from), to = Date.parse(q.to);
    // One probe first: with no self-keyed record of the type in the window, no address can match.
    if (q.selfKeyedOnly && this.stmts.anySelfKeyed.get(q.recordType, from, to) === undefined) return [];
    // The addresses go in as one JSON array (json_each), as in lookupKeys. `+record_type` keeps the
    // planner on the address indexes: on (record_type, ts) it would scan every record of the window.
    // Self-keyed only: the literal `self_keyed = 1` lets the planner use the partial indexes
    // (records_self_ip, records_self_nat_ip), so the records a trace joined are never read.
    // Sessions by end: the literal record type lets it use records_session_ip_end and
    // records_session_nat_ip_end, which range over the end instead of every session since `from`.
    const endFrom = q.endFrom === undefined ? undefined : Date.parse(q.endFrom);
    const byEnd = endFrom !== undefined && q.recordType === 'session';
    const self = q.selfKeyedOnly ? ' AND self_keyed = 1' : '';
    const name = `byIps:${byEnd ? 'sessionEnd' : 'ts'}:${self ? 'self' : 'all'}:${endFrom !== undefined ? 'end' : ''}`;
    let stmt = this.byIps.get(name);
    if (!stmt) {
      // INDEXED BY: with ANALYZE statistics the planner prefers records_type_ts, i.e. every session.
      const sub = (col: string) =>
        byEnd
          ? `SELECT id FROM records INDEXED BY records_session_${col === 'source_ip' ? 'ip' : 'nat_ip'}_end WHERE ${col} IN (SELECT value FROM json_each(?)) AND record_type = 'session' AND end_ts >= ? AND +ts >= ? AND +ts < ?${self}`
          : `SELECT id FROM records WHERE ${col} IN (SELECT value FROM json_each(?)) AND +record_type = ? AND ts >= ? AND ts < ?${self}${endFrom !== undefined ? ' AND end_ts >= ?' : ''}`;
      this.byIps.set(name, (stmt = this.db.prepare(`SELECT doc FROM records WHERE id IN (${sub('source_ip')} UNION ${sub('source_nat_ip')}) LIMIT ?`)));
    }
    const ips = JSON.stringify(q.ips);
    const args = byEnd ? [ips, endFrom, from, to] : endFrom !== undefined ? [ips, q.recordType, from, to, endFrom] : [ips, q.recordType, from, to];
    const rows = stmt.all(...args, ...args, q.limit) as { doc: string }[];
    const out: AuditRecord[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = JSON.parse(rows[i]!.doc) as AuditRecord;
    return out;
  }
  /** findRecordsByIps's statements, by the three things their text depends on. */
  private readonly byIps = new Map<string, Database.Statement>();

  async getTrace(traceId: string): Promise<{ records: AuditRecord[]; events: StoredEvent[] }> {
    const recs = this.db.prepare('SELECT id, doc FROM records WHERE trace_id = ? ORDER BY ts, id').all(traceId) as { id: string; doc: string }[];
    const records = recs.map((r) => JSON.parse(r.doc) as AuditRecord);
    const events: StoredEvent[] = [];
    const byRecord = this.db.prepare('SELECT doc, record_id FROM events WHERE record_id = ? ORDER BY ts, id');
    for (const r of recs) {
      for (const row of byRecord.all(r.id) as { doc: string; record_id: string }[]) {
        events.push({ ...(JSON.parse(row.doc) as StoredEvent), recordId: row.record_id });
      }
    }
    events.sort((a, b) => (Date.parse(a.timestamp) || 0) - (Date.parse(b.timestamp) || 0) || a.id.localeCompare(b.id));
    return { records, events };
  }

  async listDeadLetters(q: DeadLetterQuery): Promise<{ deadLetters: DeadLetter[]; nextCursor?: string }> {
    const args: Record<string, unknown> = { limit: q.limit + 1 };
    let where = '';
    if (q.cursor) {
      const c = decodeCursor(q.cursor);
      if (!c) throw new PipelineError('invalid cursor', 'invalid_cursor', false, 'api');
      where = 'WHERE (ts < @cts OR (ts = @cts AND id < @cid))';
      args.cts = c.ts;
      args.cid = c.id;
    }
    const rows = this.db.prepare(`SELECT id, ts, doc FROM dead_letters ${where} ORDER BY ts DESC, id DESC LIMIT @limit`).all(args) as { id: string; ts: number; doc: string }[];
    const more = rows.length > q.limit;
    const page = more ? rows.slice(0, q.limit) : rows;
    const last = page[page.length - 1];
    const out: { deadLetters: DeadLetter[]; nextCursor?: string } = { deadLetters: page.map((r) => JSON.parse(r.doc) as DeadLetter) };
    if (more && last) out.nextCursor = encodeCursor({ ts: last.ts, id: last.id });
    return out;
  }

  async identityActivity(q: IdentityActivityQuery): Promise<IdentityActivityAggregates> {
    return identityActivitySql(this.db, q);
  }

  async reportByIdentity(q: ReportQuery): Promise<ReportAggregates> {
    return reportByIdentitySql(this.db, q);
  }

  async refresh(): Promise<void> {
    /* SQLite reads see committed writes immediately. */
  }

  /** Row counts, for tests and the CLI summary. */
  counts(): { records: number; events: number; deadLetters: number } {
    const c = (t: string) => (this.db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    return { records: c('records'), events: c('events'), deadLetters: c('dead_letters') };
  }
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (m) => `\\${m}`);
}
