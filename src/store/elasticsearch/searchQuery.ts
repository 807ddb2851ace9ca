import net from 'node:net';
import type { estypes } from '@elastic/elasticsearch';
import type { RecordQuery } from '../../model/record';
import type { Cursor } from '../query';

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
  const term = (field: string, value: string | number) => filter.push({ term: { [field]: { value } } });
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

/** `search_after` values of a cursor (sort values of the last record of the previous page). */
export function searchAfter(c: Cursor): [number, string] {
  return [c.ts, c.id];
}
