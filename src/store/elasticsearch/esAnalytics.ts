import type { estypes } from '@elastic/elasticsearch';
import type { IdentityActivityAggregates, IdentityActivityQuery, ReportAggregates, ReportGroup, ReportQuery } from '../../model/analytics';
import { reportAggregates } from '../analytics';
import { predicateQuery, RECORD_SORT_DESC } from './searchQuery';

/**
 * Elasticsearch side of the aggregations: exact counts only. Grouped lists (resources, source ips,
 * report identities) come from `composite` aggregations paged to the end (a `terms` aggregation over
 * several daily indices may be approximate); small fixed vocabularies (verdicts, sources) use `terms`
 * with a size far above their cardinality, which is exact. Ordering and cuts happen in store/analytics.ts.
 */

/** Runs one search on the records indices (the store adds the index pattern and error classification). */
export type RecordSearch = (what: string, req: Omit<estypes.SearchRequest, 'index'>) => Promise<estypes.SearchResponse<unknown>>;

/** Buckets per composite page: large, as every page runs the query again on each daily index. */
const COMPOSITE_PAGE = 10_000;
const NOT_API: estypes.QueryDslQueryContainer = { term: { 'auditmesh.record_type': { value: 'api' } } };
const FAILURE: estypes.QueryDslQueryContainer = { term: { 'event.outcome': { value: 'failure' } } };

function timeRange(from: string | undefined, to: string | undefined): estypes.QueryDslQueryContainer[] {
  const range: estypes.QueryDslUntypedRangeQuery = { format: 'epoch_millis' };
  if (from !== undefined) range.gte = Date.parse(from);
  if (to !== undefined) range.lt = Date.parse(to);
  return range.gte !== undefined || range.lt !== undefined ? [{ range: { '@timestamp': range } }] : [];
}

type Bucket = { key: Record<string, string | number | null>; doc_count: number } & Record<string, unknown>;

/** Every bucket of a composite aggregation (paged with after_key). */
async function compositeAll(
  search: RecordSearch,
  what: string,
  query: estypes.QueryDslQueryContainer,
  sources: Record<string, estypes.AggregationsCompositeAggregationSource>[],
  aggs: Record<string, estypes.AggregationsAggregationContainer> | undefined,
  pageSize: number,
): Promise<Bucket[]> {
  const out: Bucket[] = [];
  let after: Record<string, unknown> | undefined;
  for (;;) {
    const res = await search(what, {
      size: 0,
      track_total_hits: false,
      query,
      aggs: { g: { composite: { size: pageSize, sources, ...(after ? { after: after as estypes.AggregationsCompositeAggregateKey } : {}) }, ...(aggs ? { aggs } : {}) } },
    });
    const g = res.aggregations?.g as { buckets: Bucket[]; after_key?: Record<string, unknown> } | undefined;
    const buckets = g?.buckets ?? [];
    out.push(...buckets);
    if (buckets.length < pageSize || !g?.after_key) return out;
    after = g.after_key;
  }
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** `pageSize`: buckets per composite request (tests use a small one to exercise paging). */
export async function esIdentityActivity(search: RecordSearch, q: IdentityActivityQuery, pageSize = COMPOSITE_PAGE): Promise<IdentityActivityAggregates> {
  const query: estypes.QueryDslQueryContainer = {
    bool: { filter: [{ term: { 'user.id': { value: q.userId } } }, ...timeRange(q.from, q.to)], must_not: [NOT_API] },
  };
  const [main, resources, ips] = await Promise.all([
    search('identity activity', {
      size: 0,
      track_total_hits: true,
      query,
      aggs: {
        first: { min: { field: '@timestamp' } },
        last: { max: { field: '@timestamp' } },
        success: { filter: { term: { 'event.outcome': { value: 'success' } } } },
        failure: { filter: FAILURE },
        verdicts: { terms: { field: 'auditmesh.identity.verdict', size: 100 } },
        sources: { terms: { field: 'auditmesh.sources', size: 100 } },
        timeline: {
          date_histogram: { field: '@timestamp', fixed_interval: q.bucket === 'hour' ? '1h' : '1d', min_doc_count: 1 },
          aggs: { failures: { filter: FAILURE } },
        },
      },
    }),
    compositeAll(search, 'identity activity resources', query, [
      { path: { terms: { field: 'url.path', missing_bucket: true } } },
      { service: { terms: { field: 'service.name', missing_bucket: true } } },
    ], undefined, pageSize),
    compositeAll(search, 'identity activity source ips', query, [{ ip: { terms: { field: 'source.ip' } } }], undefined, pageSize),
  ]);
  const total = main.hits.total;
  const n = typeof total === 'number' ? total : (total?.value ?? 0);
  const a = (main.aggregations ?? {}) as Record<string, { value?: number | null; doc_count?: number; buckets?: { key: unknown; doc_count: number; failures?: { doc_count: number } }[] }>;
  const success = a.success?.doc_count ?? 0;
  const failure = a.failure?.doc_count ?? 0;
  const verdicts: Record<string, number> = {};
  for (const b of a.verdicts?.buckets ?? []) verdicts[String(b.key)] = b.doc_count;
  return {
    records: n,
    firstSeenMs: n ? num(a.first?.value) : null,
    lastSeenMs: n ? num(a.last?.value) : null,
    resources: resources
      .map((b) => ({ path: str(b.key.path), service: str(b.key.service), count: b.doc_count }))
      .filter((r) => r.path !== null || r.service !== null),
    sources: (a.sources?.buckets ?? []).map((b) => ({ source: String(b.key), count: b.doc_count })),
    outcomes: { success, failure, unknown: n - success - failure },
    verdicts,
    sourceIps: ips.map((b) => ({ ip: String(b.key.ip), count: b.doc_count })),
    timeline: (a.timeline?.buckets ?? []).map((b) => ({ startMs: Number(b.key), count: b.doc_count, failures: b.failures?.doc_count ?? 0 })),
  };
}

export async function esReportByIdentity(search: RecordSearch, q: ReportQuery, pageSize = COMPOSITE_PAGE): Promise<ReportAggregates> {
  const query: estypes.QueryDslQueryContainer = { bool: { filter: [...timeRange(q.from, q.to), predicateQuery(q.where)], must_not: [NOT_API] } };
  const buckets = await compositeAll(search, 'report by identity', query, [{ identity: { terms: { field: 'user.id', missing_bucket: true } } }], {
    failures: { filter: FAILURE },
    first: { min: { field: '@timestamp' } },
    last: { max: { field: '@timestamp' } },
  }, pageSize);
  const groups: ReportGroup[] = buckets.map((b) => ({
    identity: str(b.key.identity),
    count: b.doc_count,
    failures: (b.failures as { doc_count: number }).doc_count,
    firstSeenMs: num((b.first as { value: number | null }).value) ?? 0,
    lastSeenMs: num((b.last as { value: number | null }).value) ?? 0,
    examples: [],
  }));
  const out = reportAggregates(groups, q.limit);
  if (q.examples > 0 && out.groups.length) {
    // One request: a filter bucket per listed identity, each with its newest records (ties by id desc).
    const filters: Record<string, estypes.QueryDslQueryContainer> = {};
    out.groups.forEach((g, i) => {
      filters[`g${i}`] = g.identity === null ? { bool: { must_not: [{ exists: { field: 'user.id' } }] } } : { term: { 'user.id': { value: g.identity } } };
    });
    const res = await search('report examples', {
      size: 0,
      track_total_hits: false,
      query,
      aggs: { ex: { filters: { filters }, aggs: { top: { top_hits: { size: q.examples, sort: RECORD_SORT_DESC, _source: false } } } } },
    });
    const fb = (res.aggregations?.ex as { buckets: Record<string, { top: { hits: { hits: { sort?: unknown[] }[] } } }> } | undefined)?.buckets ?? {};
    out.groups.forEach((g, i) => {
      g.examples = (fb[`g${i}`]?.top.hits.hits ?? []).map((h) => String(h.sort?.[1]));
    });
  }
  return out;
}
