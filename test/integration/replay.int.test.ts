/**
 * `auditmesh replay` (the real CLI, in-process) against the real Kafka and Elasticsearch of the
 * harness: an offset range and a time range land exactly their records in Elasticsearch, a second
 * run duplicates nothing, and the pipelines' consumer group keeps its committed offsets (the
 * replay's own group is ephemeral and gone afterwards).
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { Admin } from 'kafkajs';
import { loadConfig } from '../../src/config/load';
import { createRuntime } from '../../src/runtime';
import { silentLogger } from '../../src/instrumentation/logger';
import { replayKafka, resolveReplayPlan, runReplay, type TopicRoute } from '../../src/sources/kafka/replay';
import { envoyJsonLine } from '../fixtures/skeleton';
import { createTopics, elasticsearchUrl, kafkaBrokers, newEsClient, newKafka, uniqueName } from './infra';
import { workDirWithPipelines } from '../support/service';
import { runCliCaptured } from '../support/cli';

jest.setTimeout(180_000);

/** Wave w of the messages: [partition, message number] in produce order; each becomes one record. */
const WAVES: [number, number][][] = [
  [...Array.from({ length: 10 }, (_, i): [number, number] => [0, i]), ...Array.from({ length: 5 }, (_, i): [number, number] => [1, 10 + i])],
  [...Array.from({ length: 5 }, (_, i): [number, number] => [0, 15 + i]), ...Array.from({ length: 5 }, (_, i): [number, number] => [1, 20 + i])],
  [...Array.from({ length: 3 }, (_, i): [number, number] => [0, 25 + i]), ...Array.from({ length: 2 }, (_, i): [number, number] => [1, 28 + i])],
];
/** Message 3 (partition 0, offset 3) is not JSON: a dead letter. */
const POISON = 3;
const pathOf = (n: number) => `/api/replay/${n}`;

/** The CLI in this process, with `env` and none of the variables that would override the config file. */
const cli = (args: string[], env: Record<string, string>) =>
  runCliCaptured(args, { ...env, KAFKA_BROKERS: undefined, ELASTICSEARCH_URL: undefined, AUDITMESH_DATA_DIR: undefined, AUDITMESH_PIPELINES_DIR: undefined, AUDITMESH_INDEX_PREFIX: undefined });

describe('integration > auditmesh replay from real Kafka into real Elasticsearch', () => {
  const topic = uniqueName('replay-envoy');
  const groupPrefix = uniqueName('grp-replay');
  const liveGroup = `${groupPrefix}-envoy`;
  const prefixes: string[] = [];
  const LIVE_OFFSETS = [
    { partition: 0, offset: '4' },
    { partition: 1, offset: '2' },
  ];
  let dir: string;
  let admin: Admin;
  /** Kafka timestamp (ms) of the first message of each wave. */
  const waveStart: number[] = [];

  /** A config file with its own index prefix (each test starts from an empty store). */
  function configEnv(name: string): { env: Record<string, string>; prefix: string } {
    const prefix = uniqueName(`am-replay-${name}`);
    prefixes.push(prefix);
    const file = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(
      file,
      YAML.stringify({
        dataDir: path.join(dir, `data-${name}`),
        pipelinesDir: path.join(dir, 'pipelines'),
        kafka: { brokers: kafkaBrokers().split(','), groupPrefix, deadLetterTopic: uniqueName('dlq') },
        elasticsearch: { url: elasticsearchUrl(), indexPrefix: prefix },
        log: { level: 'error' },
      }),
    );
    return { env: { AUDITMESH_CONFIG: file }, prefix };
  }

  async function stored(prefix: string): Promise<{ paths: string[]; deadLetters: number }> {
    const es = newEsClient();
    try {
      await es.indices.refresh({ index: `${prefix}-*`, allow_no_indices: true, ignore_unavailable: true });
      const r = await es.search<{ url?: { path?: string } }>({ index: `${prefix}-records-*`, size: 1000, query: { match_all: {} }, allow_no_indices: true, ignore_unavailable: true });
      const d = await es.count({ index: `${prefix}-dead-letters*`, allow_no_indices: true, ignore_unavailable: true });
      return { paths: r.hits.hits.map((h) => h._source!.url!.path!).sort(), deadLetters: d.count };
    } finally {
      await es.close();
    }
  }

  async function liveOffsets(): Promise<{ partition: number; offset: string }[]> {
    const [t] = await admin.fetchOffsets({ groupId: liveGroup, topics: [topic] });
    return t!.partitions.map((p) => ({ partition: p.partition, offset: p.offset })).sort((a, b) => a.partition - b.partition);
  }

  async function replayGroupsLeft(): Promise<string[]> {
    return (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(`${groupPrefix}-replay-`));
  }

  beforeAll(async () => {
    dir = workDirWithPipelines('replay', { envoy: { topic, parser: 'envoy' } });
    await createTopics([topic], 2);
    admin = newKafka('replay-test-admin').admin();
    await admin.connect();
    const producer = newKafka('replay-test-producer').producer();
    await producer.connect();
    const base = Date.now() - 120_000;
    for (const [w, wave] of WAVES.entries()) {
      waveStart[w] = base + w * 30_000;
      await producer.send({
        topic,
        acks: -1,
        messages: wave.map(([partition, n], i) => ({
          partition,
          timestamp: String(waveStart[w]! + i),
          value: n === POISON ? '{"start_time": "2026-10-05T08:15:30Z", "method": ' : envoyJsonLine({ request_id: `replay-${n}`, traceparent: null, path: pathOf(n), downstream_remote_address: `10.20.0.5:${40000 + n}`, start_time: new Date(Date.parse('2026-10-05T08:00:00Z') + n * 1000).toISOString() }),
        })),
      });
    }
    await producer.disconnect();
    // The pipeline's group stands somewhere in the topic (as a live service that stopped there would leave it).
    await admin.setOffsets({ groupId: liveGroup, topic, partitions: LIVE_OFFSETS });
  });

  afterAll(async () => {
    await admin?.disconnect();
    const es = newEsClient();
    for (const p of prefixes) await es.indices.delete({ index: `${p}-*`, ignore_unavailable: true, allow_no_indices: true }).catch(() => undefined);
    await es.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('replays a partition offset range exactly, twice without duplicates, and leaves the pipeline group alone', async () => {
    const { env, prefix } = configEnv('offsets');
    const args = ['replay', '--from-offset', `${topic}:0:2`, '--to-offset', `${topic}:0:8`];
    const first = await cli(args, env);
    expect(first.err).not.toMatch(/fatal|"level":"error"/);
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^replayed 6 message\(s\) from 1 partition\(s\) of 1 topic\(s\): 5 accepted \(5 events, 5 record writes\), 1 dead-lettered, in /m);
    expect(first.out).toMatch(new RegExp(`dead-lettered invalid_json: 1 \\(first at ${topic}:0:3: `));
    expect(first.out).toMatch(/consumer group: .*-replay-.* \(ephemeral, no offsets committed, deleted; the pipelines' groups were not touched\)/);
    expect(first.err).toMatch(new RegExp(`${topic}:0  offsets 2\\.\\.8 \\(6 messages\\)  → envoy \\(pipeline envoy\\)`));
    // Offsets 2..7 of partition 0 = messages 2..7; 3 is the poison message.
    const expected = [2, 4, 5, 6, 7].map(pathOf).sort();
    expect(await stored(prefix)).toEqual({ paths: expected, deadLetters: 1 });

    const second = await cli(args, env);
    expect(second.code).toBe(0);
    expect(second.out).toMatch(/^replayed 6 message\(s\)/m);
    expect(await stored(prefix)).toEqual({ paths: expected, deadLetters: 1 });

    expect(await liveOffsets()).toEqual(LIVE_OFFSETS);
    expect(await replayGroupsLeft()).toEqual([]);
  });

  it('replays a time range (Kafka timestamps) of every partition, and --dry-run only prints the plan', async () => {
    const { env, prefix } = configEnv('time');
    const range = ['--from-time', new Date(waveStart[1]!).toISOString(), '--to-time', new Date(waveStart[2]!).toISOString()];
    const dry = await cli(['replay', ...range, '--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(`replay plan: 10 message(s) in 2 partition(s)\n  ${topic}:0  offsets 10..15 (5 messages)  → envoy (pipeline envoy)\n  ${topic}:1  offsets 5..10 (5 messages)  → envoy (pipeline envoy)\n`);
    expect(await stored(prefix)).toEqual({ paths: [], deadLetters: 0 });

    const r = await cli(['replay', ...range], env);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^replayed 10 message\(s\) from 2 partition\(s\) of 1 topic\(s\): 10 accepted \(10 events, 10 record writes\), 0 dead-lettered/m);
    // Wave 1 = messages 15..24 (partition 0: 15..19, partition 1: 20..24).
    expect(await stored(prefix)).toEqual({ paths: Array.from({ length: 10 }, (_, i) => pathOf(15 + i)).sort(), deadLetters: 0 });

    expect(await liveOffsets()).toEqual(LIVE_OFFSETS);
    expect(await replayGroupsLeft()).toEqual([]);
  });

  it('stops after the batch in flight when interrupted, and resumes from the positions it reports', async () => {
    const { env, prefix } = configEnv('resume');
    const cfg = loadConfig({ ...env, LOG_LEVEL: 'error' });
    const kafka = replayKafka(cfg, silentLogger);
    const routes = new Map<string, TopicRoute>([[topic, { parser: 'envoy', format: 'auto', options: {}, maxRecords: 2 }]]);
    const admin2 = kafka.admin();
    await admin2.connect();
    const plan = await resolveReplayPlan(admin2, { from: { offsets: [{ topic, partition: 1, offset: 'earliest' }] }, topics: [] });
    await admin2.disconnect();
    expect(plan.ranges).toEqual([{ topic, partition: 1, start: 0n, end: 12n }]);
    const rt = await createRuntime(cfg, { log: silentLogger });
    try {
      // Ctrl-C after the first chunk of 2 messages is stored.
      const ac = new AbortController();
      const first = await runReplay(plan, { kafka, runtime: rt, routes, log: silentLogger, groupPrefix, signal: ac.signal, onProgress: () => ac.abort() });
      expect(first.interrupted).toBe(true);
      const at = first.positions.get(`${topic}:1`)!;
      expect(at).toBeGreaterThanOrEqual(2n);
      expect(at).toBeLessThan(12n);
      expect(first.messages).toBe(Number(at));
      const rest = await runReplay({ ranges: [{ topic, partition: 1, start: at, end: 12n }], notes: [], total: Number(12n - at) }, { kafka, runtime: rt, routes, log: silentLogger, groupPrefix });
      expect(rest.interrupted).toBe(false);
      expect(first.messages + rest.messages).toBe(12);
    } finally {
      await rt.close();
    }
    // Partition 1 holds messages 10..14, 20..24 and 28..29: each exactly once.
    expect(await stored(prefix)).toEqual({ paths: [10, 11, 12, 13, 14, 20, 21, 22, 23, 24, 28, 29].map(pathOf).sort(), deadLetters: 0 });
    expect(await liveOffsets()).toEqual(LIVE_OFFSETS);
    expect(await replayGroupsLeft()).toEqual([]);
  });

  it('exits 2 naming the problem when the offsets do not exist', async () => {
    const { env } = configEnv('bad');
    const beyond = await cli(['replay', '--from-offset', `${topic}:0:500`], env);
    expect(beyond.code).toBe(2);
    expect(beyond.err).toMatch(new RegExp(`--from-offset ${topic}:0:500: partition ${topic}:0 ends at offset 18 \\(the next offset to be written\\); give an offset of at most 18`));
    const partition = await cli(['replay', '--from-offset', `${topic}:9:0`], env);
    expect(partition.code).toBe(2);
    expect(partition.err).toMatch(/has no partition 9 \(it has partitions 0\.\.1\)/);
    const missing = await cli(['replay', '--from-offset', 'no-such-topic-here:0:0', '--type', 'envoy'], env);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/no topic 'no-such-topic-here' on the brokers/);
    expect(`${beyond.err}${partition.err}${missing.err}`).not.toMatch(/\n\s+at /);
  });
});
