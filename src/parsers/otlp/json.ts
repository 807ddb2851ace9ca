/**
 * OTLP/JSON `ExportTraceServiceRequest` → the shared model (model.ts).
 *
 * Rules from the OTLP specification ("JSON Protobuf Encoding"): lowerCamelCase keys; trace/span ids
 * are case-insensitive hex (not base64); enums are integers; 64-bit integers are decimal strings,
 * and receivers also accept numbers; unknown fields are ignored.
 * Leniencies, each cheap and each seen in the wild: enum names as strings (`"SPAN_KIND_SERVER"`),
 * base64 ids (the generic protobuf JSON mapping some old exporters used), snake_case keys, and the
 * pre-1.0 `instrumentationLibrarySpans` / `instrumentationLibrary` names.
 */
import {
  DEFAULT_DECODE_LIMITS,
  type AnyValue,
  type Attributes,
  type DecodeLimits,
  type OtlpLink,
  type OtlpResourceSpans,
  type OtlpScopeSpans,
  type OtlpSpan,
  type OtlpSpanEvent,
  type OtlpTraceRequest,
} from './model';

/** A shape error: `path` names the offending field, e.g. `resourceSpans[0].scopeSpans[1].spans[3].startTimeUnixNano`. */
class JsonShapeError extends Error {
  constructor(
    readonly path: string,
    readonly field: string,
    reason: string,
    readonly tooLarge = false,
  ) {
    super(`${path}: ${reason}`);
  }
}

export type JsonDecodeResult =
  | { ok: true; request: OtlpTraceRequest; spanCount: number }
  | { ok: false; reason: string; field?: string; tooLarge: boolean };

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads `o[camel]`, falling back to `o[snake]` (protobuf JSON parsers accept both). */
function get(o: Obj, camel: string, snake?: string): unknown {
  const v = o[camel];
  return v === undefined && snake !== undefined ? o[snake] : v;
}

class Ctx {
  spans = 0;
  constructor(readonly limits: DecodeLimits) {}
}

function arr(o: Obj, path: string, camel: string, snake?: string): unknown[] {
  const v = get(o, camel, snake);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new JsonShapeError(`${path}.${camel}`, camel, `expected an array, got ${typeName(v)}`);
  return v;
}

function obj(v: unknown, path: string, field: string): Obj | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw new JsonShapeError(path, field, `expected an object, got ${typeName(v)}`);
  return v;
}

function str(v: unknown, path: string, field: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new JsonShapeError(path, field, `expected a string, got ${typeName(v)}`);
  return v;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
}

const DEC = /^\s*-?\d{1,20}\s*$/;

/** uint64 nanoseconds from a decimal string or a number. */
function nanos(v: unknown, path: string, field: string): bigint {
  if (v === undefined || v === null || v === '') return 0n;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) {
    // A JSON number above 2^53 has already lost precision; its shortest decimal form is most
    // likely what the sender wrote (1714557600010000000, not 1714557600009999872).
    const t = Math.trunc(v);
    const d = String(t);
    const b = /^\d+$/.test(d) ? BigInt(d) : BigInt(t);
    if (b < 1n << 64n) return b;
  }
  if (typeof v === 'string' && DEC.test(v)) {
    const b = BigInt(v.trim());
    if (b >= 0n && b < 1n << 64n) return b;
  }
  throw new JsonShapeError(path, field, `expected unsigned 64-bit nanoseconds (string or number), got ${typeName(v)}`);
}

/** uint32/int32 (counts, flags). */
function int32(v: unknown, path: string, field: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && DEC.test(v)) return Number(v);
  throw new JsonShapeError(path, field, `expected an integer, got ${typeName(v)}`);
}

const SPAN_KINDS: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};
const STATUS_CODES: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 };

function enumValue(v: unknown, names: Record<string, number>, path: string, field: string): number {
  if (typeof v === 'string' && Object.prototype.hasOwnProperty.call(names, v)) return names[v]!;
  return int32(v, path, field);
}

const HEX = /^[0-9a-fA-F]*$/;
const B64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * An id as lower-case hex. Hex (any case) is taken as is; a non-hex string that is base64 of
 * exactly `bytes` bytes is converted; anything else is returned lower-cased so the mapper's
 * validation names it.
 */
function id(v: unknown, bytes: number, path: string, field: string): string {
  const s = str(v, path, field).trim();
  if (s === '') return '';
  if (HEX.test(s) && s.length === bytes * 2) return s.toLowerCase();
  if (B64.test(s)) {
    const b = Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (b.length === bytes) return b.toString('hex');
  }
  return s.toLowerCase();
}

function attrs(list: unknown[], into: Attributes, path: string, ctx: Ctx, depth: number): number {
  let dropped = 0;
  for (let i = 0; i < list.length; i++) {
    const kv = obj(list[i], `${path}[${i}]`, 'attributes');
    if (!kv) continue;
    const key = str(kv['key'], `${path}[${i}].key`, 'key');
    const value = anyValue(kv['value'], `${path}[${i}].value`, ctx, depth);
    if (into.size >= ctx.limits.maxAttributesPerContainer && !into.has(key)) dropped++;
    else into.set(key, value);
  }
  return dropped;
}

function anyValue(v: unknown, path: string, ctx: Ctx, depth: number): AnyValue {
  const o = obj(v, path, 'value');
  if (!o) return null;
  let x: unknown;
  if ((x = get(o, 'stringValue', 'string_value')) !== undefined) return str(x, path, 'stringValue');
  if ((x = get(o, 'boolValue', 'bool_value')) !== undefined) {
    if (typeof x !== 'boolean') throw new JsonShapeError(path, 'boolValue', `expected a boolean, got ${typeName(x)}`);
    return x;
  }
  if ((x = get(o, 'intValue', 'int_value')) !== undefined) {
    if (typeof x === 'number' && Number.isInteger(x)) return x;
    if (typeof x === 'string' && DEC.test(x)) {
      const n = Number(x);
      return Number.isSafeInteger(n) ? n : BigInt(x.trim()).toString();
    }
    throw new JsonShapeError(path, 'intValue', `expected an int64 (string or number), got ${typeName(x)}`);
  }
  if ((x = get(o, 'doubleValue', 'double_value')) !== undefined) {
    if (typeof x === 'number') return x;
    if (typeof x === 'string' && (x === 'NaN' || x === 'Infinity' || x === '-Infinity' || !Number.isNaN(Number(x)))) {
      return Number(x);
    }
    throw new JsonShapeError(path, 'doubleValue', `expected a number, got ${typeName(x)}`);
  }
  if ((x = get(o, 'bytesValue', 'bytes_value')) !== undefined) return str(x, path, 'bytesValue');
  if ((x = get(o, 'arrayValue', 'array_value')) !== undefined) {
    if (depth >= ctx.limits.maxValueDepth) {
      throw new JsonShapeError(path, 'arrayValue', `values nested deeper than ${ctx.limits.maxValueDepth}`);
    }
    const a = obj(x, path, 'arrayValue');
    const list = a ? arr(a, path, 'values') : [];
    const out: AnyValue[] = [];
    for (let i = 0; i < list.length && out.length < ctx.limits.maxArrayValues; i++) {
      out.push(anyValue(list[i], `${path}.arrayValue.values[${i}]`, ctx, depth + 1));
    }
    return out;
  }
  if ((x = get(o, 'kvlistValue', 'kvlist_value')) !== undefined) {
    if (depth >= ctx.limits.maxValueDepth) {
      throw new JsonShapeError(path, 'kvlistValue', `values nested deeper than ${ctx.limits.maxValueDepth}`);
    }
    const kv = obj(x, path, 'kvlistValue');
    const m = new Map<string, AnyValue>();
    if (kv) attrs(arr(kv, path, 'values'), m, `${path}.kvlistValue.values`, ctx, depth + 1);
    return m;
  }
  return null;
}

function span(v: unknown, path: string, ctx: Ctx): OtlpSpan {
  const o = obj(v, path, 'spans') ?? {};
  const status = obj(o['status'], `${path}.status`, 'status') ?? {};
  const s: OtlpSpan = {
    traceId: id(get(o, 'traceId', 'trace_id'), 16, `${path}.traceId`, 'traceId'),
    spanId: id(get(o, 'spanId', 'span_id'), 8, `${path}.spanId`, 'spanId'),
    traceState: str(get(o, 'traceState', 'trace_state'), `${path}.traceState`, 'traceState'),
    parentSpanId: id(get(o, 'parentSpanId', 'parent_span_id'), 8, `${path}.parentSpanId`, 'parentSpanId'),
    flags: int32(o['flags'], `${path}.flags`, 'flags'),
    name: str(o['name'], `${path}.name`, 'name'),
    kind: enumValue(o['kind'], SPAN_KINDS, `${path}.kind`, 'kind'),
    startTimeUnixNano: nanos(get(o, 'startTimeUnixNano', 'start_time_unix_nano'), `${path}.startTimeUnixNano`, 'startTimeUnixNano'),
    endTimeUnixNano: nanos(get(o, 'endTimeUnixNano', 'end_time_unix_nano'), `${path}.endTimeUnixNano`, 'endTimeUnixNano'),
    attributes: new Map(),
    droppedAttributesCount: int32(get(o, 'droppedAttributesCount', 'dropped_attributes_count'), path, 'droppedAttributesCount'),
    events: [],
    links: [],
    statusCode: enumValue(status['code'], STATUS_CODES, `${path}.status.code`, 'status.code'),
    statusMessage: str(status['message'], `${path}.status.message`, 'status.message'),
  };
  s.droppedAttributesCount += attrs(arr(o, path, 'attributes'), s.attributes, `${path}.attributes`, ctx, 0);
  const events = arr(o, path, 'events');
  for (let i = 0; i < events.length && i < ctx.limits.maxEventsPerSpan; i++) {
    const p = `${path}.events[${i}]`;
    const e = obj(events[i], p, 'events') ?? {};
    const ev: OtlpSpanEvent = {
      timeUnixNano: nanos(get(e, 'timeUnixNano', 'time_unix_nano'), `${p}.timeUnixNano`, 'timeUnixNano'),
      name: str(e['name'], `${p}.name`, 'name'),
      attributes: new Map(),
    };
    attrs(arr(e, p, 'attributes'), ev.attributes, `${p}.attributes`, ctx, 0);
    s.events.push(ev);
  }
  const links = arr(o, path, 'links');
  for (let i = 0; i < links.length && i < ctx.limits.maxEventsPerSpan; i++) {
    const p = `${path}.links[${i}]`;
    const l = obj(links[i], p, 'links') ?? {};
    const link: OtlpLink = {
      traceId: id(get(l, 'traceId', 'trace_id'), 16, `${p}.traceId`, 'traceId'),
      spanId: id(get(l, 'spanId', 'span_id'), 8, `${p}.spanId`, 'spanId'),
      traceState: str(get(l, 'traceState', 'trace_state'), `${p}.traceState`, 'traceState'),
      attributes: new Map(),
      flags: int32(l['flags'], `${p}.flags`, 'flags'),
    };
    attrs(arr(l, p, 'attributes'), link.attributes, `${p}.attributes`, ctx, 0);
    s.links.push(link);
  }
  return s;
}

function scopeSpans(v: unknown, path: string, ctx: Ctx): OtlpScopeSpans {
  const o = obj(v, path, 'scopeSpans') ?? {};
  const scope = obj(get(o, 'scope') ?? get(o, 'instrumentationLibrary', 'instrumentation_library'), `${path}.scope`, 'scope') ?? {};
  const out: OtlpScopeSpans = {
    scopeName: str(scope['name'], `${path}.scope.name`, 'scope.name'),
    scopeVersion: str(scope['version'], `${path}.scope.version`, 'scope.version'),
    spans: [],
    schemaUrl: str(get(o, 'schemaUrl', 'schema_url'), `${path}.schemaUrl`, 'schemaUrl'),
  };
  const list = arr(o, path, 'spans');
  for (let i = 0; i < list.length; i++) {
    if (++ctx.spans > ctx.limits.maxSpans) {
      throw new JsonShapeError(path, 'spans', `request holds more than ${ctx.limits.maxSpans} spans`, true);
    }
    out.spans.push(span(list[i], `${path}.spans[${i}]`, ctx));
  }
  return out;
}

function resourceSpans(v: unknown, path: string, ctx: Ctx): OtlpResourceSpans {
  const o = obj(v, path, 'resourceSpans') ?? {};
  const res = obj(o['resource'], `${path}.resource`, 'resource') ?? {};
  const out: OtlpResourceSpans = {
    resource: new Map(),
    scopeSpans: [],
    schemaUrl: str(get(o, 'schemaUrl', 'schema_url'), `${path}.schemaUrl`, 'schemaUrl'),
  };
  attrs(arr(res, `${path}.resource`, 'attributes'), out.resource, `${path}.resource.attributes`, ctx, 0);
  const scopes = [
    ...arr(o, path, 'scopeSpans', 'scope_spans'),
    ...arr(o, path, 'instrumentationLibrarySpans', 'instrumentation_library_spans'),
  ];
  for (let i = 0; i < scopes.length; i++) out.scopeSpans.push(scopeSpans(scopes[i], `${path}.scopeSpans[${i}]`, ctx));
  return out;
}

/** Maps an already-parsed JSON value (one request) to the model. Never throws. */
export function decodeTraceRequestJson(doc: unknown, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): JsonDecodeResult {
  if (!isObj(doc)) {
    return { ok: false, reason: `expected an ExportTraceServiceRequest object, got ${typeName(doc)}`, tooLarge: false };
  }
  const ctx = new Ctx(limits);
  try {
    const list = arr(doc, '$', 'resourceSpans', 'resource_spans');
    const out: OtlpTraceRequest = { resourceSpans: [] };
    for (let i = 0; i < list.length; i++) out.resourceSpans.push(resourceSpans(list[i], `resourceSpans[${i}]`, ctx));
    return { ok: true, request: out, spanCount: ctx.spans };
  } catch (e) {
    if (e instanceof JsonShapeError) return { ok: false, reason: e.message, field: e.field, tooLarge: e.tooLarge };
    throw e;
  }
}
