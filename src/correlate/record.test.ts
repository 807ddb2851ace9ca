import { buildRecord } from './record';
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
});
