/**
 * Tyk analytics records → one ParsedEvent each.
 *
 * Input: the JSON object Tyk Pump's Kafka pump writes (20 keys, request time under
 * `request_time_ms`, plus pump `meta_data` keys at top level), or the fuller `AnalyticsRecord`
 * other pumps serialise (`request_time`, `geo`, `latency`, `network`, `track_path`, `expireAt`...).
 *
 * Secrets: `api_key` is kept only as a SHA-256 fingerprint (`tyk.api_key_sha256`);
 * `raw_request` / `raw_response` are never kept; headers taken from `raw_request` are redacted;
 * a bearer JWT goes to `event.tokens` (for verification, never stored) and is named in the claim
 * only by its SHA-256.
 * Only a record that is not a JSON object, or lacks a usable `timestamp`/`method`, is rejected: a
 * bad `raw_request` is noted in `tyk.raw_request_error` and the record kept.
 */
import { isIP } from 'node:net';
import { ok, reject, type Ecs, type IdentityClaim, type JoinKeys, type ParseResult, type RawRecord } from '../../model/events';
import {
  decodeJsonB64,
  decodeText,
  eventId,
  normalizeSpanId,
  normalizeTraceId,
  outcomeFromStatus,
  parseB3Single,
  parseTraceparent,
  sha256Hex,
  splitHostPort,
} from '../common';
import type { TykParserConfig } from './config';
import { decodeRawRequest, type RawHttpRequest } from './rawhttp';
import { isSecretHeader, REDACTED, redactUrl } from '../redact';

type Obj = Record<string, unknown>;

/** Keys of the Kafka pump map and of `AnalyticsRecord`; anything else at top level is pump `meta_data`. */
const KNOWN_KEYS = new Set([
  'timestamp', 'method', 'path', 'raw_path', 'response_code', 'alias', 'api_key', 'api_version', 'api_name',
  'api_id', 'org_id', 'oauth_id', 'raw_request', 'request_time_ms', 'raw_response', 'ip_address', 'host',
  'content_length', 'user_agent', 'tags', 'day', 'month', 'year', 'hour', 'request_time', 'geo', 'network',
  'latency', 'track_path', 'expireAt', 'api_schema', 'original_path', 'listen_path', 'graphql_stats',
  'mcp_stats', '_id', 'time_zone',
]);

/** RFC 3339 as Go's time.Time JSON encoding writes it (fraction optional, any precision). */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const LABEL_KEY = /^[A-Za-z0-9_.@-]{1,64}$/;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export function parseTyk(raw: RawRecord, cfg: TykParserConfig): ParseResult {
  const text = decodeText(raw, cfg.maxBytes);
  if (typeof text !== 'string') return reject(text.code, text.reason);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return reject('invalid_json', `invalid JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return reject('invalid_json', `expected a Tyk analytics record (JSON object), got ${doc === null ? 'null' : Array.isArray(doc) ? 'an array' : typeof doc}`);
  }
  const r = doc as Obj;

  // Required: timestamp and method.
  const tsRaw = r['timestamp'];
  if (tsRaw === undefined || tsRaw === null || tsRaw === '') return reject('missing_field', 'record has no timestamp', 'timestamp');
  const startMs = parseTimestamp(tsRaw);
  if (startMs === undefined) {
    return reject('invalid_field', `timestamp ${JSON.stringify(tsRaw).slice(0, 60)} is not an RFC 3339 time (e.g. 2024-05-01T10:00:00.123Z)`, 'timestamp');
  }
  const methodRaw = r['method'];
  if (methodRaw === undefined || methodRaw === null || methodRaw === '') return reject('missing_field', 'record has no method', 'method');
  if (typeof methodRaw !== 'string' || !/^[A-Za-z][A-Za-z0-9_-]{0,31}$/.test(methodRaw)) {
    return reject('invalid_field', `method ${JSON.stringify(methodRaw).slice(0, 40)} is not an HTTP method token`, 'method');
  }
  const method = methodRaw.toUpperCase();
  const id = eventId(raw);
  const max = cfg.maxValueLength;

  // Request details from raw_request (optional; errors are noted, not fatal).
  const tyk: Obj = {};
  let req: RawHttpRequest | undefined;
  const rawReq = r['raw_request'];
  if (typeof rawReq === 'string' && rawReq !== '') {
    const res = decodeRawRequest(rawReq, cfg.maxHeadBytes);
    if (res?.ok) {
      req = res.request;
      tyk['raw_request_encoding'] = req.encoding;
      if (req.truncated) tyk['raw_request_truncated'] = true;
    } else if (res) tyk['raw_request_error'] = `${res.code}: ${res.reason}`;
  } else if (rawReq !== undefined && rawReq !== null && rawReq !== '') {
    tyk['raw_request_error'] = `invalid_field: raw_request is ${typeof rawReq}, not a string`;
  }
  const h = req?.headers;

  // Core fields.
  const path = cut(stripQuery(str(r['path'])), max);
  const rawPath = str(r['raw_path']);
  const status = intIn(r['response_code'], 100, 999);
  const durationMs = firstNonNegative(r['request_time_ms'], r['request_time'], isObj(r['latency']) ? r['latency']['total'] : undefined);
  const ip = str(r['ip_address']);
  const hostHP = splitHostPort(str(r['host']));
  const contentLength = intIn(r['content_length'], 0, Number.MAX_SAFE_INTEGER);
  const userAgent = str(r['user_agent']) || h?.get('user-agent') || '';
  const requestId = h?.get('x-request-id')?.trim().slice(0, 256) ?? '';

  const event: Ecs = { kind: 'event', category: ['web'], type: ['access'], dataset: 'tyk.analytics', outcome: outcomeFromStatus(status) };
  if (durationMs !== undefined) event['duration'] = Math.round(durationMs * 1e6);

  const request: Ecs = { method };
  if (requestId) request['id'] = requestId;
  if (contentLength !== undefined) request['body'] = { bytes: contentLength };
  const kept = h ? keptHeaders(h, cfg) : undefined;
  if (kept) request['headers'] = kept;
  const http: Ecs = { request };
  if (status !== undefined) http['response'] = { status_code: status };
  if (req?.version) http['version'] = req.version;

  const ecs: Ecs = { event, http };
  const url: Ecs = {};
  if (path) url['path'] = path;
  if (rawPath) url['original'] = cut(redactUrl(rawPath), max);
  if (hostHP.ip) url['domain'] = hostHP.ip;
  if (hostHP.port !== undefined) url['port'] = hostHP.port;
  if (Object.keys(url).length) ecs['url'] = url;

  const source: Ecs = {};
  const ipHP = splitHostPort(ip);
  const sourceIp = ipHP.ip && isIP(ipHP.ip) ? ipHP.ip : undefined;
  if (sourceIp) source['ip'] = sourceIp;
  else if (ip) source['address'] = cut(ip, 256);
  const geo = geoOf(r['geo']);
  if (geo) source['geo'] = geo;
  if (Object.keys(source).length) ecs['source'] = source;

  // First hop of X-Forwarded-For: the original client (as claimed by the proxies in front).
  const xff = firstForwardedFor(h?.get('x-forwarded-for'));
  if (xff) ecs['client'] = { ip: xff };
  if (userAgent) ecs['user_agent'] = { original: cut(userAgent, max) };
  const apiName = str(r['api_name']);
  if (apiName) ecs['service'] = { name: apiName };

  // tyk.*
  putStr(tyk, 'api_id', r['api_id']);
  putStr(tyk, 'api_name', r['api_name']);
  putStr(tyk, 'api_version', r['api_version']);
  putStr(tyk, 'org_id', r['org_id']);
  putStr(tyk, 'oauth_id', r['oauth_id']);
  const apiKey = str(r['api_key']);
  // An alias equal to the key itself (seen when keys are created without one) would leak the key.
  const alias = str(r['alias']) === apiKey ? '' : str(r['alias']);
  putStr(tyk, 'alias', alias);
  putStr(tyk, 'original_path', r['original_path']);
  putStr(tyk, 'listen_path', r['listen_path']);
  if (apiKey) tyk['api_key_sha256'] = sha256Hex(apiKey);
  if (Array.isArray(r['tags'])) {
    const tags = (r['tags'] as unknown[]).filter((t): t is string => typeof t === 'string' && t !== '').slice(0, 64).map((t) => cut(t, 256));
    if (tags.length) tyk['tags'] = tags;
  }
  const latency = numbersOf(r['latency'], ['total', 'upstream', 'gateway']);
  if (latency) tyk['latency'] = latency;
  const network = numbersOf(r['network'], ['open_connections', 'closed_connections', 'bytes_in', 'bytes_out']);
  if (network) tyk['network'] = network;
  if (typeof r['track_path'] === 'boolean') tyk['track_path'] = r['track_path'];
  if (r['expireAt'] !== undefined) {
    const exp = parseTimestamp(r['expireAt']);
    if (exp !== undefined) tyk['expire_at'] = new Date(exp).toISOString();
  }
  if (Object.keys(tyk).length) ecs['tyk'] = tyk;

  const labels = labelsOf(r, cfg.maxLabels, max);
  if (labels) ecs['labels'] = labels;

  // Join keys.
  const join: JoinKeys = { method, startMs, endMs: durationMs !== undefined ? startMs + Math.round(durationMs) : startMs };
  if (path) join.path = path;
  const clientIp = xff ?? sourceIp;
  if (clientIp) join.clientIp = clientIp;
  if (requestId) join.requestId = requestId;
  if (h) {
    const trace = traceOf(h);
    if (trace.traceId) join.traceId = trace.traceId;
    if (trace.spanId) join.spanId = trace.spanId;
  }

  // Identity claims.
  const claims: IdentityClaim[] = [];
  if (alias) {
    claims.push({ method: 'tyk_key', subject: alias, source: 'tyk', strength: 'gateway', verdict: 'unverifiable', eventId: id });
  }
  const oauthId = str(r['oauth_id']);
  if (oauthId) {
    claims.push({ method: 'tyk_oauth', subject: oauthId, source: 'tyk', strength: 'gateway', verdict: 'unverifiable', eventId: id });
  }
  let tokens: string[] | undefined;
  const bearer = bearerJwt(h?.get('authorization'));
  if (bearer) {
    tokens = [bearer.token];
    claims.push({ method: 'jwt', subject: bearer.sub, source: 'tyk', strength: 'jwt', tokenSha256: sha256Hex(bearer.token), eventId: id });
  }

  return ok([
    {
      id,
      source: 'tyk',
      kind: 'analytics',
      timestamp: new Date(startMs).toISOString(),
      ecs,
      join,
      claims,
      ...(tokens ? { tokens } : {}),
      ref: raw.ref,
    },
  ]);
}

// ---------------------------------------------------------------------------------------------

/** ms since epoch from an RFC 3339 string; undefined when malformed or Go's zero time. */
function parseTimestamp(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const m = RFC3339.exec(v.trim());
  if (!m) return undefined;
  const [, y, mo, d, hh, mi, ss] = m;
  if (Number(mo) < 1 || Number(mo) > 12 || Number(d) < 1 || Number(d) > 31 || Number(hh) > 23 || Number(mi) > 59 || Number(ss) > 60) {
    return undefined;
  }
  if (Number(y) < 1970) return undefined; // 0001-01-01T00:00:00Z is Go's zero time: "not set"
  const ms = Date.parse(v.trim().replace(' ', 'T'));
  return Number.isFinite(ms) ? ms : undefined;
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function putStr(o: Obj, k: string, v: unknown): void {
  if (typeof v === 'string' && v !== '') o[k] = cut(v, 512);
}

function intIn(v: unknown, min: number, max: number): number | undefined {
  const n = typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max ? n : undefined;
}

function firstNonNegative(...vs: unknown[]): number | undefined {
  for (const v of vs) if (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 1e12) return v;
  return undefined;
}

const cut = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max)}…` : s);

function stripQuery(p: string): string {
  const q = p.search(/[?#]/);
  return q < 0 ? p : p.slice(0, q);
}

function numbersOf(v: unknown, keys: string[]): Obj | undefined {
  if (!isObj(v)) return undefined;
  let out: Obj | undefined;
  for (const k of keys) {
    const n = v[k];
    if (typeof n === 'number' && Number.isFinite(n)) (out ??= {})[k] = n;
  }
  return out;
}

/** ECS source.geo from Tyk's GeoData; Tyk writes an empty struct (zeros, '') when GeoIP is off. */
function geoOf(v: unknown): Obj | undefined {
  if (!isObj(v)) return undefined;
  const geo: Obj = {};
  const country = isObj(v['country']) ? v['country'] : {};
  const city = isObj(v['city']) ? v['city'] : {};
  const loc = isObj(v['location']) ? v['location'] : {};
  const iso = str(country['iso_code']);
  if (iso) geo['country_iso_code'] = iso;
  const names = isObj(city['names']) ? city['names'] : {};
  const cityName = str(names['en']) || Object.values(names).find((x): x is string => typeof x === 'string' && x !== '');
  if (cityName) geo['city_name'] = cityName;
  const lat = loc['latitude'];
  const lon = loc['longitude'];
  if (typeof lat === 'number' && typeof lon === 'number' && (lat !== 0 || lon !== 0) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) {
    geo['location'] = { lat, lon };
  }
  const tz = str(loc['time_zone']);
  if (tz) geo['timezone'] = tz;
  return Object.keys(geo).length ? geo : undefined;
}

function keptHeaders(h: Map<string, string>, cfg: TykParserConfig): Obj | undefined {
  const all = cfg.keepRequestHeaders.includes('*');
  if (!all && cfg.keepRequestHeaders.length === 0) return undefined;
  let out: Obj | undefined;
  let n = 0;
  for (const [name, value] of h) {
    if (n >= 64) break;
    if (!all && !cfg.keepRequestHeaders.includes(name)) continue;
    if (name === '__proto__') continue;
    (out ??= {})[name] = isSecretHeader(name) ? REDACTED : cut(redactUrlIfTarget(name, value), cfg.maxValueLength);
    n++;
  }
  return out;
}

/** Referer / Origin-like headers can carry URLs with credentials in the query. */
function redactUrlIfTarget(name: string, value: string): string {
  return name === 'referer' || name === 'origin' || name === 'location' ? redactUrl(value) : value;
}

function firstForwardedFor(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const hop = v.split(',')[0]!.trim();
  const hp = splitHostPort(hop);
  return hp.ip && isIP(hp.ip) ? hp.ip : undefined;
}

function traceOf(h: Map<string, string>): { traceId?: string; spanId?: string } {
  const tp = parseTraceparent(h.get('traceparent'));
  if (tp) return tp;
  const b3 = parseB3Single(h.get('b3'));
  if (b3) return b3;
  const traceId = normalizeTraceId(h.get('x-b3-traceid'));
  if (!traceId) return {};
  const spanId = normalizeSpanId(h.get('x-b3-spanid'));
  return spanId ? { traceId, spanId } : { traceId };
}

/** A bearer token that has the shape of a JWT (a Tyk key sent as Bearer is not one). */
function bearerJwt(v: string | undefined): { token: string; sub: string } | undefined {
  if (!v) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(v);
  if (!m) return undefined;
  const token = m[1]!;
  if (!JWT.test(token)) return undefined;
  const [header, payload] = token.split('.');
  const hdr = decodeJsonB64(header!);
  if (!hdr || typeof hdr['alg'] !== 'string') return undefined;
  const claims = decodeJsonB64(payload!);
  const sub = claims && typeof claims['sub'] === 'string' ? claims['sub'] : '';
  return { token, sub };
}

function labelsOf(r: Obj, maxLabels: number, max: number): Obj | undefined {
  if (maxLabels === 0) return undefined;
  let out: Obj | undefined;
  let n = 0;
  for (const k of Object.keys(r)) {
    if (KNOWN_KEYS.has(k) || !LABEL_KEY.test(k) || k === '__proto__') continue;
    const v = r[k];
    if (typeof v !== 'string' || v === '') continue;
    if (n >= maxLabels) break;
    (out ??= {})[k] = cut(v, max);
    n++;
  }
  return out;
}
