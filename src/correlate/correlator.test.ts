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

  it('writes again the keys a cut-short write lost when the batch is redelivered (crash in the middle of a write)', async () => {
    // A store write that stored the record but only some of its keys (a bulk cut short by a crash).
    class LosesKeysOnce extends SqliteStore {
      lose = true;
      override async write(b: Parameters<SqliteStore['write']>[0]): Promise<void> {
        const keys = this.lose ? b.keys.filter(([k]) => !k.startsWith('r:')) : b.keys;
        this.lose = false;
        await super.write({ ...b, keys });
      }
    }
    await store.close();
    store = new LosesKeysOnce(dir);
    await store.init();
    corr = new Correlator(store, undefined, { maxMembersPerRecord: 100, joinWindowMs: 5000 });
    const span = ev('s1', 'otlp', { join: { traceId: TRACE, requestId: 'req-5' } });
    await apply([ev('s0', 'otlp', { join: { traceId: TRACE } }), span]);
    expect((await store.lookupKeys(['r:req-5'])).size).toBe(0);
    // Not committed, so redelivered: the key store, not the record, says which keys are missing.
    await apply([span]);
    expect((await store.lookupKeys(['r:req-5'])).size).toBe(1);
    await apply([ev('e2', 'envoy', { join: { requestId: 'REQ-5' } })]);
    const recs = await all();
    expect(recs).toHaveLength(1);
    expect(recs[0]!.auditmesh.members.map((m) => m.event_id).sort()).toEqual(['e2', 's0', 's1']);
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

    it('links a session arriving with the span that merges two stored records to the merged record, and the merged-away one stays deleted', async () => {
      const req = (id: string, source: SourceType, ms: number, keys: Partial<ParsedEvent['join']>) =>
        ev(id, source, { timestamp: at(ms), join: { clientIp: '203.0.113.10', method: 'GET', path: '/api/orders', startMs: ms, ...keys }, ecs: { url: { path: '/api/orders' }, http: { request: { method: 'GET' } }, source: { ip: '203.0.113.10' } } });
      // Two records so far: the app's span (trace only) and the mesh's text line (x-request-id only).
      await apply([req('s1', 'otlp', T + 5, { traceId: TRACE })]);
      await apply([req('e1', 'envoy', T + 6, { requestId: 'req-7' })]);
      expect(await byType('request')).toHaveLength(2);
      // One batch: Envoy's span (both keys: the records merge) and the firewall session of the client.
      const b = await apply([req('s2', 'otlp', T + 4, { traceId: TRACE, requestId: 'req-7' }), fw('f1', T - 1_000, T + 2_000)]);
      for (const id of b.deletedRecords) expect(b.records.map((r) => r.auditmesh.record_id)).not.toContain(id);
      const reqs = await byType('request');
      expect(reqs.map((r) => r.auditmesh.members.map((m) => `${m.event_id}:${m.joined_by}`).sort())).toEqual([['e1:http.request.id', 'f1:address+time', 's1:trace.id', 's2:trace.id']]);
      expect(await byType('session')).toHaveLength(1);
    });

    it('joins a gateway record without trace headers to the mesh request by client address, method, path and time', async () => {
      await apply([mesh('e1', T + 5)]);
      await apply([tyk('g1', T)]);
      const recs = await all();
      expect(recs).toHaveLength(1);
      expect(Object.fromEntries(recs[0]!.auditmesh.members.map((m) => [m.event_id, m.joined_by]))).toEqual({ g1: 'address+time', e1: 'self' });
    });

    it('joins a gateway record to a stored mesh request whose source is the gateway and whose client is in X-Forwarded-For', async () => {
      // An inbound sidecar behind the gateway: source.ip is the gateway, the client is the XFF hop.
      const sidecar = mesh('e1', T + 5);
      sidecar.ecs = { ...sidecar.ecs, source: { ip: '10.20.0.5' }, client: { ip: '203.0.113.10' } };
      await apply([sidecar]);
      await apply([tyk('g1', T)]);
      const recs = await all();
      expect(recs).toHaveLength(1);
      expect(Object.fromEntries(recs[0]!.auditmesh.members.map((m) => [m.event_id, m.joined_by]))).toEqual({ g1: 'address+time', e1: 'self' });
    });

    it('joins a gateway record to a stored mesh request known so far only by its x-request-id', async () => {
      const text = ev('e1', 'envoy', { timestamp: at(T + 5), join: { requestId: 'req-9', clientIp: '203.0.113.10', method: 'GET', path: '/api/orders', startMs: T + 5 }, ecs: { url: { path: '/api/orders' }, http: { request: { method: 'GET' } }, client: { ip: '203.0.113.10' } } });
      await apply([text]);
      await apply([tyk('g1', T)]);
      const recs = await all();
      expect(recs).toHaveLength(1);
      expect(recs[0]!.auditmesh.members.map((m) => m.event_id).sort()).toEqual(['e1', 'g1']);
    });

    it('joins a gateway record that arrived before the mesh request: it is re-evaluated when the request arrives', async () => {
      await apply([tyk('g1', T)]);
      expect(await all()).toHaveLength(1);
      await apply([mesh('e1', T + 5)]);
      const recs = await all();
      expect(recs).toHaveLength(1);
      expect(Object.fromEntries(recs[0]!.auditmesh.members.map((m) => [m.event_id, m.joined_by]))).toEqual({ g1: 'address+time', e1: 'self' });
      const evs = await store.getEvents(['g1', 'e1']);
      expect(evs.get('g1')!.recordId).toBe(recs[0]!.auditmesh.record_id);
      expect(evs.get('e1')!.recordId).toBe(recs[0]!.auditmesh.record_id);
      // A later member of the request keeps the gateway record in it.
      await apply([ev('s2', 'otlp', { timestamp: at(T + 6), join: { traceId: TRACE, startMs: T + 6 } })]);
      const again = await all();
      expect(again).toHaveLength(1);
      expect(Object.fromEntries(again[0]!.auditmesh.members.map((m) => [m.event_id, m.joined_by]))).toEqual({ g1: 'address+time', e1: 'trace.id', s2: 'trace.id' });
    });

    it('does not guess when the gateway record arrived first and two mesh requests then match it', async () => {
      await apply([tyk('g1', T)]);
      await apply([mesh('e1', T + 5), mesh('e2', T + 50, 'a'.repeat(32))]);
      const recs = await all();
      expect(recs).toHaveLength(3);
      const g = recs.find((r) => r.auditmesh.members.some((m) => m.event_id === 'g1'))!;
      expect(g.auditmesh.members.map((m) => m.event_id)).toEqual(['g1']);
      expect(g.auditmesh.ambiguous).toEqual([{ event_id: 'g1', key: 'address+method+path+time', candidates: 2 }]);
    });

    it('resolves an earlier ambiguity of a gateway record when its two candidates turn out to be one request', async () => {
      const req = (id: string, source: SourceType, ms: number, keys: Partial<ParsedEvent['join']>) =>
        ev(id, source, { timestamp: at(ms), join: { clientIp: '203.0.113.10', method: 'GET', path: '/api/orders', startMs: ms, ...keys }, ecs: { url: { path: '/api/orders' }, http: { request: { method: 'GET' } }, source: { ip: '203.0.113.10' } } });
      // The app's span (trace only) and the mesh's text line (x-request-id only): two records so far.
      await apply([req('s1', 'otlp', T + 5, { traceId: TRACE }), req('e1', 'envoy', T + 6, { requestId: 'req-7' })]);
      await apply([tyk('g1', T)]);
      let g = (await all()).find((r) => r.auditmesh.members.some((m) => m.event_id === 'g1'))!;
      expect(g.auditmesh.ambiguous).toEqual([{ event_id: 'g1', key: 'address+method+path+time', candidates: 2 }]);
      // Envoy's span carries both keys: one request after all, and the gateway record joins it.
      await apply([req('s2', 'otlp', T + 4, { traceId: TRACE, requestId: 'req-7' })]);
      const recs = await all();
      expect(recs).toHaveLength(1);
      g = recs[0]!;
      expect(Object.fromEntries(g.auditmesh.members.map((m) => [m.event_id, m.joined_by]))).toEqual({ g1: 'address+time', s1: 'trace.id', s2: 'trace.id', e1: 'http.request.id' });
      expect(g.auditmesh.ambiguous).toBeUndefined();
    });

    it('searches only after making earlier batches visible (a store whose search lags behind its writes)', async () => {
      // Elasticsearch's search sees a write only after a refresh; reads by id are real-time.
      class LaggingSearch extends SqliteStore {
        private readonly unrefreshed = new Set<string>();
        override async write(b: Parameters<SqliteStore['write']>[0]): Promise<void> {
          await super.write(b);
          for (const r of b.records) this.unrefreshed.add(r.auditmesh.record_id);
        }
        override async refresh(): Promise<void> {
          this.unrefreshed.clear();
        }
        override async searchRecords(q: Parameters<SqliteStore['searchRecords']>[0]) {
          const page = await super.searchRecords(q);
          return { ...page, records: page.records.filter((r) => !this.unrefreshed.has(r.auditmesh.record_id)) };
        }
      }
      await store.close();
      store = new LaggingSearch(dir);
      await store.init();
      corr = new Correlator(store, undefined, { maxMembersPerRecord: 100, joinWindowMs: 5000 });
      await apply([mesh('e1', T + 5)]);
      await apply([tyk('g1', T)]);
      await store.refresh();
      const recs = await all();
      expect(recs).toHaveLength(1);
      expect(recs[0]!.auditmesh.members.map((m) => m.event_id).sort()).toEqual(['e1', 'g1']);
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

    it('links the long session carrying a later request on a busy address, not the sessions that ended before it', async () => {
      const ended = Array.from({ length: 5 }, (_, i) => fw(`old${i}`, T - 600_000 + i * 60_000, T - 590_000 + i * 60_000, { clientPort: 40000 + i }));
      // Keep-alive: opened 50 minutes before the request, logged 10 minutes after it.
      await apply([...ended, fw('long', T - 3_000_000, T + 600_000, { clientPort: 50000 })]);
      await apply([mesh('e1', T)]);
      const req = (await byType('request'))[0]!;
      expect(req.auditmesh.members.map((m) => [m.event_id, m.joined_by]).sort()).toEqual([['e1', 'self'], ['long', 'address+time']]);
      expect(req.auditmesh.ambiguous).toBeUndefined();
      // A request within the join window after a short session's end still finds it (and the long
      // one: two candidates, not guessed).
      await apply([mesh('e2', T - 585_000, 'e'.repeat(32))]);
      const r2 = (await all()).find((r) => r.auditmesh.members.some((m) => m.event_id === 'e2'))!;
      expect(r2.auditmesh.members.map((m) => m.event_id)).toEqual(['e2']);
      expect(r2.auditmesh.ambiguous).toEqual([{ event_id: 'long,old0', key: 'firewall address+time', candidates: 2 }]);
    });

    it('joins through NAT: the gateway sees the post-NAT client address', async () => {
      await apply([mesh('e1', T)]); // client 203.0.113.10 as the gateway saw it (source-NATed by the firewall)
      await apply([fw('s1', T - 500, T + 500, { clientIp: '192.168.7.9', natClientIp: '203.0.113.10' })]);
      const req = (await byType('request'))[0]!;
      expect(req.auditmesh.members.map((m) => m.event_id).sort()).toEqual(['e1', 's1']);
      expect(req.source).toEqual({ ip: '192.168.7.9' });
    });

    it('joins through source NAT when the session was stored before the request', async () => {
      const s = fw('s1', T - 500, T + 500, { clientIp: '192.168.7.9', natClientIp: '203.0.113.10' });
      s.ecs = { ...s.ecs, source: { ip: '192.168.7.9', nat: { ip: '203.0.113.10' } } };
      await apply([s]);
      await apply([mesh('e1', T)]); // the gateway saw the post-NAT address 203.0.113.10
      const req = (await byType('request'))[0]!;
      expect(req.auditmesh.members.map((m) => [m.event_id, m.joined_by]).sort()).toEqual([['e1', 'self'], ['s1', 'address+time']]);
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
