import { bucketFor, compareCodePoints, finishActivity, globToSqlite, globToWildcard, orderGroups, prefixUpperBound } from './analytics';

describe('store/analytics > shared aggregation semantics', () => {
  it('bounds a prefix range exactly, in code point order', () => {
    expect(prefixUpperBound('/api')).toBe('/apj');
    expect(prefixUpperBound('/a\u{10FFFF}')).toBe('/b');
    expect(prefixUpperBound('\u{10FFFF}\u{10FFFF}')).toBeUndefined();
    expect(prefixUpperBound('/\uD7FF')).toBe('/\uE000'); // skips the surrogate range
    expect(prefixUpperBound('/\uFFFF')).toBe('/\u{10000}');
    for (const [p, s] of [['/api', '/api/x'], ['/ä', '/äz'], ['/x\uFFFF', '/x\uFFFF\u{1F600}']] as const) {
      expect(compareCodePoints(s, p)).toBeGreaterThanOrEqual(0);
      expect(compareCodePoints(s, prefixUpperBound(p)!)).toBeLessThan(0);
    }
  });

  it('orders strings by code point (UTF-8 byte order), not UTF-16 units', () => {
    expect(compareCodePoints('\uFFFF', '\u{10000}')).toBeLessThan(0); // JS '<' says the opposite
    expect('\uFFFF' < '\u{10000}').toBe(false);
    expect(compareCodePoints('a', 'ab')).toBeLessThan(0);
    expect(compareCodePoints('b', 'a')).toBeGreaterThan(0);
    expect(compareCodePoints('x', 'x')).toBe(0);
  });

  it('translates a simple glob: only * and ? are special on both engines', () => {
    expect(globToSqlite('job[?]*')).toBe('job[[]?]*');
    expect(globToWildcard('a\\b*?')).toBe('a\\\\b*?');
  });

  it('buckets by hour up to 3 days and by day beyond', () => {
    expect(bucketFor(0, 3 * 86_400_000)).toBe('hour');
    expect(bucketFor(0, 3 * 86_400_000 + 1)).toBe('day');
  });

  it('orders groups biggest first, unidentified first among equals, then by identity', () => {
    expect(orderGroups([{ identity: 'b', count: 1 }, { identity: null, count: 1 }, { identity: 'a', count: 2 }, { identity: 'a2', count: 1 }], 3)).toEqual([
      { identity: 'a', count: 2 },
      { identity: null, count: 1 },
      { identity: 'a2', count: 1 },
    ]);
  });

  it('fills the timeline with empty buckets over [from, to) and cuts the top lists at 50', () => {
    const from = Date.parse('2024-06-03T10:30:00Z');
    const to = Date.parse('2024-06-03T13:00:00Z');
    const out = finishActivity(
      {
        records: 60,
        firstSeenMs: from,
        lastSeenMs: to - 1,
        resources: Array.from({ length: 60 }, (_, i) => ({ path: `/p/${String(i).padStart(2, '0')}`, service: null, count: 1 + (i % 3) })),
        sources: [{ source: 'tyk', count: 0 }, { source: 'envoy', count: 60 }],
        outcomes: { success: 60, failure: 0, unknown: 0 },
        verdicts: { verified: 60, expired: 0 },
        sourceIps: [],
        timeline: [{ startMs: Date.parse('2024-06-03T11:00:00Z'), count: 60, failures: 0 }],
      },
      from,
      to,
      'hour',
    );
    expect(out.timeline.map((b) => [b.bucket, b.count])).toEqual([
      ['2024-06-03T10:00:00.000Z', 0],
      ['2024-06-03T11:00:00.000Z', 60],
      ['2024-06-03T12:00:00.000Z', 0],
    ]);
    expect(out.summary.resources).toHaveLength(50);
    expect(out.summary.resources[0]).toEqual({ path: '/p/02', service: null, count: 3 });
    expect(out.summary.sources).toEqual([{ source: 'envoy', count: 60 }]);
    expect(out.summary.verdicts).toEqual({ verified: 60 });
  });
});
