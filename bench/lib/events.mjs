// Pre-built ParsedEvents of request i for the correlation and ledger benchmarks: a Tyk record, an
// Envoy access log, two OTLP spans, and a firewall session for every 4th request.
const T0 = Date.parse('2026-06-01T00:00:00Z');
const hex = (n, w) => n.toString(16).padStart(w, '0').slice(-w);

export function eventsOf(i) {
  const t = T0 + i * 20;
  const traceId = hex(i + 1, 32);
  const ip = `198.18.${(i >> 8) & 255}.${i & 255}`;
  const path = `/api/orders/${i % 1000}`;
  // Claims name their event, as the parsers' do. Objects are built the way the parsers build them (literals, fields added in place): a spread copy
  // with another field added (`{ ...common, traceId }`) gets a hidden class of its own in V8 11, which
  // the parsers' events never do, and would slow every read of it (see src/model/extend.ts).
  const common = (extra) => Object.assign({ clientIp: ip, method: 'GET', path, startMs: t, endMs: t + 15 }, extra);
  const ecs = (extra) => Object.assign({ url: { path }, http: { request: { method: 'GET' }, response: { status_code: 200 } }, source: { ip } }, extra);
  const ref = (source, n) => ({ source, topic: source, partition: 0, offset: String(i * 4 + n) });
  const ts = new Date(t).toISOString();
  const evs = [
    { id: `g${i}`, source: 'tyk', kind: 'analytics', timestamp: ts, ecs: ecs({ tyk: { api_id: 'orders' } }), join: common({ traceId }), claims: [{ method: 'tyk_key', subject: `user${i % 500}`, source: 'tyk', strength: 'gateway', verdict: 'unverifiable', eventId: `g${i}` }], ref: ref('tyk', 0) },
    { id: `e${i}`, source: 'envoy', kind: 'access_log', timestamp: ts, ecs: ecs({}), join: common({ traceId, requestId: `req-${i}` }), claims: [{ method: 'spiffe', subject: 'spiffe://cluster.local/ns/gw/sa/tyk', source: 'envoy', strength: 'mtls', verdict: 'trusted_upstream', eventId: `e${i}` }], ref: ref('envoy', 1) },
    { id: `s${i}a`, source: 'otlp', kind: 'span', timestamp: ts, ecs: ecs({ service: { name: 'orders' }, trace: { id: traceId } }), join: common({ traceId, spanId: hex(i * 2 + 1, 16) }), claims: [{ method: 'otel_enduser', subject: `user${i % 500}`, source: 'otlp', strength: 'asserted', verdict: 'unverifiable', eventId: `s${i}a` }], ref: ref('otlp', 2) },
    { id: `s${i}b`, source: 'otlp', kind: 'span', timestamp: ts, ecs: { service: { name: 'payments' }, trace: { id: traceId } }, join: { traceId, spanId: hex(i * 2 + 2, 16), parentSpanId: hex(i * 2 + 1, 16), startMs: t + 2, endMs: t + 9 }, claims: [], ref: ref('otlp', 3) },
  ];
  if (i % 4 === 0) {
    evs.push({ id: `f${i}`, source: 'panos', kind: 'traffic', timestamp: new Date(t + 2000).toISOString(), ecs: { source: { ip }, rule: { name: 'allow-api' }, observer: { serial_number: 'fw1' } }, join: { clientIp: ip, clientPort: 40000 + (i % 20000), sessionId: String(i), startMs: t - 50, endMs: t + 2000 }, claims: [], ref: ref('panos', 4) });
  }
  return evs;
}
