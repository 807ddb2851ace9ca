import type Database from 'better-sqlite3';
import type { IdentityActivityAggregates, IdentityActivityQuery, PredicateField, RecordPredicate, ReportAggregates, ReportGroup, ReportQuery } from '../../model/analytics';
import { SOURCE_TYPES } from '../../model/events';
import { BUCKET_MS, globToSqlite, prefixUpperBound, reportAggregates } from '../analytics';

/**
 * SQL side of the aggregations of the embedded store (GROUP BY over the indexed columns of `records`).
 * Every value is a bound parameter; column names come from a fixed map.
 */

const COLUMN: Record<PredicateField, string> = {
  userId: 'user_id',
  path: 'path',
  service: 'service',
  method: 'method',
  status: 'status',
  outcome: 'outcome',
  recordType: 'record_type',
  verified: 'verified',
  mismatch: 'mismatch',
  identityMethod: 'id_method',
  firewallAction: 'fw_action',
  ruleName: 'rule_name',
};

/** Named parameters of one statement (`@p0`, `@p1`, ...). */
export class SqlArgs {
  readonly values: Record<string, unknown> = {};
  private n = 0;
  add(v: unknown): string {
    const name = `p${this.n++}`;
    this.values[name] = v;
    return `@${name}`;
  }
}

function sqlValue(field: PredicateField, v: string | number | boolean): string | number {
  if (typeof v === 'boolean') return v ? 1 : 0;
  // The method column is stored upper-cased (store/query.ts), as Elasticsearch compares it case-insensitively.
  if (field === 'method' && typeof v === 'string') return v.toUpperCase();
  return v;
}

/**
 * A predicate as a SQL expression. A comparison with a NULL column is NULL (false in WHERE); `not`
 * coalesces it to false first, so `not` of a missing field is true, as Elasticsearch's must_not.
 */
export function predicateSql(p: RecordPredicate, args: SqlArgs): string {
  if ('all' in p) return p.all.length ? `(${p.all.map((x) => predicateSql(x, args)).join(' AND ')})` : '1';
  if ('any' in p) return p.any.length ? `(${p.any.map((x) => predicateSql(x, args)).join(' OR ')})` : '0';
  if ('not' in p) return `(NOT coalesce(${predicateSql(p.not, args)}, 0))`;
  if ('rolesAny' in p) {
    if (!p.rolesAny.length) return '0';
    return `EXISTS (SELECT 1 FROM json_each(records.roles) AS j WHERE j.value IN (${p.rolesAny.map((r) => args.add(r)).join(', ')}))`;
  }
  const col = COLUMN[p.field];
  if ('eq' in p) return `${col} = ${args.add(sqlValue(p.field, p.eq))}`;
  if ('in' in p) return p.in.length ? `${col} IN (${p.in.map((v) => args.add(sqlValue(p.field, v))).join(', ')})` : '0';
  if ('prefix' in p) {
    // A range on the BINARY-collated column: exact, case-sensitive, and it can use the path index.
    const upper = prefixUpperBound(p.prefix);
    return upper === undefined ? `${col} >= ${args.add(p.prefix)}` : `(${col} >= ${args.add(p.prefix)} AND ${col} < ${args.add(upper)})`;
  }
  return `${col} GLOB ${args.add(globToSqlite(p.glob))}`;
}

/** `from`/`to` bounds and the exclusion of `api` records shared by every aggregation. */
function baseWhere(args: SqlArgs, from: string | undefined, to: string | undefined): string[] {
  const where = ["record_type != 'api'"];
  if (from !== undefined) where.push(`ts >= ${args.add(Date.parse(from))}`);
  if (to !== undefined) where.push(`ts < ${args.add(Date.parse(to))}`);
  return where;
}

/**
 * One identity's activity in one pass: its rows are read once through records_user (user_id, ts)
 * and counted here. Five GROUP BY statements (totals, verdicts, resources, IPs, timeline) read every
 * row five times: at 1M records (bench/dashboard.mjs data), the heaviest identity's 30 days (16,500
 * rows) took 370-800 ms that way and 145-260 ms in one pass (same answers; warm cache, a busy 2-core
 * machine). The order of the groups does not matter: finishActivity sorts them.
 */
export function identityActivitySql(db: Database.Database, q: IdentityActivityQuery): IdentityActivityAggregates {
  const args = new SqlArgs();
  const where = [`user_id = ${args.add(q.userId)}`, ...baseWhere(args, q.from, q.to)].join(' AND ');
  const w = BUCKET_MS[q.bucket];
  let n = 0;
  let lo: number | null = null;
  let hi: number | null = null;
  const outcomes = { success: 0, failure: 0, unknown: 0 };
  const perSource = new Map<string, number>(SOURCE_TYPES.map((s) => [s, 0]));
  const verdicts: Record<string, number> = {};
  const resources = new Map<string | null, Map<string | null, { path: string | null; service: string | null; count: number }>>();
  const sourceIps = new Map<string, number>();
  const timeline = new Map<number, { startMs: number; count: number; failures: number }>();
  const rows = db.prepare(`SELECT ts, outcome, verdict, path, service, source_ip, sources FROM records WHERE ${where}`).raw().all(args.values) as [
    number,
    string | null,
    string | null,
    string | null,
    string | null,
    string | null,
    string | null,
  ][];
  for (const [ts, outcome, verdict, path, service, ip, sources] of rows) {
    n++;
    if (lo === null || ts < lo) lo = ts;
    if (hi === null || ts > hi) hi = ts;
    if (outcome === 'success') outcomes.success++;
    else if (outcome === 'failure') outcomes.failure++;
    else outcomes.unknown++;
    if (sources !== null) {
      const parts = sources.split(',');
      parts.forEach((src, i) => {
        const c = perSource.get(src);
        if (c !== undefined && parts.indexOf(src) === i) perSource.set(src, c + 1);
      });
    }
    if (verdict !== null) verdicts[verdict] = (verdicts[verdict] ?? 0) + 1;
    if (path !== null || service !== null) {
      let byService = resources.get(path);
      if (!byService) resources.set(path, (byService = new Map()));
      const r = byService.get(service);
      if (r) r.count++;
      else byService.set(service, { path, service, count: 1 });
    }
    if (ip !== null) sourceIps.set(ip, (sourceIps.get(ip) ?? 0) + 1);
    const b = Math.floor(ts / w) * w;
    const bucket = timeline.get(b);
    if (bucket) {
      bucket.count++;
      if (outcome === 'failure') bucket.failures++;
    } else timeline.set(b, { startMs: b, count: 1, failures: outcome === 'failure' ? 1 : 0 });
  }
  return {
    records: n,
    firstSeenMs: lo,
    lastSeenMs: hi,
    resources: [...resources.values()].flatMap((m) => [...m.values()]),
    sources: [...perSource].map(([source, count]) => ({ source, count })).filter((s) => s.count > 0),
    outcomes,
    verdicts,
    sourceIps: [...sourceIps].map(([ip, count]) => ({ ip, count })),
    timeline: [...timeline.values()],
  };
}

export function reportByIdentitySql(db: Database.Database, q: ReportQuery): ReportAggregates {
  const args = new SqlArgs();
  const where = [...baseWhere(args, q.from, q.to), predicateSql(q.where, args)].join(' AND ');
  // records_report covers every column a report predicate tests except roles: the time range is read
  // from the index alone (measured at 1M records: 34-103 ms instead of 560-600 ms through the table).
  const rows = db
    .prepare(`SELECT user_id AS u, count(*) AS n, count(CASE WHEN outcome = 'failure' THEN 1 END) AS f, min(ts) AS lo, max(ts) AS hi FROM records INDEXED BY records_report WHERE ${where} GROUP BY user_id`)
    .all(args.values) as { u: string | null; n: number; f: number; lo: number; hi: number }[];
  const groups: ReportGroup[] = rows.map((r) => ({ identity: r.u, count: r.n, failures: r.f, firstSeenMs: r.lo, lastSeenMs: r.hi, examples: [] }));
  const out = reportAggregates(groups, q.limit);
  if (q.examples > 0 && out.groups.length) {
    // INDEXED BY: newest rows of one identity first; without statistics the planner may otherwise walk
    // the whole time range (records_ts / records_type_ts) once per group.
    const ex = db.prepare(`SELECT id FROM records INDEXED BY records_user WHERE ${where} AND user_id IS @exUser ORDER BY ts DESC, id DESC LIMIT @exLimit`).pluck();
    for (const g of out.groups) g.examples = ex.all({ ...args.values, exUser: g.identity, exLimit: q.examples }) as string[];
  }
  return out;
}
