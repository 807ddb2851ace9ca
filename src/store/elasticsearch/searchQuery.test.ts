import { escapeWildcard, recordFilter } from './searchQuery';

describe('store/elasticsearch > search query', () => {
  it('escapes every wildcard metacharacter so the text is literal', () => {
    expect(escapeWildcard('a*b?c\\d')).toBe('a\\*b\\?c\\\\d');
    expect(escapeWildcard('%_"()[]{}:~^!/')).toBe('%_"()[]{}:~^!/');
  });

  it('builds free text as case-insensitive wildcard clauses, never as query syntax', () => {
    const q = recordFilter({ limit: 10, text: 'x" OR *:* \\' });
    const json = JSON.stringify(q);
    expect(json).not.toMatch(/query_string|simple_query_string|"match"|regexp/);
    expect(q).toEqual({
      bool: {
        filter: [
          {
            bool: {
              should: [
                { wildcard: { 'url.path': { value: '*x" OR \\*:\\* \\\\*', case_insensitive: true } } },
                { wildcard: { 'user_agent.original': { value: '*x" OR \\*:\\* \\\\*', case_insensitive: true } } },
              ],
              minimum_should_match: 1,
            },
          },
        ],
      },
    });
  });

  it('uses from inclusive / to exclusive in epoch milliseconds', () => {
    expect(recordFilter({ limit: 1, from: '2024-05-10T12:00:00+02:00', to: '2024-05-10T10:00:01Z' })).toEqual({
      bool: { filter: [{ range: { '@timestamp': { format: 'epoch_millis', gte: 1715335200000, lt: 1715335201000 } } }] },
    });
  });

  it('matches nothing for values no stored record can have instead of failing the request', () => {
    expect(recordFilter({ limit: 1, sourceIp: 'not-an-ip' })).toEqual({ match_none: {} });
    expect(recordFilter({ limit: 1, from: 'yesterday' })).toEqual({ match_none: {} });
    expect(recordFilter({ limit: 1, status: 20.5 })).toEqual({ match_none: {} });
  });

  it('matches everything without filters and ignores empty values', () => {
    expect(recordFilter({ limit: 1 })).toEqual({ match_all: {} });
    expect(recordFilter({ limit: 1, text: '', userId: '' })).toEqual({ match_all: {} });
  });
});
