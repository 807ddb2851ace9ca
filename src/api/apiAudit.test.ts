import { ApiAuditTrail, clientIp, safeQuery } from './apiAudit';
import { silentLogger } from '../instrumentation/logger';
import { PipelineError } from '../errors';
import { makeRecord } from '../store/contract';
import type { AuditStore, WriteBatch } from '../model/record';

describe('api > audit trail of the API', () => {
  it('keeps the query string but redacts secret-looking parameters', () => {
    expect(safeQuery('/v1/records?user.id=a&limit=2')).toBe('user.id=a&limit=2');
    expect(safeQuery('/v1/records?access_token=abc&api_key=k&Password=p&q=x')).toBe('access_token=REDACTED&api_key=REDACTED&Password=REDACTED&q=x');
    expect(safeQuery('/v1/records?%74oken=abc')).toBe('%74oken=REDACTED');
    expect(safeQuery('/v1/records')).toBeUndefined();
    expect(safeQuery(`/v1/records?q=${'x'.repeat(5000)}`)!.length).toBeLessThanOrEqual(2049);
  });

  it('records IPv4-mapped client addresses as IPv4', () => {
    expect(clientIp('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(clientIp('::1')).toBe('::1');
    expect(clientIp(undefined)).toBeUndefined();
  });

  const rec = (i: number) => makeRecord({ id: `api-${i}`, ts: new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString(), recordType: 'api' });

  it('writes queued records in batches, bounds the queue and counts drops', async () => {
    const batches: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const store = { write: async (b: WriteBatch) => { await gate; batches.push(b.records.length); } } as unknown as AuditStore;
    const trail = new ApiAuditTrail({ store, log: silentLogger, maxPending: 3 });
    for (let i = 0; i < 6; i++) trail.record(rec(i));
    release();
    await trail.flush();
    // The first record went out at once; three waited; two were dropped.
    expect(batches).toEqual([1, 3]);
    expect(trail.stats).toEqual({ written: 4, dropped: 2, failed: 0 });
  });

  it('retries a retriable store error, then gives up and counts', async () => {
    let calls = 0;
    const store = { write: async () => { calls++; throw new PipelineError('busy', 'es_unavailable', true, 'sink'); } } as unknown as AuditStore;
    const trail = new ApiAuditTrail({ store, log: silentLogger, maxAttempts: 2 });
    trail.record(rec(1));
    await trail.flush();
    expect(calls).toBe(2);
    expect(trail.stats).toEqual({ written: 0, dropped: 0, failed: 1 });
  });
});
