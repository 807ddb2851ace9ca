/**
 * All four sources through real Kafka: valid messages of each kind (OTLP in protobuf) arrive
 * normalized in Elasticsearch; poison messages land in the dead-letter topic with their reason,
 * original bytes and coordinates, while their neighbours are processed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startService, type Service } from '../../src/main';
import { encodeTraceRequest } from '../../src/parsers/otlp/encode';
import { envoyJsonLine } from '../fixtures/skeleton';
import { createTopics, newEsClient, newKafka, uniqueName } from './infra';
import { cleanupService, serviceConfig, workDirWithPipelines } from '../support/service';

jest.setTimeout(120_000);

const SAMPLES = path.resolve(__dirname, '../../samples');
const firstLine = (f: string) => fs.readFileSync(path.join(SAMPLES, f), 'utf8').split('\n')[0]!;

describe('integration > four sources through real Kafka, poison to the dead-letter topic', () => {
  const topics = { envoy: uniqueName('envoy'), tyk: uniqueName('tyk'), panos: uniqueName('panos'), otlp: uniqueName('otlp') };
  const dlq = uniqueName('dead-letters');
  const prefix = uniqueName('am-src');
  let dir: string;
  let svc: Service | undefined;

  beforeAll(async () => {
    dir = workDirWithPipelines('sources', Object.fromEntries(Object.entries(topics).map(([type, topic]) => [type, { topic, parser: type }])));
    await createTopics([...Object.values(topics), dlq]);
  });
  afterAll(() => cleanupService(svc, prefix, dir));

  it('normalizes valid messages of every source and dead-letters each poison message with its reason', async () => {
    const cfg = serviceConfig(dir, prefix, { deadLetterTopic: dlq });
    svc = await startService(cfg);

    const traceId = 'aa11bb22cc33dd44ee55ff6600778899';
    const otlpProto = encodeTraceRequest({
      resourceSpans: [{ resource: { 'service.name': 'billing' }, scopeSpans: [{ spans: [{ traceId, spanId: '0102030405060708', name: 'POST /invoices', kind: 2, startTimeUnixNano: 1759652130125000000n, endTimeUnixNano: 1759652130136000000n, attributes: { 'http.method': 'POST', 'http.target': '/invoices?x=1', 'http.status_code': 201, 'net.peer.ip': '10.9.8.7' } }] }] }],
    });
    const poison = {
      envoy: Buffer.from('{"start_time": "2026-10-05T08:15:30Z", "method": '),
      tyk: Buffer.from('this is not a tyk record'),
      panos: Buffer.from('1,2026/10/05 08:15:30,0154510000,TRAFFIC,end'),
      otlp: Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]),
    };
    const valid = {
      envoy: Buffer.from(envoyJsonLine({ request_id: 'src-test-1', traceparent: null, path: '/api/sources' })),
      tyk: Buffer.from(firstLine('tyk-analytics.jsonl')),
      panos: Buffer.from(firstLine('panos-traffic.log')),
      otlp: otlpProto,
    };
    const producer = newKafka('sources-producer').producer();
    await producer.connect();
    for (const type of Object.keys(topics) as (keyof typeof topics)[]) {
      // valid, poison, valid: the poison message's neighbours must still land.
      await producer.send({ topic: topics[type], messages: [{ value: valid[type] }, { value: poison[type] }, { value: valid[type], key: 'again' }] });
    }
    await producer.disconnect();

    // Dead letters: read the topic back with a plain consumer.
    const dead: { value: Buffer; headers: Record<string, string> }[] = [];
    const consumer = newKafka('dlq-reader').consumer({ groupId: uniqueName('dlq-reader') });
    await consumer.connect();
    await consumer.subscribe({ topic: dlq, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${dead.length} dead letters after 60 s`)), 60_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
          dead.push({ value: message.value!, headers });
          if (dead.length >= 4) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    const bySource = Object.fromEntries(dead.map((d) => [d.headers['auditmesh.source'], d]));
    expect(Object.keys(bySource).sort()).toEqual(['envoy', 'otlp', 'panos', 'tyk']);
    for (const type of Object.keys(topics) as (keyof typeof topics)[]) {
      const d = bySource[type]!;
      expect(d.value.equals(poison[type])).toBe(true);
      expect(d.headers['auditmesh.topic']).toBe(topics[type]);
      expect(d.headers['auditmesh.offset']).toBe('1');
      expect(d.headers['auditmesh.reason']!.length).toBeGreaterThan(5);
    }
    expect(bySource.envoy!.headers['auditmesh.code']).toBe('invalid_json');
    expect(bySource.tyk!.headers['auditmesh.code']).toBe('invalid_json');
    expect(bySource.otlp!.headers['auditmesh.code']).toBe('invalid_protobuf');

    // Valid neighbours, normalized, in Elasticsearch.
    const es = newEsClient();
    try {
      let events: Record<string, any>[] = [];
      for (let i = 0; i < 120; i++) {
        await es.indices.refresh({ index: `${prefix}-*` });
        const r = await es.search<Record<string, any>>({ index: `${prefix}-events-*`, size: 100, query: { match_all: {} } });
        events = r.hits.hits.map((h) => h._source!);
        if (new Set(events.map((e) => e.source)).size === 4) break;
        await new Promise((res) => setTimeout(res, 500));
      }
      const by = (s: string) => events.filter((e) => e.source === s);
      // The valid message was produced twice (offsets 0 and 2): content-addressed ids make it one event.
      for (const s of ['envoy', 'tyk', 'panos', 'otlp']) expect(by(s)).toHaveLength(1);
      expect(by('envoy')[0].ecs.url.path).toBe('/api/sources');
      expect(by('tyk')[0].ecs.http.request.method).toMatch(/^[A-Z]+$/);
      expect(JSON.stringify(by('tyk'))).not.toMatch(/Bearer\s+ey/);
      expect(by('panos')[0].ecs.source.ip).toBe('203.0.113.10');
      expect(by('panos')[0].ecs.rule.name).toBe('allow-api-gateway');
      expect(by('otlp')[0].ecs).toMatchObject({ trace: { id: traceId }, url: { path: '/invoices' }, http: { request: { method: 'POST' }, response: { status_code: 201 } } });
    } finally {
      await es.close();
    }
  });
});
