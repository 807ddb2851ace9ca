/**
 * OTLP traces → one ParsedEvent per span.
 *
 * Flow: guards (empty / too_large) → pick the wire format → decode to the shared model
 * (proto.ts or json.ts) → validate ids → map each span to ECS, join keys and identity claims.
 *
 * Field choices (ECS-ish; documented here because several have no single obvious home):
 * - `trace.id`, `span.id`, `parent.id` (the Elastic APM field for the parent span), and
 *   `transaction.id` = span id for SERVER/CONSUMER spans and for root spans (the entry of a service).
 * - `span.name`, `span.kind` (lower-case kind name), `otel.scope.{name,version}`, `otel.status_code`.
 * - Protocol version goes to ECS `http.version`, not `network.protocol.version`: ECS `network.protocol`
 *   is a keyword ("http"), so an object under it would clash in an Elasticsearch mapping.
 * - Addresses are kind-aware: on SERVER/INTERNAL/CONSUMER spans the peer is the source (the client);
 *   on CLIENT/PRODUCER spans the peer is the destination (the server called).
 * - Attributes not mapped to ECS go to `otel.attributes` as a flat `{ "dotted.key": value }` object,
 *   capped in count and string length. Map it as `flattened` in Elasticsearch (dotted keys would
 *   otherwise expand into objects and can clash).
 * - Credential-looking attributes (captured Authorization/Cookie headers, *token*, *secret*...) and
 *   credential query parameters in URLs are replaced by `[REDACTED]`.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import {
  ok,
  reject,
  type Ecs,
  type IdentityClaim,
  type JoinKeys,
  type ParsedEvent,
  type ParseResult,
  type RawRecord,
} from '../../model/events';
import { decodeText, splitHostPort } from '../common';
import type { OtlpParserConfig } from './config';
import { decodeTraceRequestJson } from './json';
import {
  DEFAULT_DECODE_LIMITS,
  SPAN_KIND_NAMES,
  type AnyValue,
  type Attributes,
  type DecodeLimits,
  type OtlpResourceSpans,
  type OtlpSpan,
  type OtlpTraceRequest,
} from './model';
import { decodeTraceRequest } from './proto';
import { isSecretAttribute, REDACTED, redactQueryString, redactUrl } from '../redact';
import { extend } from '../../model/extend';

const KIND_SERVER = 2;
const KIND_CLIENT = 3;
const KIND_PRODUCER = 4;
const KIND_CONSUMER = 5;
const STATUS_OK = 1;
const STATUS_ERROR = 2;

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

// Attribute names, new semantic conventions first, then the older names still emitted by many SDKs
// and by Envoy's tracers.
const A = {
  method: ['http.request.method', 'http.method'],
  status: ['http.response.status_code', 'http.status_code'],
  urlFull: ['url.full', 'http.url'],
  urlPath: ['url.path'],
  target: ['http.target'],
  urlQuery: ['url.query'],
  scheme: ['url.scheme', 'http.scheme'],
  domain: ['server.address', 'net.host.name', 'http.host', 'http.server_name'],
  // On SERVER-side spans: who called us.
  peerIp: ['client.address', 'network.peer.address', 'net.sock.peer.addr', 'net.peer.ip', 'http.client_ip', 'peer.address'],
  peerPort: ['client.port', 'network.peer.port', 'net.sock.peer.port', 'net.peer.port'],
  // On SERVER-side spans: us.
  localIp: ['server.address', 'net.host.ip', 'net.sock.host.addr', 'network.local.address'],
  localPort: ['server.port', 'net.host.port', 'net.sock.host.port', 'network.local.port'],
  // On CLIENT-side spans: who we called, and us.
  remoteIp: ['server.address', 'network.peer.address', 'net.peer.name', 'net.peer.ip', 'net.sock.peer.addr', 'peer.address'],
  remotePort: ['server.port', 'network.peer.port', 'net.peer.port', 'net.sock.peer.port'],
  clientLocalIp: ['client.address', 'network.local.address', 'net.sock.host.addr', 'net.host.ip'],
  clientLocalPort: ['client.port', 'network.local.port', 'net.sock.host.port', 'net.host.port'],
  userAgent: ['user_agent.original', 'http.user_agent', 'user_agent'],
  version: ['network.protocol.version', 'http.flavor', 'http.protocol'],
  reqBytes: ['http.request.body.size', 'http.request_content_length'],
  respBytes: ['http.response.body.size', 'http.response_content_length'],
  userId: ['enduser.id', 'user.id'],
  userName: ['user.name'],
  requestId: ['guid:x-request-id', 'http.request.header.x-request-id'],
  grpcStatus: ['rpc.grpc.status_code'],
} as const;

/** Span attributes consumed by the mapping (not repeated under otel.attributes). */
const MAPPED = new Set<string>([...Object.values(A).flat(), 'http.request.method_original']);

export interface MapOptions {
  maxExtraAttributes: number;
  maxValueLength: number;
}

/** Parses one raw record: format detection, decoding, mapping. Never throws on bad input. */
export function parseOtlp(raw: RawRecord, cfg: OtlpParserConfig): ParseResult {
  const value = raw.value;
  const len = value.length;
  if (len === 0) return reject('empty', 'empty message');
  if (len > cfg.maxBytes) return reject('too_large', `message is ${len} bytes, over the ${cfg.maxBytes}-byte limit (maxBytes)`);

  const limits: DecodeLimits = cfg.maxSpans === DEFAULT_DECODE_LIMITS.maxSpans ? DEFAULT_DECODE_LIMITS : { ...DEFAULT_DECODE_LIMITS, maxSpans: cfg.maxSpans };
  let format = cfg.format;
  if (format === 'auto') {
    const first = firstNonSpace(value);
    if (first < 0) return reject('empty', 'message is blank');
    const compressed = sniffCompressed(value);
    if (compressed) return reject('unsupported_format', compressed);
    const c = value[first];
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      // Looks like JSON. But a protobuf request starts with 0x0a ('\n'), and when its first length
      // byte is 0x7b/0x5b (a 123- or 91-byte ResourceSpans) it looks the same: try protobuf first.
      if (first > 0) {
        const res = decodeTraceRequest(value, limits);
        if (res.ok) return mapRequest(res.request, raw, cfg);
      }
      if (c === 0x5b) return reject('unsupported_format', 'payload is a JSON array, not an OTLP ExportTraceServiceRequest object');
      format = 'otlp_json';
    } else format = 'otlp_proto';
  }

  if (format === 'otlp_proto') {
    const compressed = sniffCompressed(value);
    if (compressed) return reject('unsupported_format', compressed);
    const res = decodeTraceRequest(value, limits);
    if (!res.ok) {
      return res.tooLarge
        ? reject('too_large', `${res.reason} (maxSpans)`)
        : reject('invalid_protobuf', `not an OTLP ExportTraceServiceRequest: ${res.reason} at byte offset ${res.offset}`);
    }
    return mapRequest(res.request, raw, cfg);
  }

  // otlp_json: one request, or one request per line (file exporter output handed over whole).
  const text = decodeText(raw, cfg.maxBytes);
  if (typeof text !== 'string') return reject(text.code, text.reason);
  const docs: unknown[] = [];
  try {
    docs.push(JSON.parse(text));
  } catch (e) {
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    if (lines.length < 2) return reject('invalid_json', `invalid JSON: ${(e as Error).message}`);
    for (let i = 0; i < lines.length; i++) {
      try {
        docs.push(JSON.parse(lines[i]!));
      } catch (le) {
        return reject('invalid_json', `invalid JSON on line ${i + 1}: ${(le as Error).message}`);
      }
    }
  }
  const merged: OtlpTraceRequest = { resourceSpans: [] };
  let spans = 0;
  for (const doc of docs) {
    const res = decodeTraceRequestJson(doc, limits);
    if (!res.ok) {
      if (res.tooLarge) return reject('too_large', `${res.reason} (maxSpans)`);
      return res.field === undefined ? reject('invalid_json', res.reason) : reject('invalid_field', res.reason, res.field);
    }
    spans += res.spanCount;
    if (spans > cfg.maxSpans) return reject('too_large', `request holds more than ${cfg.maxSpans} spans (maxSpans)`);
    for (const rs of res.request.resourceSpans) merged.resourceSpans.push(rs);
  }
  return mapRequest(merged, raw, cfg);
}

function firstNonSpace(b: Buffer): number {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && !(c === 0xef && b[i + 1] === 0xbb && b[i + 2] === 0xbf)) return i;
    if (c === 0xef) i += 2; // UTF-8 BOM
  }
  return -1;
}

/** Compressed payloads: recognised, not decoded (Kafka-level compression is the client's job). */
function sniffCompressed(b: Buffer): string | undefined {
  if (b[0] === 0x1f && b[1] === 0x8b) return 'payload is gzip-compressed; decompress it in the source (Kafka compression is handled by the client)';
  if (b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return 'payload is zstd-compressed; decompress it in the source';
  return undefined;
}

/** Validates and maps a decoded request. Exported for tests and for callers that decode themselves. */
export function mapRequest(req: OtlpTraceRequest, raw: RawRecord, opts: MapOptions): ParseResult {
  // Validate every id first: one bad span rejects the whole request (it is one Kafka record).
  for (let r = 0; r < req.resourceSpans.length; r++) {
    const rs = req.resourceSpans[r]!;
    for (let s = 0; s < rs.scopeSpans.length; s++) {
      const spans = rs.scopeSpans[s]!.spans;
      for (let i = 0; i < spans.length; i++) {
        const sp = spans[i]!;
        const where = `resourceSpans[${r}].scopeSpans[${s}].spans[${i}]`;
        if (!TRACE_ID.test(sp.traceId) || sp.traceId === ZERO_TRACE) {
          return reject('invalid_field', `${where}.traceId: ${describeId(sp.traceId)}; want 16 bytes (32 hex chars), not all zero`, 'traceId');
        }
        if (!SPAN_ID.test(sp.spanId) || sp.spanId === ZERO_SPAN) {
          return reject('invalid_field', `${where}.spanId: ${describeId(sp.spanId)}; want 8 bytes (16 hex chars), not all zero`, 'spanId');
        }
        if (sp.parentSpanId !== '' && !SPAN_ID.test(sp.parentSpanId)) {
          return reject('invalid_field', `${where}.parentSpanId: ${describeId(sp.parentSpanId)}; want 8 bytes (16 hex chars) or empty for a root span`, 'parentSpanId');
        }
      }
    }
  }

  const events: ParsedEvent[] = [];
  let index = 0;
  let ids: ((index: number) => string) | undefined;
  for (const rs of req.resourceSpans) {
    const res = resourceFields(rs);
    for (const ss of rs.scopeSpans) {
      for (const sp of ss.spans) {
        ids ??= spanEventIds(raw);
        events.push(mapSpan(sp, ss.scopeName, ss.scopeVersion, res, raw, ids(index), index, opts));
        index++;
      }
    }
  }
  return ok(events);
}

/**
 * Deterministic per-span event ids: same record → same ids, distinct per span index.
 *
 * Why not `eventId(raw, index)` from common.ts: it hashes the whole record for every index, which
 * is O(spans × bytes) per request (a 1 MB, 2 000-span request hashes 2 GB; a Collector batch of
 * 8 192 spans far more). Here the record is hashed once and each id hashes (source, index, digest).
 */
export function spanEventIds(raw: RawRecord): (index: number) => string {
  const digest = createHash('sha256').update(raw.value).digest();
  const prefix = `${raw.ref.source}|`;
  return (index) => createHash('sha256').update(`${prefix}${index}|`).update(digest).digest('base64url').slice(0, 22);
}

function describeId(id: string): string {
  if (id === '') return 'missing';
  const shown = id.length > 40 ? `${id.slice(0, 40)}…` : id;
  return `invalid id "${shown}"`;
}

// ---------------------------------------------------------------------------------------------
// Resource

/** Resource attribute values used by the mapping, read once per ResourceSpans. */
interface ResourceValues {
  serviceName: string;
  serviceNamespace: string;
  serviceVersion: string;
  serviceInstanceId: string;
  hostName: string;
  hostId: string;
  k8sNamespace: string;
  k8sCluster: string;
  k8sPod: string;
  k8sPodUid: string;
  k8sNode: string;
  k8sDeployment: string;
  containerId: string;
}

function resourceFields(rs: OtlpResourceSpans): ResourceValues {
  const a = rs.resource;
  return {
    serviceName: str(a.get('service.name')),
    serviceNamespace: str(a.get('service.namespace')),
    serviceVersion: str(a.get('service.version')),
    serviceInstanceId: str(a.get('service.instance.id')),
    hostName: str(a.get('host.name')),
    hostId: str(a.get('host.id')),
    k8sNamespace: str(a.get('k8s.namespace.name')),
    k8sCluster: str(a.get('k8s.cluster.name')),
    k8sPod: str(a.get('k8s.pod.name')),
    k8sPodUid: str(a.get('k8s.pod.uid')),
    k8sNode: str(a.get('k8s.node.name')),
    k8sDeployment: str(a.get('k8s.deployment.name')),
    containerId: str(a.get('container.id')),
  };
}

/** Adds service / host / orchestrator / kubernetes / container: fresh objects per event, never shared. */
function applyResource(ecs: Ecs, r: ResourceValues): void {
  if (r.serviceName || r.serviceNamespace || r.serviceVersion || r.serviceInstanceId) {
    const service: Ecs = {};
    if (r.serviceName) service['name'] = r.serviceName;
    if (r.serviceNamespace) service['namespace'] = r.serviceNamespace;
    if (r.serviceVersion) service['version'] = r.serviceVersion;
    if (r.serviceInstanceId) service['instance'] = { id: r.serviceInstanceId };
    ecs['service'] = service;
  }
  if (r.hostName || r.hostId) {
    const host: Ecs = {};
    if (r.hostName) host['name'] = r.hostName;
    if (r.hostId) host['id'] = r.hostId;
    ecs['host'] = host;
  }
  if (r.k8sNamespace || r.k8sCluster || r.k8sPod) {
    const orch: Ecs = { type: 'kubernetes' };
    if (r.k8sNamespace) orch['namespace'] = r.k8sNamespace;
    if (r.k8sCluster) orch['cluster'] = { name: r.k8sCluster };
    ecs['orchestrator'] = orch;
    const k8s: Ecs = {};
    if (r.k8sNamespace) k8s['namespace'] = r.k8sNamespace;
    if (r.k8sPod) k8s['pod'] = r.k8sPodUid ? { name: r.k8sPod, uid: r.k8sPodUid } : { name: r.k8sPod };
    if (r.k8sNode) k8s['node'] = { name: r.k8sNode };
    if (r.k8sDeployment) k8s['deployment'] = { name: r.k8sDeployment };
    ecs['kubernetes'] = k8s;
  }
  if (r.containerId) ecs['container'] = { id: r.containerId };
}

// ---------------------------------------------------------------------------------------------
// Span

function mapSpan(
  sp: OtlpSpan,
  scopeName: string,
  scopeVersion: string,
  res: ResourceValues,
  raw: RawRecord,
  id: string,
  index: number,
  opts: MapOptions,
): ParsedEvent {
  const a = sp.attributes;
  const parent = sp.parentSpanId !== '' && sp.parentSpanId !== ZERO_SPAN ? sp.parentSpanId : undefined;
  const kindName = SPAN_KIND_NAMES[sp.kind] ?? 'unspecified';
  const clientSide = sp.kind === KIND_CLIENT || sp.kind === KIND_PRODUCER;

  // Time: start/end nanoseconds → ms (ISO) and duration in ns.
  const hasStart = sp.startTimeUnixNano > 0n;
  const startMs = hasStart ? Number(sp.startTimeUnixNano / 1_000_000n) : raw.receivedAtMs;
  const durNs = hasStart && sp.endTimeUnixNano >= sp.startTimeUnixNano ? Number(sp.endTimeUnixNano - sp.startTimeUnixNano) : undefined;
  const endMs = durNs === undefined ? startMs : Number(sp.endTimeUnixNano / 1_000_000n);

  // HTTP
  let method = str(first(a, A.method));
  if (method === '_OTHER') method = str(a.get('http.request.method_original')) || method;
  const status = int(first(a, A.status));
  const urlFull = str(first(a, A.urlFull));
  const target = str(first(a, A.target));
  const path = str(first(a, A.urlPath)) || pathOf(target) || pathOfUrl(urlFull);
  const grpc = int(first(a, A.grpcStatus));

  const event: Ecs = { kind: 'event', dataset: 'otlp.span', outcome: outcomeOf(sp.statusCode, status, grpc) };
  if (durNs !== undefined) event['duration'] = durNs;
  if (method || status !== undefined || urlFull || target) event['category'] = ['web'];

  const span: Ecs = { id: sp.spanId, kind: kindName };
  if (sp.name) span['name'] = cut(sp.name.includes('?') ? redactUrl(sp.name) : sp.name, opts.maxValueLength);
  const ecs: Ecs = { event, trace: { id: sp.traceId }, span };
  if (parent) ecs['parent'] = { id: parent };
  if (sp.kind === KIND_SERVER || sp.kind === KIND_CONSUMER || !parent) ecs['transaction'] = { id: sp.spanId };
  applyResource(ecs, res);

  const requestId = str(first(a, A.requestId));
  if (method || status !== undefined || requestId) {
    const request: Ecs = {};
    const response: Ecs = {};
    if (method) request['method'] = method;
    if (requestId) request['id'] = requestId;
    const reqBytes = int(first(a, A.reqBytes));
    if (reqBytes !== undefined) request['body'] = { bytes: reqBytes };
    if (status !== undefined) response['status_code'] = status;
    const respBytes = int(first(a, A.respBytes));
    if (respBytes !== undefined) response['body'] = { bytes: respBytes };
    const http: Ecs = { request };
    if (status !== undefined || respBytes !== undefined) http['response'] = response;
    const v = httpVersion(str(first(a, A.version)));
    if (v) http['version'] = v;
    ecs['http'] = http;
  }

  // URL
  const url: Ecs = {};
  if (urlFull) url['full'] = cut(redactUrl(urlFull), opts.maxValueLength);
  if (path) url['path'] = cut(path, opts.maxValueLength);
  const query = str(first(a, A.urlQuery)) || queryOf(target);
  if (query) url['query'] = cut(redactQueryString(query.startsWith('?') ? query.slice(1) : query), opts.maxValueLength);
  const scheme = str(first(a, A.scheme)) || schemeOf(urlFull);
  if (scheme) url['scheme'] = scheme;
  const domain = hostOnly(str(first(a, A.domain))) || hostOfUrl(urlFull);
  if (domain) url['domain'] = domain;
  if (Object.keys(url).length) ecs['url'] = url;

  // Network endpoints, kind-aware.
  const peer = endpoint(a, clientSide ? A.clientLocalIp : A.peerIp, clientSide ? A.clientLocalPort : A.peerPort);
  const local = endpoint(a, clientSide ? A.remoteIp : A.localIp, clientSide ? A.remotePort : A.localPort);
  if (peer) ecs['source'] = peer;
  if (local) ecs['destination'] = local;

  const ua = str(first(a, A.userAgent));
  if (ua) ecs['user_agent'] = { original: cut(ua, opts.maxValueLength) };

  // User (asserted by the application, never verified).
  const userId = str(first(a, A.userId));
  const userName = str(first(a, A.userName));
  if (userId || userName) {
    const user: Ecs = {};
    if (userId) user['id'] = userId;
    if (userName) user['name'] = userName;
    ecs['user'] = user;
  }

  // Errors: status message, or the recorded exception event.
  let errType: string | undefined;
  let errMsg = sp.statusCode === STATUS_ERROR ? sp.statusMessage : '';
  for (const ev of sp.events) {
    if (ev.name !== 'exception') continue;
    errType = str(ev.attributes.get('exception.type')) || errType;
    errMsg = str(ev.attributes.get('exception.message')) || errMsg;
  }
  if (errType || errMsg) {
    const error: Ecs = {};
    if (errType) error['type'] = cut(errType, opts.maxValueLength);
    if (errMsg) error['message'] = cut(errMsg, opts.maxValueLength);
    ecs['error'] = error;
  }

  const otel: Ecs = {};
  if (scopeName || scopeVersion) otel['scope'] = scopeVersion ? { name: scopeName, version: scopeVersion } : { name: scopeName };
  if (sp.statusCode === STATUS_OK) otel['status_code'] = 'OK';
  else if (sp.statusCode === STATUS_ERROR) otel['status_code'] = 'ERROR';
  if (sp.links.length) {
    const links: Ecs[] = [];
    for (const l of sp.links) {
      if (links.length >= 8) break;
      if (TRACE_ID.test(l.traceId) && SPAN_ID.test(l.spanId)) links.push({ trace: { id: l.traceId }, span: { id: l.spanId } });
    }
    if (links.length) otel['links'] = links;
  }
  const extra = extraAttributes(a, opts);
  if (extra) otel['attributes'] = extra;
  if (Object.keys(otel).length) ecs['otel'] = otel;

  // Join keys.
  const join: JoinKeys = { traceId: sp.traceId, spanId: sp.spanId, startMs, endMs };
  if (parent) join.parentSpanId = parent;
  if (requestId) join.requestId = requestId;
  if (peer?.['ip'] !== undefined) join.clientIp = peer['ip'] as string;
  if (peer?.['port'] !== undefined) join.clientPort = peer['port'] as number;
  if (local?.['ip'] !== undefined) join.serverIp = local['ip'] as string;
  if (local?.['port'] !== undefined) join.serverPort = local['port'] as number;
  if (method) join.method = method;
  if (path) join.path = path;

  const claims: IdentityClaim[] = [];
  if (userId) {
    claims.push({ method: 'otel_enduser', subject: userId, source: 'otlp', strength: 'asserted', verdict: 'unverifiable', eventId: id });
  }

  return {
    id,
    source: 'otlp',
    kind: 'span',
    timestamp: new Date(startMs).toISOString(),
    ecs,
    join,
    claims,
    ref: extend(raw.ref, { index }),
  };
}

function outcomeOf(statusCode: number, http: number | undefined, grpc: number | undefined): 'success' | 'failure' | 'unknown' {
  if (statusCode === STATUS_ERROR) return 'failure';
  if (http !== undefined && http > 0) return http < 400 ? 'success' : 'failure';
  if (grpc !== undefined) return grpc === 0 ? 'success' : 'failure';
  if (statusCode === STATUS_OK) return 'success';
  return 'unknown';
}

/** `{ ip?, port?, domain? }` from the first address attribute and the first port attribute. */
function endpoint(a: Attributes, ipKeys: readonly string[], portKeys: readonly string[]): Ecs | undefined {
  let out: Ecs | undefined;
  for (const k of ipKeys) {
    const v = str(a.get(k));
    if (!v) continue;
    const hp = splitHostPort(v);
    const host = hp.ip ?? v;
    out = {};
    if (isIP(host)) out['ip'] = host;
    else out['domain'] = host;
    if (hp.port !== undefined) out['port'] = hp.port;
    break;
  }
  for (const k of portKeys) {
    const p = int(a.get(k));
    if (p !== undefined && p >= 0 && p <= 65535) {
      out = out ?? {};
      out['port'] = p;
      break;
    }
  }
  return out;
}

/** Unmapped span attributes, flattened, redacted and capped. */
function extraAttributes(a: Attributes, opts: MapOptions): Ecs | undefined {
  if (opts.maxExtraAttributes === 0 || a.size === 0) return undefined;
  let out: Ecs | undefined;
  let n = 0;
  let dropped = 0;
  const add = (key: string, v: unknown): void => {
    if (key === '__proto__') return;
    if (n >= opts.maxExtraAttributes) {
      dropped++;
      return;
    }
    out = out ?? {};
    out[key] = v;
    n++;
  };
  const visit = (key: string, v: AnyValue, depth: number): void => {
    if (v === null) return;
    if (typeof v === 'string') add(key, isSecretAttribute(key) ? REDACTED : cut(v, opts.maxValueLength));
    else if (typeof v === 'number' || typeof v === 'boolean') add(key, v);
    else if (Array.isArray(v)) {
      if (isSecretAttribute(key)) add(key, REDACTED);
      else add(key, flatArray(v, opts.maxValueLength));
    } else if (depth < 4) {
      for (const [k, vv] of v) visit(`${key}.${k}`, vv, depth + 1);
    }
  };
  for (const [k, v] of a) {
    if (MAPPED.has(k)) continue;
    visit(k, v, 0);
  }
  if (out && dropped) out['otel.dropped_attributes'] = dropped;
  return out;
}

/** Primitive arrays are kept (strings cut); nested values become JSON text. */
function flatArray(v: AnyValue[], max: number): unknown[] {
  const out: unknown[] = [];
  for (const x of v) {
    if (out.length >= 32) break;
    if (x === null || typeof x === 'number' || typeof x === 'boolean') out.push(x);
    else if (typeof x === 'string') out.push(cut(x, max));
    else out.push(cut(JSON.stringify(toJson(x)), max));
  }
  return out;
}

function toJson(v: AnyValue): unknown {
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) if (k !== '__proto__') o[k] = toJson(x);
    return o;
  }
  if (Array.isArray(v)) return v.map(toJson);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Small value helpers

function first(a: Attributes, keys: readonly string[]): AnyValue | undefined {
  for (let i = 0; i < keys.length; i++) {
    const v = a.get(keys[i]!);
    if (v !== undefined && v !== null && v !== '') return v;
  }
  return undefined;
}

/** String form of a scalar; first element of an array (captured headers are string[]). */
function str(v: AnyValue | undefined): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.length > 0) return str(v[0]);
  return '';
}

const INT = /^\s*\d{1,15}\s*$/;

function int(v: AnyValue | undefined): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? v : undefined;
  if (typeof v === 'string' && INT.test(v)) return Number(v);
  if (Array.isArray(v) && v.length > 0) return int(v[0]);
  return undefined;
}

const cut = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max)}…` : s);

function pathOf(target: string): string {
  if (!target) return '';
  const q = target.search(/[?#]/);
  return q < 0 ? target : target.slice(0, q);
}

function queryOf(target: string): string {
  const q = target.indexOf('?');
  if (q < 0) return '';
  const h = target.indexOf('#', q);
  return h < 0 ? target.slice(q + 1) : target.slice(q + 1, h);
}

function pathOfUrl(url: string): string {
  if (!url) return '';
  const s = url.indexOf('://');
  if (s < 0) return url.startsWith('/') ? pathOf(url) : '';
  const p = url.slice(s + 3).search(/[/?#]/);
  if (p < 0) return '/';
  const rest = url.slice(s + 3 + p);
  return rest.startsWith('/') ? pathOf(rest) : '/';
}

function schemeOf(url: string): string {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url);
  return m ? m[1]!.toLowerCase() : '';
}

function hostOfUrl(url: string): string {
  const s = url.indexOf('://');
  if (s < 0) return '';
  let authority = url.slice(s + 3);
  const e = authority.search(/[/?#]/);
  if (e >= 0) authority = authority.slice(0, e);
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1); // never keep userinfo (it can hold a password)
  return hostOnly(authority);
}

/** Host without port; IPv6 brackets removed. */
function hostOnly(v: string): string {
  if (!v) return '';
  const hp = splitHostPort(v);
  return hp.ip ?? v;
}

function httpVersion(v: string): string {
  if (!v) return '';
  const m = /^(?:HTTP\/)?(\d(?:\.\d)?)$/i.exec(v.trim());
  return m ? m[1]! : '';
}
