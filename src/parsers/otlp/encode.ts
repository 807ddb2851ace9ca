/**
 * A small protobuf encoder for `ExportTraceServiceRequest` (same field numbers as proto.ts).
 * Used by tests, benchmarks and integration tests to produce real `otlp_proto` bytes; also
 * `toOtlpJson` for the OTLP/JSON form of the same input.
 *
 * Input is a friendly shape: ids as hex (any length, so tests can build invalid ones), times as
 * bigint/number/decimal string nanoseconds, attributes as a plain object or Map.
 */

/** An attribute value to encode. Integers (number or bigint) become int_value, other numbers double_value. */
export type ValueInput =
  | string
  | number
  | bigint
  | boolean
  | null
  | ValueInput[]
  | Map<string, ValueInput>
  | { kvlist: AttrInput }
  | { double: number }
  | { bytes: Uint8Array }
  | { int: bigint | number | string };

export type AttrInput = Record<string, ValueInput> | Map<string, ValueInput>;

export type NanosInput = bigint | number | string;

export interface SpanEventInput {
  timeUnixNano?: NanosInput;
  name?: string;
  attributes?: AttrInput;
}

export interface LinkInput {
  traceId: string;
  spanId: string;
  traceState?: string;
  attributes?: AttrInput;
  flags?: number;
}

export interface SpanInput {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  flags?: number;
  name?: string;
  kind?: number;
  startTimeUnixNano?: NanosInput;
  endTimeUnixNano?: NanosInput;
  attributes?: AttrInput;
  droppedAttributesCount?: number;
  events?: SpanEventInput[];
  links?: LinkInput[];
  status?: { code?: number; message?: string };
}

export interface ScopeSpansInput {
  scope?: { name?: string; version?: string; attributes?: AttrInput };
  spans: SpanInput[];
  schemaUrl?: string;
}

export interface ResourceSpansInput {
  resource?: AttrInput;
  scopeSpans: ScopeSpansInput[];
  schemaUrl?: string;
}

export interface TraceRequestInput {
  resourceSpans: ResourceSpansInput[];
}

const WT_VARINT = 0;
const WT_FIXED64 = 1;
const WT_LEN = 2;
const WT_FIXED32 = 5;

/** Growable byte buffer; nested messages are written in place and their length prefix inserted after. */
class Writer {
  buf = Buffer.allocUnsafe(1024);
  pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Unsigned varint of a value given as low/high 32-bit halves. */
  varint64(lo: number, hi: number): void {
    this.ensure(10);
    lo >>>= 0;
    hi >>>= 0;
    while (hi !== 0 || lo > 0x7f) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buf[this.pos++] = lo;
  }

  uvarint(n: number): void {
    this.varint64(n % 4294967296, Math.floor(n / 4294967296));
  }

  tag(field: number, wt: number): void {
    this.uvarint(field * 8 + wt);
  }

  /** int64 varint (two's complement for negatives, 10 bytes). */
  int64(v: bigint): void {
    const u = BigInt.asUintN(64, v);
    this.varint64(Number(u & 0xffffffffn), Number(u >> 32n));
  }

  fixed64(field: number, v: bigint): void {
    this.tag(field, WT_FIXED64);
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, v), this.pos);
    this.pos += 8;
  }

  fixed32(field: number, v: number): void {
    this.tag(field, WT_FIXED32);
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  double(field: number, v: number): void {
    this.tag(field, WT_FIXED64);
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, WT_LEN);
    this.uvarint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(field: number, s: string): void {
    this.tag(field, WT_LEN);
    const n = Buffer.byteLength(s);
    this.uvarint(n);
    this.ensure(n);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += n;
  }

  /** Writes a length-delimited sub-message produced by `body`. */
  message(field: number, body: () => void): void {
    const start = this.pos;
    body();
    const len = this.pos - start;
    const mark = this.pos;
    this.tag(field, WT_LEN);
    this.uvarint(len);
    const prefix = this.buf.subarray(mark, this.pos);
    const p = Buffer.from(prefix);
    this.buf.copyWithin(start + p.length, start, mark);
    p.copy(this.buf, start);
    // pos already advanced by the prefix length.
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

const toBig = (v: NanosInput): bigint => (typeof v === 'bigint' ? v : BigInt(v));

function entries(a: AttrInput | undefined): [string, ValueInput][] {
  if (!a) return [];
  return a instanceof Map ? [...a.entries()] : Object.entries(a);
}

function writeAttrs(w: Writer, field: number, a: AttrInput | undefined): void {
  for (const [k, v] of entries(a)) {
    w.message(field, () => {
      w.string(1, k);
      w.message(2, () => writeAnyValue(w, v));
    });
  }
}

function writeAnyValue(w: Writer, v: ValueInput): void {
  if (v === null) return;
  if (typeof v === 'string') w.string(1, v);
  else if (typeof v === 'boolean') {
    w.tag(2, WT_VARINT);
    w.uvarint(v ? 1 : 0);
  } else if (typeof v === 'bigint') {
    w.tag(3, WT_VARINT);
    w.int64(v);
  } else if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
      w.tag(3, WT_VARINT);
      w.int64(BigInt(v));
    } else w.double(4, v);
  } else if (Array.isArray(v)) {
    w.message(5, () => {
      for (const item of v) w.message(1, () => writeAnyValue(w, item));
    });
  } else if (v instanceof Map) {
    w.message(6, () => writeAttrs(w, 1, v));
  } else if ('kvlist' in v) {
    w.message(6, () => writeAttrs(w, 1, v.kvlist));
  } else if ('double' in v) {
    w.double(4, v.double);
  } else if ('bytes' in v) {
    w.bytes(7, v.bytes);
  } else {
    w.tag(3, WT_VARINT);
    w.int64(toBig(v.int));
  }
}

const hexBytes = (h: string): Buffer => Buffer.from(h.length % 2 === 0 ? h : `0${h}`, 'hex');

function writeSpan(w: Writer, s: SpanInput): void {
  if (s.traceId) w.bytes(1, hexBytes(s.traceId));
  if (s.spanId) w.bytes(2, hexBytes(s.spanId));
  if (s.traceState) w.string(3, s.traceState);
  if (s.parentSpanId) w.bytes(4, hexBytes(s.parentSpanId));
  if (s.name) w.string(5, s.name);
  if (s.kind) {
    w.tag(6, WT_VARINT);
    w.int64(BigInt(s.kind));
  }
  if (s.startTimeUnixNano !== undefined) w.fixed64(7, toBig(s.startTimeUnixNano));
  if (s.endTimeUnixNano !== undefined) w.fixed64(8, toBig(s.endTimeUnixNano));
  writeAttrs(w, 9, s.attributes);
  if (s.droppedAttributesCount) {
    w.tag(10, WT_VARINT);
    w.uvarint(s.droppedAttributesCount);
  }
  for (const ev of s.events ?? []) {
    w.message(11, () => {
      if (ev.timeUnixNano !== undefined) w.fixed64(1, toBig(ev.timeUnixNano));
      if (ev.name) w.string(2, ev.name);
      writeAttrs(w, 3, ev.attributes);
    });
  }
  for (const l of s.links ?? []) {
    w.message(13, () => {
      if (l.traceId) w.bytes(1, hexBytes(l.traceId));
      if (l.spanId) w.bytes(2, hexBytes(l.spanId));
      if (l.traceState) w.string(3, l.traceState);
      writeAttrs(w, 4, l.attributes);
      if (l.flags) w.fixed32(6, l.flags);
    });
  }
  if (s.status && (s.status.code || s.status.message)) {
    const st = s.status;
    w.message(15, () => {
      if (st.message) w.string(2, st.message);
      if (st.code) {
        w.tag(3, WT_VARINT);
        w.int64(BigInt(st.code));
      }
    });
  }
  if (s.flags) w.fixed32(16, s.flags);
}

/** Encodes an `ExportTraceServiceRequest` to protobuf bytes. */
export function encodeTraceRequest(req: TraceRequestInput): Buffer {
  const w = new Writer();
  for (const rs of req.resourceSpans) {
    w.message(1, () => {
      if (rs.resource) {
        const res = rs.resource;
        w.message(1, () => writeAttrs(w, 1, res));
      }
      for (const ss of rs.scopeSpans) {
        w.message(2, () => {
          if (ss.scope) {
            const sc = ss.scope;
            w.message(1, () => {
              if (sc.name) w.string(1, sc.name);
              if (sc.version) w.string(2, sc.version);
              writeAttrs(w, 3, sc.attributes);
            });
          }
          for (const s of ss.spans) w.message(2, () => writeSpan(w, s));
          if (ss.schemaUrl) w.string(3, ss.schemaUrl);
        });
      }
      if (rs.schemaUrl) w.string(3, rs.schemaUrl);
    });
  }
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// OTLP/JSON form of the same input (lowerCamelCase keys, hex ids, int64 as strings, enums as ints).

/** A double as the proto3 JSON mapping writes it: non-finite values as the strings "NaN", "Infinity", "-Infinity". */
const jsonDouble = (d: number): number | string => (Number.isFinite(d) ? d : String(d));

function jsonValue(v: ValueInput): Record<string, unknown> {
  if (v === null) return {};
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'bigint') return { intValue: v.toString() };
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && !Object.is(v, -0) ? { intValue: String(v) } : { doubleValue: jsonDouble(v) };
  }
  if (Array.isArray(v)) return { arrayValue: { values: v.map(jsonValue) } };
  if (v instanceof Map) return { kvlistValue: { values: jsonAttrs(v) } };
  if ('kvlist' in v) return { kvlistValue: { values: jsonAttrs(v.kvlist) } };
  if ('double' in v) return { doubleValue: jsonDouble(v.double) };
  if ('bytes' in v) return { bytesValue: Buffer.from(v.bytes).toString('base64') };
  return { intValue: String(v.int) };
}

function jsonAttrs(a: AttrInput | undefined): Record<string, unknown>[] {
  return entries(a).map(([key, value]) => ({ key, value: jsonValue(value) }));
}

/** The OTLP/JSON object for the input (stringify it for a message / a file-exporter line). */
export function toOtlpJson(req: TraceRequestInput): Record<string, unknown> {
  return {
    resourceSpans: req.resourceSpans.map((rs) => ({
      ...(rs.resource ? { resource: { attributes: jsonAttrs(rs.resource) } } : {}),
      scopeSpans: rs.scopeSpans.map((ss) => ({
        ...(ss.scope
          ? { scope: { name: ss.scope.name ?? '', version: ss.scope.version ?? '', attributes: jsonAttrs(ss.scope.attributes) } }
          : {}),
        spans: ss.spans.map((s) => ({
          traceId: s.traceId,
          spanId: s.spanId,
          ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
          ...(s.traceState ? { traceState: s.traceState } : {}),
          ...(s.flags ? { flags: s.flags } : {}),
          name: s.name ?? '',
          kind: s.kind ?? 0,
          ...(s.startTimeUnixNano !== undefined ? { startTimeUnixNano: String(s.startTimeUnixNano) } : {}),
          ...(s.endTimeUnixNano !== undefined ? { endTimeUnixNano: String(s.endTimeUnixNano) } : {}),
          attributes: jsonAttrs(s.attributes),
          ...(s.droppedAttributesCount ? { droppedAttributesCount: s.droppedAttributesCount } : {}),
          ...(s.events
            ? {
                events: s.events.map((e) => ({
                  ...(e.timeUnixNano !== undefined ? { timeUnixNano: String(e.timeUnixNano) } : {}),
                  name: e.name ?? '',
                  attributes: jsonAttrs(e.attributes),
                })),
              }
            : {}),
          ...(s.links
            ? {
                links: s.links.map((l) => ({
                  traceId: l.traceId,
                  spanId: l.spanId,
                  ...(l.traceState ? { traceState: l.traceState } : {}),
                  attributes: jsonAttrs(l.attributes),
                  ...(l.flags ? { flags: l.flags } : {}),
                })),
              }
            : {}),
          ...(s.status ? { status: { ...(s.status.message ? { message: s.status.message } : {}), code: s.status.code ?? 0 } } : {}),
        })),
        ...(ss.schemaUrl ? { schemaUrl: ss.schemaUrl } : {}),
      })),
      ...(rs.schemaUrl ? { schemaUrl: rs.schemaUrl } : {}),
    })),
  };
}
