import { createHash } from 'node:crypto';
import type { DeadLetter, ParsedEvent, RawRecord } from '../model/events';
import type { AuditStore, WriteBatch } from '../model/record';
import type { Parser } from '../parsers/types';
import type { Correlator } from '../correlate/correlator';
import type { Metrics } from '../instrumentation/metrics';
import type { Logger } from '../instrumentation/logger';
import { PipelineError } from '../errors';
import { streamOf, type OpenRecords, type Watermark } from '../correlate/watermark';
import type { PendingWrites } from './pendingWrites';
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

/** Called after the store acknowledged a batch (e.g. the alert engine). Must not throw. */
export type WrittenListener = (batch: WriteBatch) => Promise<void>;

/** Raw records handed to `process` by one caller (a Kafka partition's chunk, a file batch, an HTTP body). */
interface Submission {
  raws: RawRecord[];
  parser: Parser;
  /** See ProcessOptions. */
  maxWriteAttempts: number;
  resolve: (r: BatchResult) => void;
  reject: (e: unknown) => void;
}

export interface ProcessOptions {
  /**
   * Store write attempts before a retriable failure (disk full, store unavailable) is given back to
   * the caller; default Infinity (retry until the store takes it: a Kafka source pauses meanwhile).
   * A caller that can answer instead (HTTP ingestion: 503, the CLI: exit 1) sets a few. A merged
   * batch uses the smallest budget of its submissions (a source that retries anyway gets it back).
   */
  maxWriteAttempts?: number;
}

export interface RunnerOptions {
  /** Upper bound of raw records merged into one batch (default DEFAULT_MAX_MERGED_RECORDS). */
  maxMergedRecords?: number;
  /**
   * The correlator's view of the store (the same object it reads through): with it, batch N+1 is
   * correlated while batch N is written. Without it, batches run strictly one after another.
   */
  pendingWrites?: PendingWrites;
}

/** Upper bounds of one merged pipeline batch (see `process`): raw records, and their bytes. */
export const DEFAULT_MAX_MERGED_RECORDS = 10_000;
const MAX_MERGED_BYTES = 16 * 1024 * 1024;
const bytesOf = (raws: RawRecord[]) => raws.reduce((n, r) => n + r.value.length, 0);

/**
 * parse → correlate → store. Batches are correlated one at a time (correlation state is
 * read-modify-write) and written one at a time, in order; with `pendingWrites` the next batch is
 * correlated while the previous one is being written (two-stage pipeline). `process` resolves only
 * after the store acknowledged the batch, so a source may commit its offsets then. Bad input never
 * throws: it becomes a dead letter with a reason.
 *
 * Group commit: submissions that arrive while a batch is in flight (the other topics' and
 * partitions' consumers) wait, and are then processed together as ONE batch — one correlation
 * pass, one set of store lookups, one bulk — and each caller is answered with its own share. Under
 * load the per-batch round trips to the store are paid once for several sources instead of once
 * each; when idle a submission runs alone at once.
 */
export class PipelineRunner {
  private readonly pending: Submission[] = [];
  private readonly maxMergedRecords: number;
  private readonly pendingWrites: PendingWrites | undefined;
  /** A batch is being parsed and correlated (one at a time: correlation is read-modify-write). */
  private correlating = false;
  /** Batches correlated and not yet settled by the store (written, or failed). */
  private outstanding = 0;
  /** The write of the newest correlated batch: each write waits for the one before it. */
  private lastWrite: Promise<void> = Promise.resolve();
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
    opts: RunnerOptions = {},
  ) {
    this.maxMergedRecords = opts.maxMergedRecords ?? DEFAULT_MAX_MERGED_RECORDS;
    this.pendingWrites = opts.pendingWrites;
  }

  /**
   * Streams (`streamOf`: the Kafka topic partitions a source consumes) that are going to deliver
   * events: each holds the event-time watermark back until it has. A no-op outside streaming.
   */
  expectStreams(streams: string[]): void {
    for (const s of streams) this.streaming?.watermark.expect(s);
  }

  /**
   * Process raw records; resolves once the batch they went into is acknowledged by the store. The
   * result counts this caller's records, events and dead letters; `records` is the number of
   * record writes of the whole batch (shared with the submissions merged into it).
   */
  process(raws: RawRecord[], parser: Parser, opts: ProcessOptions = {}): Promise<BatchResult> {
    return new Promise<BatchResult>((resolve, reject) => {
      this.pending.push({ raws, parser, maxWriteAttempts: opts.maxWriteAttempts ?? Infinity, resolve, reject });
      this.next();
    });
  }

  /**
   * Start the next batch from the waiting submissions (in arrival order) when the correlator is
   * free and the write pipeline has room: with `pendingWrites` the next batch is correlated while the
   * previous one is written (it sees that one through the overlay), otherwise one batch at a time.
   */
  private next(): void {
    if (this.correlating || !this.pending.length || this.outstanding >= (this.pendingWrites ? 2 : 1)) return;
    this.correlating = true;
    const take: Submission[] = [this.pending.shift()!];
    let n = take[0]!.raws.length;
    let bytes = bytesOf(take[0]!.raws);
    while (this.pending.length) {
      const head = this.pending[0]!;
      const b = bytesOf(head.raws);
      if (n + head.raws.length > this.maxMergedRecords || bytes + b > MAX_MERGED_BYTES) break;
      take.push(this.pending.shift()!);
      n += head.raws.length;
      bytes += b;
    }
    this.processNow(take).then(
      (results) => take.forEach((s, i) => s.resolve(results[i]!)),
      (e: unknown) => take.forEach((s) => s.reject(e)),
    );
  }

  /** The correlator is free again (the batch is correlated, or failed before): start the next one. */
  private correlated(): void {
    this.correlating = false;
    this.next();
  }

  /** One batch in a span (no-op without a tracer provider); the stages are its children. */
  private processNow(subs: Submission[]): Promise<BatchResult[]> {
    const sources = [...new Set(subs.flatMap((s) => (s.raws[0] ? [s.raws[0].ref.source] : [])))].sort();
    const attributes = { 'auditmesh.source': sources.join(',') || 'none', 'auditmesh.batch.raw_records': subs.reduce((n, s) => n + s.raws.length, 0), 'auditmesh.batch.submissions': subs.length };
    return tracer.startActiveSpan('auditmesh.batch', { attributes }, async (span) => {
      try {
        const r = await this.runBatch(subs, trace.setSpan(context.active(), span));
        span.setAttributes({ 'auditmesh.batch.events': r.reduce((n, x) => n + x.events, 0), 'auditmesh.batch.record_writes': r[0]?.records ?? 0, 'auditmesh.batch.dead_letters': r.reduce((n, x) => n + x.deadLetters.length, 0) });
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

  /** Parse one submission: its events (on time) and dead letters (never throws). */
  private parse(sub: Submission): { events: ParsedEvent[]; deadLetters: DeadLetter[] } {
    const events: ParsedEvent[] = [];
    const deadLetters: DeadLetter[] = [];
    for (const raw of sub.raws) {
      this.metrics.received.add(1, { source: raw.ref.source });
      let res;
      try {
        res = sub.parser(raw);
      } catch (e) {
        // Parsers return rejections; an exception here is a parser bug. Still never lose the record.
        res = { ok: false as const, rejection: { code: 'invalid_field' as const, reason: `parser failure: ${(e as Error).message}` } };
      }
      if (res.ok) {
        if (this.streaming) {
          const late = this.applyWatermark(res.events);
          events.push(...late.onTime);
          const span = (evs: ParsedEvent[]) => {
            const times = evs.map((e) => e.timestamp).sort();
            return `${evs.length} event(s) at ${times[0]}${times.length > 1 ? ` … ${times[times.length - 1]}` : ''}`;
          };
          if (late.tooEarly.length) {
            // One dead letter per message (its id is the message's): a too-late part is named in the reason.
            const wm = this.streaming.watermark;
            deadLetters.push(
              toDeadLetter(raw, 'too_early', `${span(late.tooEarly)} dated more than ${wm.maxAheadMs} ms ahead of auditmesh's clock (${new Date().toISOString()}); the source's clock or time zone is wrong (correlation.maxAheadMs)${late.tooLate.length ? `; also ${span(late.tooLate)} behind the watermark` : ''}`, 'processing'),
            );
            this.metrics.deadLetters.add(1, { source: raw.ref.source, code: 'too_early' });
          } else if (late.tooLate.length) {
            const w = new Date(this.streaming.watermark.value()).toISOString();
            deadLetters.push(
              toDeadLetter(raw, 'too_late', `${span(late.tooLate)} arrived behind the watermark ${w} (lateness ${this.streaming.watermark.latenessMs} ms); replay with a larger correlation.latenessMs or ingest as a backfill`, 'processing'),
            );
            this.metrics.deadLetters.add(1, { source: raw.ref.source, code: 'too_late' });
          }
          if (late.tooLate.length) this.metrics.droppedTooLate.add(late.tooLate.length, { source: raw.ref.source });
        } else events.push(...res.events);
      } else {
        deadLetters.push(toDeadLetter(raw, res.rejection.code, res.rejection.reason, 'parse', res.rejection.field));
        this.metrics.deadLetters.add(1, { source: raw.ref.source, code: res.rejection.code });
        this.metrics.errors.add(1, { component_id: `parser_${raw.ref.source}`, error_code: res.rejection.code, stage: 'processing' });
      }
    }
    return { events, deadLetters };
  }

  private async runBatch(subs: Submission[], parent: Context): Promise<BatchResult[]> {
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        this.correlated();
      }
    };
    // A batch correlated while earlier ones are still being written depends on them (it read them
    // through the overlay): if one of them fails, this one is not written either.
    const dependsOn = this.outstanding > 0 ? this.lastWrite : undefined;
    try {
      const t0 = performance.now();
      const parseSpan = tracer.startSpan('auditmesh.parse', undefined, parent);
      const parsed = subs.map((s) => this.parse(s));
      const events = parsed.flatMap((p) => p.events);
      const deadLetters = parsed.flatMap((p) => p.deadLetters);
      parseSpan.setAttributes({ 'auditmesh.events': events.length, 'auditmesh.dead_letters': deadLetters.length });
      parseSpan.end();
      const t1 = performance.now();
      const correlated = events.length
        ? await this.stage('auditmesh.correlate', parent, () => this.correlator.correlate(events))
        : { events: [], records: [], keys: [], deletedRecords: [] };
      const t2 = performance.now();
      const batch: WriteBatch = { ...correlated, deadLetters };

      // Hand the batch to the write pipeline; the next batch may be correlated from here on.
      this.outstanding++;
      this.pendingWrites?.add(batch);
      const previous = this.lastWrite;
      let settle!: (error?: unknown) => void;
      const mine = new Promise<void>((resolve, reject) => (settle = (error?: unknown) => (error === undefined ? resolve() : reject(error))));
      mine.catch(() => undefined);
      this.lastWrite = mine;
      release();
      let written = 0;
      try {
        try {
          await previous.catch(() => undefined); // writes go in order
          await dependsOn;
        } catch (e) {
          // This batch was correlated on top of one that never reached the store: not written either.
          throw new PipelineError(`batch not written: the batch before it failed (${(e as Error)?.message})`, 'previous_batch_failed', false, 'sink', { cause: e });
        }
        await this.stage('auditmesh.sink', parent, async (span) => {
          span.setAttributes({ 'auditmesh.sink': this.store.kind, 'auditmesh.records': batch.records.length, 'auditmesh.events': batch.events.length });
          if (deadLetters.length && this.deadLetterSink) await this.deadLetterSink.send(deadLetters);
          const w0 = performance.now();
          await this.writeWithRetry(batch, Math.min(...subs.map((s) => s.maxWriteAttempts)));
          written = performance.now() - w0;
        });
        settle();
      } catch (e) {
        settle(e);
        throw e;
      } finally {
        this.pendingWrites?.remove(batch);
        this.outstanding--;
        this.next();
      }
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
      return subs.map((s, i) => ({ received: s.raws.length, events: parsed[i]!.events.length, records: batch.records.length, deadLetters: parsed[i]!.deadLetters }));
    } finally {
      release();
    }
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

  /** Split events into on-time (observed by the watermark), too late (behind it) and too early (ahead of the clock). */
  private applyWatermark(events: ParsedEvent[]): { onTime: ParsedEvent[]; tooLate: ParsedEvent[]; tooEarly: ParsedEvent[] } {
    const wm = this.streaming!.watermark;
    const onTime: ParsedEvent[] = [];
    const tooLate: ParsedEvent[] = [];
    const tooEarly: ParsedEvent[] = [];
    for (const e of events) {
      const t = Date.parse(e.timestamp);
      // Dated far ahead of the clock: never observed, so it cannot drag the watermark into the future.
      if (wm.isTooEarly(t)) tooEarly.push(e);
      else if (wm.isTooLate(t)) tooLate.push(e);
      else {
        const stream = streamOf(e.ref);
        if (wm.isLate(stream, t)) this.metrics.lateEvents.add(1, { source: e.source });
        wm.observe(stream, t);
        onTime.push(e);
      }
    }
    return { onTime, tooLate, tooEarly };
  }

  /**
   * Retry retriable store errors with capped exponential backoff and jitter, up to `maxAttempts`
   * attempts (then the error goes to the caller, who still has the batch); never drop the batch.
   */
  private async writeWithRetry(batch: WriteBatch, maxAttempts: number): Promise<void> {
    let delay = 200;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.store.write(batch);
        return;
      } catch (e) {
        const pe = e instanceof PipelineError ? e : undefined;
        this.metrics.errors.add(1, { component_id: `store_${this.store.kind}`, error_code: pe?.code ?? 'unknown', stage: 'sink' });
        if (!pe?.retriable || attempt >= maxAttempts) throw e;
        this.log.warn('store write failed, retrying', { attempt, code: pe.code, error: pe.message, delayMs: delay });
        await new Promise((r) => setTimeout(r, delay + Math.random() * delay * 0.2));
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }
}
