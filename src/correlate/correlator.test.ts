import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ParsedEvent, SourceType } from '../model/events';
import type { AuditRecord } from '../model/record';
import { SqliteStore } from '../store/sqlite/sqliteStore';
import { Correlator } from './correlator';
import { sha256Hex } from '../parsers/common';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function ev(id: string, source: SourceType, over: Partial<ParsedEvent> = {}): ParsedEvent {
  return {
    id,
    source,
    kind: source === 'otlp' ? 'span' : source === 'panos' ? 'traffic' : 'access_log',
    timestamp: '2026-03-01T10:00:00.000Z',
    ecs: {},
    join: {},
    claims: [],
    ref: { source, topic: `${source}-topic`, partition: 0, offset: id.replace(/\D/g, '') || '0' },
    ...over,
  };
}

describe('correlate/correlator', () => {
  let dir: string;
  let store: SqliteStore;
  let corr: Correlator;
  const apply = async (events: ParsedEvent[]) => {
    const b = await corr.correlate(events);
    await store.write({ ...b, deadLetters: [] });
    return b;
  };
  const all = async (): Promise<AuditRecord[]> => (await store.searchRecords({ limit: 1000 })).records;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corr-'));
    store = new SqliteStore(dir);
    await store.init();
    corr = new Correlator(store, undefined, { maxMembersPerRecord: 100, joinWindowMs: 5000 });
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('joins an access log and a span of the same trace into one record with both source references', async () => {
    await apply([
      ev('e1', 'envoy', { join: { traceId: TRACE }, ecs: { url: { path: '/api/orders' }, http: { request: { method: 'GET' }, response: { status_code: 200 } }, source: { ip: '10.0.0.7' } } }),
      ev('s2', 'otlp', { join: { traceId: TRACE, spanId: '00f067aa0ba902b7' }, ecs: { trace: { id: TRACE }, service: { name: 'orders' } } }),
    ]);
    const recs = await all();
    expect(recs).toHaveLength(1);
    const r = recs[0]!;
    expect(r.auditmesh.members.map((m) => [m.source, m.ref.topic, m.ref.offset, m.joined_by]).sort()).toEqual([
      ['envoy', 'envoy-topic', '1', 'trace.id'],
      ['otlp', 'otlp-topic', '2', 'trace.id'],
    ]);
    expect(r).toMatchObject({ url: { path: '/api/orders' }, service: { name: 'orders' }, trace: { id: TRACE }, source: { ip: '10.0.0.7' } });
    expect(r.auditmesh.record_type).toBe('request');
  });

  it('amends the stored record when the second event arrives in a later batch (state outlives the batch)', async () => {
    await apply([ev('e1', 'envoy', { join: { traceId: TRACE } })]);
    const first = await all();
    await apply([ev('s2', 'otlp', { join: { traceId: TRACE } })]);
    const recs = await all();
    expect(recs).toHaveLength(1);
    expect(recs[0]!.auditmesh.record_id).toBe(first[0]!.auditmesh.record_id);
    expect(recs[0]!.auditmesh.member_count).toBe(2);
    expect(recs[0]!.auditmesh.version).toBe(2);
  });

  it('does not double-count a redelivered event', async () => {
    await apply([ev('e1', 'envoy', { join: { traceId: TRACE } }), ev('s2', 'otlp', { join: { traceId: TRACE } })]);
    await apply([ev('e1', 'envoy', { join: { traceId: TRACE } })]);
    const recs = await all();
    expect(recs).toHaveLength(1);
    expect(recs[0]!.auditmesh.member_count).toBe(2);
    expect(recs[0]!.auditmesh.version).toBe(1);
  });

  it('joins through x-request-id when the access log has no trace id, and merges records that turn out to be one', async () => {
    await apply([ev('e1', 'envoy', { join: { requestId: 'REQ-1' } })]);
    await apply([ev('s9', 'otlp', { join: { traceId: TRACE } })]);
    expect(await all()).toHaveLength(2);
    // Envoy's own span carries both the trace id and guid:x-request-id: the two records become one.
    await apply([ev('s3', 'otlp', { join: { traceId: TRACE, requestId: 'req-1' } })]);
    const recs = await all();
    expect(recs).toHaveLength(1);
    expect(recs[0]!.auditmesh.members.map((m) => m.event_id).sort()).toEqual(['e1', 's3', 's9']);
    const joined = Object.fromEntries(recs[0]!.auditmesh.members.map((m) => [m.event_id, m.joined_by]));
    expect(joined).toEqual({ e1: 'http.request.id', s3: 'trace.id', s9: 'trace.id' });
    const evs = await store.getEvents(['e1']);
    expect(evs.get('e1')!.recordId).toBe(recs[0]!.auditmesh.record_id);
  });

  it('keeps events without any shared key as their own records', async () => {
    await apply([ev('p1', 'panos', { ecs: { source: { ip: '192.0.2.1' } } }), ev('p2', 'panos', { ecs: { source: { ip: '192.0.2.2' } } })]);
    const recs = await all();
    expect(recs).toHaveLength(2);
    expect(recs.every((r) => r.auditmesh.members[0]!.joined_by === 'self')).toBe(true);
  });

  it('marks a record partial when it exceeds the member cap', async () => {
    corr = new Correlator(store, undefined, { maxMembersPerRecord: 3, joinWindowMs: 5000 });
    await apply([1, 2, 3, 4, 5].map((i) => ev(`s${i}`, 'otlp', { join: { traceId: TRACE } })));
    const [r] = await all();
    expect(r!.auditmesh.partial).toBe(true);
    expect(r!.auditmesh.member_count).toBe(3);
  });

  it('never stores a raw token, only its fingerprint and verdict', async () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUvIn0.c2ln';
    const b = await apply([
      ev('e1', 'envoy', {
        join: { traceId: TRACE },
        tokens: [token],
        claims: [{ method: 'jwt', subject: 'alice', source: 'envoy', strength: 'jwt', tokenSha256: sha256Hex(token) }],
      }),
    ]);
    expect(JSON.stringify(b)).not.toContain(token);
    const [r] = await all();
    expect(JSON.stringify(r)).not.toContain(token);
    const claim = r!.auditmesh.identity.claims.find((c) => c.method === 'jwt')!;
    expect(claim.verdict).toBe('unknown_issuer');
    expect(claim.tokenSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(claim.subject).toBe('alice');
    expect(r!.auditmesh.identity.claims.filter((c) => c.method === 'jwt')).toHaveLength(1);
    expect(r!.auditmesh.identity.verified).toBe(false);
  });

  describe('address and time joins', () => {
    const T = Date.parse('2026-03-01T10:00:00.000Z');
    const at = (ms: number) => new Date(ms).toISOString();
    const tyk = (id: string, ms: number, over: Partial<ParsedEvent['join']> = {}) =>
      ev(id, 'tyk', { timestamp: at(ms), join: { clientIp: '203.0.113.10', method: 'GET', path: '/api/orders', startMs: ms, endMs: ms + 20, ...over }, ecs: { source: { ip: '203.0.113.10' } } });
    const mesh = (id: string, ms: number, traceId = TRACE) =>
      ev(id, 'envoy', { timestamp: at(ms), join: { traceId, clientIp: '203.0.113.10', method: 'GET', path: '/api/orders', startMs: ms, endMs: ms + 10 }, ecs: { url: { path: '/api/orders' }, http: { request: { method: 'GET' } }, source: { ip: '203.0.113.10' } } });
    const fw = (id: string, startMs: number, endMs: number, over: Partial<ParsedEvent['join']> = {}, user?: string) =>
      ev(id, 'panos', {
        timestamp: at(endMs),
        join: { clientIp: '203.0.113.10', clientPort: 50000, serverIp: '198.51.100.20', serverPort: 443, natServerIp: '10.20.0.5', sessionId: id, startMs, endMs, ...over },
        ecs: { source: { ip: over.clientIp ?? '203.0.113.10' }, rule: { name: 'allow-api' }, observer: { serial_number: 'fw1' } },
        claims: user ? [{ method: 'firewall_userid', subject: user, source: 'panos', strength: 'network', verdict: 'unverifiable' }] : [],
      });
    const byType = async (t: string) => (await all()).filter((r) => r.auditmesh.record_type === t);

    it('joins a gateway record without trace headers to the mesh request by client address, method, path and time', async () => {
      await apply([mesh('e1', T + 5)]);
      await apply([tyk('g1', T)]);
      const recs = await all();
      expect(recs).toHaveLength(1);
      expect(Object.fromEntries(recs[0]!.auditmesh.members.map((m) => [m.event_id, m.joined_by]))).toEqual({ g1: 'address+time', e1: 'self' });
    });

    it('does not guess when two mesh requests match the trace-less gateway record', async () => {
      await apply([mesh('e1', T + 5), mesh('e2', T + 50, 'a'.repeat(32))]);
      await apply([tyk('g1', T)]);
      const recs = await all();
      expect(recs).toHaveLength(3);
      const g = recs.find((r) => r.auditmesh.members.some((m) => m.event_id === 'g1'))!;
      expect(g.auditmesh.ambiguous).toEqual([{ event_id: 'g1', key: 'address+method+path+time', candidates: 2 }]);
    });

    it('links one firewall session to every request it carried (keep-alive), whichever arrives first', async () => {
      await apply([fw('s1', T - 1000, T + 60_000)]);
      await apply([mesh('e1', T)]);
      await apply([mesh('e2', T + 30_000, 'b'.repeat(32))]);
      const reqs = await byType('request');
      expect(reqs).toHaveLength(2);
      for (const r of reqs) {
        expect(r.auditmesh.members.find((m) => m.event_id === 's1')?.joined_by).toBe('address+time');
        expect(r.rule).toEqual({ name: 'allow-api' });
      }
      expect(await byType('session')).toHaveLength(1);
      // And the other order: the session arrives after the request.
      await apply([mesh('e3', T + 200_000, 'c'.repeat(32))]);
      await apply([fw('s2', T + 199_000, T + 201_000)]);
      const r3 = (await all()).find((r) => r.auditmesh.members.some((m) => m.event_id === 'e3'))!;
      expect(r3.auditmesh.members.map((m) => m.event_id).sort()).toEqual(['e3', 's2']);
    });

    it('joins through NAT: the gateway sees the post-NAT client address', async () => {
      await apply([mesh('e1', T)]); // client 203.0.113.10 as the gateway saw it (source-NATed by the firewall)
      await apply([fw('s1', T - 500, T + 500, { clientIp: '192.168.7.9', natClientIp: '203.0.113.10' })]);
      const req = (await byType('request'))[0]!;
      expect(req.auditmesh.members.map((m) => m.event_id).sort()).toEqual(['e1', 's1']);
      expect(req.source).toEqual({ ip: '192.168.7.9' });
    });

    it('leaves a request unjoined when two sessions match, unless the User-ID names its verified identity', async () => {
      await apply([fw('s1', T - 500, T + 500, { clientPort: 50001 }, 'corp\\alice'), fw('s2', T - 400, T + 600, { clientPort: 50002 }, 'corp\\bob')]);
      await apply([mesh('e1', T)]);
      let req = (await byType('request'))[0]!;
      expect(req.auditmesh.members.map((m) => m.event_id)).toEqual(['e1']);
      expect(req.auditmesh.ambiguous?.[0]).toMatchObject({ key: 'firewall address+time', candidates: 2 });
      const alice = mesh('e2', T + 100, 'd'.repeat(32));
      alice.claims = [{ method: 'spiffe', subject: 'spiffe://x', source: 'envoy', strength: 'mtls', verdict: 'trusted_upstream' }, { method: 'jwt_payload', subject: 'alice', source: 'envoy', strength: 'jwt', verdict: 'trusted_upstream' }];
      await apply([alice]);
      req = (await all()).find((r) => r.auditmesh.members.some((m) => m.event_id === 'e2'))!;
      expect(req.auditmesh.members.map((m) => m.event_id).sort()).toEqual(['e2', 's1']);
    });
  });
});
