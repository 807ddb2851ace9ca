/**
 * Ground-truth scenario builders for the integration tests (scenarios.int.test.ts, crash.int.test.ts).
 *
 * Each request is described ONCE (who, from where, through which NAT, method/path/status, which layers
 * logged it, which join keys those layers carry), and rendered to every layer's real wire format:
 *
 * - Tyk Pump (Kafka pump map, sorted keys) with a base64 `raw_request` carrying `Authorization: Bearer
 *   <jose-signed JWT>` and, where the scenario says so, `traceparent` or 64-bit B3 multi headers;
 * - Istio access logs: the default JSON keys (plus the custom `traceparent` field only where the
 *   scenario says so) and the default TEXT format (x-request-id only);
 * - OTLP protobuf (`ExportTraceServiceRequest`, as the Collector's Kafka exporter writes it): the app's
 *   server span and Envoy's own span carrying `guid:x-request-id`;
 * - PAN-OS TRAFFIC syslog CSV with NAT columns and User-ID.
 *
 * From the same description the builder derives the truth: which records auditmesh must produce,
 * their exact member events (by content-addressed event id, computed with the real parsers) and how
 * each member was joined, and the identity verdicts. Nothing here talks to Kafka or Elasticsearch.
 */
import { randomBytes } from 'node:crypto';
import * as jose from 'jose';
import { createParser } from '../../src/parsers/registry';
import { encodeTraceRequest } from '../../src/parsers/otlp/encode';
import type { SourceType, Verdict } from '../../src/model/events';
import { seededRng, type Rng } from '../../src/testing/rng';

// ---------------------------------------------------------------------------------------------
// Randomness (seeded: a failing run can be replayed with the printed seed)

export { seededRng, type Rng };

export const hex = (rng: Rng, n: number): string => Array.from({ length: n }, () => Math.floor(rng() * 16).toString(16)).join('');
export const uuid = (rng: Rng): string => `${hex(rng, 8)}-${hex(rng, 4)}-4${hex(rng, 3)}-a${hex(rng, 3)}-${hex(rng, 12)}`;

export function shuffle<T>(rng: Rng, items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Identity provider: signing keys and the JWKS a test server publishes

export const ISSUER = 'https://idp.scenario.auditmesh.test/';
export const AUDIENCE = 'orders-api';

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: jose.KeyLike;
  jwk: jose.JWK;
}

export async function newSigningKey(kid: string, alg = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export const jwksOf = (...keys: SigningKey[]): { keys: jose.JWK[] } => ({ keys: keys.map((k) => k.jwk) });

// ---------------------------------------------------------------------------------------------
// The description of a request and of a firewall session

/** How the bearer token of a request was made, and what auditmesh must conclude from it. */
export interface TokenSpec {
  /** Subject the token claims (for a forged token: the victim). */
  sub: string;
  /** Key that signs it (for a forged token: the attacker's key, which still names a trusted `kid`). */
  key: SigningKey;
  /** `kid` written in the header (defaults to the signing key's). */
  kid?: string;
  aud?: string;
  /** Seconds relative to the request's event time. */
  iatOffsetS?: number;
  expOffsetS?: number;
  /** The verdict auditmesh must reach, judged at the request's event time. */
  expect: Verdict;
}

export type TraceHeader = 'w3c' | 'b3_64' | 'none';

export interface RequestSpec {
  label: string;
  /** True start of the request at the gateway (ms since epoch); each layer adds its clock skew. */
  t: number;
  clientIp: string;
  clientPort: number;
  method: string;
  path: string;
  status: number;
  /** The human behind the request (for enduser.id of the app span). */
  user?: string;
  token?: TokenSpec;
  /** Trace context of the request as the gateway received it. */
  tykTrace: TraceHeader;
  /** Which layers logged it. */
  layers: {
    tyk: boolean;
    /** Istio access log: JSON (default keys, with the custom traceparent field or without it) or TEXT. */
    envoy?: 'json_traceparent' | 'json' | 'text';
    /** The application's server span (OTLP, same trace as the mesh). */
    appSpan?: boolean;
    /** Envoy's own span (OTLP, its own trace id, `guid:x-request-id`). */
    envoySpan?: boolean;
  };
  userAgent?: string;
  /** Filled in by `buildRequest`. */
  traceId: string;
  traceId64?: string;
  requestId: string;
  edgeSpan: string;
  meshSpan: string;
  appSpanId: string;
  envoyTraceId: string;
  envoySpanId: string;
}

export interface SessionSpec {
  label: string;
  clientIp: string;
  clientPort: number;
  /** Destination as the client addressed it (the public VIP) and after destination NAT (the gateway). */
  dstIp: string;
  natDstIp: string;
  /** Source NAT address, or '0.0.0.0' when there is none. */
  natSrcIp: string;
  startMs: number;
  endMs: number;
  /** PAN-OS User-ID (`corp\alice`), '' when unknown. */
  user: string;
  sessionId: number;
  /** Requests this session carried (truth: each must link it), empty for a stand-alone session. */
  carries: string[];
  /** Truth: the session is one of several that match a request, so it must NOT be linked. */
  ambiguousFor?: string[];
}

/** Clock skew of each source against true time (±2 s between layers). */
export const SKEW_MS: Record<SourceType, number> = { tyk: 0, envoy: 1_500, otlp: -2_000, panos: 2_000 };

export const VIP = '198.51.100.20';
export const GATEWAY_IP = '10.20.0.5';
const ORDERS_POD = '10.30.1.14';
const FW_SERIAL = '015451000099001';

export function buildRequest(rng: Rng, r: Omit<RequestSpec, 'traceId' | 'requestId' | 'edgeSpan' | 'meshSpan' | 'appSpanId' | 'envoyTraceId' | 'envoySpanId'> & { traceId64?: string }): RequestSpec {
  const traceId64 = r.tykTrace === 'b3_64' ? (r.traceId64 ?? hex(rng, 16)) : undefined;
  return {
    ...r,
    ...(traceId64 ? { traceId64 } : {}),
    // A 64-bit B3 id continued in W3C systems is left-padded with zeros (what auditmesh normalizes to).
    traceId: traceId64 ? traceId64.padStart(32, '0') : hex(rng, 32),
    requestId: uuid(rng),
    edgeSpan: hex(rng, 16),
    meshSpan: hex(rng, 16),
    appSpanId: hex(rng, 16),
    envoyTraceId: hex(rng, 32),
    envoySpanId: hex(rng, 16),
  };
}

// ---------------------------------------------------------------------------------------------
// Rendering to the wire formats

const iso = (ms: number) => new Date(ms).toISOString();
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const panTime = (ms: number) => {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
};

export async function signToken(r: RequestSpec): Promise<string | undefined> {
  const tk = r.token;
  if (!tk) return undefined;
  const now = Math.floor(r.t / 1000);
  const claims = { iss: ISSUER, sub: tk.sub, aud: tk.aud ?? AUDIENCE, email: `${tk.sub}@corp.example`, scope: 'orders:read orders:write', iat: now + (tk.iatOffsetS ?? -60), exp: now + (tk.expOffsetS ?? 900) };
  return new jose.SignJWT(claims).setProtectedHeader({ alg: tk.key.alg, kid: tk.kid ?? tk.key.kid, typ: 'JWT' }).sign(tk.key.privateKey);
}

/** Tyk Pump's Kafka pump map (sorted keys as Go's json encoder writes a map), base64 raw_request. */
export function tykRecord(r: RequestSpec, token: string | undefined): string {
  const ua = r.userAgent ?? 'orders-cli/2.3.1';
  let trace = '';
  if (r.tykTrace === 'w3c') trace = `Traceparent: 00-${r.traceId}-${r.edgeSpan}-01\r\n`;
  else if (r.tykTrace === 'b3_64') trace = `X-B3-Traceid: ${r.traceId64}\r\nX-B3-Spanid: ${r.edgeSpan}\r\nX-B3-Sampled: 1\r\n`;
  const auth = token ? `Authorization: Bearer ${token}\r\n` : '';
  const raw = `${r.method} ${r.path} HTTP/1.1\r\nHost: api.corp.example\r\nAccept: application/json\r\n${auth}${trace}User-Agent: ${ua}\r\n\r\n`;
  const rec: Record<string, unknown> = {
    alias: '',
    api_id: 'b1f6c7e0a9d34c5e',
    api_key: `00000000${r.requestId.replace(/-/g, '')}`,
    api_name: 'orders-api',
    api_version: 'v1',
    content_length: r.method === 'POST' ? 312 : 0,
    host: 'api.corp.example',
    ip_address: r.clientIp,
    method: r.method,
    oauth_id: '',
    org_id: '5e9d9544a1dcd60001d0ed20',
    path: r.path,
    raw_path: r.path,
    raw_request: Buffer.from(raw).toString('base64'),
    raw_response: '',
    request_time_ms: 24,
    response_code: r.status,
    tags: ['org-corp'],
    timestamp: iso(r.t + SKEW_MS.tyk),
    user_agent: ua,
  };
  return JSON.stringify(rec);
}

/** Istio's default JSON access log (inbound sidecar of the orders service, behind the gateway). */
export function istioJson(r: RequestSpec, withTraceparent: boolean): string {
  const start = r.t + 8 + SKEW_MS.envoy;
  const line: Record<string, unknown> = {
    authority: 'orders.shop.svc.cluster.local:8080',
    bytes_received: r.method === 'POST' ? 312 : 0,
    bytes_sent: 912,
    connection_termination_details: null,
    downstream_local_address: `${ORDERS_POD}:8080`,
    downstream_remote_address: `${GATEWAY_IP}:${40000 + (r.clientPort % 20000)}`,
    duration: 14,
    method: r.method,
    path: r.path,
    protocol: 'HTTP/1.1',
    request_id: r.requestId,
    requested_server_name: 'outbound_.8080_._.orders.shop.svc.cluster.local',
    response_code: r.status,
    response_code_details: 'via_upstream',
    response_flags: '-',
    route_name: 'default',
    start_time: iso(start),
    upstream_cluster: 'inbound|8080||',
    upstream_host: `${ORDERS_POD}:8080`,
    upstream_local_address: '127.0.0.6:41877',
    upstream_service_time: '12',
    upstream_transport_failure_reason: null,
    user_agent: r.userAgent ?? 'orders-cli/2.3.1',
    x_forwarded_for: r.clientIp,
  };
  // The custom field an operator adds to meshConfig.accessLogFormat: "traceparent": "%REQ(TRACEPARENT)%".
  if (withTraceparent) line.traceparent = `00-${r.traceId}-${r.meshSpan}-01`;
  return JSON.stringify(line);
}

/** Istio's default TEXT access-log format (carries x-request-id and X-Forwarded-For, no trace context). */
export function istioText(r: RequestSpec): string {
  const start = r.t + 8 + SKEW_MS.envoy;
  const ua = r.userAgent ?? 'orders-cli/2.3.1';
  const remote = `${GATEWAY_IP}:${40000 + (r.clientPort % 20000)}`;
  return (
    `[${iso(start)}] "${r.method} ${r.path} HTTP/1.1" ${r.status} - via_upstream - "-" ${r.method === 'POST' ? 312 : 0} 912 14 12 ` +
    `"${r.clientIp}" "${ua}" "${r.requestId}" "orders.shop.svc.cluster.local:8080" "${ORDERS_POD}:8080" inbound|8080|| 127.0.0.6:41877 ` +
    `${ORDERS_POD}:8080 ${remote} outbound_.8080_._.orders.shop.svc.cluster.local default`
  );
}

const ns = (ms: number) => BigInt(Math.round(ms)) * 1_000_000n;

/** The application's server span (OpenTelemetry JS http instrumentation, new semantic conventions). */
export function appSpan(r: RequestSpec): Buffer {
  const start = r.t + 10 + SKEW_MS.otlp;
  const attributes: Record<string, string | number> = {
    'http.request.method': r.method,
    'url.path': r.path,
    'url.scheme': 'http',
    'http.response.status_code': r.status,
    'client.address': r.clientIp,
    'user_agent.original': r.userAgent ?? 'orders-cli/2.3.1',
  };
  if (r.user) attributes['enduser.id'] = r.user;
  return encodeTraceRequest({
    resourceSpans: [
      {
        resource: { 'service.name': 'orders', 'service.namespace': 'shop', 'service.version': '1.8.2' },
        scopeSpans: [
          {
            scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0' },
            spans: [
              {
                traceId: r.traceId,
                spanId: r.appSpanId,
                parentSpanId: r.meshSpan,
                name: `${r.method} ${r.path.replace(/\d+/g, ':id')}`,
                kind: 2,
                startTimeUnixNano: ns(start),
                endTimeUnixNano: ns(start + 9),
                attributes,
                status: { code: r.status >= 500 ? 2 : 0 },
              },
            ],
          },
        ],
      },
    ],
  });
}

/** Envoy's own span (its OpenTelemetry tracer): its own trace id and the request id as `guid:x-request-id`. */
export function envoySpan(r: RequestSpec): Buffer {
  const start = r.t + 7 + SKEW_MS.otlp;
  // Envoy continues an incoming trace; without trace context it starts its own.
  const traced = r.tykTrace !== 'none';
  return encodeTraceRequest({
    resourceSpans: [
      {
        resource: { 'service.name': 'orders.shop' },
        scopeSpans: [
          {
            scope: { name: 'envoy', version: '' },
            spans: [
              {
                traceId: traced ? r.traceId : r.envoyTraceId,
                spanId: r.envoySpanId,
                ...(traced ? { parentSpanId: r.edgeSpan } : {}),
                name: 'orders.shop.svc.cluster.local:8080/*',
                kind: 2,
                startTimeUnixNano: ns(start),
                endTimeUnixNano: ns(start + 14),
                attributes: {
                  node_id: 'sidecar~10.30.1.14~orders-7c9f8-x2k4q.shop~shop.svc.cluster.local',
                  'guid:x-request-id': r.requestId,
                  'http.url': `http://orders.shop.svc.cluster.local:8080${r.path}`,
                  'http.method': r.method,
                  'http.protocol': 'HTTP/1.1',
                  'http.status_code': String(r.status),
                  'peer.address': GATEWAY_IP,
                  user_agent: r.userAgent ?? 'orders-cli/2.3.1',
                  upstream_cluster: 'inbound|8080||',
                  response_flags: '-',
                  component: 'proxy',
                },
              },
            ],
          },
        ],
      },
    ],
  });
}

/** PAN-OS TRAFFIC log, syslog CSV body (PAN-OS 10.x column order), session end record. */
export function panosTraffic(s: SessionSpec): string {
  const start = s.startMs + SKEW_MS.panos;
  const elapsed = Math.max(1, Math.ceil((s.endMs - s.startMs) / 1000));
  const logged = Math.floor(start / 1000) * 1000 + elapsed * 1000;
  const cols: string[] = new Array(115).fill('');
  const set: Record<number, string> = {
    0: '1', 1: panTime(logged), 2: FW_SERIAL, 3: 'TRAFFIC', 4: 'end', 5: '2561', 6: panTime(logged), 7: s.clientIp, 8: s.dstIp,
    9: s.natSrcIp, 10: s.natDstIp, 11: 'allow-api-gateway', 12: s.user, 13: '', 14: 'ssl', 15: 'vsys1', 16: 'untrust', 17: 'dmz',
    18: 'ethernet1/1', 19: 'ethernet1/2', 20: 'log-forwarding-default', 21: panTime(logged), 22: String(s.sessionId), 23: '1',
    24: String(s.clientPort), 25: '443', 26: s.natSrcIp === '0.0.0.0' ? '0' : String(s.clientPort + 1), 27: s.natDstIp === '0.0.0.0' ? '0' : '8443',
    28: '0x400064', 29: 'tcp', 30: 'allow', 31: '7000', 32: '1800', 33: '5200', 34: '9', 35: panTime(start), 36: String(elapsed),
    37: 'computer-and-internet-info', 38: '', 39: String(7300000000000000000n + BigInt(s.sessionId)), 40: '0x8000000000000000',
    41: 'United States', 42: '10.0.0.0-10.255.255.255', 43: '', 44: '9', 45: '8', 46: 'tcp-fin', 53: 'fw-edge-01', 54: 'from-policy',
  };
  for (const [i, v] of Object.entries(set)) cols[Number(i)] = v;
  return cols.join(',');
}

// ---------------------------------------------------------------------------------------------
// Messages and truth

export interface Message {
  source: SourceType;
  value: Buffer;
  /** True event time of what it logs (ms): the request's start, or the session's end for a firewall log. */
  t: number;
  /** Event id(s) the real parser gives this message (content-addressed). */
  eventIds: string[];
  /** What it is, for failure messages: `<label>/<layer>`. */
  what: string;
}

export interface ExpectedMember {
  eventId: string;
  source: SourceType;
  joinedBy: string;
}

export interface ExpectedIdentity {
  subject?: string;
  method?: string;
  verdict: Verdict;
  verified: boolean;
  mismatch: boolean;
  /** Sorted `method|source|subject|verdict` of every claim. */
  claims: string[];
}

export interface ExpectedRecord {
  label: string;
  type: 'request' | 'session';
  members: ExpectedMember[];
  identity?: ExpectedIdentity;
  traceId?: string;
  ambiguous?: { key: string; candidates: number }[];
}

export interface Scenario {
  messages: Message[];
  records: ExpectedRecord[];
  /** Raw bearer tokens, which must never be stored. */
  tokens: string[];
  requests: RequestSpec[];
  sessions: SessionSpec[];
}

const parsers = new Map<SourceType, ReturnType<typeof createParser>>();
function idsOf(source: SourceType, value: Buffer, what: string): string[] {
  let p = parsers.get(source);
  if (!p) parsers.set(source, (p = createParser(source, source === 'otlp' ? { format: 'otlp_proto' } : {})));
  const res = p({ value, ref: { source }, receivedAtMs: Date.now() });
  if (!res.ok) throw new Error(`scenario builder: ${what} does not parse: ${res.rejection.code} ${res.rejection.reason}`);
  return res.events.map((e) => e.id);
}

function message(source: SourceType, value: string | Buffer, what: string, t: number): Message {
  const buf = typeof value === 'string' ? Buffer.from(value) : value;
  return { source, value: buf, t, eventIds: idsOf(source, buf, what), what };
}

/**
 * Render requests and sessions to messages and derive the expected records. Join rules of the truth:
 * a member that shares the request's trace id with another member is joined by `trace.id`, else by
 * x-request-id (`http.request.id`); a trace-less gateway record by `address+time`; a firewall
 * session carrying the request by `address+time`; a record of one event by `self`.
 */
export async function renderScenario(requests: RequestSpec[], sessions: SessionSpec[]): Promise<Scenario> {
  const messages: Message[] = [];
  const records: ExpectedRecord[] = [];
  const tokens: string[] = [];
  const sessionMsg = new Map<string, Message>();
  for (const s of sessions) {
    const m = message('panos', panosTraffic(s), `${s.label}/panos`, s.endMs);
    sessionMsg.set(s.label, m);
    messages.push(m);
    records.push({
      label: s.label,
      type: 'session',
      members: [{ eventId: m.eventIds[0]!, source: 'panos', joinedBy: 'self' }],
      identity: {
        ...(s.user ? { subject: s.user, method: 'firewall_userid' } : {}),
        verdict: 'no_token',
        verified: false,
        mismatch: false,
        claims: s.user ? [`firewall_userid|panos|${s.user}|unverifiable`] : [],
      },
    });
  }

  for (const r of requests) {
    const token = await signToken(r);
    if (token) tokens.push(token);
    // Which join keys each layer carries: [message, traceId?, requestId?].
    const parts: { m: Message; trace?: string; rid?: string }[] = [];
    if (r.layers.tyk) parts.push({ m: message('tyk', tykRecord(r, token), `${r.label}/tyk`, r.t), ...(r.tykTrace !== 'none' ? { trace: r.traceId } : {}) });
    if (r.layers.envoy === 'json_traceparent') parts.push({ m: message('envoy', istioJson(r, true), `${r.label}/envoy-json`, r.t), trace: r.traceId, rid: r.requestId });
    else if (r.layers.envoy === 'json') parts.push({ m: message('envoy', istioJson(r, false), `${r.label}/envoy-json`, r.t), rid: r.requestId });
    else if (r.layers.envoy === 'text') parts.push({ m: message('envoy', istioText(r), `${r.label}/envoy-text`, r.t), rid: r.requestId });
    if (r.layers.appSpan) parts.push({ m: message('otlp', appSpan(r), `${r.label}/app-span`, r.t), trace: r.traceId });
    if (r.layers.envoySpan) parts.push({ m: message('otlp', envoySpan(r), `${r.label}/envoy-span`, r.t), trace: r.tykTrace === 'none' ? r.envoyTraceId : r.traceId, rid: r.requestId });
    messages.push(...parts.map((p) => p.m));

    const count = (k: 'trace' | 'rid', v: string | undefined) => (v ? parts.filter((p) => p[k] === v).length : 0);
    const linked = sessions.filter((s) => s.carries.includes(r.label));
    const joinedBy = (p: (typeof parts)[number]): string => {
      if (count('trace', p.trace) > 1) return 'trace.id';
      if (count('rid', p.rid) > 1) return 'http.request.id';
      if (p.m.source === 'tyk' && !p.trace && !p.rid && parts.length > 1) return 'address+time';
      return 'self';
    };
    const members: ExpectedMember[] = parts.map((p) => ({ eventId: p.m.eventIds[0]!, source: p.m.source, joinedBy: joinedBy(p) }));
    for (const s of linked) members.push({ eventId: sessionMsg.get(s.label)!.eventIds[0]!, source: 'panos', joinedBy: 'address+time' });

    // Identity truth.
    const claims: string[] = [];
    const tk = r.token;
    if (tk && r.layers.tyk) claims.push(`jwt|tyk|${tk.sub}|${tk.expect}`);
    if (r.layers.appSpan && r.user) claims.push(`otel_enduser|otlp|${r.user}|unverifiable`);
    for (const s of linked) if (s.user) claims.push(`firewall_userid|panos|${s.user}|unverifiable`);
    const fwUser = linked.find((s) => s.user)?.user;
    let identity: ExpectedIdentity;
    if (tk && tk.expect === 'verified') {
      identity = { subject: tk.sub, method: 'jwt', verdict: 'verified', verified: true, mismatch: false, claims };
    } else if (tk) {
      // A failed token never names the identity: the strongest remaining claim does (unverified).
      const fallback = fwUser ? { subject: fwUser, method: 'firewall_userid' } : r.layers.appSpan && r.user ? { subject: r.user, method: 'otel_enduser' } : {};
      const names = (s: string) => s.toLowerCase().replace(/^.*\\/, '').replace(/@.*$/, '');
      const mismatch = 'subject' in fallback && fallback.subject !== undefined && names(fallback.subject) !== names(tk.sub);
      identity = { ...fallback, verdict: tk.expect, verified: false, mismatch, claims };
    } else {
      identity = { verdict: 'no_token', verified: false, mismatch: false, claims };
    }
    const traceIds = parts.map((p) => p.trace).filter((x): x is string => Boolean(x));
    const rec: ExpectedRecord = { label: r.label, type: 'request', members, identity };
    if (traceIds.length) rec.traceId = traceIds[0]!;
    const amb = sessions.filter((s) => s.ambiguousFor?.includes(r.label));
    if (amb.length) rec.ambiguous = [{ key: 'firewall address+time', candidates: amb.length }];
    records.push(rec);
  }
  for (const r of records) r.identity?.claims.sort();
  return { messages, records, tokens, requests, sessions };
}

/**
 * Mixed traffic at scale for the crash test: `n` requests `stepMs` apart from `t0`, each from its own
 * client address (keep-alive pairs share one), in every shape the scenario test proves one by one:
 * W3C everywhere, 64-bit B3 at the gateway, no trace headers (Istio TEXT + Envoy span, gateway joined
 * by address), mesh JSON without traceparent joined through Envoy's span, and gateway-only rejections
 * (forged, expired, wrong audience); every fifth request comes through a destination-NATed firewall
 * session, every tenth of those a keep-alive session carrying two requests.
 */
export function mixedTraffic(
  rng: Rng,
  n: number,
  t0: number,
  stepMs: number,
  signer: SigningKey,
  attacker: SigningKey,
  /** `lineFormatsOnly`: no OTLP spans (protobuf), so every message is a text line (HTTP and file ingestion). */
  opts: { lineFormatsOnly?: boolean } = {},
): { requests: RequestSpec[]; sessions: SessionSpec[] } {
  const requests: RequestSpec[] = [];
  const sessions: SessionSpec[] = [];
  let ipNo = 1;
  for (let i = 0; i < n; ) {
    const keepAlive = i % 50 === 0 && i + 1 < n;
    const withSession = keepAlive || i % 5 === 0;
    const ip = clientIpFor(ipNo++);
    const port = 1024 + Math.floor(rng() * 60000);
    const group: RequestSpec[] = [];
    // One person behind one client address (a keep-alive session carries one user's requests).
    const user = `user${i % 97}`;
    for (let j = 0; j < (keepAlive ? 2 : 1); j++, i++) {
      const r = rng();
      const base = { label: `req-${i}`, t: t0 + i * stepMs, clientIp: ip, clientPort: port, method: i % 7 === 0 ? 'POST' : 'GET', path: `/api/orders/${i}`, status: i % 7 === 0 ? 201 : 200, user };
      const valid = { sub: user, key: signer, expect: 'verified' as const };
      let spec: Parameters<typeof buildRequest>[1];
      if (r < 0.55) spec = { ...base, token: valid, tykTrace: 'w3c', layers: { tyk: true, envoy: 'json_traceparent', appSpan: true } };
      else if (r < 0.7) spec = { ...base, token: valid, tykTrace: 'b3_64', layers: { tyk: true, envoy: 'json_traceparent', appSpan: true } };
      else if (r < 0.85) spec = { ...base, token: valid, tykTrace: 'none', layers: { tyk: true, envoy: 'text', envoySpan: true } };
      else if (r < 0.95) spec = { ...base, token: valid, tykTrace: 'w3c', layers: { tyk: true, envoy: 'json', envoySpan: true, appSpan: true } };
      else {
        const k = Math.floor(rng() * 3);
        const token: TokenSpec =
          k === 0 ? { sub: 'user0', key: attacker, kid: signer.kid, expect: 'invalid_signature' } : k === 1 ? { ...valid, iatOffsetS: -7200, expOffsetS: -3600, expect: 'expired' } : { ...valid, aud: 'billing-api', expect: 'wrong_audience' };
        spec = { ...base, status: 401, token, tykTrace: 'w3c', layers: { tyk: true } };
      }
      // Line formats only: the gateway and the mesh's JSON access log, joined by the W3C/B3 trace id.
      if (opts.lineFormatsOnly && spec.layers.envoy) spec = { ...spec, tykTrace: spec.tykTrace === 'none' ? 'w3c' : spec.tykTrace, layers: { tyk: true, envoy: 'json_traceparent' } };
      group.push(buildRequest(rng, spec));
    }
    requests.push(...group);
    if (withSession) {
      const first = group[0]!, last = group[group.length - 1]!;
      sessions.push({
        label: `session-${first.label}`, clientIp: ip, clientPort: port, dstIp: VIP, natDstIp: GATEWAY_IP, natSrcIp: '0.0.0.0',
        startMs: first.t - 300, endMs: last.t + 1_200, user: `corp\\${first.user}`, sessionId: 10000 + sessions.length, carries: group.map((g) => g.label),
      });
    }
  }
  return { requests, sessions };
}

/** A unique-looking, valid client address for request number `n` (100.64.0.0/10, carrier-grade NAT space). */
export function clientIpFor(n: number): string {
  return `100.${64 + ((n >> 16) & 63)}.${(n >> 8) & 255}.${n & 255}`;
}

export const randomSeed = (): number => randomBytes(4).readUInt32LE(0);
