import net from 'node:net';
import type { estypes } from '@elastic/elasticsearch';
import type { RecordQuery } from '../../model/record';
import type { PredicateField, RecordPredicate } from '../../model/analytics';
import type { Cursor } from '../query';
import { globToWildcard } from '../analytics';

/**
 * Elasticsearch translation of the shared record query semantics (see `store/query.ts`). Built only
 * from typed values: term / terms / range / wildcard clauses; the user's text is never parsed as
 * query syntax (no query_string, no simple_query_string).
 */

/** Newest first, ties by record id descending: the order of both stores. */
export const RECORD_SORT_DESC: estypes.SortCombinations[] = [
  { '@timestamp': { order: 'desc', unmapped_type: 'date' } },
  { 'auditmesh.record_id': { order: 'desc', unmapped_type: 'keyword' } },
];

export const RECORD_SORT_ASC: estypes.SortCombinations[] = [
  { '@timestamp': { order: 'asc', unmapped_type: 'date' } },
  { 'auditmesh.record_id': { order: 'asc', unmapped_type: 'keyword' } },
];

/** Escape Lucene wildcard syntax (`*`, `?`, `\`) so every character of `s` is literal. */
export function escapeWildcard(s: string): string {
  return s.replace(/[\\*?]/g, (m) => `\\${m}`);
}

const MATCH_NONE: estypes.QueryDslQueryContainer = { match_none: {} };

/**
 * The bool filter of a record search. `text` is an ASCII-case-insensitive substring of url.path or
 * user_agent.original: a `wildcard` query `*<escaped text>*` with `case_insensitive` on the keyword
 * fields (Lucene folds ASCII letters only, like SQLite's LIKE/lower(), so both engines agree).
 */
export function recordFilter(q: RecordQuery): estypes.QueryDslQueryContainer {
  const filter: estypes.QueryDslQueryContainer[] = [];
  const range: estypes.QueryDslUntypedRangeQuery = { format: 'epoch_millis' };
  if (q.from) {
    const ms = Date.parse(q.from);
    if (!Number.isFinite(ms)) return MATCH_NONE;
    range.gte = ms;
  }
  if (q.to) {
    const ms = Date.parse(q.to);
    if (!Number.isFinite(ms)) return MATCH_NONE;
    range.lt = ms;
  }
  if (range.gte !== undefined || range.lt !== undefined) filter.push({ range: { '@timestamp': range } });
  const term = (field: string, value: string | number | boolean) => filter.push({ term: { [field]: { value } } });
  if (q.traceId) term('trace.id', q.traceId);
  if (q.userId) term('user.id', q.userId);
  if (q.sourceIp) {
    // The ip field compares addresses, so a value that is not an address matches nothing (as in SQLite,
    // where it cannot equal a stored address) instead of failing the request.
    if (net.isIP(q.sourceIp) === 0) return MATCH_NONE;
    term('source.ip', q.sourceIp);
  }
  if (q.verdict) term('auditmesh.identity.verdict', q.verdict);
  if (q.service) term('service.name', q.service);
  // SQLite stores and compares the method upper-cased; methods are ASCII, so ASCII case folding agrees.
  if (q.method) filter.push({ term: { 'http.request.method': { value: q.method, case_insensitive: true } } });
  if (q.status !== undefined) {
    if (!Number.isInteger(q.status)) return MATCH_NONE;
    term('http.response.status_code', q.status);
  }
  if (q.outcome) term('event.outcome', q.outcome);
  if (q.recordType) term('auditmesh.record_type', q.recordType);
  if (q.source) term('auditmesh.sources', q.source);
  if (q.ruleName) term('rule.name', q.ruleName);
  if (q.firewallAction) term('panw.panos.action', q.firewallAction);
  if (q.path) term('url.path', q.path);
  // prefix on a keyword field: case-sensitive and literal (no wildcard syntax), as SQLite's range.
  if (q.pathPrefix) filter.push({ prefix: { 'url.path': { value: q.pathPrefix } } });
  // A record without the flag is not a mismatch (SQLite stores 0 for it).
  if (q.mismatch === true) term('auditmesh.identity.mismatch', true);
  if (q.mismatch === false) filter.push({ bool: { must_not: [{ term: { 'auditmesh.identity.mismatch': { value: true } } }] } });
  if (q.text) {
    const value = `*${escapeWildcard(q.text)}*`;
    filter.push({
      bool: {
        should: [
          { wildcard: { 'url.path': { value, case_insensitive: true } } },
          { wildcard: { 'user_agent.original': { value, case_insensitive: true } } },
        ],
        minimum_should_match: 1,
      },
    });
  }
  return filter.length ? { bool: { filter } } : { match_all: {} };
}

const API_RECORDS: estypes.QueryDslQueryContainer = { term: { 'auditmesh.record_type': { value: 'api' } } };

/** Without a record type, searches leave out `api` records (the API's own audit trail), as SQLite does. */
export function withoutApiRecords(query: estypes.QueryDslQueryContainer, q: Pick<RecordQuery, 'recordType'>): estypes.QueryDslQueryContainer {
  if (q.recordType) return query;
  return { bool: { filter: [query], must_not: [API_RECORDS] } };
}

/** Elasticsearch field of each predicate field (store/query.ts RecordColumns ↔ the records template). */
export const PREDICATE_FIELD: Record<PredicateField, string> = {
  userId: 'user.id',
  path: 'url.path',
  service: 'service.name',
  method: 'http.request.method',
  status: 'http.response.status_code',
  outcome: 'event.outcome',
  recordType: 'auditmesh.record_type',
  verified: 'auditmesh.identity.verified',
  mismatch: 'auditmesh.identity.mismatch',
  identityMethod: 'auditmesh.identity.method',
  firewallAction: 'panw.panos.action',
  ruleName: 'rule.name',
};

const MATCH_ALL: estypes.QueryDslQueryContainer = { match_all: {} };

/**
 * A record predicate (model/analytics.ts) as term / terms / prefix / wildcard clauses; values are
 * typed and escaped, never parsed as query syntax. Same semantics as SQLite's predicateSql.
 */
export function predicateQuery(p: RecordPredicate): estypes.QueryDslQueryContainer {
  if ('all' in p) return p.all.length ? { bool: { filter: p.all.map(predicateQuery) } } : MATCH_ALL;
  if ('any' in p) return p.any.length ? { bool: { should: p.any.map(predicateQuery), minimum_should_match: 1 } } : MATCH_NONE;
  if ('not' in p) return { bool: { must_not: [predicateQuery(p.not)] } };
  if ('rolesAny' in p) return p.rolesAny.length ? { terms: { 'user.roles': p.rolesAny } } : MATCH_NONE;
  const field = PREDICATE_FIELD[p.field];
  // SQLite stores the method upper-cased; methods are ASCII, so ASCII case folding agrees.
  const ci = p.field === 'method';
  if ('eq' in p) {
    // SQLite stores a missing verified/mismatch flag as 0: "false" must also match a record without it.
    if (p.eq === false) return { bool: { must_not: [{ term: { [field]: { value: true } } }] } };
    return { term: { [field]: { value: p.eq, ...(ci ? { case_insensitive: true } : {}) } } };
  }
  if ('in' in p) {
    if (!p.in.length) return MATCH_NONE;
    if (ci) return { bool: { should: p.in.map((v) => ({ term: { [field]: { value: String(v), case_insensitive: true } } })), minimum_should_match: 1 } };
    return { terms: { [field]: p.in } };
  }
  if ('prefix' in p) return { prefix: { [field]: { value: p.prefix } } };
  return { wildcard: { [field]: { value: globToWildcard(p.glob) } } };
}

/** `search_after` values of a cursor (sort values of the last record of the previous page). */
export function searchAfter(c: Cursor): [number, string] {
  return [c.ts, c.id];
}
