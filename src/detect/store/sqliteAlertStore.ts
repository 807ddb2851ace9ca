import type Database from 'better-sqlite3';
import { PipelineError } from '../../errors';
import { decodeCursor, encodeCursor } from '../../store/query';
import type { Alert, AlertStatus } from '../alert';
import type { AlertPage, AlertQuery, AlertStore, StateDoc, WebhookDeadLetter } from './alertStore';

/**
 * Alert tables in the embedded store's database file (same connection, WAL, synchronous=FULL). One
 * transaction per commit: alerts and state land together or not at all.
 */
export class SqliteAlertStore implements AlertStore {
  readonly kind = 'sqlite' as const;
  private stmts!: ReturnType<SqliteAlertStore['prepare']>;

  constructor(private readonly db: Database.Database) {}

  async init(): Promise<void> {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS alerts (
        id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, severity TEXT NOT NULL, status TEXT NOT NULL, identity TEXT, source_ip TEXT,
        first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, count INTEGER NOT NULL,
        status_updated_at TEXT, status_updated_by TEXT, doc TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS alerts_first_seen ON alerts(first_seen DESC, id DESC);
      CREATE INDEX IF NOT EXISTS alerts_rule ON alerts(rule_id, first_seen DESC);
      CREATE INDEX IF NOT EXISTS alerts_identity ON alerts(identity, first_seen DESC);
      CREATE TABLE IF NOT EXISTS alert_state (key TEXT PRIMARY KEY, kind TEXT NOT NULL, updated_at INTEGER NOT NULL, doc TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS alert_dead_letters (id TEXT PRIMARY KEY, ts INTEGER NOT NULL, doc TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS alert_dead_letters_ts ON alert_dead_letters(ts DESC, id DESC);
    `);
    this.stmts = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      getState: db.prepare('SELECT doc FROM alert_state WHERE key = ?'),
      putState: db.prepare('INSERT INTO alert_state(key, kind, updated_at, doc) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET kind = excluded.kind, updated_at = excluded.updated_at, doc = excluded.doc'),
      // The status columns belong to the analyst: an upsert of the engine never touches them.
      putAlert: db.prepare(`INSERT INTO alerts(id, rule_id, severity, status, identity, source_ip, first_seen, last_seen, count, doc)
        VALUES (@id, @rule_id, @severity, @status, @identity, @source_ip, @first_seen, @last_seen, @count, @doc)
        ON CONFLICT(id) DO UPDATE SET rule_id = excluded.rule_id, severity = excluded.severity, identity = excluded.identity, source_ip = excluded.source_ip,
          first_seen = excluded.first_seen, last_seen = excluded.last_seen, count = excluded.count, doc = excluded.doc`),
      getAlert: db.prepare('SELECT doc, status, status_updated_at, status_updated_by FROM alerts WHERE id = ?'),
      setStatus: db.prepare('UPDATE alerts SET status = ?, status_updated_at = ?, status_updated_by = ? WHERE id = ?'),
      putDead: db.prepare('INSERT OR REPLACE INTO alert_dead_letters(id, ts, doc) VALUES (?, ?, ?)'),
      listDead: db.prepare('SELECT doc FROM alert_dead_letters ORDER BY ts DESC, id DESC LIMIT ?'),
    };
  }

  private wrap<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      const retriable = code === 'SQLITE_BUSY' || code === 'SQLITE_FULL' || code === 'SQLITE_IOERR';
      throw new PipelineError(`alert store: ${what} failed: ${(e as Error).message}`, retriable ? 'alert_store_unavailable' : 'alert_store_failed', retriable, 'sink', { cause: e });
    }
  }

  async loadState(keys: string[]): Promise<Map<string, unknown>> {
    return this.wrap('load state', () => {
      const out = new Map<string, unknown>();
      for (const k of keys) {
        const row = this.stmts.getState.get(k) as { doc: string } | undefined;
        if (row) out.set(k, JSON.parse(row.doc));
      }
      return out;
    });
  }

  async commit(alerts: Alert[], state: StateDoc[]): Promise<void> {
    const s = this.stmts;
    const now = Date.now();
    this.wrap('commit', () =>
      this.db.transaction(() => {
        for (const a of alerts) {
          const { status_updated_at: _a, status_updated_by: _b, ...doc } = a;
          s.putAlert.run({
            id: a.id,
            rule_id: a.rule_id,
            severity: a.severity,
            status: a.status,
            identity: a.identity ?? null,
            source_ip: a.source_ip ?? null,
            first_seen: Date.parse(a.first_seen),
            last_seen: Date.parse(a.last_seen),
            count: a.count,
            doc: JSON.stringify(doc),
          });
        }
        for (const st of state) s.putState.run(st.key, st.kind, now, JSON.stringify(st.doc));
      })(),
    );
  }

  private rowToAlert(row: { doc: string; status: string; status_updated_at: string | null; status_updated_by: string | null }): Alert {
    const a = JSON.parse(row.doc) as Alert;
    a.status = row.status as AlertStatus;
    if (row.status_updated_at) a.status_updated_at = row.status_updated_at;
    if (row.status_updated_by) a.status_updated_by = row.status_updated_by;
    return a;
  }

  async getAlerts(ids: string[]): Promise<Map<string, Alert>> {
    return this.wrap('get alerts', () => {
      const out = new Map<string, Alert>();
      for (const id of ids) {
        const row = this.stmts.getAlert.get(id) as Parameters<SqliteAlertStore['rowToAlert']>[0] | undefined;
        if (row) out.set(id, this.rowToAlert(row));
      }
      return out;
    });
  }

  async searchAlerts(q: AlertQuery): Promise<AlertPage> {
    const where: string[] = [];
    const args: Record<string, unknown> = {};
    if (q.from) { where.push('last_seen >= @from'); args.from = Date.parse(q.from); }
    if (q.to) { where.push('first_seen < @to'); args.to = Date.parse(q.to); }
    if (q.ruleId) { where.push('rule_id = @ruleId'); args.ruleId = q.ruleId; }
    if (q.severity) { where.push('severity = @severity'); args.severity = q.severity; }
    if (q.identity) { where.push('identity = @identity'); args.identity = q.identity; }
    if (q.status) { where.push('status = @status'); args.status = q.status; }
    if (q.cursor) {
      const c = decodeCursor(q.cursor);
      if (!c) throw new PipelineError('invalid cursor', 'invalid_cursor', false, 'api');
      where.push('(first_seen < @cts OR (first_seen = @cts AND id < @cid))');
      args.cts = c.ts;
      args.cid = c.id;
    }
    args.limit = q.limit + 1;
    const sql = `SELECT doc, status, status_updated_at, status_updated_by, first_seen, id FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY first_seen DESC, id DESC LIMIT @limit`;
    return this.wrap('search alerts', () => {
      const rows = this.db.prepare(sql).all(args) as (Parameters<SqliteAlertStore['rowToAlert']>[0] & { first_seen: number; id: string })[];
      const page = rows.slice(0, q.limit);
      const out: AlertPage = { alerts: page.map((r) => this.rowToAlert(r)) };
      if (rows.length > q.limit) {
        const last = page[page.length - 1]!;
        out.nextCursor = encodeCursor({ ts: last.first_seen, id: last.id });
      }
      return out;
    });
  }

  async setStatus(id: string, status: AlertStatus, by: string, atIso: string): Promise<Alert | undefined> {
    const r = this.wrap('set status', () => this.stmts.setStatus.run(status, atIso, by, id));
    if (r.changes === 0) return undefined;
    return (await this.getAlerts([id])).get(id);
  }

  async putDeadLetters(dls: WebhookDeadLetter[]): Promise<void> {
    this.wrap('store webhook dead letters', () =>
      this.db.transaction(() => {
        for (const d of dls) this.stmts.putDead.run(d.id, Date.parse(d.timestamp), JSON.stringify(d));
      })(),
    );
  }

  async listDeadLetters(limit: number): Promise<WebhookDeadLetter[]> {
    return this.wrap('list webhook dead letters', () => (this.stmts.listDead.all(limit) as { doc: string }[]).map((r) => JSON.parse(r.doc) as WebhookDeadLetter));
  }

  async refresh(): Promise<void> {
    /* SQLite reads see every committed write */
  }
}
