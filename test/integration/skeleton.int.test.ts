/**
 * The walking skeleton through real parts: an Envoy access-log line and an OTLP span (protobuf, as
 * the Collector's Kafka exporter writes it) of the same trace are produced to two real Kafka topics,
 * consumed by `auditmesh serve`, joined into one record, indexed into real Elasticsearch and
 * returned by the API.
 */
import { startService, type Service } from '../../src/main';
import { mintToken } from '../../src/api/auth';
import { encodeTraceRequest } from '../../src/parsers/otlp/encode';
import { APP_SPAN, MESH_SPAN, TRACE_ID, envoyJsonLine } from '../fixtures/skeleton';
import { createTopics, newEsClient, newKafka, uniqueName } from './infra';
import { cleanupService, serviceConfig, workDirWithPipelines } from '../support/service';

jest.setTimeout(120_000);

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

describe('integration > walking skeleton: Kafka → auditmesh → Elasticsearch → API', () => {
  const meshTopic = uniqueName('mesh-access');
  const spanTopic = uniqueName('otlp-spans');
  const prefix = uniqueName('am-skel');
  let dir: string;
  let svc: Service | undefined;

  beforeAll(async () => {
    dir = workDirWithPipelines('skeleton', { mesh: { topic: meshTopic, parser: 'envoy' }, spans: { topic: spanTopic, parser: 'otlp', extra: 'format: otlp_proto\n' } });
    await createTopics([meshTopic, spanTopic]);
  });

  afterAll(() => cleanupService(svc, prefix, dir));

  it('joins the two events into one record in Elasticsearch with both Kafka references, and serves it', async () => {
    const cfg = serviceConfig(dir, prefix);
    svc = await startService(cfg);

    const producer = newKafka('skeleton-producer').producer();
    await producer.connect();
    await producer.send({ topic: meshTopic, messages: [{ value: envoyJsonLine() }] });
    const proto = encodeTraceRequest({
      resourceSpans: [
        {
          resource: { 'service.name': 'orders', 'service.namespace': 'shop' },
          scopeSpans: [
            {
              scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0' },
              spans: [
                {
                  traceId: TRACE_ID,
                  spanId: APP_SPAN,
                  parentSpanId: MESH_SPAN,
                  name: 'GET /api/orders/:id',
                  kind: 2,
                  startTimeUnixNano: 1759652130125000000n,
                  endTimeUnixNano: 1759652130136000000n,
                  attributes: { 'http.request.method': 'GET', 'url.path': '/api/orders/7', 'http.response.status_code': 200, 'enduser.id': 'alice' },
                },
              ],
            },
          ],
        },
      ],
    });
    await producer.send({ topic: spanTopic, messages: [{ value: proto }] });
    await producer.disconnect();

    const token = await mintToken(cfg.dataDir, { role: 'auditor', subject: 'it', ttlSeconds: 600, audience: 'auditmesh' });
    const headers = { authorization: `Bearer ${token}` };
    const rec = await until('the joined record in the API', async () => {
      const r = await fetch(`http://127.0.0.1:${svc!.port}/v1/records?trace.id=${TRACE_ID}`, { headers });
      const body = (await r.json()) as any;
      const hit = body.records?.[0];
      return hit?.auditmesh?.member_count === 2 ? hit : undefined;
    });

    const refs = rec.auditmesh.members.map((m: { source: string; ref: { topic: string; partition: number; offset: string } }) => [m.source, m.ref.topic, m.ref.partition, m.ref.offset]);
    expect(refs.sort()).toEqual([
      ['envoy', meshTopic, 0, '0'],
      ['otlp', spanTopic, 0, '0'],
    ]);
    expect(rec).toMatchObject({ trace: { id: TRACE_ID }, url: { path: '/api/orders/7' }, http: { request: { method: 'GET' }, response: { status_code: 200 } }, service: { name: 'orders' } });

    // It really is in Elasticsearch: read it back with a plain client, not through auditmesh.
    const es = newEsClient();
    try {
      await es.indices.refresh({ index: `${prefix}-*` });
      const found = await es.search<Record<string, any>>({ index: `${prefix}-records-*`, query: { term: { 'trace.id': TRACE_ID } } });
      expect(found.hits.hits).toHaveLength(1);
      const doc = found.hits.hits[0]!._source!;
      expect(doc.auditmesh.member_count).toBe(2);
      expect(doc.auditmesh.members.map((m: { ref: { topic: string } }) => m.ref.topic).sort()).toEqual([meshTopic, spanTopic].sort());
    } finally {
      await es.close();
    }

    const trace = (await (await fetch(`http://127.0.0.1:${svc!.port}/v1/traces/${TRACE_ID}`, { headers })).json()) as any;
    expect(trace.events.map((e: { source: string }) => e.source).sort()).toEqual(['envoy', 'otlp']);
    const ready = await fetch(`http://127.0.0.1:${svc!.port}/readyz`);
    expect((await ready.json()) as any).toMatchObject({ status: 'ready', checks: { store: true, kafka: true } });
  });
});
