import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCliCaptured } from '../../test/support/cli';
import { UsageError } from '../errors';
import { pipelineSchema, type PipelineConfig } from '../config/pipelines';
import { parseOffsetSpecs, parseReplayArgs, parseTime, planLines, summaryLines, topicRoutes } from './replay';
import type { ReplayPlan, ReplayResult } from '../sources/kafka/replay';

const flags = (o: Record<string, string>) => new Map(Object.entries(o));
const usage = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('expected a UsageError');
};

function pipeline(id: string, parser: PipelineConfig['parser'], topics: string[]): PipelineConfig {
  return { ...pipelineSchema.parse({ id, type: 'kafka', topics, parser, batch: { maxRecords: 500 } }), file: `/p/${id}.yaml` };
}
const PIPELINES = [pipeline('envoy', 'envoy', ['mesh.access-logs']), pipeline('tyk', 'tyk', ['tyk.analytics']), pipeline('otlp', 'otlp', ['otlp.spans', 'otlp.spans.b'])];

describe('cli/replay > arguments', () => {
  it('parses offsets, * partitions and earliest, and keeps 64-bit offsets exact', () => {
    expect(parseOffsetSpecs('mesh.access-logs:0:1200, tyk.analytics:*:earliest,big:3:9007199254740993', '--from-offset')).toEqual([
      { topic: 'mesh.access-logs', partition: 0, offset: 1200n },
      { topic: 'tyk.analytics', partition: '*', offset: 'earliest' },
      { topic: 'big', partition: 3, offset: 9007199254740993n },
    ]);
  });

  it.each([
    ['mesh.access-logs:0', /'mesh.access-logs:0': expected <topic>:<partition>:<offset>/],
    ['mesh:x:5', /partition must be a number or \* \(got 'x'\)/],
    ['mesh:0:-1', /offset must be a number or earliest \(got '-1'\)/],
    ['mesh:0:latest', /offset must be a number or earliest \(got 'latest'\)/],
    ['me sh:0:1', /'me sh' is not a Kafka topic name/],
    ['a:0:1,,b:0:1', /empty entry/],
    ['a:0:1,a:0:5', /partition a:0 is given twice/],
  ])('rejects the offset spec %s with a message naming the problem', (spec, msg) => {
    expect(usage(() => parseOffsetSpecs(spec, '--from-offset'))).toMatch(msg);
  });

  it('reads ISO 8601 times with a zone, and a date as UTC midnight; rejects times without a zone', () => {
    expect(parseTime('2026-05-01T08:00:00Z', '--from-time')).toBe(Date.parse('2026-05-01T08:00:00Z'));
    expect(parseTime('2026-05-01T10:00:00.250+02:00', '--from-time')).toBe(Date.parse('2026-05-01T08:00:00.250Z'));
    expect(parseTime('2026-05-01', '--from-time')).toBe(Date.parse('2026-05-01T00:00:00Z'));
    expect(usage(() => parseTime('2026-05-01T08:00:00', '--from-time'))).toMatch(/--from-time '2026-05-01T08:00:00': give an ISO 8601 time with a zone/);
    expect(usage(() => parseTime('yesterday', '--to-time'))).toMatch(/--to-time 'yesterday'/);
    expect(usage(() => parseTime('2026-13-45T00:00:00Z', '--to-time'))).toMatch(/ISO 8601/);
  });

  it('needs exactly one start and checks that the options fit together', () => {
    expect(usage(() => parseReplayArgs(flags({}), []))).toMatch(/needs where to start: --from-offset .* or --from-time/);
    expect(usage(() => parseReplayArgs(flags({ 'from-offset': 'a:0:1', 'from-time': '2026-05-01' }), []))).toMatch(/not both/);
    expect(usage(() => parseReplayArgs(flags({ 'from-time': '2026-05-02', 'to-time': '2026-05-01' }), []))).toMatch(/--to-time 2026-05-01 must be after --from-time 2026-05-02/);
    expect(usage(() => parseReplayArgs(flags({ 'from-time': '2026-05-01', 'to-offset': 'a:0:5' }), []))).toMatch(/--to-offset needs --from-offset/);
    expect(usage(() => parseReplayArgs(flags({ 'from-offset': 'a:0:1', topics: 'a' }), []))).toMatch(/--topics cannot be combined with --from-offset/);
    expect(usage(() => parseReplayArgs(flags({ 'from-time': '2026-05-01', type: 'syslog' }), []))).toMatch(/unknown --type 'syslog': use one of envoy, tyk, panos, otlp/);
    expect(usage(() => parseReplayArgs(flags({ 'from-time': '2026-05-01', format: 'json' }), []))).toMatch(/--format needs --type/);
    expect(usage(() => parseReplayArgs(flags({ 'from-time': '2026-05-01' }), ['access.log']))).toMatch(/to replay files use: auditmesh ingest/);
    expect(parseReplayArgs(flags({ 'from-offset': 'a:0:1', 'to-offset': 'a:0:9', 'to-time': '2026-05-01T00:00:00Z', 'dry-run': 'true' }), [])).toEqual({
      fromOffsets: [{ topic: 'a', partition: 0, offset: 1n }],
      toOffsets: [{ topic: 'a', partition: 0, offset: 9n }],
      toTimeMs: Date.parse('2026-05-01T00:00:00Z'),
      dryRun: true,
    });
  });
});

describe('cli/replay > topics and parsers', () => {
  const a = (o: Record<string, string>) => parseReplayArgs(flags(o), []);

  it('replays every pipeline topic by default, or those of --type, with the pipeline parser and batch size', () => {
    const all = topicRoutes(a({ 'from-time': '2026-05-01' }), PIPELINES, '/p');
    expect(all.topics).toEqual(['mesh.access-logs', 'tyk.analytics', 'otlp.spans', 'otlp.spans.b']);
    expect(all.routes.get('tyk.analytics')).toEqual({ parser: 'tyk', format: 'auto', options: {}, maxRecords: 500, pipeline: 'tyk' });
    expect(topicRoutes(a({ 'from-time': '2026-05-01', type: 'otlp' }), PIPELINES, '/p').topics).toEqual(['otlp.spans', 'otlp.spans.b']);
    expect(usage(() => topicRoutes(a({ 'from-time': '2026-05-01', type: 'panos' }), PIPELINES, '/p'))).toMatch(/no pipeline in \/p reads panos .*name the topics with --topics/);
  });

  it('takes the topics of the offsets, and needs --type for a topic no pipeline reads', () => {
    const r = topicRoutes(a({ 'from-offset': 'mesh.access-logs:0:5,tyk.analytics:*:earliest' }), PIPELINES, '/p');
    expect(r.topics).toEqual(['mesh.access-logs', 'tyk.analytics']);
    expect(usage(() => topicRoutes(a({ 'from-offset': 'archive.envoy:0:0' }), PIPELINES, '/p'))).toMatch(/topic 'archive.envoy' is not read by any pipeline in \/p; give its parser with --type/);
    const adhoc = topicRoutes(a({ 'from-offset': 'archive.envoy:0:0', type: 'envoy', format: 'json' }), new Error('no pipelines'), '/p');
    expect(adhoc.routes.get('archive.envoy')).toEqual({ parser: 'envoy', format: 'json', options: {}, maxRecords: 2000 });
    expect(usage(() => topicRoutes(a({ 'from-offset': 'tyk.analytics:0:0', type: 'envoy' }), PIPELINES, '/p'))).toMatch(/topic 'tyk.analytics' is read by pipeline 'tyk' .* with parser tyk, not envoy/);
  });
});

describe('cli/replay > output', () => {
  const plan: ReplayPlan = {
    ranges: [
      { topic: 'mesh.access-logs', partition: 0, start: 100n, end: 200n },
      { topic: 'mesh.access-logs', partition: 1, start: 5n, end: 6n },
    ],
    notes: ['mesh.access-logs:0: offsets 0..99 are no longer in Kafka (retention); starting at 100'],
    total: 101,
  };
  const routes = new Map([['mesh.access-logs', { parser: 'envoy' as const, format: 'auto', options: {}, maxRecords: 2000, pipeline: 'envoy' }]]);

  it('lists the plan per partition with the notes', () => {
    expect(planLines(plan, routes)).toEqual([
      '  mesh.access-logs:0  offsets 100..200 (100 messages)  → envoy (pipeline envoy)',
      '  mesh.access-logs:1  offsets 5..6 (1 message)  → envoy (pipeline envoy)',
      '  note: mesh.access-logs:0: offsets 0..99 are no longer in Kafka (retention); starting at 100',
    ]);
  });

  it('summarizes, and tells an interrupted replay how to resume', () => {
    const result: ReplayResult = {
      messages: 60,
      events: 58,
      records: 58,
      deadLetters: new Map([['invalid_json', { count: 2, first: 'mesh.access-logs:0:103: not JSON' }]]),
      positions: new Map([
        ['mesh.access-logs:0', 160n],
        ['mesh.access-logs:1', 6n],
      ]),
      interrupted: true,
      groupId: 'auditmesh-replay-x',
      groupDeleted: true,
    };
    const lines = summaryLines(plan, result, 'in 1.0s (60 messages/s)', 'embedded /data');
    expect(lines).toEqual([
      'interrupted after 60 message(s) from 2 partition(s) of 1 topic(s): 58 accepted (58 events, 58 record writes), 2 dead-lettered, in 1.0s (60 messages/s)',
      '  dead-lettered invalid_json: 2 (first at mesh.access-logs:0:103: not JSON)',
      '  resume with: auditmesh replay --from-offset mesh.access-logs:0:160 --to-offset mesh.access-logs:0:200',
      'store: embedded /data',
      "consumer group: auditmesh-replay-x (ephemeral, no offsets committed, deleted; the pipelines' groups were not touched)",
    ]);
  });
});

describe('cli/replay > auditmesh replay', () => {
  const cli = runCliCaptured;

  it.each([
    [['replay'], /needs where to start/],
    [['replay', '--from-offset', 'mesh.access-logs:zero:5'], /partition must be a number or \* \(got 'zero'\)/],
    [['replay', '--from-time', 'last tuesday'], /--from-time 'last tuesday': give an ISO 8601 time with a zone/],
    [['replay', '--from-time', '2026-05-01', '--since', '1h'], /unknown option --since for 'replay'/],
    [['replay', '--from-offset'], /option --from-offset needs a value/],
  ])('exits 2 with a clear message and the usage, no stack trace: %j', async (args, msg) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
    expect(r.err).toMatch(/Usage:\n/);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.out).toBe('');
  });

  it('exits 1 naming the setting when no Kafka is configured', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'replay-cli-'));
    try {
      const r = await cli(['replay', '--from-time', '2026-05-01T00:00:00Z', '--dry-run'], { KAFKA_BROKERS: undefined, AUDITMESH_CONFIG: undefined, AUDITMESH_DATA_DIR: dir });
      expect(r.code).toBe(1);
      expect(r.err).toBe('auditmesh: replay reads Kafka: set KAFKA_BROKERS (or kafka.brokers in the AUDITMESH_CONFIG file)\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists replay in the help, and names ingest as the replay of files', async () => {
    const r = await cli(['help']);
    expect(r.out).toMatch(/auditmesh replay --from-offset <topic>:<partition>:<offset>/);
    expect(r.out).toMatch(/auditmesh replay --from-time <ISO 8601>/);
    expect(r.out).toMatch(/replay\/backfill from files/);
  });
});
