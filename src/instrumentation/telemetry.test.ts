import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { trace } from '@opentelemetry/api';
import { tracing } from '@opentelemetry/sdk-node';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { ALERTS_TOTAL, createMetrics, observeConsumerLag } from './metrics';
import { silentLogger } from './logger';
import { PipelineRunner } from '../pipeline/runner';
import { Correlator } from '../correlate/correlator';
import { SqliteStore } from '../store/sqlite/sqliteStore';
import { startService, type Service } from '../main';
import { loadConfig } from '../config/load';
import { mintToken } from '../api/auth';
import type { ParsedEvent, RawRecord } from '../model/events';
import type { Parser } from '../parsers/types';

/** A metric reader the test collects from by hand. */
class TestReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

function points(rm: ResourceMetrics, name: string): { value: unknown; attributes: Record<string, unknown> }[] {
  return rm.scopeMetrics.flatMap((s) => s.metrics.filter((m) => m.descriptor.name === name).flatMap((m) => m.dataPoints.map((p) => ({ value: p.value, attributes: p.attributes }))));
}

/** The value of one Prometheus sample whose labels include `labels` (other labels, e.g. otel_scope_name, ignored). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

const parser: Parser = (raw) => {
  const text = raw.value.toString();
  if (text === 'bad') return { ok: false, rejection: { code: 'invalid_field', reason: 'bad line' } };
  const e: ParsedEvent = { id: text, source: 'envoy', kind: 'access_log', timestamp: '2026-05-01T10:00:00Z', ecs: {}, join: { traceId: text.padStart(32, '0') }, claims: [], ref: raw.ref };
  return { ok: true, events: [e] };
};
const raw = (s: string, line: number): RawRecord => ({ value: Buffer.from(s), ref: { source: 'envoy', file: 'x.log', line }, receivedAtMs: 0 });

describe('instrumentation > metrics and spans', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'telemetry-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('traces each batch as auditmesh.batch with parse, correlate and sink children', async () => {
    const exporter = new tracing.InMemorySpanExporter();
    const provider = new tracing.BasicTracerProvider({ spanProcessors: [new tracing.SimpleSpanProcessor(exporter)] });
    trace.setGlobalTracerProvider(provider);
    const store = new SqliteStore(dir);
    await store.init();
    try {
      const runner = new PipelineRunner(store, new Correlator(store, undefined, { maxMembersPerRecord: 10, joinWindowMs: 1000 }), createMetrics(), silentLogger);
      await runner.process([raw('a1', 1), raw('bad', 2), raw('b2', 3)], parser);
      const spans = exporter.getFinishedSpans();
      const batch = spans.find((s) => s.name === 'auditmesh.batch')!;
      expect(batch.attributes).toMatchObject({ 'auditmesh.source': 'envoy', 'auditmesh.batch.raw_records': 3, 'auditmesh.batch.events': 2, 'auditmesh.batch.dead_letters': 1 });
      const children = spans.filter((s) => s.parentSpanContext?.spanId === batch.spanContext().spanId).map((s) => s.name);
      expect(children).toEqual(['auditmesh.parse', 'auditmesh.correlate', 'auditmesh.sink']);
      expect(spans.find((s) => s.name === 'auditmesh.sink')!.attributes).toMatchObject({ 'auditmesh.sink': 'sqlite', 'auditmesh.records': 2 });
    } finally {
      await store.close();
      await provider.shutdown();
      trace.disable();
    }
  });

  it('observes the Kafka consumer lag per topic and partition from KafkaIngest.lag', async () => {
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    const lag = new Map<string, number>([
      ['envoy-access|0', 12],
      ['tyk|analytics|3', 0],
    ]);
    observeConsumerLag(lag, provider.getMeter('auditmesh'));
    let { resourceMetrics } = await reader.collect();
    expect(points(resourceMetrics, 'auditmesh_consumer_lag')).toEqual([
      { value: 12, attributes: { topic: 'envoy-access', partition: '0' } },
      { value: 0, attributes: { topic: 'tyk|analytics', partition: '3' } },
    ]);
    lag.set('envoy-access|0', 4);
    ({ resourceMetrics } = await reader.collect());
    expect(points(resourceMetrics, 'auditmesh_consumer_lag')[0]!.value).toBe(4);
    await provider.shutdown();
  });

});

describe('instrumentation > /metrics of the running service', () => {
  let dir: string;
  let svc: Service | undefined;
  const saved = { ...process.env };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'telemetry-svc-'));
    Object.assign(process.env, { AUDITMESH_DATA_DIR: path.join(dir, 'data'), PORT: '0', LOG_LEVEL: 'error' });
    delete process.env.KAFKA_BROKERS;
    delete process.env.ELASTICSEARCH_URL;
    delete process.env.AUDITMESH_CONFIG;
  });
  afterEach(async () => {
    await svc?.stop();
    svc = undefined;
    process.env = { ...saved };
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const ingestAndScrape = async () => {
    svc = await startService(loadConfig());
    const base = `http://127.0.0.1:${svc.port}`;
    const admin = await mintToken(path.join(dir, 'data'), { role: 'admin', subject: 't', ttlSeconds: 600, audience: 'auditmesh' });
    const line = JSON.stringify({ start_time: '2026-11-01T09:00:00.000Z', method: 'GET', path: '/x', response_code: 200, duration: 3, request_id: 'r-1', downstream_remote_address: '10.0.0.1:5000' });
    const res = await fetch(`${base}/v1/ingest/envoy`, { method: 'POST', headers: { authorization: `Bearer ${admin}` }, body: `${line}\nnot json\n` });
    expect(res.status).toBe(202);
    const m = await fetch(`${base}/metrics`);
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toMatch(/text\/plain/);
    return m.text();
  };

  it('serves the fixed metric names in Prometheus format after an ingest', async () => {
    const text = await ingestAndScrape();
    expect(sample(text, 'component_received_events_total', { source: 'envoy' })).toBe(2);
    expect(sample(text, 'component_sent_events_total', { sink: 'sqlite' })).toBe(1);
    expect(sample(text, 'auditmesh_dead_letters_total', { source: 'envoy', code: 'unsupported_format' })).toBe(1);
    expect(sample(text, 'component_errors_total', { component_id: 'parser_envoy', error_code: 'unsupported_format', stage: 'processing' })).toBe(1);
    expect(sample(text, 'auditmesh_sink_write_seconds_count', { sink: 'sqlite' })).toBe(1);
    for (const stage of ['parse', 'correlate', 'sink']) expect(sample(text, 'auditmesh_batch_duration_seconds_count', { stage })).toBe(1);
    // Latency buckets in seconds (a millisecond-sized write lands below 1 s, not in a 0–5 bucket).
    expect(sample(text, 'auditmesh_sink_write_seconds_bucket', { sink: 'sqlite', le: '1' })).toBe(1);
    expect(sample(text, 'auditmesh_sink_write_seconds_bucket', { sink: 'sqlite', le: '0.001' })).toBeDefined();
  });

  it('counts the alerts the detection engine raises under the fixed name, by rule and severity', async () => {
    process.env.AUDITMESH_CONFIG = path.resolve(__dirname, '../../samples/auditmesh.yaml');
    svc = await startService(loadConfig());
    if (!svc.detection) return; // alerting switched off in this build: nothing to count
    const base = `http://127.0.0.1:${svc.port}`;
    const admin = await mintToken(path.join(dir, 'data'), { role: 'admin', subject: 't', ttlSeconds: 600, audience: 'auditmesh' });
    for (const [type, file] of [['panos', 'panos-traffic.log'], ['tyk', 'tyk-analytics.jsonl']]) {
      const res = await fetch(`${base}/v1/ingest/${type}`, { method: 'POST', headers: { authorization: `Bearer ${admin}` }, body: fs.readFileSync(path.resolve(__dirname, '../../samples', file!)) });
      expect(res.status).toBe(202);
    }
    const alerts = (await (await fetch(`${base}/v1/alerts?limit=1000`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { alerts: { severity: string }[] };
    expect(alerts.alerts.length).toBeGreaterThan(0);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text.match(new RegExp(`^# TYPE ${ALERTS_TOTAL} counter$`, 'gm'))).toHaveLength(1);
    const total = text.split('\n').filter((l) => l.startsWith(`${ALERTS_TOTAL}{`)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    expect(total).toBe(alerts.alerts.length);
  });

  it('exports again after a restart in the same process (shutdown releases the global providers)', async () => {
    await ingestAndScrape();
    await svc!.stop();
    const text = await ingestAndScrape();
    // A fresh service counts from zero: the second one's own ingest only.
    expect(sample(text, 'component_received_events_total', { source: 'envoy' })).toBe(2);
  });
});
