import { encodeTraceRequest, type TraceRequestInput } from './encode';
import { DEFAULT_DECODE_LIMITS, type OtlpSpan, type OtlpTraceRequest } from './model';
import { decodeTraceRequest } from './proto';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/**
 * ExportTraceServiceRequest, assembled by hand from the .proto field numbers:
 *   resource_spans(1) { resource(1) { attributes(1) { key(1) "service.name", value(2) { string_value(1) "s" } } }
 *                       scope_spans(2) { spans(2) { trace_id(1) 01..10, span_id(2) 11..18, name(5) "n",
 *                                                   kind(6) 2, start(7, fixed64) 1e9, end(8, fixed64) 2e9 } } }
 */
const TINY = hex(`
  0a 4e
    0a 15
      0a 13
        0a 0c 73 65 72 76 69 63 65 2e 6e 61 6d 65
        12 03 0a 01 73
    12 35
      12 33
        0a 10 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10
        12 08 11 12 13 14 15 16 17 18
        2a 01 6e
        30 02
        39 00 ca 9a 3b 00 00 00 00
        41 00 94 35 77 00 00 00 00
`);

const TINY_INPUT: TraceRequestInput = {
  resourceSpans: [
    {
      resource: { 'service.name': 's' },
      scopeSpans: [
        {
          spans: [
            {
              traceId: '0102030405060708090a0b0c0d0e0f10',
              spanId: '1112131415161718',
              name: 'n',
              kind: 2,
              startTimeUnixNano: 1_000_000_000n,
              endTimeUnixNano: 2_000_000_000n,
            },
          ],
        },
      ],
    },
  ],
};

function decoded(b: Uint8Array): OtlpTraceRequest {
  const res = decodeTraceRequest(b);
  if (!res.ok) throw new Error(`decode failed at ${res.offset}: ${res.reason}`);
  return res.request;
}

function onlySpan(req: OtlpTraceRequest): OtlpSpan {
  const spans = req.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
  expect(spans).toHaveLength(1);
  return spans[0]!;
}

function failure(b: Uint8Array): { offset: number; reason: string } {
  const res = decodeTraceRequest(b);
  if (res.ok) throw new Error('expected a decode failure');
  return res;
}

describe('parsers/otlp > protobuf', () => {
  it('decodes a hand-assembled ExportTraceServiceRequest', () => {
    const req = decoded(TINY);
    expect(req.resourceSpans).toHaveLength(1);
    expect([...req.resourceSpans[0]!.resource]).toEqual([['service.name', 's']]);
    expect(onlySpan(req)).toEqual({
      traceId: '0102030405060708090a0b0c0d0e0f10',
      spanId: '1112131415161718',
      traceState: '',
      parentSpanId: '',
      flags: 0,
      name: 'n',
      kind: 2,
      startTimeUnixNano: 1_000_000_000n,
      endTimeUnixNano: 2_000_000_000n,
      attributes: new Map(),
      droppedAttributesCount: 0,
      events: [],
      links: [],
      statusCode: 0,
      statusMessage: '',
    });
  });

  it('has an encoder that produces exactly the hand-assembled bytes', () => {
    expect(encodeTraceRequest(TINY_INPUT).toString('hex')).toBe(TINY.toString('hex'));
  });

  it('round-trips every AnyValue type, events, links, status, flags and trace state', () => {
    const bytes = encodeTraceRequest({
      resourceSpans: [
        {
          resource: { 'service.name': 'svc', 'host.name': 'h1' },
          schemaUrl: 'https://opentelemetry.io/schemas/1.21.0',
          scopeSpans: [
            {
              scope: { name: 'lib', version: '1.2.3', attributes: { a: 1 } },
              schemaUrl: 'https://opentelemetry.io/schemas/1.21.0',
              spans: [
                {
                  traceId: 'aa'.repeat(16),
                  spanId: 'bb'.repeat(8),
                  parentSpanId: 'cc'.repeat(8),
                  traceState: 'vendor=x',
                  flags: 0x101,
                  name: 'GET /x',
                  kind: 3,
                  startTimeUnixNano: 1_700_000_000_123_456_789n,
                  endTimeUnixNano: 1_700_000_000_223_456_789n,
                  droppedAttributesCount: 2,
                  attributes: {
                    str: 'héllo ✓',
                    yes: true,
                    no: false,
                    zero: 0,
                    neg: -42,
                    minInt: -(2n ** 63n),
                    big: 2n ** 62n,
                    dbl: 3.25,
                    dblInt: { double: 2 },
                    bytes: { bytes: Buffer.from([0, 1, 2, 255]) },
                    arr: ['a', 1, true, null, [2]],
                    kv: new Map<string, string | number | Map<string, string>>([['k', 'v'], ['n', 1], ['nested', new Map([['deep', 'x']])]]),
                    empty: null,
                  },
                  events: [{ timeUnixNano: 1_700_000_000_200_000_000n, name: 'exception', attributes: { 'exception.type': 'E' } }],
                  links: [{ traceId: 'dd'.repeat(16), spanId: 'ee'.repeat(8), traceState: 'a=b', attributes: { l: 'x' }, flags: 1 }],
                  status: { code: 2, message: 'boom' },
                },
              ],
            },
          ],
        },
      ],
    });
    const req = decoded(bytes);
    expect(req.resourceSpans[0]!.schemaUrl).toBe('https://opentelemetry.io/schemas/1.21.0');
    const scope = req.resourceSpans[0]!.scopeSpans[0]!;
    expect(scope).toMatchObject({ scopeName: 'lib', scopeVersion: '1.2.3', schemaUrl: 'https://opentelemetry.io/schemas/1.21.0' });
    const s = onlySpan(req);
    expect(s).toMatchObject({
      traceId: 'aa'.repeat(16),
      spanId: 'bb'.repeat(8),
      parentSpanId: 'cc'.repeat(8),
      traceState: 'vendor=x',
      flags: 0x101,
      name: 'GET /x',
      kind: 3,
      startTimeUnixNano: 1_700_000_000_123_456_789n,
      endTimeUnixNano: 1_700_000_000_223_456_789n,
      droppedAttributesCount: 2,
      statusCode: 2,
      statusMessage: 'boom',
    });
    expect(Object.fromEntries(s.attributes)).toEqual({
      str: 'héllo ✓',
      yes: true,
      no: false,
      zero: 0,
      neg: -42,
      minInt: '-9223372036854775808',
      big: '4611686018427387904',
      dbl: 3.25,
      dblInt: 2,
      bytes: Buffer.from([0, 1, 2, 255]).toString('base64'),
      arr: ['a', 1, true, null, [2]],
      kv: new Map<string, unknown>([['k', 'v'], ['n', 1], ['nested', new Map([['deep', 'x']])]]),
      empty: null,
    });
    expect(s.events).toEqual([{ timeUnixNano: 1_700_000_000_200_000_000n, name: 'exception', attributes: new Map([['exception.type', 'E']]) }]);
    expect(s.links).toEqual([{ traceId: 'dd'.repeat(16), spanId: 'ee'.repeat(8), traceState: 'a=b', attributes: new Map([['l', 'x']]), flags: 1 }]);
  });

  it('skips unknown fields of every wire type at every level', () => {
    // varint (field 99), fixed64 (98), length-delimited (97), fixed32 (96), group (95 start ... end)
    const unknown = hex('98 06 96 01  91 06 0102030405060708  8a 06 03 616263  85 06 01020304  fb 05 08 01 fc 05');
    const wrap = (field: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([(field << 3) | 2]), varint(body.length), body]);
    const span = Buffer.concat([unknown, hex('0a 10 0102030405060708090a0b0c0d0e0f10 12 08 1112131415161718'), unknown]);
    const scope = Buffer.concat([unknown, wrap(2, span), unknown]);
    const rs = Buffer.concat([unknown, wrap(2, scope), unknown]);
    const req = Buffer.concat([unknown, wrap(1, rs), unknown]);
    const s = onlySpan(decoded(req));
    expect(s.traceId).toBe('0102030405060708090a0b0c0d0e0f10');
    expect(s.spanId).toBe('1112131415161718');
  });

  it('skips a known field sent with an unexpected wire type, as protobuf-go does', () => {
    // kind (6) as fixed32 instead of varint: ignored.
    const span = hex('0a 10 0102030405060708090a0b0c0d0e0f10 12 08 1112131415161718 35 02000000');
    const req = hex(`0a ${(span.length + 2 + 2).toString(16)} 12 ${(span.length + 2).toString(16)} 12 ${span.length.toString(16)} ${span.toString('hex')}`);
    expect(onlySpan(decoded(req)).kind).toBe(0);
  });

  it('reads the pre-1.0 instrumentation_library_spans (field 1000) as scope spans', () => {
    const scope = Buffer.from(encodeTraceRequest(TINY_INPUT)); // reuse the span bytes from a normal encoding
    const spanBytes = scope.subarray(scope.length - 0x33);
    const ils = Buffer.concat([hex('12 33'), spanBytes]);
    // tag for field 1000, wire type 2 = varint(8002) = c2 3e
    const rs = Buffer.concat([hex('c2 3e'), Buffer.from([ils.length]), ils]);
    const req = Buffer.concat([Buffer.from([0x0a, rs.length]), rs]);
    expect(onlySpan(decoded(req)).spanId).toBe('1112131415161718');
  });

  it('decodes an empty message as a request with no spans', () => {
    expect(decodeTraceRequest(Buffer.alloc(0))).toEqual({ ok: true, request: { resourceSpans: [] }, spanCount: 0 });
  });

  it('reports the byte offset of a truncated message', () => {
    const f = failure(TINY.subarray(0, 40));
    expect(f.offset).toBeGreaterThan(0);
    expect(f.offset).toBeLessThanOrEqual(40);
    expect(f.reason).toMatch(/length|truncated/);
  });

  it('rejects a length prefix that runs past the end of its message', () => {
    expect(failure(hex('0a 05 00')).reason).toMatch(/length 5 exceeds the 1 bytes left/);
  });

  it('rejects a varint longer than 10 bytes', () => {
    expect(failure(hex('08 ffffffffffffffffffff01')).reason).toMatch(/varint longer than 10 bytes/);
  });

  it('rejects field number 0 and wire types 6 and 7', () => {
    expect(failure(hex('00 00')).reason).toMatch(/invalid tag/);
    expect(failure(hex('0e')).reason).toMatch(/invalid wire type 6/);
    expect(failure(hex('0f')).reason).toMatch(/invalid wire type 7/);
  });

  it('rejects an unterminated or mismatched group', () => {
    expect(failure(hex('0b 08 01')).reason).toMatch(/unterminated group/);
    expect(failure(hex('0b 14')).reason).toMatch(/group end for field 2 inside group 1/);
    expect(failure(hex('0c')).reason).toMatch(/unexpected group end/);
  });

  it('refuses values nested deeper than the limit instead of recursing without bound', () => {
    // AnyValue{array_value{values[AnyValue{array_value{...}}]}} nested 40 deep inside a span attribute.
    let v: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 40; i++) {
      const arrayValue = Buffer.concat([Buffer.from([0x0a]), varint(v.length), v]); // ArrayValue.values(1)
      v = Buffer.concat([Buffer.from([0x2a]), varint(arrayValue.length), arrayValue]); // AnyValue.array_value(5)
    }
    const kv = Buffer.concat([hex('0a 01 61 12'), varint(v.length), v]);
    const span = Buffer.concat([hex('4a'), varint(kv.length), kv]);
    const scope = Buffer.concat([hex('12'), varint(span.length), span]);
    const rs = Buffer.concat([hex('12'), varint(scope.length), scope]);
    const req = Buffer.concat([hex('0a'), varint(rs.length), rs]);
    expect(failure(req).reason).toMatch(/nested deeper than 16/);
  });

  it('refuses a request with more spans than maxSpans', () => {
    const spans = Array.from({ length: 5 }, () => ({ traceId: 'aa'.repeat(16), spanId: 'bb'.repeat(8) }));
    const bytes = encodeTraceRequest({ resourceSpans: [{ scopeSpans: [{ spans }] }] });
    const res = decodeTraceRequest(bytes, { ...DEFAULT_DECODE_LIMITS, maxSpans: 4 });
    expect(res).toMatchObject({ ok: false, tooLarge: true, reason: expect.stringMatching(/more than 4 spans/) });
  });

  it('keeps at most maxAttributesPerContainer attributes and counts the rest as dropped', () => {
    const attributes = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, i]));
    const bytes = encodeTraceRequest({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'aa'.repeat(16), spanId: 'bb'.repeat(8), attributes }] }] }] });
    const res = decodeTraceRequest(bytes, { ...DEFAULT_DECODE_LIMITS, maxAttributesPerContainer: 4 });
    if (!res.ok) throw new Error(res.reason);
    const s = res.request.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    expect(s.attributes.size).toBe(4);
    expect(s.droppedAttributesCount).toBe(6);
  });

  it('accepts a Uint8Array that is not a Buffer', () => {
    expect(onlySpan(decoded(new Uint8Array(TINY))).name).toBe('n');
  });
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
