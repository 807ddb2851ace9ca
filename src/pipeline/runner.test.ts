import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PipelineRunner } from './runner';
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
});
