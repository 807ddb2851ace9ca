/**
 * Aggregations over audit records (identity activity, SOC 2 reports): the shapes both store engines
 * answer with, identically (see `store/contract.ts`). The stores return raw groups; the shared code in
 * `store/analytics.ts` sorts, cuts and fills them, so ties and empty buckets never differ by engine.
 */

/**
 * A filter over the indexed projection of a record (`store/query.ts` RecordColumns), built only by
 * auditmesh code from typed values (report definitions, config); never parsed from user text.
 * Each engine translates it: SQL with bound parameters, or Elasticsearch term/terms/prefix/wildcard.
 *
 * Semantics (both engines): a comparison with a field the record lacks is false; `not` of it is true.
 */
export type RecordPredicate =
  | { all: RecordPredicate[] }
  | { any: RecordPredicate[] }
  | { not: RecordPredicate }
  | { field: PredicateField; eq: string | number | boolean }
  | { field: PredicateField; in: (string | number)[] }
  /** Case-sensitive string prefix of url.path. */
  | { field: 'path'; prefix: string }
  /** Glob on user.id: `*` any run of characters, `?` one character, everything else literal, case-sensitive. */
  | { field: 'userId'; glob: string }
  /** Any of user.roles (the verified identity's groups) is one of `rolesAny`. */
  | { rolesAny: string[] };

/** Fields a predicate may test (a fixed vocabulary, each mapped to a column and an ES field). */
export type PredicateField =
  | 'userId'
  | 'path'
  | 'service'
  | 'method'
  | 'status'
  | 'outcome'
  | 'recordType'
  | 'verified'
  | 'mismatch'
  | 'identityMethod'
  | 'firewallAction'
  | 'ruleName';

/** Timeline bucket width: hours for ranges up to 3 days, days beyond. */
export type BucketUnit = 'hour' | 'day';

export interface IdentityActivityQuery {
  /** Exact user.id (the record's verified/strongest identity). */
  userId: string;
  /** ISO 8601, inclusive. */
  from: string;
  /** ISO 8601, exclusive. */
  to: string;
  bucket: BucketUnit;
}

/** Raw aggregates of one identity's records in a time range (API records excluded). */
export interface IdentityActivityAggregates {
  records: number;
  /** Epoch ms of the oldest / newest record, null when there is none. */
  firstSeenMs: number | null;
  lastSeenMs: number | null;
  /** Every (url.path, service.name) pair with at least one of them set. */
  resources: { path: string | null; service: string | null; count: number }[];
  /** Records per source type (a record joined from several sources counts once for each). */
  sources: { source: string; count: number }[];
  outcomes: { success: number; failure: number; unknown: number };
  verdicts: Record<string, number>;
  /** Every source.ip. */
  sourceIps: { ip: string; count: number }[];
  /** Non-empty buckets: bucket start (epoch ms, UTC aligned), records, failures. */
  timeline: { startMs: number; count: number; failures: number }[];
}

export interface ReportQuery {
  where: RecordPredicate;
  from?: string;
  to?: string;
  /** Most groups returned (biggest first). */
  limit: number;
  /** Example record ids per group (newest first). */
  examples: number;
}

/** One identity's share of a report. `identity` null: records without user.id. */
export interface ReportGroup {
  identity: string | null;
  count: number;
  failures: number;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Newest first (ties by record id descending). */
  examples: string[];
}

export interface ReportAggregates {
  groups: ReportGroup[];
  /** Records matched (all groups, also those cut by `limit`). */
  total: number;
  /** Identities matched (all groups). */
  identities: number;
}
