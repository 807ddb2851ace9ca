/**
 * `auditmesh replay`: read a range of Kafka offsets again (a backfill) through the same parse →
 * correlate → store path as `serve`, with progress, and a summary. The Kafka side (plan, ephemeral
 * consumer group, positions) is src/sources/kafka/replay.ts; here: arguments, wiring, output.
 */
import { loadConfig } from '../config/load';
import { loadPipelines, type PipelineConfig } from '../config/pipelines';
import type { Config } from '../config/schema';
import { ConfigError, PipelineError, UsageError } from '../errors';
import { createLogger } from '../instrumentation/logger';
import { SOURCE_TYPES, type SourceType } from '../model/events';
import { createRuntime } from '../runtime';
import { createDetection, type Detection } from '../detect';
import { replayKafka, resolveReplayPlan, runReplay, type OffsetSpec, type ReplayPlan, type ReplayRequest, type ReplayResult, type TopicRoute } from '../sources/kafka/replay';
import { Progress, formatCount, type ProgressStream } from './progress';

export const REPLAY_OPTIONS = ['from-offset', 'to-offset', 'from-time', 'to-time', 'topics', 'type', 'format', 'dry-run'];

/** Kafka's rule for topic names. */
const TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;
const SPEC_HELP = 'expected <topic>:<partition>:<offset>[,…], e.g. mesh.access-logs:0:1200 (partition * = all, offset earliest = the first still in Kafka)';

/** `--from-offset` / `--to-offset`: comma-separated `<topic>:<partition>:<offset>`. */
export function parseOffsetSpecs(value: string, flag: string): OffsetSpec[] {
  const out: OffsetSpec[] = [];
  const seen = new Set<string>();
  for (const raw of value.split(',')) {
    const item = raw.trim();
    if (!item) throw new UsageError(`${flag} '${value}': empty entry; ${SPEC_HELP}`);
    const parts = item.split(':');
    if (parts.length !== 3) throw new UsageError(`${flag} '${item}': ${SPEC_HELP}`);
    const [topic, partition, offset] = parts as [string, string, string];
    if (!TOPIC.test(topic)) throw new UsageError(`${flag} '${item}': '${topic}' is not a Kafka topic name (letters, digits, '.', '_' and '-'); ${SPEC_HELP}`);
    if (partition !== '*' && !/^\d{1,9}$/.test(partition)) throw new UsageError(`${flag} '${item}': partition must be a number or * (got '${partition}'); ${SPEC_HELP}`);
    if (offset !== 'earliest' && !/^\d{1,19}$/.test(offset)) throw new UsageError(`${flag} '${item}': offset must be a number or earliest (got '${offset}'); ${SPEC_HELP}`);
    const k = `${topic}:${partition}`;
    if (seen.has(k)) throw new UsageError(`${flag}: partition ${k} is given twice`);
    seen.add(k);
    out.push({ topic, partition: partition === '*' ? '*' : Number(partition), offset: offset === 'earliest' ? 'earliest' : BigInt(offset) });
  }
  return out;
}

/** ISO 8601 with a time zone (`2026-05-01T08:00:00Z`, `…+02:00`), or a date (UTC midnight). */
export function parseTime(value: string, flag: string): number {
  const ok = /^\d{4}-\d{2}-\d{2}$/.test(value) || /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(value);
  const ms = ok ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) throw new UsageError(`${flag} '${value}': give an ISO 8601 time with a zone, e.g. 2026-05-01T08:00:00Z (or a date, read as UTC midnight)`);
  return ms;
}

export interface ReplayArgs {
  fromOffsets?: OffsetSpec[];
  toOffsets?: OffsetSpec[];
  fromTimeMs?: number;
  toTimeMs?: number;
  topics?: string[];
  type?: SourceType;
  format?: string;
  dryRun: boolean;
}

/** Validate the options of `auditmesh replay` (no I/O). */
export function parseReplayArgs(flags: Map<string, string>, args: string[]): ReplayArgs {
  if (args.length) throw new UsageError(`replay takes no file arguments (got '${args[0]}'); to replay files use: auditmesh ingest --type <type> <file...>`);
  const fromOffset = flags.get('from-offset');
  const fromTime = flags.get('from-time');
  if (fromOffset === undefined && fromTime === undefined) throw new UsageError('replay needs where to start: --from-offset <topic>:<partition>:<offset>[,…] or --from-time <ISO 8601>');
  if (fromOffset !== undefined && fromTime !== undefined) throw new UsageError('give --from-offset or --from-time, not both');
  const out: ReplayArgs = { dryRun: false };
  const dry = flags.get('dry-run');
  if (dry !== undefined) {
    if (dry !== 'true' && dry !== 'false') throw new UsageError(`--dry-run takes no value (got '${dry}')`);
    out.dryRun = dry === 'true';
  }
  if (fromOffset !== undefined) out.fromOffsets = parseOffsetSpecs(fromOffset, '--from-offset');
  if (fromTime !== undefined) out.fromTimeMs = parseTime(fromTime, '--from-time');
  const toOffset = flags.get('to-offset');
  if (toOffset !== undefined) {
    if (!out.fromOffsets) throw new UsageError('--to-offset needs --from-offset (with --from-time, end with --to-time)');
    out.toOffsets = parseOffsetSpecs(toOffset, '--to-offset');
  }
  const toTime = flags.get('to-time');
  if (toTime !== undefined) {
    out.toTimeMs = parseTime(toTime, '--to-time');
    if (out.fromTimeMs !== undefined && out.toTimeMs <= out.fromTimeMs) throw new UsageError(`--to-time ${toTime} must be after --from-time ${fromTime}`);
  }
  const topics = flags.get('topics');
  if (topics !== undefined) {
    if (out.fromOffsets) throw new UsageError('--topics cannot be combined with --from-offset: the offsets name their topics');
    const list = topics.split(',').map((t) => t.trim());
    const bad = list.find((t) => !TOPIC.test(t));
    if (bad !== undefined) throw new UsageError(`--topics '${topics}': '${bad}' is not a Kafka topic name (letters, digits, '.', '_' and '-'; comma-separated)`);
    out.topics = [...new Set(list)];
  }
  const type = flags.get('type');
  if (type !== undefined) {
    if (!SOURCE_TYPES.includes(type as SourceType)) throw new UsageError(`unknown --type '${type}': use one of ${SOURCE_TYPES.join(', ')}`);
    out.type = type as SourceType;
  }
  const format = flags.get('format');
  if (format !== undefined) {
    if (!out.type) throw new UsageError('--format needs --type (the pipelines name the format of their topics)');
    out.format = format;
  }
  return out;
}

/**
 * The topics to replay and how to parse each: the pipelines' (all, or those of --type), --topics,
 * or the topics of --from-offset; a topic no pipeline reads needs --type.
 */
export function topicRoutes(a: ReplayArgs, pipelines: PipelineConfig[] | Error, pipelinesDir: string): { topics: string[]; routes: Map<string, TopicRoute> } {
  const list = pipelines instanceof Error ? [] : pipelines;
  const byTopic = new Map(list.flatMap((p) => p.topics.map((t) => [t, p] as const)));
  let topics: string[];
  if (a.fromOffsets) topics = [...new Set(a.fromOffsets.map((s) => s.topic))];
  else if (a.topics) topics = a.topics;
  else {
    if (pipelines instanceof Error) throw pipelines;
    const chosen = a.type ? list.filter((p) => p.parser === a.type) : list;
    if (!chosen.length) throw new UsageError(`no pipeline in ${pipelinesDir} reads ${a.type} (${list.map((p) => `${p.id}: ${p.parser}`).join(', ') || 'none'}); name the topics with --topics`);
    topics = [...new Set(chosen.flatMap((p) => p.topics))];
  }
  const routes = new Map<string, TopicRoute>();
  for (const t of topics) {
    const p = byTopic.get(t);
    if (p) {
      if (a.type && a.type !== p.parser) throw new UsageError(`topic '${t}' is read by pipeline '${p.id}' (${p.file}) with parser ${p.parser}, not ${a.type}; leave out --type`);
      routes.set(t, { parser: p.parser, format: a.format ?? p.format, options: p.options, maxRecords: p.batch.maxRecords, pipeline: p.id });
    } else if (a.type) {
      routes.set(t, { parser: a.type, format: a.format ?? 'auto', options: {}, maxRecords: 2_000 });
    } else {
      if (pipelines instanceof Error) throw new UsageError(`topic '${t}' needs --type <${SOURCE_TYPES.join('|')}> (no pipelines: ${pipelines.message})`);
      throw new UsageError(`topic '${t}' is not read by any pipeline in ${pipelinesDir}; give its parser with --type <${SOURCE_TYPES.join('|')}>`);
    }
  }
  return { topics, routes };
}

export function requestOf(a: ReplayArgs, topics: string[]): ReplayRequest {
  const req: ReplayRequest = { from: a.fromOffsets ? { offsets: a.fromOffsets } : { timeMs: a.fromTimeMs! }, topics };
  if (a.toOffsets) req.toOffsets = a.toOffsets;
  if (a.toTimeMs !== undefined) req.toTimeMs = a.toTimeMs;
  return req;
}

const MAX_LISTED = 20;

/** The ranges of a plan, one line per partition (at most 20, then a count). */
export function planLines(plan: ReplayPlan, routes: Map<string, TopicRoute>): string[] {
  const out = plan.ranges.slice(0, MAX_LISTED).map((r) => {
    const route = routes.get(r.topic);
    const n = r.end - r.start;
    return `  ${r.topic}:${r.partition}  offsets ${r.start}..${r.end} (${formatCount(Number(n))} message${n === 1n ? '' : 's'})  → ${route?.parser ?? '?'}${route?.pipeline ? ` (pipeline ${route.pipeline})` : ''}`;
  });
  if (plan.ranges.length > MAX_LISTED) out.push(`  … and ${plan.ranges.length - MAX_LISTED} more partition(s)`);
  return [...out, ...plan.notes.map((n) => `  note: ${n}`)];
}

/** The summary on stdout. */
export function summaryLines(plan: ReplayPlan, r: ReplayResult, timing: string, store: string): string[] {
  const dead = [...r.deadLetters.values()].reduce((n, d) => n + d.count, 0);
  const topics = new Set(plan.ranges.map((x) => x.topic)).size;
  const out = [
    `${r.interrupted ? 'interrupted after' : 'replayed'} ${formatCount(r.messages)} message(s) from ${plan.ranges.length} partition(s) of ${topics} topic(s): ${formatCount(r.messages - dead)} accepted (${formatCount(r.events)} events, ${formatCount(r.records)} record writes), ${formatCount(dead)} dead-lettered, ${timing}`,
  ];
  for (const [code, d] of [...r.deadLetters].sort((a, b) => b[1].count - a[1].count)) out.push(`  dead-lettered ${code}: ${d.count} (first at ${d.first})`);
  if (r.interrupted) {
    const rest = plan.ranges.filter((x) => (r.positions.get(`${x.topic}:${x.partition}`) ?? x.start) < x.end);
    if (rest.length) {
      const from = rest.map((x) => `${x.topic}:${x.partition}:${r.positions.get(`${x.topic}:${x.partition}`) ?? x.start}`).join(',');
      const to = rest.map((x) => `${x.topic}:${x.partition}:${x.end}`).join(',');
      out.push(`  resume with: auditmesh replay --from-offset ${from} --to-offset ${to}`);
    }
  }
  out.push(`store: ${store}`);
  if (r.groupId) out.push(`consumer group: ${r.groupId} (ephemeral, no offsets committed${r.groupDeleted ? ', deleted' : ''}; the pipelines' groups were not touched)`);
  return out;
}

export interface ReplayIo {
  stdout: ProgressStream;
  stderr: ProgressStream;
  /** Stop early (the CLI wires SIGINT/SIGTERM to it). */
  signal?: AbortSignal;
  /** Periodic progress lines when stderr is not a terminal, ms. Default 10 s. */
  plainEveryMs?: number;
}

/** A kafkajs failure (brokers unreachable, authorization) as a PipelineError: one line, no stack. */
function kafkaError(e: unknown, cfg: Config): unknown {
  if (!(e instanceof Error) || !e.name.startsWith('KafkaJS')) return e;
  return new PipelineError(`Kafka ${cfg.kafka.brokers.join(',')}: ${e.message}`, 'kafka_unavailable', true, 'source', { cause: e });
}

/** Run `auditmesh replay`; returns the exit code (130 when interrupted). */
export async function replay(flags: Map<string, string>, args: string[], io: ReplayIo): Promise<number> {
  const a = parseReplayArgs(flags, args);
  const cfg: Config = loadConfig();
  if (!cfg.kafka.brokers.length) throw new ConfigError('replay reads Kafka: set KAFKA_BROKERS (or kafka.brokers in the AUDITMESH_CONFIG file)');
  let pipelines: PipelineConfig[] | Error;
  try {
    pipelines = loadPipelines(cfg.pipelinesDir);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    pipelines = e;
  }
  const { topics, routes } = topicRoutes(a, pipelines, cfg.pipelinesDir);
  const log = createLogger(cfg.log.level, { service: 'auditmesh', command: 'replay' });
  const kafka = replayKafka(cfg, log);
  const admin = kafka.admin();
  let plan: ReplayPlan;
  try {
    await admin.connect();
    plan = await resolveReplayPlan(admin, requestOf(a, topics));
  } catch (e) {
    throw kafkaError(e, cfg);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const header = [`replay plan: ${formatCount(plan.total)} message(s) in ${plan.ranges.length} partition(s)`, ...planLines(plan, routes)];
  if (a.dryRun) {
    io.stdout.write(header.join('\n') + '\n');
    return 0;
  }
  io.stderr.write(header.join('\n') + '\n');

  const rt = await createRuntime(cfg, { log });
  let detection: Detection | undefined;
  const progress = new Progress({ label: 'replay', total: plan.total, unit: 'items', items: 'messages', stream: io.stderr, plainEveryMs: io.plainEveryMs ?? 10_000 });
  let result: ReplayResult;
  try {
    // The alert rules see every stored batch, as in `serve` (a replay of last month raises last month's alerts once).
    detection = cfg.detect.enabled ? await createDetection(cfg, rt.store, { log, metrics: rt.metrics, env: process.env }) : undefined;
    if (detection) rt.runner.onWritten(detection.engine.onBatch);
    const opts: Parameters<typeof runReplay>[1] = { kafka, runtime: rt, routes, log, groupPrefix: cfg.kafka.groupPrefix, onProgress: (p) => progress.update(p.done, p.messages) };
    if (io.signal) opts.signal = io.signal;
    result = await runReplay(plan, opts).catch((e: unknown) => {
      throw kafkaError(e, cfg);
    });
  } finally {
    progress.clear();
    await detection?.stop();
    await rt.close();
  }
  const store = cfg.elasticsearch.url ? `elasticsearch ${cfg.elasticsearch.url}` : `embedded ${cfg.dataDir}`;
  io.stdout.write(summaryLines(plan, result, progress.timing(), store).join('\n') + '\n');
  return result.interrupted ? 130 : 0;
}
