import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin, type Consumer } from 'kafkajs';
import type { Config } from '../../config/schema';
import type { SourceType } from '../../model/events';
import type { Logger } from '../../instrumentation/logger';
import type { Runtime } from '../../runtime';
import type { BatchResult } from '../../pipeline/runner';
import { PipelineError, UsageError } from '../../errors';
import { toRawRecord } from './kafkaSource';

/**
 * Replay (backfill) from Kafka: read a fixed offset range of some topic partitions again through the
 * same parse → correlate → store path as `auditmesh serve`, and stop.
 *
 * - The range is fixed when the replay starts: from the given offsets (or the first offset at or
 *   after a time), up to the partition's end at that moment (or the first offset at or after an end
 *   time), so a replay always terminates, however busy the topic.
 * - The pipelines' consumer groups are never touched: the replay consumes with its own ephemeral
 *   group (`<groupPrefix>-replay-<random>`), positions it with `seek` when it joins (kafkajs has no
 *   manual assignment), never commits an offset, and deletes the group at the end.
 * - Writes are idempotent (deterministic ids), so replaying what is already stored changes nothing.
 */

/** `<topic>:<partition>:<offset>`; partition `*` = every partition of the topic. */
export interface OffsetSpec {
  topic: string;
  partition: number | '*';
  offset: bigint | 'earliest';
}

export interface ReplayRequest {
  /** Start: explicit offsets (only these partitions), or a time (every partition of `topics`). */
  from: { offsets: OffsetSpec[] } | { timeMs: number };
  /** Topics to read (with `from.timeMs`); with offsets, the topics of the specs. */
  topics: string[];
  /** Exclusive end per partition (default: the partition's end when the replay starts). */
  toOffsets?: OffsetSpec[];
  /** Exclusive end: the first offset whose Kafka timestamp is at or after this time. */
  toTimeMs?: number;
}

/** How the messages of one topic are parsed (from its pipeline, or `--type` for another topic). */
export interface TopicRoute {
  parser: SourceType;
  format: string;
  options: Record<string, unknown>;
  /** Records handed to the runner at once (the pipeline's batch.maxRecords). */
  maxRecords: number;
  /** The pipeline reading this topic, if any. */
  pipeline?: string;
}

/** Offsets of one partition: `low` the first still in Kafka, `high` the next to be written. */
export interface PartitionOffsets {
  partition: number;
  low: bigint;
  high: bigint;
}

/** What to read of one partition: offsets `start` (inclusive) to `end` (exclusive). */
export interface PartitionRange {
  topic: string;
  partition: number;
  start: bigint;
  end: bigint;
}

export interface ReplayPlan {
  ranges: PartitionRange[];
  /** Adjustments made to the request (offsets no longer in Kafka, ends beyond the partition's end). */
  notes: string[];
  /** Offsets to read in all (messages, unless compaction or transaction markers left gaps). */
  total: number;
}

const key = (topic: string, partition: number) => `${topic}:${partition}`;
const describeSpec = (s: OffsetSpec) => `${s.topic}:${s.partition}:${s.offset}`;

/**
 * The ranges to read, from the request and the partitions' offsets (pure: the I/O is in
 * `resolveReplayPlan`). Throws a UsageError naming the spec when it cannot be honoured.
 */
export function computeRanges(
  req: ReplayRequest,
  offsets: Map<string, PartitionOffsets[]>,
  byTime: { from?: Map<string, Map<number, bigint>>; to?: Map<string, Map<number, bigint>> } = {},
): ReplayPlan {
  const notes: string[] = [];
  const partitionsOf = (topic: string, flag: string): PartitionOffsets[] => {
    const ps = offsets.get(topic);
    if (!ps) throw new UsageError(`${flag}: no topic '${topic}' on the brokers`);
    return ps;
  };
  const expand = (spec: OffsetSpec, flag: string): PartitionOffsets[] => {
    const ps = partitionsOf(spec.topic, flag);
    if (spec.partition === '*') return ps;
    const p = ps.find((x) => x.partition === spec.partition);
    if (!p) throw new UsageError(`${flag} ${describeSpec(spec)}: topic '${spec.topic}' has no partition ${spec.partition} (it has ${ps.length === 1 ? 'partition 0' : `partitions 0..${ps.length - 1}`})`);
    return [p];
  };

  const starts = new Map<string, { topic: string; p: PartitionOffsets; start: bigint }>();
  if ('offsets' in req.from) {
    for (const spec of req.from.offsets) {
      for (const p of expand(spec, '--from-offset')) {
        const k = key(spec.topic, p.partition);
        if (starts.has(k)) throw new UsageError(`--from-offset: partition ${k} is given twice`);
        let start: bigint;
        if (spec.offset === 'earliest') start = p.low;
        else if (spec.offset > p.high) {
          throw new UsageError(`--from-offset ${describeSpec(spec)}: partition ${k} ends at offset ${p.high} (the next offset to be written); give an offset of at most ${p.high}`);
        } else if (spec.offset < p.low) {
          notes.push(`${k}: offsets ${spec.offset}..${p.low - 1n} are no longer in Kafka (retention); starting at ${p.low}`);
          start = p.low;
        } else start = spec.offset;
        starts.set(k, { topic: spec.topic, p, start });
      }
    }
  } else {
    const from = byTime.from ?? new Map();
    for (const topic of req.topics) {
      for (const p of partitionsOf(topic, '--topics')) {
        const t = from.get(topic)?.get(p.partition) ?? p.high;
        starts.set(key(topic, p.partition), { topic, p, start: t < p.low ? p.low : t > p.high ? p.high : t });
      }
    }
  }

  const ends = new Map<string, bigint>();
  for (const spec of req.toOffsets ?? []) {
    if (spec.offset === 'earliest') throw new UsageError(`--to-offset ${describeSpec(spec)}: give an offset number (the first offset not to read)`);
    for (const p of expand(spec, '--to-offset')) {
      const k = key(spec.topic, p.partition);
      if (!starts.has(k)) throw new UsageError(`--to-offset ${describeSpec(spec)}: partition ${k} is not replayed (name it in --from-offset)`);
      if (ends.has(k)) throw new UsageError(`--to-offset: partition ${k} is given twice`);
      if (spec.offset > p.high) notes.push(`${k}: --to-offset ${spec.offset} is beyond the partition's end; stopping at ${p.high}`);
      ends.set(k, spec.offset > p.high ? p.high : spec.offset);
    }
  }

  const ranges: PartitionRange[] = [];
  for (const [k, { topic, p, start }] of starts) {
    let end = ends.get(k) ?? p.high;
    const byEndTime = byTime.to?.get(topic)?.get(p.partition);
    if (byEndTime !== undefined && byEndTime < end) end = byEndTime;
    if (end < start) end = start;
    ranges.push({ topic, partition: p.partition, start, end });
  }
  ranges.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  return { ranges, notes, total: ranges.reduce((n, r) => n + Number(r.end - r.start), 0) };
}

/** The replay's Kafka client: the service's brokers and client id (`<clientId>-replay`). */
export function replayKafka(cfg: Config, log: Logger): Kafka {
  return new Kafka({
    clientId: `${cfg.kafka.clientId}-replay`,
    brokers: cfg.kafka.brokers,
    logLevel: logLevel.ERROR,
    retry: { initialRetryTime: 300, retries: 8 },
    logCreator: () => ({ level, log: entry }) => {
      if (level <= logLevel.ERROR) log.warn('kafka client', { message: entry.message, error: (entry as { error?: string }).error });
    },
  });
}

/** Ask the brokers for the partitions' offsets (and offsets by time) and compute the plan. */
export async function resolveReplayPlan(admin: Admin, req: ReplayRequest): Promise<ReplayPlan> {
  const topics = 'offsets' in req.from ? [...new Set(req.from.offsets.map((s) => s.topic))] : req.topics;
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length) throw new UsageError(`no topic ${missing.map((t) => `'${t}'`).join(', ')} on the brokers`);
  const offsets = new Map<string, PartitionOffsets[]>();
  for (const t of topics) {
    const ps = await admin.fetchTopicOffsets(t);
    offsets.set(t, ps.map((p) => ({ partition: p.partition, low: BigInt(p.low), high: BigInt(p.high) })).sort((a, b) => a.partition - b.partition));
  }
  // The first offset at or after a time (the partition's end when there is none).
  const atTime = async (ms: number) => {
    const out = new Map<string, Map<number, bigint>>();
    for (const t of topics) out.set(t, new Map((await admin.fetchTopicOffsetsByTimestamp(t, ms)).map((p) => [p.partition, BigInt(p.offset)])));
    return out;
  };
  const byTime: { from?: Map<string, Map<number, bigint>>; to?: Map<string, Map<number, bigint>> } = {};
  if ('timeMs' in req.from) byTime.from = await atTime(req.from.timeMs);
  if (req.toTimeMs !== undefined) byTime.to = await atTime(req.toTimeMs);
  return computeRanges(req, offsets, byTime);
}

export interface ReplayProgress {
  /** Offsets passed so far (of plan.total). */
  done: number;
  messages: number;
}

export interface DeadLetterSummary {
  count: number;
  /** Where and why it first happened: `topic:partition:offset: reason`. */
  first: string;
}

export interface ReplayResult {
  messages: number;
  events: number;
  records: number;
  deadLetters: Map<string, DeadLetterSummary>;
  /** Next offset to read per partition (`topic:partition`): where to resume an interrupted replay. */
  positions: Map<string, bigint>;
  /** Stopped by the signal before the end of the plan. */
  interrupted: boolean;
  /** The ephemeral consumer group; empty when there was nothing to read (none was created). */
  groupId: string;
  /** The ephemeral group was deleted (false: it expires by itself; it has no committed offsets). */
  groupDeleted: boolean;
}

export interface ReplayOptions {
  kafka: Kafka;
  runtime: Pick<Runtime, 'runner' | 'parser'>;
  routes: Map<string, TopicRoute>;
  log: Logger;
  /** Prefix of the ephemeral group id (the service's kafka.groupPrefix): `<prefix>-replay-<random>`. */
  groupPrefix: string;
  /** Stop after the batch in flight (Ctrl-C); the result tells where to resume. */
  signal?: AbortSignal;
  onProgress?: (p: ReplayProgress) => void;
}

interface PartitionState {
  range: PartitionRange;
  next: bigint;
  done: boolean;
}

/**
 * Read the plan's ranges through `runtime.runner` and stop. Resolves when every range is read (or
 * the signal fired and the batch in flight is stored); rejects on a store or Kafka failure.
 */
export async function runReplay(plan: ReplayPlan, opts: ReplayOptions): Promise<ReplayResult> {
  const { kafka, runtime, routes, log } = opts;
  const groupId = `${opts.groupPrefix}-replay-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const states = new Map<string, PartitionState>(plan.ranges.map((r) => [key(r.topic, r.partition), { range: r, next: r.start, done: r.start >= r.end }]));
  const result: ReplayResult = { messages: 0, events: 0, records: 0, deadLetters: new Map(), positions: new Map(), interrupted: false, groupId, groupDeleted: false };
  const positions = () => new Map([...states].map(([k, s]) => [k, s.next]));
  const allDone = () => [...states.values()].every((s) => s.done);
  const progress = () => opts.onProgress?.({ done: [...states.values()].reduce((n, s) => n + Number(s.next - s.range.start), 0), messages: result.messages });
  if (allDone() || opts.signal?.aborted) {
    // Nothing to read: no consumer group is created.
    result.interrupted = !allDone();
    result.positions = positions();
    result.groupId = '';
    return result;
  }

  let stopped = false;
  let fatal: Error | undefined;
  let settle!: () => void;
  const finished = new Promise<void>((resolve) => (settle = resolve));
  const finish = (e?: Error) => {
    if (e && !fatal) fatal = e;
    stopped = true;
    settle();
  };
  const advance = (s: PartitionState, to: bigint) => {
    const capped = to > s.range.end ? s.range.end : to;
    if (capped > s.next) s.next = capped;
    if (s.next >= s.range.end && !s.done) {
      s.done = true;
      if (allDone()) finish();
    }
  };
  const account = (r: BatchResult) => {
    result.messages += r.received;
    result.events += r.events;
    result.records += r.records;
    for (const d of r.deadLetters) {
      const cur = result.deadLetters.get(d.code);
      if (cur) cur.count++;
      else result.deadLetters.set(d.code, { count: 1, first: `${d.ref.topic}:${d.ref.partition}:${d.ref.offset}: ${d.reason}` });
    }
  };

  const consumer: Consumer = kafka.consumer({
    groupId,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxBytesPerPartition: 4 * 1024 * 1024,
    allowAutoTopicCreation: false,
  });
  // Position every planned partition where it stands (the start, or further after a re-join), and
  // pause what is not to be read (other partitions of a topic, finished ones). GROUP_JOIN fires
  // before the first fetch of the generation, so no message before the start is fetched.
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joined = true;
    const pause: { topic: string; partitions: number[] }[] = [];
    for (const [topic, parts] of Object.entries(e.payload.memberAssignment)) {
      const idle = parts.filter((p) => {
        const s = states.get(key(topic, p));
        if (!s || s.done) return true;
        consumer.seek({ topic, partition: p, offset: s.next.toString() });
        return false;
      });
      if (idle.length) pause.push({ topic, partitions: idle });
    }
    if (pause.length) consumer.pause(pause);
  });
  // A batch of only control records (transaction markers) or aborted messages never reaches
  // eachBatch; its end still counts as read.
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
    const s = states.get(key(e.payload.topic, e.payload.partition));
    if (s && e.payload.batchSize === 0 && !stopped) advance(s, BigInt(e.payload.lastOffset) + 1n);
  });
  consumer.on(consumer.events.CRASH, (e) => {
    if (e.payload.restart) log.warn('replay consumer crashed; kafkajs restarts it', { error: e.payload.error?.message });
    else finish(new PipelineError(`the replay's Kafka consumer stopped: ${e.payload.error?.message}`, 'kafka_consumer_crashed', false, 'source', { cause: e.payload.error }));
  });
  const onAbort = () => {
    if (stopped) return;
    result.interrupted = true;
    finish();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [...new Set(plan.ranges.filter((r) => r.start < r.end).map((r) => r.topic))], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 1,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, pause }) => {
        const s = states.get(key(batch.topic, batch.partition));
        if (!s || s.done || stopped) {
          pause();
          return;
        }
        const route = routes.get(batch.topic);
        if (!route) {
          finish(new Error(`no parser for topic ${batch.topic}`));
          return;
        }
        const parser = runtime.parser(route.parser, { ...route.options, format: route.format });
        const wanted = batch.messages.filter((m) => {
          const o = BigInt(m.offset);
          return o >= s.next && o < s.range.end;
        });
        for (let i = 0; i < wanted.length; i += route.maxRecords) {
          if (!isRunning() || isStale() || stopped) return;
          const chunk = wanted.slice(i, i + route.maxRecords);
          try {
            // Resolves after the store acknowledged the batch (and the alert rules saw it).
            account(await runtime.runner.process(chunk.map((m) => toRawRecord(m, batch.topic, batch.partition, route.parser)), parser));
          } catch (e) {
            finish(e as Error);
            return;
          }
          advance(s, BigInt(chunk[chunk.length - 1]!.offset) + 1n);
          progress();
          await heartbeat();
        }
        if (isStale() || stopped) return;
        // Past the batch's last offset (control records and compaction gaps included).
        advance(s, BigInt(batch.lastOffset()) + 1n);
        progress();
        if (s.done) pause();
      },
    });
    await finished;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    stopped = true;
    // Waits for the batch in flight; the group commits nothing (autoCommit off, no commitOffsets).
    await consumer.disconnect().catch((e: Error) => log.warn('replay consumer disconnect failed', { error: e.message }));
    if (joined) result.groupDeleted = await deleteGroup(kafka, groupId, log);
  }
  if (fatal) throw fatal;
  result.positions = positions();
  return result;
}

async function deleteGroup(kafka: Kafka, groupId: string, log: Logger): Promise<boolean> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.deleteGroups([groupId]);
    return true;
  } catch (e) {
    log.warn('could not delete the replay consumer group (it has no committed offsets and expires by itself)', { group: groupId, error: (e as Error).message });
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
