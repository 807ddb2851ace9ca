#!/usr/bin/env node
// Generates the bundled sample data in samples/: one morning of traffic through a PAN-OS firewall,
// a Tyk gateway, Istio sidecars and an OpenTelemetry-instrumented app, written in each layer's real
// log format, with a demo OIDC issuer (public JWKS only; the private key is thrown away).
// Deterministic apart from the signing key: `node scripts/gen-samples.mjs` rewrites samples/.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';

const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'samples');
fs.mkdirSync(out, { recursive: true });

let seed = 20261101;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const hex = (n) => Array.from({ length: n }, () => Math.floor(rnd() * 16).toString(16)).join('');
const pick = (a) => a[Math.floor(rnd() * a.length)];
const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;

const ISSUER = 'https://idp.demo.auditmesh.local/';
const { privateKey, publicKey } = await jose.generateKeyPair('RS256', { extractable: true });
const { privateKey: otherKey } = await jose.generateKeyPair('RS256');
const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'demo-2026-11', alg: 'RS256', use: 'sig' };
fs.writeFileSync(path.join(out, 'jwks.json'), JSON.stringify({ keys: [jwk] }, null, 2) + '\n');

const users = [
  { sub: 'alice', email: 'alice@corp.example', groups: ['payments-admins'], ip: '203.0.113.10', alias: 'alice-laptop', fw: 'corp\\alice' },
  { sub: 'bob', email: 'bob@corp.example', groups: ['support'], ip: '203.0.113.22', alias: 'bob-desktop', fw: 'corp\\bob' },
  { sub: 'carol', email: 'carol@corp.example', groups: ['finance'], ip: '198.51.100.77', alias: 'carol-phone', fw: 'corp\\carol' },
];
const routes = [
  ['GET', '/api/orders', 200], ['GET', '/api/orders/1042', 200], ['POST', '/api/orders', 201],
  ['GET', '/api/payments/77', 200], ['DELETE', '/api/admin/users/9', 403], ['GET', '/api/orders/9999', 404],
];
const VIP = '198.51.100.20', GW = '10.20.0.5', ORDERS = '10.30.1.14';
const T0 = Date.parse('2026-11-01T09:00:00Z');

const envoy = [], otlp = [], tyk = [], panos = [];
const pad = (n, w = 2) => String(n).padStart(w, '0');
const panTime = (ms) => { const d = new Date(ms); return `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`; };

function panosTraffic({ t, src, dst, natsrc, natdst, rule, user, app, sport, dport, natsport, natdport, action, session, bytesOut, bytesIn, elapsed, reason }) {
  const cols = new Array(115).fill('');
  Object.assign(cols, {
    0: '1', 1: panTime(t + elapsed * 1000), 2: '015451000099001', 3: 'TRAFFIC', 4: action === 'allow' ? 'end' : 'drop', 5: '2561',
    6: panTime(t + elapsed * 1000), 7: src, 8: dst, 9: natsrc, 10: natdst, 11: rule, 12: user, 13: '', 14: app, 15: 'vsys1',
    16: 'untrust', 17: 'dmz', 18: 'ethernet1/1', 19: 'ethernet1/2', 20: 'log-forwarding-default', 21: panTime(t + elapsed * 1000),
    22: String(session), 23: '1', 24: String(sport), 25: String(dport), 26: String(natsport), 27: String(natdport), 28: '0x400064',
    29: 'tcp', 30: action, 31: String(bytesOut + bytesIn), 32: String(bytesOut), 33: String(bytesIn), 34: String(Math.ceil((bytesOut + bytesIn) / 900)),
    35: panTime(t), 36: String(elapsed), 37: 'computer-and-internet-info', 38: '', 39: String(7300000000000000000 + session), 40: '0x8000000000000000',
    41: 'United States', 42: '10.0.0.0-10.255.255.255', 43: '', 44: '9', 45: '8', 46: reason, 53: 'fw-edge-01', 54: 'from-policy',
  });
  return cols.join(',');
}

let session = 40000;
for (let i = 0; i < 60; i++) {
  const u = users[i % users.length];
  const [method, pathName, status] = pick(routes);
  const t = T0 + i * 37_000 + Math.floor(rnd() * 5000);
  const traceId = hex(32), edgeSpan = hex(16), meshSpan = hex(16), appSpan = hex(16);
  const requestId = uuid();
  const sport = 40000 + Math.floor(rnd() * 20000);
  const forged = i % 20 === 13; // a stolen session: token signed by someone else, claiming alice
  const expired = i % 20 === 17; // a token used 2 hours after it expired
  const claims = { iss: ISSUER, sub: forged ? 'alice' : u.sub, aud: 'orders-api', email: forged ? 'alice@corp.example' : u.email, groups: forged ? ['payments-admins'] : u.groups,
    iat: Math.floor(t / 1000) - (expired ? 3 * 3600 : 60), exp: Math.floor(t / 1000) + (expired ? -2 * 3600 : 900) };
  const token = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'demo-2026-11', typ: 'JWT' }).sign(forged ? otherKey : privateKey);
  const finalStatus = forged || expired ? 401 : status;
  const ua = pick(['Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0', 'curl/8.5.0', 'orders-cli/2.3.1']);

  // Firewall: client → VIP, destination-NAT to the gateway.
  panos.push(panosTraffic({ t: t - 40, src: u.ip, dst: VIP, natsrc: '0.0.0.0', natdst: GW, rule: 'allow-api-gateway', user: u.fw, app: 'ssl', sport, dport: 443, natsport: 0, natdport: 8443, action: 'allow', session: ++session, bytesOut: 1800 + i, bytesIn: 5200 + i, elapsed: 2, reason: 'tcp-fin' }));

  // Tyk gateway: the raw request carries the bearer token and the trace context.
  const rawReq = `${method} ${pathName} HTTP/1.1\r\nHost: api.corp.example\r\nUser-Agent: ${ua}\r\nAuthorization: Bearer ${token}\r\ntraceparent: 00-${traceId}-${edgeSpan}-01\r\nx-request-id: ${requestId}\r\nCookie: session=${hex(24)}\r\nAccept: application/json\r\n\r\n`;
  tyk.push(JSON.stringify(Object.fromEntries(Object.entries({
    alias: u.alias, api_id: 'b1f6c7e0a9d34c5e', api_key: `00000000${hex(32)}`, api_name: 'orders-api', api_version: 'v1', content_length: method === 'POST' ? 312 : 0,
    host: 'api.corp.example', ip_address: u.ip, method, oauth_id: '', org_id: '5e9d9544a1dcd60001d0ed20', path: pathName, raw_path: pathName,
    raw_request: Buffer.from(rawReq).toString('base64'), raw_response: '', request_time_ms: 18 + Math.floor(rnd() * 40), response_code: finalStatus,
    tags: ['key-' + u.alias, 'org-corp'], timestamp: new Date(t).toISOString(), user_agent: ua,
  }).sort(([a], [b]) => a.localeCompare(b)))));

  if (forged || expired) continue; // the gateway rejected it: nothing reached the mesh

  // Istio sidecar of the orders service (JSON access log with a custom traceparent field).
  envoy.push(JSON.stringify({
    authority: 'orders.shop.svc.cluster.local:8080', bytes_received: method === 'POST' ? 312 : 0, bytes_sent: 900 + i, connection_termination_details: null,
    downstream_local_address: `${ORDERS}:8080`, downstream_peer_uri_san: 'spiffe://cluster.local/ns/gateway/sa/tyk-gateway', downstream_remote_address: `${GW}:${50000 + i}`,
    duration: 12 + (i % 9), method, path: pathName, protocol: 'HTTP/1.1', request_id: requestId, requested_server_name: 'outbound_.8080_._.orders.shop.svc.cluster.local',
    response_code: status, response_code_details: 'via_upstream', response_flags: '-', route_name: 'default', start_time: new Date(t + 8).toISOString(),
    traceparent: `00-${traceId}-${meshSpan}-01`, upstream_cluster: 'inbound|8080||', upstream_host: `${ORDERS}:8080`, upstream_local_address: '127.0.0.6:41234',
    upstream_service_time: String(10 + (i % 9)), upstream_transport_failure_reason: null, user_agent: ua, x_forwarded_for: u.ip,
  }));

  // The app's server span (OTLP/JSON, one ExportTraceServiceRequest per line as the file exporter writes).
  const start = BigInt(t + 10) * 1_000_000n, end = start + BigInt(9 + (i % 9)) * 1_000_000n;
  const attr = (key, v) => ({ key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v } });
  otlp.push(JSON.stringify({ resourceSpans: [{
    resource: { attributes: [attr('service.name', 'orders'), attr('service.namespace', 'shop'), attr('service.version', '1.8.2'), attr('k8s.pod.name', 'orders-7c9f8-x2k4q')] },
    scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0' }, spans: [{
      traceId, spanId: appSpan, parentSpanId: meshSpan, name: `${method} ${pathName.replace(/\d+/g, ':id')}`, kind: 2,
      startTimeUnixNano: String(start), endTimeUnixNano: String(end),
      attributes: [attr('http.request.method', method), attr('url.path', pathName), attr('url.scheme', 'http'), attr('http.response.status_code', status),
        attr('client.address', u.ip), attr('server.address', 'orders.shop.svc.cluster.local'), attr('server.port', 8080), attr('enduser.id', u.sub), attr('user_agent.original', ua)],
      status: { code: status >= 500 ? 2 : 0 },
    }] }],
  }] }));
}
// A port scan the firewall dropped: no request ever reached the gateway.
for (let p = 0; p < 5; p++) {
  panos.push(panosTraffic({ t: T0 + 1_800_000 + p * 200, src: '192.0.2.66', dst: VIP, natsrc: '0.0.0.0', natdst: '0.0.0.0', rule: 'deny-all', user: '', app: 'incomplete', sport: 61000 + p, dport: [22, 23, 3389, 5432, 6379][p], natsport: 0, natdport: 0, action: 'deny', session: 0, bytesOut: 74, bytesIn: 0, elapsed: 0, reason: 'policy-deny' }));
}
// One line of each kind that is not valid: the demo shows dead letters too.
envoy.push('{"start_time": "2026-11-01T09:30:00Z", "method": "GET", "path": "/api/orders" ');

fs.writeFileSync(path.join(out, 'envoy-access.log'), envoy.join('\n') + '\n');
fs.writeFileSync(path.join(out, 'otlp-spans.jsonl'), otlp.join('\n') + '\n');
fs.writeFileSync(path.join(out, 'tyk-analytics.jsonl'), tyk.join('\n') + '\n');
fs.writeFileSync(path.join(out, 'panos-traffic.log'), panos.join('\n') + '\n');
fs.writeFileSync(path.join(out, 'auditmesh.yaml'), `# Demo configuration for the bundled samples (used by \`npm run demo\`).
identity:
  issuers:
    - issuer: ${ISSUER}
      jwksFile: jwks.json
      audiences: [orders-api]
      algorithms: [RS256]
      clockSkewSeconds: 30
`);
console.log(`samples written to ${out}: ${envoy.length} envoy, ${otlp.length} otlp, ${tyk.length} tyk, ${panos.length} panos lines`);
