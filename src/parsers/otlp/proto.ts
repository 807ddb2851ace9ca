/**
 * Hand-written protobuf wire decoder for `ExportTraceServiceRequest`.
 *
 * Field numbers follow open-telemetry/opentelemetry-proto:
 *   collector/trace/v1/trace_service.proto  ExportTraceServiceRequest { resource_spans = 1 }
 *   trace/v1/trace.proto                    ResourceSpans { resource = 1; scope_spans = 2; schema_url = 3;
 *                                             (reserved 1000: the old instrumentation_library_spans, read as scope_spans) }
 *                                           ScopeSpans { scope = 1; spans = 2; schema_url = 3 }
 *                                           Span { trace_id = 1; span_id = 2; trace_state = 3; parent_span_id = 4;
 *                                             name = 5; kind = 6; start_time_unix_nano = 7 (fixed64);
 *                                             end_time_unix_nano = 8 (fixed64); attributes = 9;
 *                                             dropped_attributes_count = 10; events = 11; dropped_events_count = 12;
 *                                             links = 13; dropped_links_count = 14; status = 15; flags = 16 (fixed32) }
 *                                           Span.Event { time_unix_nano = 1 (fixed64); name = 2; attributes = 3;
 *                                             dropped_attributes_count = 4 }
 *                                           Span.Link { trace_id = 1; span_id = 2; trace_state = 3; attributes = 4;
 *                                             dropped_attributes_count = 5; flags = 6 (fixed32) }
 *                                           Status { message = 2; code = 3 }
 *   resource/v1/resource.proto              Resource { attributes = 1; dropped_attributes_count = 2 }
 *   common/v1/common.proto                  InstrumentationScope { name = 1; version = 2; attributes = 3 }
 *                                           KeyValue { key = 1; value = 2 }
 *                                           AnyValue { string_value = 1; bool_value = 2; int_value = 3;
 *                                             double_value = 4; array_value = 5; kvlist_value = 6; bytes_value = 7 }
 *                                           ArrayValue { values = 1 }  KeyValueList { values = 1 }
 *
 * Rules: unknown fields (and known fields with an unexpected wire type, as protobuf-go does) are
 * skipped; every varint, length and fixed-width read is bounds-checked against the enclosing
 * message; every loop advances by at least one byte; value nesting and stored counts are capped
 * (model.ts `DecodeLimits`). So any byte string decodes or fails with an offset, in linear time.
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

/** Thrown inside the decoder only; `decodeTraceRequest` turns it into a value. */
class ProtoDecodeError extends Error {
  constructor(
    readonly offset: number,
    reason: string,
    readonly tooLarge = false,
  ) {
    super(reason);
  }
}

export type ProtoDecodeResult =
  | { ok: true; request: OtlpTraceRequest; spanCount: number }
  | { ok: false; offset: number; reason: string; tooLarge: boolean };

const WT_VARINT = 0;
const WT_FIXED64 = 1;
const WT_LEN = 2;
const WT_START_GROUP = 3;
const WT_END_GROUP = 4;
const WT_FIXED32 = 5;

const TWO_32 = 4294967296;

/**
 * Buffer's own slice decoders (what `toString(enc, start, end)` calls after argument checks; our
 * bounds are already checked). Invalid UTF-8 becomes U+FFFD, as with toString.
 */
type FastSlices = Buffer & { utf8Slice(start: number, end: number): string; hexSlice(start: number, end: number): string };

/** Decoder state for one request. One object per call: the decoder is reentrant. */
class Reader {
  pos = 0;
  /** High 32 bits of the varint last read by `varint()` (saves returning a pair). */
  hi = 0;
  spans = 0;
  constructor(
    readonly buf: Buffer,
    readonly limits: DecodeLimits,
  ) {}

  fail(reason: string, at = this.pos): never {
    throw new ProtoDecodeError(at, reason);
  }

  /** Reads a varint (≤ 10 bytes) ending before `end`; returns the low 32 bits unsigned, sets `hi`. */
  varint(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    let lo = 0;
    let b = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) this.fail('truncated varint', pos);
      b = buf[pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.hi = 0;
        return lo >>> 0;
      }
    }
    if (pos >= end) this.fail('truncated varint', pos);
    b = buf[pos++]!;
    lo |= (b & 0x0f) << 28;
    let hi = (b & 0x7f) >> 4;
    if (b < 0x80) {
      this.pos = pos;
      this.hi = hi;
      return lo >>> 0;
    }
    for (let shift = 3; shift < 32; shift += 7) {
      if (pos >= end) this.fail('truncated varint', pos);
      b = buf[pos++]!;
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.hi = hi >>> 0;
        return lo >>> 0;
      }
    }
    return this.fail('varint longer than 10 bytes', pos);
  }

  /** Reads a tag; returns `field << 3 | wireType` as a plain number (field < 2^29). */
  tag(end: number): number {
    const at = this.pos;
    const t = this.varint(end);
    if (this.hi !== 0 || t >>> 3 === 0) this.fail(`invalid tag ${t} (field number 0 or too large)`, at);
    return t;
  }

  /** Reads a length prefix and returns the end offset of the delimited bytes. */
  len(end: number): number {
    const at = this.pos;
    const n = this.varint(end);
    if (this.hi !== 0 || n > end - this.pos) {
      this.fail(`length ${this.hi !== 0 ? '>= 2^32' : n} exceeds the ${end - this.pos} bytes left in the message`, at);
    }
    return this.pos + n;
  }

  string(end: number): string {
    const e = this.len(end);
    const s = e === this.pos ? '' : (this.buf as FastSlices).utf8Slice(this.pos, e);
    this.pos = e;
    return s;
  }

  hex(end: number): string {
    const e = this.len(end);
    const s = e === this.pos ? '' : (this.buf as FastSlices).hexSlice(this.pos, e);
    this.pos = e;
    return s;
  }

  fixed64(end: number): bigint {
    if (end - this.pos < 8) this.fail('truncated fixed64');
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  fixed32(end: number): number {
    if (end - this.pos < 4) this.fail('truncated fixed32');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** Skips the value of a field with wire type `wt` (tag already read). */
  skip(wt: number, field: number, end: number, depth = 0): void {
    switch (wt) {
      case WT_VARINT:
        this.varint(end);
        return;
      case WT_FIXED64:
        if (end - this.pos < 8) this.fail('truncated fixed64');
        this.pos += 8;
        return;
      case WT_LEN:
        this.pos = this.len(end);
        return;
      case WT_FIXED32:
        if (end - this.pos < 4) this.fail('truncated fixed32');
        this.pos += 4;
        return;
      case WT_START_GROUP: {
        if (depth >= this.limits.maxValueDepth) this.fail('groups nested too deeply');
        for (;;) {
          if (this.pos >= end) this.fail(`unterminated group (field ${field})`);
          const t = this.tag(end);
          if ((t & 7) === WT_END_GROUP) {
            if (t >>> 3 !== field) this.fail(`group end for field ${t >>> 3} inside group ${field}`);
            return;
          }
          this.skip(t & 7, t >>> 3, end, depth + 1);
        }
      }
      case WT_END_GROUP:
        return this.fail(`unexpected group end (field ${field})`);
      default:
        return this.fail(`invalid wire type ${wt} (field ${field})`);
    }
  }

  /** int64 from the last varint: a number when exact, else a decimal string. */
  int64(lo: number): number | string {
    const hi = this.hi;
    if (hi === 0) return lo;
    const hiS = hi | 0;
    const v = hiS * TWO_32 + lo;
    if (Number.isSafeInteger(v)) return v;
    return ((BigInt(hiS) << 32n) + BigInt(lo)).toString();
  }
}

/**
 * Decodes an `ExportTraceServiceRequest`. Never throws on any input bytes: failures come back
 * with the byte offset where decoding stopped.
 */
export function decodeTraceRequest(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): ProtoDecodeResult {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new Reader(buf, limits);
  try {
    const end = buf.length;
    const resourceSpans: OtlpResourceSpans[] = [];
    while (r.pos < end) {
      const t = r.tag(end);
      if (t === ((1 << 3) | WT_LEN)) {
        const e = r.len(end);
        resourceSpans.push(readResourceSpans(r, e));
      } else r.skip(t & 7, t >>> 3, end);
    }
    return { ok: true, request: { resourceSpans }, spanCount: r.spans };
  } catch (e) {
    if (e instanceof ProtoDecodeError) return { ok: false, offset: e.offset, reason: e.message, tooLarge: e.tooLarge };
    if (e instanceof RangeError) return { ok: false, offset: r.pos, reason: `decoder error: ${e.message}`, tooLarge: false };
    throw e;
  }
}

function readResourceSpans(r: Reader, end: number): OtlpResourceSpans {
  const out: OtlpResourceSpans = { resource: new Map(), scopeSpans: [], schemaUrl: '' };
  while (r.pos < end) {
    const t = r.tag(end);
    switch (t) {
      case (1 << 3) | WT_LEN: {
        const e = r.len(end);
        readResource(r, e, out.resource);
        break;
      }
      case (2 << 3) | WT_LEN:
      case (1000 << 3) | WT_LEN: {
        const e = r.len(end);
        out.scopeSpans.push(readScopeSpans(r, e));
        break;
      }
      case (3 << 3) | WT_LEN:
        out.schemaUrl = r.string(end);
        break;
      default:
        r.skip(t & 7, t >>> 3, end);
    }
  }
  return out;
}

function readResource(r: Reader, end: number, attrs: Attributes): void {
  while (r.pos < end) {
    const t = r.tag(end);
    if (t === ((1 << 3) | WT_LEN)) readKeyValueInto(r, r.len(end), attrs, 0);
    else r.skip(t & 7, t >>> 3, end);
  }
}

function readScopeSpans(r: Reader, end: number): OtlpScopeSpans {
  const out: OtlpScopeSpans = { scopeName: '', scopeVersion: '', spans: [], schemaUrl: '' };
  while (r.pos < end) {
    const t = r.tag(end);
    switch (t) {
      case (1 << 3) | WT_LEN: {
        const e = r.len(end);
        while (r.pos < e) {
          const st = r.tag(e);
          if (st === ((1 << 3) | WT_LEN)) out.scopeName = r.string(e);
          else if (st === ((2 << 3) | WT_LEN)) out.scopeVersion = r.string(e);
          else r.skip(st & 7, st >>> 3, e);
        }
        break;
      }
      case (2 << 3) | WT_LEN: {
        const at = r.pos;
        const e = r.len(end);
        if (++r.spans > r.limits.maxSpans) {
          throw new ProtoDecodeError(at, `request holds more than ${r.limits.maxSpans} spans`, true);
        }
        out.spans.push(readSpan(r, e));
        break;
      }
      case (3 << 3) | WT_LEN:
        out.schemaUrl = r.string(end);
        break;
      default:
        r.skip(t & 7, t >>> 3, end);
    }
  }
  return out;
}

function readSpan(r: Reader, end: number): OtlpSpan {
  const s: OtlpSpan = {
    traceId: '',
    spanId: '',
    traceState: '',
    parentSpanId: '',
    flags: 0,
    name: '',
    kind: 0,
    startTimeUnixNano: 0n,
    endTimeUnixNano: 0n,
    attributes: new Map(),
    droppedAttributesCount: 0,
    events: [],
    links: [],
    statusCode: 0,
    statusMessage: '',
  };
  while (r.pos < end) {
    const t = r.tag(end);
    switch (t) {
      case (1 << 3) | WT_LEN:
        s.traceId = r.hex(end);
        break;
      case (2 << 3) | WT_LEN:
        s.spanId = r.hex(end);
        break;
      case (3 << 3) | WT_LEN:
        s.traceState = r.string(end);
        break;
      case (4 << 3) | WT_LEN:
        s.parentSpanId = r.hex(end);
        break;
      case (5 << 3) | WT_LEN:
        s.name = r.string(end);
        break;
      case (6 << 3) | WT_VARINT:
        s.kind = r.varint(end) | 0;
        break;
      case (7 << 3) | WT_FIXED64:
        s.startTimeUnixNano = r.fixed64(end);
        break;
      case (8 << 3) | WT_FIXED64:
        s.endTimeUnixNano = r.fixed64(end);
        break;
      case (9 << 3) | WT_LEN:
        s.droppedAttributesCount += readKeyValueInto(r, r.len(end), s.attributes, 0);
        break;
      case (10 << 3) | WT_VARINT:
        s.droppedAttributesCount += r.varint(end);
        break;
      case (11 << 3) | WT_LEN: {
        const e = r.len(end);
        if (s.events.length < r.limits.maxEventsPerSpan) s.events.push(readEvent(r, e));
        else r.pos = e;
        break;
      }
      case (13 << 3) | WT_LEN: {
        const e = r.len(end);
        if (s.links.length < r.limits.maxEventsPerSpan) s.links.push(readLink(r, e));
        else r.pos = e;
        break;
      }
      case (15 << 3) | WT_LEN: {
        const e = r.len(end);
        while (r.pos < e) {
          const st = r.tag(e);
          if (st === ((2 << 3) | WT_LEN)) s.statusMessage = r.string(e);
          else if (st === ((3 << 3) | WT_VARINT)) s.statusCode = r.varint(e) | 0;
          else r.skip(st & 7, st >>> 3, e);
        }
        break;
      }
      case (16 << 3) | WT_FIXED32:
        s.flags = r.fixed32(end);
        break;
      default:
        r.skip(t & 7, t >>> 3, end);
    }
  }
  return s;
}

function readEvent(r: Reader, end: number): OtlpSpanEvent {
  const ev: OtlpSpanEvent = { timeUnixNano: 0n, name: '', attributes: new Map() };
  while (r.pos < end) {
    const t = r.tag(end);
    if (t === ((1 << 3) | WT_FIXED64)) ev.timeUnixNano = r.fixed64(end);
    else if (t === ((2 << 3) | WT_LEN)) ev.name = r.string(end);
    else if (t === ((3 << 3) | WT_LEN)) readKeyValueInto(r, r.len(end), ev.attributes, 0);
    else r.skip(t & 7, t >>> 3, end);
  }
  return ev;
}

function readLink(r: Reader, end: number): OtlpLink {
  const l: OtlpLink = { traceId: '', spanId: '', traceState: '', attributes: new Map(), flags: 0 };
  while (r.pos < end) {
    const t = r.tag(end);
    switch (t) {
      case (1 << 3) | WT_LEN:
        l.traceId = r.hex(end);
        break;
      case (2 << 3) | WT_LEN:
        l.spanId = r.hex(end);
        break;
      case (3 << 3) | WT_LEN:
        l.traceState = r.string(end);
        break;
      case (4 << 3) | WT_LEN:
        readKeyValueInto(r, r.len(end), l.attributes, 0);
        break;
      case (6 << 3) | WT_FIXED32:
        l.flags = r.fixed32(end);
        break;
      default:
        r.skip(t & 7, t >>> 3, end);
    }
  }
  return l;
}

/** Reads one KeyValue into `into`; returns 1 if it was dropped by the per-container cap, else 0. */
function readKeyValueInto(r: Reader, end: number, into: Map<string, AnyValue>, depth: number): number {
  let key = '';
  let value: AnyValue = null;
  while (r.pos < end) {
    const t = r.tag(end);
    if (t === ((1 << 3) | WT_LEN)) key = r.string(end);
    else if (t === ((2 << 3) | WT_LEN)) value = readAnyValue(r, r.len(end), depth);
    else r.skip(t & 7, t >>> 3, end);
  }
  if (into.size >= r.limits.maxAttributesPerContainer && !into.has(key)) return 1;
  into.set(key, value);
  return 0;
}

function readAnyValue(r: Reader, end: number, depth: number): AnyValue {
  let v: AnyValue = null;
  while (r.pos < end) {
    const t = r.tag(end);
    switch (t) {
      case (1 << 3) | WT_LEN:
        v = r.string(end);
        break;
      case (2 << 3) | WT_VARINT: {
        const lo = r.varint(end);
        v = lo !== 0 || r.hi !== 0;
        break;
      }
      case (3 << 3) | WT_VARINT:
        v = r.int64(r.varint(end));
        break;
      case (4 << 3) | WT_FIXED64:
        if (end - r.pos < 8) r.fail('truncated double');
        v = r.buf.readDoubleLE(r.pos);
        r.pos += 8;
        break;
      case (5 << 3) | WT_LEN: {
        const e = r.len(end);
        if (depth >= r.limits.maxValueDepth) r.fail(`array/kvlist values nested deeper than ${r.limits.maxValueDepth}`);
        const arr: AnyValue[] = [];
        while (r.pos < e) {
          const at = r.tag(e);
          if (at === ((1 << 3) | WT_LEN)) {
            const ve = r.len(e);
            const item = readAnyValue(r, ve, depth + 1);
            if (arr.length < r.limits.maxArrayValues) arr.push(item);
          } else r.skip(at & 7, at >>> 3, e);
        }
        v = arr;
        break;
      }
      case (6 << 3) | WT_LEN: {
        const e = r.len(end);
        if (depth >= r.limits.maxValueDepth) r.fail(`array/kvlist values nested deeper than ${r.limits.maxValueDepth}`);
        const kv = new Map<string, AnyValue>();
        while (r.pos < e) {
          const kt = r.tag(e);
          if (kt === ((1 << 3) | WT_LEN)) readKeyValueInto(r, r.len(e), kv, depth + 1);
          else r.skip(kt & 7, kt >>> 3, e);
        }
        v = kv;
        break;
      }
      case (7 << 3) | WT_LEN: {
        const e = r.len(end);
        v = r.buf.toString('base64', r.pos, e);
        r.pos = e;
        break;
      }
      default:
        r.skip(t & 7, t >>> 3, end);
    }
  }
  return v;
}
