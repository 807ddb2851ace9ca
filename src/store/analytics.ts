import type { BucketUnit, IdentityActivityAggregates, ReportAggregates, ReportGroup } from '../model/analytics';

/**
 * Engine-neutral parts of the aggregations (identity activity, reports): both stores return complete,
 * unordered groups, and this code orders, cuts and fills them, so ties, top-N cuts and empty buckets
 * cannot differ between SQLite and Elasticsearch.
 */

export const BUCKET_MS: Record<BucketUnit, number> = { hour: 3_600_000, day: 86_400_000 };

/** Longest range (ms) still bucketed by hour: 3 days. */
export const HOURLY_MAX_RANGE_MS = 3 * 86_400_000;

export function bucketFor(fromMs: number, toMs: number): BucketUnit {
  return toMs - fromMs <= HOURLY_MAX_RANGE_MS ? 'hour' : 'day';
}

/** Start of the UTC-aligned bucket holding `ms` (epoch aligned, as Elasticsearch's fixed_interval). */
export function bucketStart(ms: number, unit: BucketUnit): number {
  const w = BUCKET_MS[unit];
  return Math.floor(ms / w) * w;
}

/** How many entries the activity summary lists for resources and source ips (biggest first). */
export const ACTIVITY_TOP_N = 50;

/** Code point order (the order of UTF-8 bytes, as SQLite's BINARY collation and Lucene's keyword sort). */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done) return y.done ? 0 : -1;
    if (y.done) return 1;
    const cx = x.value.codePointAt(0)!;
    const cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

/** Nulls first, then code point order. */
function compareNullable(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return compareCodePoints(a, b);
}

export interface ActivitySummary {
  records: number;
  first_seen: string | null;
  last_seen: string | null;
  resources: { path: string | null; service: string | null; count: number }[];
  sources: { source: string; count: number }[];
  outcomes: { success: number; failure: number; unknown: number };
  verdicts: Record<string, number>;
  source_ips: { ip: string; count: number }[];
}

export interface ActivityTimelineBucket {
  bucket: string;
  count: number;
  failures: number;
}

/** The API's view of an identity's activity: ordered top-N lists and a dense timeline over [from, to). */
export function finishActivity(a: IdentityActivityAggregates, fromMs: number, toMs: number, unit: BucketUnit): { summary: ActivitySummary; timeline: ActivityTimelineBucket[] } {
  const resources = [...a.resources]
    .sort((x, y) => y.count - x.count || compareNullable(x.path, y.path) || compareNullable(x.service, y.service))
    .slice(0, ACTIVITY_TOP_N);
  const sources = a.sources.filter((s) => s.count > 0).sort((x, y) => y.count - x.count || compareCodePoints(x.source, y.source));
  const ips = [...a.sourceIps].sort((x, y) => y.count - x.count || compareCodePoints(x.ip, y.ip)).slice(0, ACTIVITY_TOP_N);
  const verdicts: Record<string, number> = {};
  for (const k of Object.keys(a.verdicts).sort(compareCodePoints)) if (a.verdicts[k]! > 0) verdicts[k] = a.verdicts[k]!;
  const byStart = new Map(a.timeline.map((b) => [b.startMs, b]));
  const timeline: ActivityTimelineBucket[] = [];
  if (toMs > fromMs) {
    const w = BUCKET_MS[unit];
    for (let t = bucketStart(fromMs, unit); t < toMs; t += w) {
      const b = byStart.get(t);
      timeline.push({ bucket: new Date(t).toISOString(), count: b?.count ?? 0, failures: b?.failures ?? 0 });
    }
  }
  return {
    summary: {
      records: a.records,
      first_seen: a.firstSeenMs === null ? null : new Date(a.firstSeenMs).toISOString(),
      last_seen: a.lastSeenMs === null ? null : new Date(a.lastSeenMs).toISOString(),
      resources,
      sources,
      outcomes: a.outcomes,
      verdicts,
      source_ips: ips,
    },
    timeline,
  };
}

/** Biggest group first, ties by identity (no identity first); at most `limit`. */
export function orderGroups<T extends { identity: string | null; count: number }>(groups: T[], limit: number): T[] {
  return [...groups].sort((x, y) => y.count - x.count || compareNullable(x.identity, y.identity)).slice(0, Math.max(0, limit));
}

/** Assemble a store's report answer from all its groups (examples filled in afterwards by the store). */
export function reportAggregates(groups: ReportGroup[], limit: number): ReportAggregates {
  return { groups: orderGroups(groups, limit), total: groups.reduce((n, g) => n + g.count, 0), identities: groups.length };
}

// ---- predicate helpers ---------------------------------------------------------------------

/**
 * The smallest string greater than every string starting with `prefix`, in code point order (=
 * UTF-8 byte order, SQLite's BINARY collation), or undefined when there is none (all U+10FFFF). So
 * `s >= prefix AND s < upper` is exactly "s starts with prefix" and can use an index.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const cps = Array.from(prefix, (c) => c.codePointAt(0)!);
  while (cps.length) {
    let last = cps.pop()!;
    if (last >= 0x10ffff) continue;
    last += 1;
    if (last >= 0xd800 && last <= 0xdfff) last = 0xe000; // surrogates are not characters
    cps.push(last);
    return String.fromCodePoint(...cps);
  }
  return undefined;
}

/**
 * A simple glob (`*` any run of characters, `?` exactly one, everything else literal) as a SQLite
 * GLOB pattern: `[` is the only other GLOB metacharacter and becomes the class `[[]`.
 */
export function globToSqlite(glob: string): string {
  return glob.replace(/\[/g, '[[]');
}

/** The same glob as a Lucene wildcard pattern (`\` escaped; `*` and `?` keep their meaning). */
export function globToWildcard(glob: string): string {
  return glob.replace(/\\/g, '\\\\');
}
