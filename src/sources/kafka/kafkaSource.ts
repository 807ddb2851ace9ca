import { Kafka, logLevel, type Consumer, type IHeaders, type Producer, type KafkaMessage } from 'kafkajs';
import type { Config } from '../../config/schema';
import type { PipelineConfig } from '../../config/pipelines';
import type { DeadLetter, RawRecord } from '../../model/events';
import type { DeadLetterSink } from '../../pipeline/runner';
import type { Runtime } from '../../runtime';
import type { Logger } from '../../instrumentation/logger';
import type { Metrics } from '../../instrumentation/metrics';
import { streamOf } from '../../correlate/watermark';

function headersOf(h: IHeaders | undefined): Record<string, string> | undefined {
  if (!h) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k.toLowerCase()] = first.toString();
  }
  return Object.keys(out).length ? out : undefined;
}

export function toRawRecord(m: KafkaMessage, topic: string, partition: number, source: RawRecord['ref']['source']): RawRecord {
  const raw: RawRecord = {
    value: m.value ?? Buffer.alloc(0),
    ref: { source, topic, partition, offset: m.offset },
    receivedAtMs: Number(m.timestamp) || Date.now(),
  };
  const headers = headersOf(m.headers);
  if (headers) raw.headers = headers;
  if (m.key) raw.key = m.key.toString();
  return raw;
}

/**
 * Upper bound of one dead-letter produce request (approximate: original bytes plus reason). Below the
 * broker's default message.max.bytes (1 MB), which bounds a partition's record batch in one request.
 */
const DEAD_LETTER_REQUEST_BYTES = 512 * 1024;

/** Consecutive groups of dead letters of at most `maxBytes` each (a bigger single one goes alone). */
function chunkByBytes(dls: DeadLetter[], maxBytes: number): DeadLetter[][] {
  const out: DeadLetter[][] = [];
  let cur: DeadLetter[] = [];
  let bytes = 0;
  for (const d of dls) {
    const size = Math.ceil((d.originalBase64.length * 3) / 4) + d.reason.length + 512;
    if (cur.length && bytes + size > maxBytes) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(d);
    bytes += size;
  }
  if (cur.length) out.push(cur);
  return out;
}

/**
 * Kafka ingestion: one consumer group per pipeline, batches handed to the runner, offsets
 * committed only after the store acknowledged the batch (at-least-once; the store's writes are
 * idempotent, so redelivery creates no duplicates). Dead letters go to the dead-letter topic
 * (original bytes, reason and coordinates in headers) before the offsets are committed.
 */
export class KafkaIngest {
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly consumers: { pipeline: PipelineConfig; consumer: Consumer }[] = [];
  private readonly up = new Set<string>();
  private producerReady: Promise<void> | undefined;
  private stopped = false;
  /** Consumer lag per topic|partition after the last batch (read by the lag gauge). */
  readonly lag = new Map<string, number>();

  constructor(
    private readonly cfg: Config,
    private readonly pipelines: PipelineConfig[],
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    this.kafka = new Kafka({
      clientId: cfg.kafka.clientId,
      brokers: cfg.kafka.brokers,
      logLevel: logLevel.ERROR,
      retry: { initialRetryTime: 300, retries: 8 },
      logCreator: () => ({ level, log }) => {
        if (level <= logLevel.ERROR) this.log.warn('kafka client', { message: log.message, error: (log as { error?: string }).error });
      },
    });
    this.producer = this.kafka.producer({ allowAutoTopicCreation: true, idempotent: false });
  }

  deadLetterSink(): DeadLetterSink {
    return {
      send: async (dls: DeadLetter[]) => {
        await (this.producerReady ??= this.producer.connect());
        // Several produce requests when needed: one request holding a batch's dead letters (up to
        // 64 KiB of original bytes each) would exceed the broker's message.max.bytes (1 MB by default),
        // a permanent error that would stop the pipeline at the first burst of big poison messages.
        for (const part of chunkByBytes(dls, DEAD_LETTER_REQUEST_BYTES)) await this.sendDeadLetters(part);
      },
    };
  }

  /** One produce request of dead letters: original bytes as the value, reason and coordinates in headers. */
  private async sendDeadLetters(dls: DeadLetter[]): Promise<void> {
    await this.producer.send({
      topic: this.cfg.kafka.deadLetterTopic,
      acks: -1,
      messages: dls.map((d) => ({
        key: d.id,
        value: Buffer.from(d.originalBase64, 'base64'),
        headers: Object.fromEntries(
          Object.entries({
            'auditmesh.reason': d.reason,
            'auditmesh.code': d.code,
            'auditmesh.stage': d.stage,
            'auditmesh.field': d.field,
            'auditmesh.source': d.ref.source,
            'auditmesh.topic': d.ref.topic,
            'auditmesh.partition': d.ref.partition?.toString(),
            'auditmesh.offset': d.ref.offset,
            'auditmesh.original_bytes': String(d.originalBytes),
            'auditmesh.original_truncated': d.originalTruncated ? 'true' : undefined,
            'auditmesh.dead_lettered_at': d.timestamp,
          }).filter((e): e is [string, string] => e[1] !== undefined),
        ),
      })),
    });
  }

  connected(): boolean {
    return !this.stopped && this.consumers.length > 0 && this.consumers.every((c) => this.up.has(c.pipeline.id));
  }

  async start(rt: Runtime): Promise<void> {
    await (this.producerReady ??= this.producer.connect());
    await this.expectPartitions(rt);
    for (const p of this.pipelines) await this.startPipeline(p, rt);
  }

  /** One consumer group for one pipeline; restarted (from the committed offsets) if kafkajs gives up on it. */
  private async startPipeline(p: PipelineConfig, rt: Runtime): Promise<void> {
    const group = `${this.cfg.kafka.groupPrefix}-${p.id}`;
    const consumer = this.kafka.consumer({
      groupId: group,
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
      maxBytesPerPartition: 4 * 1024 * 1024,
      allowAutoTopicCreation: true,
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.up.add(p.id);
      // Partitions assigned now (a topic created since start, a rebalance) hold the watermark back too.
      rt.runner.expectStreams(Object.entries(e.payload.memberAssignment).flatMap(([topic, parts]) => parts.map((partition) => streamOf({ source: p.parser, topic, partition }))));
    });
    consumer.on(consumer.events.CONNECT, () => this.up.add(p.id));
    consumer.on(consumer.events.DISCONNECT, () => this.up.delete(p.id));
    consumer.on(consumer.events.CRASH, (e) => {
      this.up.delete(p.id);
      this.log.error('kafka consumer crashed', { pipeline: p.id, error: e.payload.error?.message, restart: e.payload.restart });
      // kafkajs restarts after retriable errors only; after a non-retriable one (e.g. the coordinator
      // evicted the member: "not aware of this member") the consumer would stay stopped for good.
      if (e.payload.restart === false) void this.restartPipeline(p, consumer, rt);
    });
    this.consumers.push({ pipeline: p, consumer });
    await consumer.connect();
    await consumer.subscribe({ topics: p.topics, fromBeginning: p.fromBeginning });
    const parser = rt.parser(p.parser, { ...p.options, format: p.format });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: p.batch.partitionsConcurrently,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const msgs = batch.messages;
        const lagKey = `${batch.topic}|${batch.partition}`;
        for (let i = 0; i < msgs.length; i += p.batch.maxRecords) {
          if (!isRunning() || isStale()) return;
          const chunk = msgs.slice(i, i + p.batch.maxRecords);
          const raws = chunk.map((m) => toRawRecord(m, batch.topic, batch.partition, p.parser));
          this.metrics.inflightBatches.add(1);
          // kafkajs heartbeats only when asked: keep the membership alive while the chunk waits
          // behind other batches and is processed, or the coordinator evicts a busy consumer.
          const keepAlive = setInterval(() => heartbeat().catch(() => undefined), 3_000);
          try {
            // Resolves only after the store acknowledged (and dead letters were produced).
            await rt.runner.process(raws, parser);
          } finally {
            clearInterval(keepAlive);
            this.metrics.inflightBatches.add(-1);
          }
          const last = chunk[chunk.length - 1]!.offset;
          resolveOffset(last);
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
          await heartbeat();
        }
        this.lag.set(lagKey, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(batch.lastOffset()) - 1n)));
      },
    });
    this.log.info('kafka pipeline started', { pipeline: p.id, topics: p.topics, group, parser: p.parser });
  }

  /** Replace a consumer kafkajs will not restart: a new member resumes from the committed offsets. */
  private async restartPipeline(p: PipelineConfig, old: Consumer, rt: Runtime): Promise<void> {
    for (let attempt = 1; !this.stopped; attempt++) {
      const i = this.consumers.findIndex((c) => c.consumer === old);
      if (i >= 0) this.consumers.splice(i, 1);
      await old.disconnect().catch(() => undefined);
      await new Promise((r) => setTimeout(r, Math.min(30_000, 1_000 * 2 ** (attempt - 1))));
      if (this.stopped) return;
      try {
        await this.startPipeline(p, rt);
        this.log.warn('kafka consumer restarted from the committed offsets', { pipeline: p.id, attempt });
        return;
      } catch (e) {
        this.log.error('kafka consumer restart failed; retrying', { pipeline: p.id, attempt, error: (e as Error).message });
        const failed = this.consumers.find((c) => c.pipeline === p);
        if (failed) old = failed.consumer;
      }
    }
  }

  /**
   * Every partition of every pipeline's topics holds the event-time watermark back until it has
   * delivered (or stayed idle): the consumer groups join one at a time after a restart, and the first
   * to run must not push the watermark past the backlog of the others (whose events would then be
   * dead-lettered as too late although they arrived within the allowed lateness).
   */
  private async expectPartitions(rt: Runtime): Promise<void> {
    const parserOf = new Map(this.pipelines.flatMap((p) => p.topics.map((t) => [t, p.parser] as const)));
    if (!parserOf.size) return;
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const md = await admin.fetchTopicMetadata({ topics: [...parserOf.keys()] });
      rt.runner.expectStreams(md.topics.flatMap((t) => t.partitions.map((p) => streamOf({ source: parserOf.get(t.name)!, topic: t.name, partition: p.partitionId }))));
    } catch (e) {
      // Not fatal: partitions then hold the watermark back from their group's join (GROUP_JOIN) on.
      this.log.warn('could not read the partitions of the pipeline topics at start', { error: (e as Error).message });
    } finally {
      await admin.disconnect().catch((e: Error) => this.log.warn('kafka admin disconnect failed', { error: e.message }));
    }
  }

  /** Stop fetching, let the batch in flight finish and commit, then disconnect. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const { pipeline, consumer } of this.consumers) {
      try {
        await consumer.disconnect();
      } catch (e) {
        this.log.warn('kafka consumer disconnect failed', { pipeline: pipeline.id, error: (e as Error).message });
      }
    }
    try {
      await this.producer.disconnect();
    } catch (e) {
      this.log.warn('kafka producer disconnect failed', { error: (e as Error).message });
    }
  }
}
