// Realistic wire-format traffic for benchmarks: request i rendered the way each layer writes it
// to Kafka — a Tyk Pump record (raw_request with traceparent), an Istio JSON access log with a
// custom traceparent field, the app's OTLP server span (protobuf, as the Collector's Kafka
// exporter writes it, a few requests per message), and, for every 4th request, a PAN-OS TRAFFIC
// end log of the client's session.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { encodeTraceRequest } = require('../../dist/parsers/otlp/encode.js');

const T0 = Date.parse('2026-06-01T08:00:00Z');
const hex = (n, w) => n.toString(16).padStart(w, '0').slice(-w);
const pad = (n, w = 2) => String(n).padStart(w, '0');
const panTime = (ms) => {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
};
const PATHS = ['/api/orders', '/api/orders/1042', '/api/payments/77', '/api/catalog/items', '/api/admin/users/9', '/api/cart'];
const UAS = ['Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0', 'curl/8.5.0', 'orders-cli/2.3.1'];

/** `clients`: how many client addresses the requests come from, in turn (default: one per request, up to 65,536). */
export function request(i, { t0 = T0, spacingMs = 2, clients = 65_536 } = {}) {
  const t = t0 + i * spacingMs;
  const traceId = hex(0x5eed0000 + i, 32);
  const c = i % clients;
  const ip = `198.18.${(c >> 8) & 255}.${c & 255}`;
  const path = PATHS[i % PATHS.length];
  const method = i % 5 === 0 ? 'POST' : 'GET';
  const status = i % 41 === 0 ? 403 : 200;
  const ua = UAS[i % UAS.length];
  const reqId = `${hex(i, 8)}-0000-4000-8000-${hex(i * 7919, 12)}`;
  const rawReq = `${method} ${path} HTTP/1.1\r\nHost: api.corp.example\r\nUser-Agent: ${ua}\r\ntraceparent: 00-${traceId}-${hex(i * 3 + 1, 16)}-01\r\nx-request-id: ${reqId}\r\nAccept: application/json\r\n\r\n`;
  const tyk = JSON.stringify({
    alias: `user${i % 300}-laptop`, api_id: 'b1f6c7e0a9d34c5e', api_key: `00000000${hex(i % 300, 32)}`, api_name: 'orders-api', api_version: 'v1',
    content_length: method === 'POST' ? 312 : 0, host: 'api.corp.example', ip_address: ip, method, oauth_id: '', org_id: '5e9d9544a1dcd60001d0ed20',
    path, raw_path: path, raw_request: Buffer.from(rawReq).toString('base64'), raw_response: '', request_time_ms: 18 + (i % 40), response_code: status,
    tags: ['org-corp'], timestamp: new Date(t).toISOString(), user_agent: ua,
  });
  const envoy = JSON.stringify({
    authority: 'orders.shop.svc.cluster.local:8080', bytes_received: method === 'POST' ? 312 : 0, bytes_sent: 900 + (i % 500), connection_termination_details: null,
    downstream_local_address: '10.30.1.14:8080', downstream_peer_uri_san: 'spiffe://cluster.local/ns/gateway/sa/tyk-gateway', downstream_remote_address: `10.20.0.5:${20000 + (i % 40000)}`,
    duration: 12 + (i % 9), method, path, protocol: 'HTTP/1.1', request_id: reqId, requested_server_name: 'outbound_.8080_._.orders.shop.svc.cluster.local',
    response_code: status, response_code_details: 'via_upstream', response_flags: '-', route_name: 'default', start_time: new Date(t + 3).toISOString(),
    traceparent: `00-${traceId}-${hex(i * 3 + 2, 16)}-01`, upstream_cluster: 'inbound|8080||', upstream_host: '10.30.1.14:8080', upstream_local_address: '127.0.0.6:41234',
    upstream_service_time: String(10 + (i % 9)), upstream_transport_failure_reason: null, user_agent: ua, x_forwarded_for: ip,
  });
  const span = {
    traceId, spanId: hex(i * 3 + 3, 16), parentSpanId: hex(i * 3 + 2, 16), name: `${method} /api/orders/:id`, kind: 2,
    startTimeUnixNano: BigInt(t + 5) * 1_000_000n, endTimeUnixNano: BigInt(t + 15) * 1_000_000n,
    attributes: { 'http.request.method': method, 'url.path': path, 'url.scheme': 'http', 'http.response.status_code': status, 'client.address': ip, 'server.address': 'orders.shop.svc.cluster.local', 'server.port': 8080, 'enduser.id': `user${i % 300}`, 'user_agent.original': ua },
  };
  let panos;
  if (i % 4 === 0) {
    const cols = new Array(115).fill('');
    Object.assign(cols, {
      0: '1', 1: panTime(t + 2000), 2: '015451000099001', 3: 'TRAFFIC', 4: 'end', 5: '2561', 6: panTime(t + 2000), 7: ip, 8: '198.51.100.20', 9: '0.0.0.0', 10: '10.20.0.5',
      11: 'allow-api-gateway', 12: `corp\\user${i % 300}`, 14: 'ssl', 15: 'vsys1', 16: 'untrust', 17: 'dmz', 18: 'ethernet1/1', 19: 'ethernet1/2', 20: 'default', 21: panTime(t + 2000),
      22: String(100000 + i), 23: '1', 24: String(40000 + (i % 20000)), 25: '443', 26: '0', 27: '8443', 28: '0x400064', 29: 'tcp', 30: 'allow', 31: '7000', 32: '1800', 33: '5200', 34: '8',
      35: panTime(t - 100), 36: '2', 37: 'computer-and-internet-info', 39: String(7300000000000000000 + i), 40: '0x8000000000000000', 41: 'United States', 42: '10.0.0.0-10.255.255.255', 44: '4', 45: '4', 46: 'tcp-fin', 53: 'fw-edge-01', 54: 'from-policy',
    });
    panos = cols.join(',');
  }
  return { traceId, tyk, envoy, span, panos, t };
}

/** OTLP protobuf message carrying the spans of several requests (the Collector batches). */
export function otlpMessage(spans) {
  return encodeTraceRequest({
    resourceSpans: [{ resource: { 'service.name': 'orders', 'service.namespace': 'shop', 'service.version': '1.8.2' }, scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0' }, spans }] }],
  });
}

/** Events auditmesh will see for requests [from, to): 3 per request + 1 per 4th (firewall). */
export function eventCount(n) {
  return n * 3 + Math.ceil(n / 4);
}
