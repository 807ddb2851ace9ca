import { buildRecord, memoOf } from './record';
import type { StoredEvent } from '../model/record';

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

const ev = (id: string, source: StoredEvent['source'], ecs: StoredEvent['ecs'], join: StoredEvent['join'] = {}): StoredEvent => ({
  id, source, kind: 'x', timestamp: '2026-01-01T00:00:00.000Z', ecs, join, claims: [], ref: { source }, recordId: 'r',
});

describe('correlate/record > buildRecord', () => {
  it('merges layers by field-group priority without mutating the member events', () => {
    const events = deepFreeze([
      ev('a', 'otlp', { url: { path: '/span', full: 'http://x/span' }, service: { name: 'orders' }, http: { response: { status_code: 500 } } }, { traceId: 't'.repeat(32) }),
      ev('b', 'tyk', { url: { path: '/edge' }, source: { ip: '203.0.113.1' }, http: { request: { method: 'GET' } } }, { requestId: 'req-1' }),
      ev('c', 'panos', { source: { ip: '192.168.1.5', nat: { ip: '203.0.113.1' } }, rule: { name: 'allow' } }),
    ]);
    const r = buildRecord({ recordId: 'r', events, joinedBy: new Map(), keys: [], now: new Date('2026-01-02T00:00:00Z') });
    expect(r.url).toEqual({ path: '/edge', full: 'http://x/span' }); // gateway wins, span fills the gaps
    expect(r.source).toEqual({ ip: '192.168.1.5', nat: { ip: '203.0.113.1' } }); // the firewall saw the real client
    expect(r.http).toEqual({ request: { method: 'GET', id: 'req-1' }, response: { status_code: 500 } });
    expect(r.trace).toEqual({ id: 't'.repeat(32) });
    expect(r.service).toEqual({ name: 'orders' });
    expect(r.auditmesh.sources).toEqual(['otlp', 'panos', 'tyk']);
    // Same members → same content, and the previous version's number is kept.
    const again = buildRecord({ recordId: 'r', events, joinedBy: new Map(), keys: [], previous: r, now: new Date('2026-01-03T00:00:00Z') });
    expect(again.auditmesh.version).toBe(1);
    expect(again.auditmesh.updated_at).toBe(r.auditmesh.updated_at);
  });

  it('writes start and end as toISOString does, whatever form the members\' timestamps have', () => {
    const at = (e: StoredEvent, timestamp: string): StoredEvent => ({ ...e, timestamp });
    const cases: [string[], { endMs?: number }[], string, string][] = [
      // canonical strings are reused as they are
      [['2026-01-01T00:00:01.250Z', '2026-01-01T00:00:03.000Z'], [{}, {}], '2026-01-01T00:00:01.250Z', '2026-01-01T00:00:03.000Z'],
      // other forms of the same instants are written in the canonical form
      [['2026-01-01T01:00:01.25+01:00', '2026-01-01T00:00:03Z'], [{}, {}], '2026-01-01T00:00:01.250Z', '2026-01-01T00:00:03.000Z'],
      // a date that does not exist rolls over as Date.parse reads it
      [['2026-02-29T00:00:00.000Z', '2026-03-01T00:00:00.500Z'], [{}, {}], '2026-03-01T00:00:00.000Z', '2026-03-01T00:00:00.500Z'],
      // an end taken from the join's endMs, not from a timestamp
      [['2026-01-01T00:00:01.000Z', '2026-01-01T00:00:02.000Z'], [{ endMs: Date.parse('2026-01-01T00:00:09.500Z') }, {}], '2026-01-01T00:00:01.000Z', '2026-01-01T00:00:09.500Z'],
      // a later member ends the record at its own (non-canonical) time
      [['2026-01-01T00:00:01.000Z', '2026-01-01T00:00:04.5Z'], [{}, {}], '2026-01-01T00:00:01.000Z', '2026-01-01T00:00:04.500Z'],
    ];
    for (const [stamps, joins, start, end] of cases) {
      const events = [at(ev('a', 'envoy', { url: { path: '/a' } }, joins[0]), stamps[0]!), at(ev('b', 'otlp', { url: { path: '/b' } }, joins[1]), stamps[1]!)];
      const r = buildRecord({ recordId: 'r', events, joinedBy: new Map(), keys: [], now: new Date('2026-01-02T00:00:00Z') });
      expect([stamps, r['@timestamp'], (r.event as Record<string, unknown>).start, (r.event as Record<string, unknown>).end]).toEqual([stamps, start, start, end]);
    }
  });
});

describe('correlate/record > memoOf', () => {
  it('keeps an event’s derived values with it, invisible to JSON, keys, copies and equality', () => {
    const e = ev('a', 'tyk', { url: { path: '/x' } });
    const json = JSON.stringify(e);
    const m = memoOf(e);
    expect(m).toEqual({ ts: Date.parse('2026-01-01T00:00:00.000Z'), iso: true, keys: undefined });
    expect(memoOf(e)).toBe(m); // derived once
    expect(JSON.stringify(e)).toBe(json);
    expect(Reflect.ownKeys(e)).toEqual(Object.keys(JSON.parse(json)));
    const copy = { ...e, recordId: 'other' };
    expect(Reflect.ownKeys(copy)).toEqual(Reflect.ownKeys(e));
    expect(memoOf(copy)).not.toBe(m); // a copy derives its own
    expect(e).toEqual(JSON.parse(json));
  });

  it('derives the values of a frozen event on each use, and reads non-canonical times with Date.parse', () => {
    const e = Object.freeze({ ...ev('b', 'envoy', {}), timestamp: '2026-01-01T01:00:00Z' });
    expect(memoOf(e)).toEqual({ ts: Date.parse('2026-01-01T01:00:00Z'), iso: false, keys: undefined });
    expect(memoOf(e)).not.toBe(memoOf(e));
  });
});
