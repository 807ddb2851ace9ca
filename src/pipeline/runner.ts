import { createHash } from 'node:crypto';
import type { DeadLetter, ParsedEvent, RawRecord } from '../model/events';
import type { AuditStore, WriteBatch } from '../model/record';
import type { Parser } from '../parsers/types';
import type { Correlator } from '../correlate/correlator';
import type { Metrics } from '../instrumentation/metrics';
import type { Logger } from '../instrumentation/logger';
import { PipelineError } from '../errors';
import { streamOf, type OpenRecords, type Watermark } from '../correlate/watermark';
import { SpanStatusCode, context, trace, type Context, type Span } from '@opentelemetry/api';

/** Spans of each batch: auditmesh.batch → auditmesh.parse, auditmesh.correlate, auditmesh.sink. */
const tracer = trace.getTracer('auditmesh');

/** Event-time tracking of `auditmesh serve` (streaming); absent for file backfills. */
export interface Streaming {
  watermark: Watermark;
  open: OpenRecords;
}

const MAX_ORIGINAL_BYTES = 64 * 1024;

export interface BatchResult {
  received: number;
  events: number;
  records: number;
  deadLetters: DeadLetter[];
}

/** Optional extra destination for dead letters (the Kafka dead-letter topic). */
export interface DeadLetterSink {
  send(dls: DeadLetter[]): Promise<void>;
}

export function toDeadLetter(raw: RawRecord, code: string, reason: string, stage: DeadLetter['stage'], field?: string): DeadLetter {
  const truncated = raw.value.length > MAX_ORIGINAL_BYTES;
  const id = createHash('sha256')
    .update(`${raw.ref.source}|${raw.ref.topic ?? raw.ref.file ?? ''}|${raw.ref.partition ?? ''}|${raw.ref.offset ?? raw.ref.line ?? ''}|`)
    .update(raw.value)
    .digest('base64url')
    .slice(0, 22);
  const dl: DeadLetter = {
    id,
    timestamp: new Date().toISOString(),
    ref: raw.ref,
    code,
    reason,
    stage,
    originalBase64: (truncated ? raw.value.subarray(0, MAX_ORIGINAL_BYTES) : raw.value).toString('base64'),
    originalBytes: raw.value.length,
  };
  if (field !== undefined) dl.field = field;
  if (truncated) dl.originalTruncated = true;
  return dl;
}

/**
 * parse → correlate → store, one batch at a time (batches are serialized: correlation state is
 * read-modify-write). `process` resolves only after the store acknowledged the batch, so a source
 * may commit its offsets then. Bad input never throws: it becomes a dead letter with a reason.
 */
/** Called after the store acknowledged a batch (e.g. the alert engine). Must not throw. */
export type WrittenListener = (batch: WriteBatch) => Promise<void>;

export class PipelineRunner {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners: WrittenListener[] = [];

  /** Subscribe to acknowledged batches. Listeners run in order, before `process` resolves. */
  onWritten(l: WrittenListener): void {
    this.listeners.push(l);
  }

  constructor(
    private readonly store: AuditStore,
    private readonly correlator: Correlator,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly deadLetterSink?: DeadLetterSink,
    private readonly streaming?: Streaming,
  ) {}

  /**
   * Streams (`streamOf`: the Kafka topic partitions a source consumes) that are going to deliver
   * events: each holds the event-time watermark back until it has. A no-op outside streaming.
   */
  expectStreams(streams: string[]): void {
    for (const s of streams) this.streaming?.watermark.expect(s);
  }

  process(raws: RawRecord[], parser: Parser): Promise<BatchResult> {
    const run = this.queue.then(() => this.processNow(raws, parser));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** One batch in a span (no-op without a tracer provider); the stages are its children. */
  private processNow(raws: RawRecord[], parser: Parser): Promise<BatchResult> {
    const attributes = { 'auditmesh.source': raws[0]?.ref.source ?? 'none', 'auditmesh.batch.raw_records': raws.length };
    return tracer.startActiveSpan('auditmesh.batch', { attributes }, async (span) => {
      try {
        const r = await this.runBatch(raws, parser, trace.setSpan(context.active(), span));
        span.setAttributes({ 'auditmesh.batch.events': r.events, 'auditmesh.batch.record_writes': r.records, 'auditmesh.batch.dead_letters': r.deadLetters.length });
        return r;
      } catch (e) {
        span.recordException(e as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error)?.message });
        throw e;
      } finally {
        span.end();
      }
    });
  }

  private async runBatch(raws: RawRecord[], parser: Parser, parent: Context): Promise<BatchResult> {
    const t0 = performance.now();
    const parseSpan = tracer.startSpan('auditmesh.parse', undefined, parent);
    const events: ParsedEvent[] = [];
    const deadLetters: DeadLetter[] = [];
    for (const raw of raws) {
      this.metrics.received.add(1, { source: raw.ref.source });
      let res;
      try {
        res = parser(raw);
      } catch (e) {
        // Parsers return rejections; an exception here is a parser bug. Still never lose the record.
        res = { ok: false as const, rejection: { code: 'invalid_field' as const, reason: `parser failure: ${(e as Error).message}` } };
      }
      if (res.ok) {
        if (this.streaming) {
          const late = this.applyWatermark(res.events);
          events.push(...late.onTime);
          if (late.tooLate.length) {
            const w = new Date(this.streaming.watermark.value()).toISOString();
            const times = late.tooLate.map((e) => e.timestamp).sort();
            deadLetters.push(
              toDeadLetter(raw, 'too_late', `${late.tooLate.length} event(s) at ${times[0]}${times.length > 1 ? ` … ${times[times.length - 1]}` : ''} arrived behind the watermark ${w} (lateness ${this.streaming.watermark.latenessMs} ms); replay with a larger correlation.latenessMs or ingest as a backfill`, 'processing'),
            );
            this.metrics.droppedTooLate.add(late.tooLate.length, { source: raw.ref.source });
            this.metrics.deadLetters.add(1, { source: raw.ref.source, code: 'too_late' });
          }
        } else events.push(...res.events);
      } else {
        deadLetters.push(toDeadLetter(raw, res.rejection.code, res.rejection.reason, 'parse', res.rejection.field));
        this.metrics.deadLetters.add(1, { source: raw.ref.source, code: res.rejection.code });
        this.metrics.errors.add(1, { component_id: `parser_${raw.ref.source}`, error_code: res.rejection.code, stage: 'processing' });
      }
    }
    parseSpan.setAttributes({ 'auditmesh.events': events.length, 'auditmesh.dead_letters': deadLetters.length });
    parseSpan.end();
    const t1 = performance.now();
    const correlated = events.length
      ? await this.stage('auditmesh.correlate', parent, () => this.correlator.correlate(events))
      : { events: [], records: [], keys: [], deletedRecords: [] };
    const t2 = performance.now();
    const batch: WriteBatch = { ...correlated, deadLetters };
    let written = 0;
    await this.stage('auditmesh.sink', parent, async (span) => {
      span.setAttributes({ 'auditmesh.sink': this.store.kind, 'auditmesh.records': batch.records.length, 'auditmesh.events': batch.events.length });
      if (deadLetters.length && this.deadLetterSink) await this.deadLetterSink.send(deadLetters);
      const w0 = performance.now();
      await this.writeWithRetry(batch);
      written = performance.now() - w0;
    });
    if (this.streaming) {
      for (const r of batch.records) {
        const end = Date.parse(String((r.event as { end?: string } | undefined)?.end ?? r['@timestamp']));
        this.streaming.open.touch(r.auditmesh.record_id, Number.isFinite(end) ? end : Date.now());
      }
      this.streaming.open.prune(this.streaming.watermark.value());
    }
    for (const l of this.listeners) {
      try {
        await l(batch);
      } catch (e) {
        this.metrics.errors.add(1, { component_id: 'written_listener', error_code: 'listener_failed', stage: 'processing' });
        this.log.error('listener of written batches failed', { error: (e as Error).message });
      }
    }
    const t3 = performance.now();
    this.metrics.batchDuration.record((t1 - t0) / 1000, { stage: 'parse' });
    this.metrics.batchDuration.record((t2 - t1) / 1000, { stage: 'correlate' });
    this.metrics.batchDuration.record((t3 - t2) / 1000, { stage: 'sink' });
    this.metrics.sinkLatency.record(written / 1000, { sink: this.store.kind });
    this.metrics.sent.add(batch.records.length, { sink: this.store.kind });
    return { received: raws.length, events: events.length, records: batch.records.length, deadLetters };
  }

  /** Run one stage of a batch in a child span of `parent`; errors mark the span and propagate. */
  private async stage<T>(name: string, parent: Context, fn: (span: Span) => Promise<T>): Promise<T> {
    const span = tracer.startSpan(name, undefined, parent);
    try {
      return await context.with(trace.setSpan(parent, span), () => fn(span));
    } catch (e) {
      span.recordException(e as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error)?.message });
      throw e;
    } finally {
      span.end();
    }
  }

  /** Split events into on-time (observed by the watermark) and too late (behind the watermark). */
  private applyWatermark(events: ParsedEvent[]): { onTime: ParsedEvent[]; tooLate: ParsedEvent[] } {
    const wm = this.streaming!.watermark;
    const onTime: ParsedEvent[] = [];
    const tooLate: ParsedEvent[] = [];
    for (const e of events) {
      const t = Date.parse(e.timestamp);
      if (wm.isTooLate(t)) tooLate.push(e);
      else {
        const stream = streamOf(e.ref);
        if (wm.isLate(stream, t)) this.metrics.lateEvents.add(1, { source: e.source });
        wm.observe(stream, t);
        onTime.push(e);
      }
    }
    return { onTime, tooLate };
  }

  /** Retry retriable store errors with capped exponential backoff and jitter; never drop the batch. */
  private async writeWithRetry(batch: WriteBatch): Promise<void> {
    let delay = 200;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.store.write(batch);
        return;
      } catch (e) {
        const pe = e instanceof PipelineError ? e : undefined;
        this.metrics.errors.add(1, { component_id: `store_${this.store.kind}`, error_code: pe?.code ?? 'unknown', stage: 'sink' });
        if (!pe?.retriable) throw e;
        this.log.warn('store write failed, retrying', { attempt, code: pe.code, error: pe.message, delayMs: delay });
        await new Promise((r) => setTimeout(r, delay + Math.random() * delay * 0.2));
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }
}
