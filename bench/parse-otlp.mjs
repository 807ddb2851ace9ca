// Benchmark: OTLP trace parsing (protobuf and JSON), one thread.
// Build first: npx tsc -p tsconfig.build.json   then: node bench/parse-otlp.mjs [seconds-per-case]
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';

const require = createRequire(import.meta.url);
const { otlpParser } = require('../dist/parsers/otlp/index.js');
const { encodeTraceRequest, toOtlpJson } = require('../dist/parsers/otlp/encode.js');

const SECONDS = Number(process.argv[2] ?? 2);
const SPANS_PER_BATCH = 50;
const BATCHES = 200;
const BIG_BATCH_SPANS = 2000;

const hex = (n) => randomBytes(n).toString('hex');
const routes = ['/api/v1/orders', '/api/v1/orders/{id}', '/api/v1/users/{id}', '/healthz', '/api/v2/payments'];
const methods = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];

/** One realistic exporter batch: one resource, two scopes, ~50 spans of ~10 attributes, mixed semconv. */
function makeBatch(b, spanCount = SPANS_PER_BATCH) {
  const traceIds = Array.from({ length: 10 }, () => hex(16));
  const spans = [];
  const t0 = 1_700_000_000_000_000_000n + BigInt(b) * 1_000_000_000n;
  for (let i = 0; i < spanCount; i++) {
    const route = routes[i % routes.length];
    const server = i % 2 === 0;
    const start = t0 + BigInt(i) * 1_000_000n;
    const status = i % 17 === 0 ? 503 : i % 11 === 0 ? 404 : 200;
    const attributes = server
      ? {
          'http.request.method': methods[i % methods.length],
          'url.path': route.replace('{id}', String(1000 + i)),
          'url.scheme': 'https',
          'http.route': route,
          'http.response.status_code': status,
          'server.address': 'api.example.com',
          'server.port': 443,
          'client.address': `10.1.${i % 255}.${(i * 7) % 255}`,
          'user_agent.original': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
          'network.protocol.version': '1.1',
          'enduser.id': `user-${i % 13}`,
          'http.request.header.x-request-id': [`${hex(8)}-${hex(4)}`],
        }
      : {
          'http.method': methods[i % methods.length],
          'http.url': `http://orders.svc.cluster.local:8080${route.replace('{id}', String(i))}?page=2`,
          'http.status_code': status,
          'net.peer.name': 'orders.svc.cluster.local',
          'net.peer.port': 8080,
          'http.flavor': '1.1',
          'thread.id': i,
          'thread.name': 'http-nio-8080-exec-3',
          'db.system': 'postgresql',
          'retry.count': 0,
        };
    spans.push({
      traceId: traceIds[i % traceIds.length],
      spanId: hex(8),
      parentSpanId: i % 5 === 0 ? undefined : hex(8),
      name: `${methods[i % methods.length]} ${route}`,
      kind: server ? 2 : 3,
      startTimeUnixNano: start,
      endTimeUnixNano: start + BigInt(200_000 + i * 13_000),
      attributes,
      status: status >= 500 ? { code: 2, message: 'upstream unavailable' } : undefined,
      events: i % 17 === 0 ? [{ timeUnixNano: start + 1000n, name: 'exception', attributes: { 'exception.type': 'IOError', 'exception.message': 'connection reset' } }] : undefined,
    });
  }
  return {
    resourceSpans: [
      {
        resource: {
          'service.name': 'orders-api',
          'service.namespace': 'shop',
          'service.version': '1.4.2',
          'service.instance.id': hex(8),
          'host.name': 'orders-api-7d9f8-abcde',
          'k8s.namespace.name': 'shop',
          'k8s.pod.name': 'orders-api-7d9f8-abcde',
          'telemetry.sdk.name': 'opentelemetry',
          'telemetry.sdk.language': 'java',
          'telemetry.sdk.version': '1.32.0',
        },
        scopeSpans: [
          { scope: { name: 'io.opentelemetry.tomcat-10.0', version: '1.32.0-alpha' }, spans: spans.slice(0, spanCount / 2) },
          { scope: { name: 'io.opentelemetry.http-url-connection', version: '1.32.0-alpha' }, spans: spans.slice(spanCount / 2) },
        ],
      },
    ],
  };
}

const inputs = Array.from({ length: BATCHES }, (_, b) => makeBatch(b));
const protoPayloads = inputs.map((r) => encodeTraceRequest(r));
const jsonPayloads = inputs.map((r) => Buffer.from(JSON.stringify(toOtlpJson(r))));
const bigPayloads = Array.from({ length: 4 }, (_, b) => encodeTraceRequest(makeBatch(b, BIG_BATCH_SPANS)));

function run(name, payloads, options, refFor, spansPerBatch = SPANS_PER_BATCH) {
  const parse = otlpParser.create(options);
  let spans = 0;
  let events = 0;
  let bytes = 0;
  let offset = 0;
  // Warm-up (JIT), then timed loop.
  for (let i = 0; i < 50; i++) parse({ value: payloads[i % payloads.length], ref: refFor(offset++), receivedAtMs: 0 });
  const deadline = process.hrtime.bigint() + BigInt(Math.round(SECONDS * 1e9));
  const t0 = process.hrtime.bigint();
  let batches = 0;
  while (process.hrtime.bigint() < deadline) {
    for (let k = 0; k < (spansPerBatch > 100 ? 1 : 20); k++) {
      const value = payloads[batches % payloads.length];
      const res = parse({ value, ref: refFor(offset++), receivedAtMs: 0 });
      if (!res.ok) throw new Error(`unexpected rejection: ${res.rejection.reason}`);
      spans += spansPerBatch;
      events += res.events.length;
      bytes += value.length;
      batches++;
    }
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const avgBytes = Math.round(bytes / batches);
  console.log(
    `${name.padEnd(38)} ${Math.round(spans / secs).toLocaleString('en-US').padStart(9)} spans/s  ${Math.round(events / secs).toLocaleString('en-US').padStart(9)} events/s  ${Math.round(batches / secs).toLocaleString('en-US').padStart(7)} batches/s  (${avgBytes} B/batch, ${(bytes / secs / 1048576).toFixed(1)} MiB/s)`,
  );
}

const kafkaRef = (o) => ({ source: 'otlp', topic: 'otlp_spans', partition: 0, offset: String(o) });
const fileRef = (o) => ({ source: 'otlp', file: '/var/log/otel/traces.jsonl', line: o + 1 });

console.log(`node ${process.version}, ~10 attributes/span, ${SECONDS}s per case`);
run(`otlp_proto (auto), ${SPANS_PER_BATCH}-span batches`, protoPayloads, {}, kafkaRef);
run(`otlp_proto (forced), ${SPANS_PER_BATCH}-span batches`, protoPayloads, { format: 'otlp_proto' }, kafkaRef);
run(`otlp_proto, ${BIG_BATCH_SPANS}-span batches`, bigPayloads, {}, kafkaRef, BIG_BATCH_SPANS);
run(`otlp_json, ${SPANS_PER_BATCH}-span batches`, jsonPayloads, {}, kafkaRef);
run(`otlp_json (file line), ${SPANS_PER_BATCH}-span`, jsonPayloads, { format: 'otlp_json' }, fileRef);
