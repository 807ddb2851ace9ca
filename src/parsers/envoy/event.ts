/**
 * Semantic access-log fields → one ParsedEvent (ECS document, join keys, identity claims).
 *
 * ECS choices, checked against Elastic's istio/envoyproxy pipeline outputs in the conformance corpus:
 * - `source.*` is the downstream peer (`%DOWNSTREAM_REMOTE_ADDRESS%`), or the first X-Forwarded-For hop
 *   when the format has no downstream address (Envoy's default format); port 0 is omitted.
 * - `client.ip` is the first X-Forwarded-For hop (the original client as the proxy saw it claimed).
 * - `destination.*` is the upstream host Envoy connected to (`%UPSTREAM_HOST%`).
 * - `url.domain` is the `:authority` as logged (host[:port]), as Elastic's envoyproxy pipeline does.
 * - Bytes follow Envoy's meaning, NOT Elastic's (inverted) istio mapping: BYTES_RECEIVED is what the
 *   downstream sent (`http.request.body.bytes`, `source.bytes`), BYTES_SENT what it got back.
 * - `event.duration` is `%DURATION%` (whole request, ns); Elastic's istio pipeline uses the upstream
 *   service time instead, which we keep as `envoy.upstream_service_time` (ms).
 * - No raw line (`event.original`), no Authorization header, no JWT payload text: the ECS document must
 *   never carry a token.
 */
import { isIP } from 'node:net';
import type { Ecs, JoinKeys, ParsedEvent, ParseRejection, RawRecord } from '../../model/events';
import {
  eventId,
  normalizeSpanId,
  normalizeTraceId,
  parseB3Single,
  parseTraceparent,
} from '../common';
import type { AccessFields } from './fields';
import { extractIdentity } from './identity';
import { parseStartTime } from './time';
import { extend } from '../../model/extend';

export interface BuildContext {
  raw: RawRecord;
  /** Index of the line within the raw record (multi-line records). */
  index: number;
  /** Which format matched: `istio_text`, `envoy_text`, `custom_text`, `json`. */
  logFormat: string;
  /** `ACCESS` when the line had Ambassador's prefix. */
  logType?: string;
  /** Kubernetes metadata from a container-log wrapper. */
  kubernetes?: Record<string, unknown>;
}

/** A string value, with Envoy's `-` and JSON null/'' treated as absent. */
function s(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' || v === '-' ? undefined : v;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  return undefined;
}

const DIGITS = /^\d{1,15}$/;

/** Non-negative integer field; undefined if absent; a rejection if present but not a number. */
function int(name: string, v: unknown): number | undefined | ParseRejection {
  if (v === undefined || v === null || v === '' || v === '-') return undefined;
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0) return v;
  } else if (typeof v === 'string' && DIGITS.test(v)) {
    return Number(v);
  }
  return { code: 'invalid_field', reason: `${name} must be a non-negative integer (got ${JSON.stringify(v).slice(0, 64)})`, field: name };
}

const isRej = (v: unknown): v is ParseRejection => typeof v === 'object' && v !== null;

/** True if the object has at least one own key (no array allocation, unlike Object.keys). */
function nonEmpty(o: Record<string, unknown>): boolean {
  for (const _ in o) return true;
  return false;
}

/** Port number of a decimal string, or undefined (0 and out-of-range included). */
function toPort(s: string): number | undefined {
  if (s.length === 0 || s.length > 5) return undefined;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    n = n * 10 + c;
  }
  return n > 0 && n <= 65535 ? n : undefined;
}

/**
 * `ip:port`, `[v6]:port`, bare IPv4 or bare IPv6 → { ip, port? } when the host is an IP; {} otherwise
 * (hostnames, unix sockets, `envoy://` internal addresses). Port 0 is dropped. Hot path: no splitting.
 */
function addr(v: string | undefined): { ip?: string; port?: number } {
  if (!v) return {};
  let ip: string;
  let port: number | undefined;
  if (v.charCodeAt(0) === 91 /* [ */) {
    const end = v.indexOf(']');
    if (end < 0) return {};
    ip = v.slice(1, end);
    if (v.charCodeAt(end + 1) === 58 /* : */) port = toPort(v.slice(end + 2));
  } else {
    const i = v.indexOf(':');
    if (i < 0 || v.indexOf(':', i + 1) >= 0) ip = v;
    else {
      ip = v.slice(0, i);
      port = toPort(v.slice(i + 1));
    }
  }
  if (isIP(ip) === 0) return {};
  return port === undefined ? { ip } : { ip, port };
}

/** First X-Forwarded-For hop, if it is an IP (optionally with port). */
function firstHop(xff: string | undefined): { ip?: string; port?: number } {
  if (!xff) return {};
  const comma = xff.indexOf(',');
  return addr((comma < 0 ? xff : xff.slice(0, comma)).trim());
}

const ISTIO_CLUSTER = /^(inbound|outbound)_\.(\d+)_\.([^_]*)_\.(.+)$/;

/** Istio cluster name (`outbound|9080|v1|reviews.default.svc.cluster.local`, or the `_.`-form SNI). */
export function parseIstioCluster(v: string | undefined): { direction: 'inbound' | 'outbound'; port?: number; subset?: string; host?: string } | undefined {
  if (!v) return undefined;
  const c = v.split(';')[0]!;
  let dir: string, port: string, subset: string, host: string;
  if (c.startsWith('inbound|') || c.startsWith('outbound|')) {
    const p = c.split('|');
    if (p.length !== 4) return undefined;
    [dir, port, subset, host] = p as [string, string, string, string];
  } else {
    const m = ISTIO_CLUSTER.exec(c);
    if (!m) return undefined;
    [, dir, port, subset, host] = m as unknown as [string, string, string, string, string];
  }
  const out: { direction: 'inbound' | 'outbound'; port?: number; subset?: string; host?: string } = {
    direction: dir as 'inbound' | 'outbound',
  };
  if (/^\d+$/.test(port)) out.port = Number(port);
  if (subset) out.subset = subset;
  if (host) out.host = host;
  return out;
}

/** `reviews.default.svc.cluster.local` → `reviews`; other hosts (ServiceEntry) as they are. */
function serviceName(host: string): string {
  const i = host.indexOf('.svc.');
  if (i > 0 || host.endsWith('.svc')) {
    const dot = host.indexOf('.');
    return dot > 0 ? host.slice(0, dot) : host;
  }
  return host;
}

const SENSITIVE_QUERY = /(^|&)(access_token|id_token|refresh_token|token|jwt|api_key|apikey|key|password|passwd|pwd|secret|client_secret|code|sig|signature|auth|authorization|session|sessionid)=([^&]*)/gi;
const redactQuery = (q: string): string =>
  q.replace(SENSITIVE_QUERY, (_m, pre: string, k: string, v: string) => (v === '' ? `${pre}${k}=` : `${pre}${k}=REDACTED`));

function httpVersion(protocol: string): string {
  const u = protocol.toUpperCase();
  return u.startsWith('HTTP/') ? protocol.slice(5) : protocol;
}

/** Build the event; a rejection if a field is malformed (bad status code, time, number). */
export function buildEvent(f: AccessFields, ctx: BuildContext): ParsedEvent | ParseRejection {
  const { raw } = ctx;
  const status = int('response_code', f.response_code);
  if (isRej(status)) return status;
  if (status !== undefined && status > 999) {
    return { code: 'invalid_field', reason: `response_code must be 0-999 (got ${status})`, field: 'response_code' };
  }
  const bytesIn = int('bytes_received', f.bytes_received);
  if (isRej(bytesIn)) return bytesIn;
  const bytesOut = int('bytes_sent', f.bytes_sent);
  if (isRej(bytesOut)) return bytesOut;
  const duration = int('duration', f.duration);
  if (isRej(duration)) return duration;
  // Upstream service time is a response header: may be absent, or a list on retries; never rejects.
  const ustRaw = s(f.upstream_service_time);
  const ust = ustRaw !== undefined && /^\d+/.test(ustRaw) ? parseInt(ustRaw, 10) : undefined;

  let startMs: number;
  let timestampSource: string | undefined;
  const st = f.start_time;
  if (st === undefined || st === null || st === '' || st === '-') {
    if (!Number.isFinite(raw.receivedAtMs)) {
      return { code: 'invalid_field', reason: 'no start_time in the line and no receive time on the record', field: 'start_time' };
    }
    startMs = raw.receivedAtMs;
    timestampSource = 'received';
  } else {
    const ms = parseStartTime(st, f.startTimeFormat);
    if (ms === undefined || !Number.isFinite(ms) || Math.abs(ms) > 8.64e15) {
      const fmt = f.startTimeFormat ? ` (format ${f.startTimeFormat})` : '';
      return { code: 'invalid_field', reason: `start_time is not a time${fmt}: ${JSON.stringify(st).slice(0, 64)}`, field: 'start_time' };
    }
    startMs = ms;
  }
  const endMs = startMs + (duration ?? 0);
  const timestamp = new Date(startMs).toISOString();

  const method = s(f.method);
  const rawPath = s(f.path);
  const protocol = s(f.protocol);
  const isTcp = method === undefined && rawPath === undefined && protocol === undefined;
  const flags = s(f.response_flags);

  const id = eventId(raw, ctx.index);
  const ecs: Ecs = { '@timestamp': timestamp };

  // event.*
  // Outcome from the proxy's point of view (ECS: "from the perspective of the event source"): failure
  // when Envoy flagged the request (no route, upstream failure, RBAC, rate limit, …) or answered an
  // error itself (response_code_details other than via_upstream: jwt_authn, rbac, ext_authz denials);
  // an error status relayed from the upstream is the app's failure, kept in http.response.status_code.
  // This agrees with both peers on the corpus: envoyproxy (flags only) and istio (status ≥ 400).
  const details = s(f.response_code_details);
  let outcome: string;
  if (flags !== undefined) outcome = 'failure';
  else if (status !== undefined && status >= 400 && details !== undefined && details !== 'via_upstream') outcome = 'failure';
  else if ((status !== undefined && status > 0) || isTcp) outcome = 'success';
  else outcome = 'unknown';
  const event: Record<string, unknown> = {
    kind: 'event',
    category: isTcp ? ['network'] : ['web'],
    type: isTcp ? ['connection'] : ['access'],
    action: isTcp ? 'tcp_connection' : 'http_request',
    outcome,
    start: timestamp,
  };
  if (duration !== undefined) {
    event['duration'] = duration * 1_000_000;
    event['end'] = new Date(endMs).toISOString();
  }
  ecs['event'] = event;

  // Addresses.
  const xffRaw = s(f.x_forwarded_for);
  const hop = firstHop(xffRaw);
  const remoteRaw = s(f.downstream_remote_address) ?? s(f.downstream_direct_remote_address);
  const remote = addr(remoteRaw);
  const related: string[] = [];
  if (remote.ip) {
    const src: Record<string, unknown> = { address: remoteRaw, ip: remote.ip };
    if (remote.port) src['port'] = remote.port;
    if (bytesIn !== undefined) src['bytes'] = bytesIn;
    ecs['source'] = src;
    related.push(remote.ip);
  } else if (hop.ip) {
    const src: Record<string, unknown> = { address: hop.ip, ip: hop.ip };
    if (bytesIn !== undefined) src['bytes'] = bytesIn;
    ecs['source'] = src;
    related.push(hop.ip);
  } else if (bytesIn !== undefined) {
    ecs['source'] = { bytes: bytesIn };
  }
  let clientPort: number | undefined;
  if (hop.ip) {
    const client: Record<string, unknown> = { ip: hop.ip };
    clientPort = hop.port ?? (remote.ip === hop.ip ? remote.port : undefined);
    if (clientPort) client['port'] = clientPort;
    ecs['client'] = client;
    ecs['network'] = { forwarded_ip: hop.ip };
    if (!related.includes(hop.ip)) related.push(hop.ip);
  }
  const upstreamRaw = s(f.upstream_host);
  const upstream = addr(upstreamRaw);
  const dst: Record<string, unknown> = {};
  if (upstreamRaw !== undefined) {
    dst['address'] = upstreamRaw;
    if (upstream.ip) {
      dst['ip'] = upstream.ip;
      if (upstream.port) dst['port'] = upstream.port;
      if (!related.includes(upstream.ip)) related.push(upstream.ip);
    }
  }
  if (bytesOut !== undefined) dst['bytes'] = bytesOut;

  // Istio service names from the cluster (outbound) or the SNI (inbound).
  const clusterRaw = s(f.upstream_cluster);
  const sni = s(f.requested_server_name);
  const cluster = parseIstioCluster(clusterRaw);
  const net = (ecs['network'] as Record<string, unknown> | undefined) ?? {};
  if (cluster?.direction === 'outbound' && cluster.host) {
    dst['domain'] = cluster.host;
    ecs['service'] = { target: { name: serviceName(cluster.host) } };
  } else if (cluster?.direction === 'inbound') {
    const local = parseIstioCluster(sni);
    if (local?.host) {
      dst['domain'] = local.host;
      ecs['service'] = { name: serviceName(local.host) };
    }
  }
  if (cluster) net['direction'] = cluster.direction === 'inbound' ? 'ingress' : 'egress';
  if (nonEmpty(dst)) ecs['destination'] = dst;
  if (related.length > 0) ecs['related'] = { ip: related };

  net['transport'] = protocol !== undefined && /^HTTP\/3/i.test(protocol) ? 'udp' : 'tcp';
  if (!isTcp) net['protocol'] = 'http';
  ecs['network'] = net;

  // HTTP and URL.
  let path: string | undefined;
  if (!isTcp) {
    const http: Record<string, unknown> = {};
    const req: Record<string, unknown> = {};
    const res: Record<string, unknown> = {};
    if (method !== undefined) req['method'] = method;
    const requestId = s(f.request_id);
    if (requestId !== undefined) req['id'] = requestId;
    if (bytesIn !== undefined) req['body'] = { bytes: bytesIn };
    if (status !== undefined && status > 0) res['status_code'] = status;
    if (bytesOut !== undefined) res['body'] = { bytes: bytesOut };
    http['request'] = req;
    http['response'] = res;
    if (protocol !== undefined) http['version'] = httpVersion(protocol);
    ecs['http'] = http;
    const url: Record<string, unknown> = {};
    if (rawPath !== undefined) {
      const q = rawPath.indexOf('?');
      path = q < 0 ? rawPath : rawPath.slice(0, q);
      url['path'] = path;
      if (q >= 0) {
        const query = redactQuery(rawPath.slice(q + 1));
        url['query'] = query;
        url['original'] = `${path}?${query}`;
      } else url['original'] = rawPath;
    }
    const authority = s(f.authority);
    if (authority !== undefined) url['domain'] = authority;
    if (nonEmpty(url)) ecs['url'] = url;
    const ua = s(f.user_agent);
    if (ua !== undefined) ecs['user_agent'] = { original: ua };
  }

  // Trace context: traceparent, then %TRACE_ID%, then B3 (multi, then single header).
  const tp = parseTraceparent(s(f.traceparent));
  const b3 = parseB3Single(s(f.b3));
  let traceId = tp?.traceId;
  let spanId = tp?.spanId;
  if (!traceId) {
    traceId = normalizeTraceId(s(f.trace_id));
    if (!traceId) {
      traceId = normalizeTraceId(s(f.x_b3_traceid));
      if (traceId) spanId = normalizeSpanId(s(f.x_b3_spanid));
      else if (b3) {
        traceId = b3.traceId;
        spanId = b3.spanId;
      }
    }
  }
  let parentSpanId = normalizeSpanId(s(f.x_b3_parentspanid));
  if (!parentSpanId && b3 && traceId === b3.traceId) parentSpanId = normalizeSpanId(s(f.b3)?.split('-')[3]);
  if (traceId) ecs['trace'] = { id: traceId };
  if (spanId) ecs['span'] = { id: spanId };

  // Identity.
  const identity = extractIdentity(f, id);
  const tls: Record<string, unknown> = {};
  if (sni !== undefined) tls['server_name'] = sni;
  if (identity.peerSans.length > 0) tls['x509'] = { alternative_names: identity.peerSans };
  if (nonEmpty(tls)) ecs['tls'] = { client: tls };
  if (identity.payload) {
    const p = identity.payload;
    const user: Record<string, unknown> = {};
    const sub = typeof p['sub'] === 'string' ? p['sub'] : undefined;
    const email = typeof p['email'] === 'string' ? p['email'] : undefined;
    const pref = typeof p['preferred_username'] === 'string' ? p['preferred_username'] : undefined;
    if (sub) user['id'] = sub;
    const name = pref ?? sub;
    if (name) user['name'] = name;
    if (email) user['email'] = email;
    if (nonEmpty(user)) ecs['user'] = user;
  }

  // Envoy extras.
  const envoy: Record<string, unknown> = { proxy_type: isTcp ? 'tcp' : 'http', log_format: ctx.logFormat };
  const extra = (k: string, v: unknown): void => {
    if (v !== undefined) envoy[k] = v;
  };
  extra('log_type', ctx.logType);
  extra('response_flags', flags);
  extra('response_code_details', details);
  extra('connection_termination_details', s(f.connection_termination_details));
  extra('upstream_transport_failure_reason', s(f.upstream_transport_failure_reason));
  extra('upstream_cluster', clusterRaw);
  extra('upstream_host', upstreamRaw);
  extra('upstream_local_address', s(f.upstream_local_address));
  extra('upstream_service_time', ust);
  extra('downstream_local_address', s(f.downstream_local_address));
  extra('downstream_remote_address', remoteRaw);
  extra('requested_server_name', sni);
  extra('route_name', s(f.route_name));
  extra('authority', s(f.authority));
  extra('x_forwarded_for', xffRaw);
  extra('timestamp_source', timestampSource);
  ecs['envoy'] = envoy;
  if (ctx.kubernetes) ecs['kubernetes'] = ctx.kubernetes;

  // Join keys.
  const join: JoinKeys = { startMs, endMs };
  const requestId = s(f.request_id);
  if (requestId !== undefined) join.requestId = requestId;
  if (traceId) join.traceId = traceId;
  if (spanId) join.spanId = spanId;
  if (parentSpanId) join.parentSpanId = parentSpanId;
  const clientIp = hop.ip ?? remote.ip;
  if (clientIp) join.clientIp = clientIp;
  const cp = hop.ip ? clientPort : remote.port;
  if (cp) join.clientPort = cp;
  const local = addr(s(f.downstream_local_address));
  if (local.ip) join.serverIp = local.ip;
  if (local.port) join.serverPort = local.port;
  if (method !== undefined) join.method = method.toUpperCase();
  if (path !== undefined) join.path = path;

  const ev: ParsedEvent = {
    id,
    source: 'envoy',
    kind: isTcp ? 'tcp' : 'access_log',
    timestamp,
    ecs,
    join,
    claims: identity.claims,
    ref: ctx.index === 0 ? raw.ref : extend(raw.ref, { index: ctx.index }),
  };
  if (identity.tokens.length > 0) ev.tokens = identity.tokens;
  return ev;
}
