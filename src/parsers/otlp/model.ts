/**
 * The decoded form of an OTLP `ExportTraceServiceRequest`, shared by the protobuf decoder
 * (proto.ts), the JSON decoder (json.ts), the encoder (encode.ts) and the mapper (otlp.ts).
 *
 * Only what the mapper needs is kept, in the shape it wants: ids as lower-case hex, times as
 * bigint nanoseconds, attributes as a Map (attribute keys come from the wire, so they never
 * become object keys here: no prototype tricks with `__proto__`).
 */

/**
 * An attribute value. int64 values outside ±2^53 are decimal strings; bytes are base64
 * strings; an empty AnyValue is null; a kvlist is a Map.
 */
export type AnyValue = string | number | boolean | null | AnyValue[] | KvList;
export type KvList = Map<string, AnyValue>;
export type Attributes = Map<string, AnyValue>;

export interface OtlpSpanEvent {
  timeUnixNano: bigint;
  name: string;
  attributes: Attributes;
}

export interface OtlpLink {
  /** Lower-case hex of the id bytes, '' when absent (the mapper validates the length). */
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: Attributes;
  flags: number;
}

export interface OtlpSpan {
  /** Lower-case hex of the 16 id bytes; '' when absent. Validated by the mapper, not the decoders. */
  traceId: string;
  /** Lower-case hex of the 8 id bytes; '' when absent. */
  spanId: string;
  traceState: string;
  /** '' for a root span. */
  parentSpanId: string;
  /** W3C trace flags in the low 8 bits. */
  flags: number;
  name: string;
  /** SpanKind enum: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  /** Dropped by the sender, plus any this decoder did not keep (see limits in proto.ts). */
  droppedAttributesCount: number;
  events: OtlpSpanEvent[];
  links: OtlpLink[];
  /** Status code enum: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string;
}

export interface OtlpScopeSpans {
  scopeName: string;
  scopeVersion: string;
  spans: OtlpSpan[];
  schemaUrl: string;
}

export interface OtlpResourceSpans {
  resource: Attributes;
  scopeSpans: OtlpScopeSpans[];
  schemaUrl: string;
}

export interface OtlpTraceRequest {
  resourceSpans: OtlpResourceSpans[];
}

/** Limits that bound the memory one request can take, whatever its bytes say. */
export interface DecodeLimits {
  /** A request with more spans than this is refused (too_large). */
  maxSpans: number;
  /** Attributes kept per resource/scope/span/event/link/kvlist; the rest count as dropped. */
  maxAttributesPerContainer: number;
  /** Events and links kept per span; the rest are skipped. */
  maxEventsPerSpan: number;
  /** Elements kept per array value; the rest are skipped. */
  maxArrayValues: number;
  /** Nesting depth of array/kvlist values. Deeper input is refused (invalid_protobuf / invalid_json). */
  maxValueDepth: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxSpans: 100_000,
  maxAttributesPerContainer: 256,
  maxEventsPerSpan: 128,
  maxArrayValues: 256,
  maxValueDepth: 16,
};

export const SPAN_KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
