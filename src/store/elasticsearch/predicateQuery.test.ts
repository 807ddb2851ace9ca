import { predicateQuery, recordFilter, withoutApiRecords } from './searchQuery';
import { REPORT_NAMES, reportPredicate } from '../reports';
import { REPORTS_CONFIG } from '../contract';

describe('store/elasticsearch > predicates and the new filters', () => {
  it('builds every report from term / terms / prefix / wildcard clauses only, never query syntax', () => {
    for (const name of REPORT_NAMES) {
      const json = JSON.stringify(predicateQuery(reportPredicate(name, { ...REPORTS_CONFIG, serviceAccountPatterns: ['a\\b*', '"x" OR *:*'] })));
      expect(json).not.toMatch(/query_string|simple_query_string|"match"|regexp|script/);
    }
  });

  it('escapes a glob for Lucene so only * and ? stay special', () => {
    expect(predicateQuery({ field: 'userId', glob: 'svc\\*' })).toEqual({ wildcard: { 'user.id': { value: 'svc\\\\*' } } });
  });

  it('treats a false flag as "not true" (a record without it is not verified / not a mismatch), as SQLite', () => {
    expect(predicateQuery({ field: 'verified', eq: false })).toEqual({ bool: { must_not: [{ term: { 'auditmesh.identity.verified': { value: true } } }] } });
    expect(recordFilter({ limit: 1, mismatch: false })).toEqual({ bool: { filter: [{ bool: { must_not: [{ term: { 'auditmesh.identity.mismatch': { value: true } } }] } }] } });
  });

  it('matches nothing for empty lists and compares methods case-insensitively', () => {
    expect(predicateQuery({ any: [] })).toEqual({ match_none: {} });
    expect(predicateQuery({ rolesAny: [] })).toEqual({ match_none: {} });
    expect(predicateQuery({ field: 'method', in: ['post'] })).toEqual({ bool: { should: [{ term: { 'http.request.method': { value: 'post', case_insensitive: true } } }], minimum_should_match: 1 } });
  });

  it('filters path prefixes with a literal prefix query and leaves api records out unless asked for', () => {
    expect(recordFilter({ limit: 1, pathPrefix: '/a*b?' })).toEqual({ bool: { filter: [{ prefix: { 'url.path': { value: '/a*b?' } } }] } });
    expect(withoutApiRecords({ match_all: {} }, {})).toEqual({ bool: { filter: [{ match_all: {} }], must_not: [{ term: { 'auditmesh.record_type': { value: 'api' } } }] } });
    expect(withoutApiRecords({ match_all: {} }, { recordType: 'api' })).toEqual({ match_all: {} });
  });
});
