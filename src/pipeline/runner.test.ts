import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PipelineRunner } from './runner';
import { PendingWrites } from './pendingWrites';
import { Correlator } from '../correlate/correlator';
import { OpenRecords, Watermark } from '../correlate/watermark';
import { SqliteStore } from '../store/sqlite/sqliteStore';
import { createMetrics } from '../instrumentation/metrics';
import { silentLogger } from '../instrumentation/logger';
import type { ParsedEvent, RawRecord } from '../model/events';
import type { Parser } from '../parsers/types';

/** A test parser: each raw line is `<source-time-iso>|<trace id>`, or `bad` (rejected). */
const parser: Parser = (raw) => {
  const text = raw.value.toString();
  if (text === 'bad') return { ok: false, rejection: { code: 'invalid_field', reason: 'bad line' } };
  const [ts, trace] = text.split('|');
  const e: ParsedEvent = { id: text, source: 'envoy', kind: 'access_log', timestamp: ts!, ecs: {}, join: { traceId: trace! }, claims: [], ref: raw.ref };
  return { ok: true, events: [e] };
};
const raw = (s: string, offset: number): RawRecord => ({ value: Buffer.from(s), ref: { source: 'envoy', topic: 't', partition: 0, offset: String(offset) }, receivedAtMs: 0 });
const T = (min: number) => new Date(Date.parse('2026-05-01T10:00:00Z') + min * 60_000).toISOString();
const trace = (n: number) => n.toString(16).padStart(32, 'a');

describe('pipeline/runner', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-'));
    store = new SqliteStore(dir);
    await store.init();
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('dead-letters bad input with its reason and stores its neighbours', async () => {
    const runner = new PipelineRunner(store, new Correlator(store, undefined, { maxMembersPerRecord: 10, joinWindowMs: 1000 }), createMetrics(), silentLogger);
    const r = await runner.process([raw(`${T(0)}|${trace(1)}`, 0), raw('bad', 1), raw(`${T(1)}|${trace(2)}`, 2)], parser);
    expect(r.deadLetters.map((d) => [d.code, d.ref.offset, Buffer.from(d.originalBase64, 'base64').toString()])).toEqual([['invalid_field', '1', 'bad']]);
    expect(store.counts()).toEqual({ records: 2, events: 2, deadLetters: 1 });
  });

  it('in streaming mode, amends within the lateness and dead-letters events behind the watermark', async () => {
    const streaming = { watermark: new Watermark(5 * 60_000), open: new OpenRecords(100) };
    const runner = new PipelineRunner(store, new Correlator(store, undefined, { maxMembersPerRecord: 10, joinWindowMs: 1000 }), createMetrics(), silentLogger, undefined, streaming);
    await runner.process([raw(`${T(0)}|${trace(1)}`, 0), raw(`${T(20)}|${trace(2)}`, 1)], parser);
    // 3 minutes behind the newest event: late but allowed, amends trace 2's neighbourhood.
    const ok = await runner.process([raw(`${T(17)}|${trace(2)}`, 2)], parser);
    expect(ok.deadLetters).toHaveLength(0);
    const rec = (await store.searchRecords({ limit: 10, traceId: trace(2) })).records[0]!;
    expect(rec.auditmesh.member_count).toBe(2);
    // 19 minutes behind: its window closed.
    const late = await runner.process([raw(`${T(1)}|${trace(3)}`, 3)], parser);
    expect(late.deadLetters.map((d) => d.code)).toEqual(['too_late']);
    expect(late.deadLetters[0]!.reason).toMatch(/behind the watermark 2026-05-01T10:15:00.000Z \(lateness 300000 ms\)/);
    expect(streaming.open.size).toBe(1);
  });

  it('in streaming mode, tracks each partition on its own: a partition read first does not make another one\'s backlog too late', async () => {
    const streaming = { watermark: new Watermark(5 * 60_000), open: new OpenRecords(100) };
    const runner = new PipelineRunner(store, new Correlator(store, undefined, { maxMembersPerRecord: 10, joinWindowMs: 1000 }), createMetrics(), silentLogger, undefined, streaming);
    const at = (s: string, partition: number, offset: number): RawRecord => ({ ...raw(s, offset), ref: { source: 'envoy', topic: 't', partition, offset: String(offset) } });
    // After a restart: both partitions are assigned, partition 0's backlog is read first.
    runner.expectStreams(['envoy:t:0', 'envoy:t:1']);
    const first = await runner.process([at(`${T(0)}|${trace(1)}`, 0, 0), at(`${T(20)}|${trace(2)}`, 0, 1)], parser);
    expect(first.deadLetters).toHaveLength(0);
    // Partition 1 starts 19 minutes behind partition 0: in order on its own partition, so not too late.
    const second = await runner.process([at(`${T(1)}|${trace(3)}`, 1, 0), at(`${T(21)}|${trace(4)}`, 1, 1)], parser);
    expect(second.deadLetters).toHaveLength(0);
    // Both partitions are past minute 20 now: an event of minute 2 is behind the watermark.
    const late = await runner.process([at(`${T(2)}|${trace(5)}`, 1, 2)], parser);
    expect(late.deadLetters.map((d) => d.code)).toEqual(['too_late']);
    expect(store.counts().events).toBe(4);
  });

  it('in streaming mode, dead-letters events dated beyond maxAheadMs (too_early) without letting them move the watermark', async () => {
    const now = Date.parse(T(30));
    const streaming = { watermark: new Watermark(5 * 60_000, 60_000, () => now, 5 * 60_000), open: new OpenRecords(100) };
    const runner = new PipelineRunner(store, new Correlator(store, undefined, { maxMembersPerRecord: 10, joinWindowMs: 1000 }), createMetrics(), silentLogger, undefined, streaming);
    runner.expectStreams(['envoy:t:0']);
    // A record dated in the year 2399 (a forged line, a broken clock), between two on-time ones.
    const r = await runner.process([raw(`${T(0)}|${trace(80)}`, 0), raw(`2399-01-01T00:00:00.000Z|${trace(81)}`, 1), raw(`${T(34)}|${trace(82)}`, 2), raw(`${T(31)}|${trace(83)}`, 3)], parser);
    expect(r.deadLetters.map((d) => [d.code, d.ref.offset])).toEqual([['too_early', '1']]);
    expect(r.deadLetters[0]!.reason).toMatch(/1 event\(s\) at 2399-01-01T00:00:00.000Z dated more than 300000 ms ahead of auditmesh's clock .*correlation\.maxAheadMs/);
    // Minute 34 is within maxAheadMs (4 minutes ahead): accepted. The watermark followed it, not 2399.
    expect(streaming.watermark.value()).toBe(Date.parse(T(29)));
    expect(store.counts()).toEqual({ records: 3, events: 3, deadLetters: 1 });
  });

  it('merges submissions that wait behind a batch in flight into one store write, and answers each caller with its share', async () => {
    const runner = new PipelineRunner(store, new Correlator(store, undefined, { maxMembersPerRecord: 10, joinWindowMs: 1000 }), createMetrics(), silentLogger);
    const writes: number[] = [];
    runner.onWritten(async (b) => {
      writes.push(b.events.length);
    });
    // The first runs alone at once; the next three arrive while it is in flight and go in together.
    const first = runner.process([raw(`${T(0)}|${trace(1)}`, 0)], parser);
    const a = runner.process([raw(`${T(1)}|${trace(2)}`, 1), raw('bad', 2)], parser);
    const b = runner.process([raw(`${T(2)}|${trace(2)}`, 3)], parser);
    const c = runner.process([raw(`${T(3)}|${trace(3)}`, 4), raw(`${T(4)}|${trace(4)}`, 5)], parser);
    const [r0, ra, rb, rc] = await Promise.all([first, a, b, c]);
    expect(writes).toEqual([1, 4]);
    expect([r0, ra, rb, rc].map((r) => [r.received, r.events, r.deadLetters.map((d) => d.ref.offset)])).toEqual([
      [1, 1, []],
      [2, 1, ['2']],
      [1, 1, []],
      [2, 2, []],
    ]);
    // Events of different submissions in one batch correlate with each other (trace 2).
    expect((await store.searchRecords({ limit: 10, traceId: trace(2) })).records[0]!.auditmesh.member_count).toBe(2);
    expect(store.counts()).toEqual({ records: 4, events: 5, deadLetters: 1 });
  });

  it('caps a merged batch at maxMergedRecords raw records', async () => {
    const runner = new PipelineRunner(store, new Correlator(store, undefined, { maxMembersPerRecord: 10, joinWindowMs: 1000 }), createMetrics(), silentLogger, undefined, undefined, { maxMergedRecords: 3 });
    const sizes: number[] = [];
    runner.onWritten(async (b) => {
      sizes.push(b.events.length);
    });
    const subs = [0, 1, 2, 3, 4].map((i) => runner.process([raw(`${T(i)}|${trace(10 + 2 * i)}`, 2 * i), raw(`${T(i)}|${trace(11 + 2 * i)}`, 2 * i + 1)], parser));
    await Promise.all(subs);
    // 2 alone, then 2+2 would be 4 > 3: each waiting submission is its own batch.
    expect(sizes).toEqual([2, 2, 2, 2, 2]);
    const merged = new PipelineRunner(store, new Correlator(store, undefined, { maxMembersPerRecord: 10, joinWindowMs: 1000 }), createMetrics(), silentLogger, undefined, undefined, { maxMergedRecords: 4 });
    const sizes2: number[] = [];
    merged.onWritten(async (b) => {
      sizes2.push(b.events.length);
    });
    await Promise.all([0, 1, 2, 3, 4].map((i) => merged.process([raw(`${T(i)}|${trace(30 + 2 * i)}`, 20 + 2 * i), raw(`${T(i)}|${trace(31 + 2 * i)}`, 21 + 2 * i)], parser)));
    expect(sizes2).toEqual([2, 4, 4]);
  });

  it('rejects every caller of a batch whose write fails for good, and keeps serving later submissions', async () => {
    const runner = new PipelineRunner(store, new Correlator(store, undefined, { maxMembersPerRecord: 10, joinWindowMs: 1000 }), createMetrics(), silentLogger);
    const realWrite = store.write.bind(store);
    let fail = true;
    store.write = async (b) => {
      if (fail) throw new Error('disk on fire');
      return realWrite(b);
    };
    const first = runner.process([raw(`${T(0)}|${trace(50)}`, 0)], parser);
    const second = runner.process([raw(`${T(1)}|${trace(51)}`, 1)], parser);
    const third = runner.process([raw(`${T(2)}|${trace(52)}`, 2)], parser);
    await expect(first).rejects.toThrow('disk on fire');
    await expect(second).rejects.toThrow('disk on fire');
    await expect(third).rejects.toThrow('disk on fire');
    fail = false;
    await expect(runner.process([raw(`${T(3)}|${trace(53)}`, 3)], parser)).resolves.toMatchObject({ received: 1, events: 1 });
  });

  describe('with pendingWrites: batch N+1 is correlated while batch N is written', () => {
    /** The store's writes wait until `open()`; `started` counts writes begun. */
    function gate(s: SqliteStore) {
      const real = s.write.bind(s);
      const st = { started: 0, fail: undefined as Error | undefined, release: [] as (() => void)[] };
      s.write = async (b) => {
        st.started++;
        await new Promise<void>((r) => st.release.push(r));
        if (st.fail) throw st.fail;
        return real(b);
      };
      return { st, open: () => st.release.splice(0).forEach((r) => r()) };
    }
    const until = async (cond: () => boolean) => {
      for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
      expect(cond()).toBe(true);
    };

    it('amends a record whose first version is still being written, and writes in order', async () => {
      const pw = new PendingWrites(store);
      const correlator = new Correlator(pw, undefined, { maxMembersPerRecord: 10, joinWindowMs: 1000 });
      const correlate = jest.spyOn(correlator, 'correlate');
      const runner = new PipelineRunner(store, correlator, createMetrics(), silentLogger, undefined, undefined, { pendingWrites: pw });
      const g = gate(store);
      const first = runner.process([raw(`${T(0)}|${trace(60)}`, 0)], parser);
      await until(() => g.st.started === 1);
      // Write 1 is in flight: the second batch is correlated now, against it (through the overlay).
      const second = runner.process([raw(`${T(1)}|${trace(60)}`, 1)], parser);
      await until(() => pw.size === 2);
      expect(correlate).toHaveBeenCalledTimes(2);
      // The pipeline is full (one writing, one waiting): a third batch waits for write 1.
      const third = runner.process([raw(`${T(2)}|${trace(61)}`, 2)], parser);
      await new Promise((r) => setTimeout(r, 20));
      expect(correlate.mock.calls.length).toBe(2);
      expect(g.st.started).toBe(1);
      g.open();
      await first;
      await until(() => g.st.started === 2);
      g.open();
      await second;
      await until(() => g.st.started === 3);
      g.open();
      await third;
      expect(pw.size).toBe(0);
      const rec = (await store.searchRecords({ limit: 10, traceId: trace(60) })).records;
      expect(rec.map((r) => [r.auditmesh.member_count, r.auditmesh.version])).toEqual([[2, 2]]);
      expect(store.counts()).toEqual({ records: 2, events: 3, deadLetters: 0 });
    });

    it('does not write a batch correlated on top of one that failed, and recovers for the next', async () => {
      const pw = new PendingWrites(store);
      const runner = new PipelineRunner(store, new Correlator(pw, undefined, { maxMembersPerRecord: 10, joinWindowMs: 1000 }), createMetrics(), silentLogger, undefined, undefined, { pendingWrites: pw });
      const g = gate(store);
      const first = runner.process([raw(`${T(0)}|${trace(70)}`, 0)], parser);
      await until(() => g.st.started === 1);
      const second = runner.process([raw(`${T(1)}|${trace(70)}`, 1)], parser);
      await until(() => pw.size === 2);
      g.st.fail = new Error('disk on fire');
      g.open();
      await expect(first).rejects.toThrow('disk on fire');
      await expect(second).rejects.toMatchObject({ code: 'previous_batch_failed' });
      expect(g.st.started).toBe(1);
      g.st.fail = undefined;
      const again = runner.process([raw(`${T(0)}|${trace(70)}`, 0), raw(`${T(1)}|${trace(70)}`, 1)], parser);
      await until(() => g.st.started === 2);
      g.open();
      await expect(again).resolves.toMatchObject({ events: 2 });
      expect((await store.searchRecords({ limit: 10, traceId: trace(70) })).records.map((r) => [r.auditmesh.member_count, r.auditmesh.version])).toEqual([[2, 1]]);
    });
  });
});
