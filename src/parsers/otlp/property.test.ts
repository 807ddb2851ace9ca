import fc from 'fast-check';
import type { ParseResult, RawRecord } from '../../model/events';
import { encodeTraceRequest, toOtlpJson, type TraceRequestInput, type ValueInput } from './encode';
import { otlpParser } from './index';
import { decodeTraceRequest } from './proto';

const parse = otlpParser.create();
const rec = (value: Uint8Array | string): RawRecord => ({
  value: typeof value === 'string' ? Buffer.from(value) : Buffer.from(value),
  ref: { source: 'otlp', topic: 'otlp_spans', partition: 1, offset: '7' },
  receivedAtMs: 0,
});

/** A parse must come back as a well-formed value and quickly, whatever the input. */
function wellFormed(res: ParseResult): boolean {
  if (res.ok) return res.events.every((e) => e.source === 'otlp' && /^[0-9a-f]{32}$/.test(e.join.traceId ?? '') && !Number.isNaN(Date.parse(e.timestamp)));
  return typeof res.rejection.code === 'string' && res.rejection.reason.length > 0;
}

const hexId = (bytes: number): fc.Arbitrary<string> =>
  fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex')).filter((h) => !/^0+$/.test(h));

const value: fc.Arbitrary<ValueInput> = fc.letrec<{ v: ValueInput }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ maxLength: 20 }),
    fc.boolean(),
    fc.integer(),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.double({ noNaN: true }).map((d) => ({ double: d })),
    fc.uint8Array({ maxLength: 8 }).map((b) => ({ bytes: b })),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 5 }), tie('v'), { maxKeys: 3 }).map((d) => ({ kvlist: d })),
  ),
})).v;

const request: fc.Arbitrary<TraceRequestInput> = fc.record({
  resourceSpans: fc.array(
    fc.record({
      resource: fc.dictionary(fc.constantFrom('service.name', 'host.name', 'k8s.pod.name', 'x'), fc.string({ maxLength: 10 }), { maxKeys: 3 }),
      scopeSpans: fc.array(
        fc.record({
          scope: fc.record({ name: fc.string({ maxLength: 10 }), version: fc.string({ maxLength: 5 }) }),
          spans: fc.array(
            fc.record({
              traceId: hexId(16),
              spanId: hexId(8),
              parentSpanId: fc.option(hexId(8), { nil: undefined }),
              name: fc.string({ maxLength: 20 }),
              kind: fc.integer({ min: 0, max: 6 }),
              startTimeUnixNano: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
              endTimeUnixNano: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
              attributes: fc.dictionary(
                fc.oneof(fc.constantFrom('http.method', 'http.request.method', 'url.full', 'http.status_code', 'client.address', 'enduser.id', 'http.target'), fc.string({ maxLength: 8 })),
                value,
                { maxKeys: 6 },
              ),
              status: fc.record({ code: fc.integer({ min: 0, max: 3 }), message: fc.string({ maxLength: 10 }) }),
            }),
            { maxLength: 4 },
          ),
        }),
        { maxLength: 2 },
      ),
    }),
    { minLength: 1, maxLength: 2 },
  ),
});

const spanCount = (r: TraceRequestInput): number => r.resourceSpans.reduce((n, rs) => n + rs.scopeSpans.reduce((m, ss) => m + ss.spans.length, 0), 0);

describe('parsers/otlp > properties', () => {
  it('returns events or a rejection for arbitrary bytes, never throws', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1024 }), (b) => wellFormed(parse(rec(b)))), { numRuns: 2000 });
  });

  it('returns events or a rejection for arbitrary strings and JSON values', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => wellFormed(parse(rec(s)))), { numRuns: 500 });
    fc.assert(fc.property(fc.jsonValue(), (v) => wellFormed(parse(rec(JSON.stringify(v) ?? 'null')))), { numRuns: 500 });
  });

  it('maps every generated request to one event per span, in both encodings', () => {
    fc.assert(
      fc.property(request, (r) => {
        const n = spanCount(r);
        const proto = parse(rec(encodeTraceRequest(r)));
        const json = parse(rec(JSON.stringify(toOtlpJson(r))));
        // An empty request encodes to zero bytes, an `empty` message.
        if (encodeTraceRequest(r).length === 0) return !proto.ok && proto.rejection.code === 'empty';
        return proto.ok && proto.events.length === n && json.ok && json.events.length === n && JSON.stringify(proto.events.map((e) => e.join)) === JSON.stringify(json.events.map((e) => e.join));
      }),
      { numRuns: 300 },
    );
  });

  it('returns events or a rejection for every truncation of a valid message', () => {
    fc.assert(
      fc.property(request, fc.nat(), (r, k) => {
        const bytes = encodeTraceRequest(r);
        const cut = bytes.subarray(0, bytes.length === 0 ? 0 : k % bytes.length);
        return wellFormed(parse(rec(cut))) && decodeTraceRequest(cut) !== undefined;
      }),
      { numRuns: 300 },
    );
  });

  it('returns events or a rejection when bytes of a valid message are corrupted', () => {
    fc.assert(
      fc.property(request, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 5 }), (r, flips) => {
        const bytes = Buffer.from(encodeTraceRequest(r));
        if (bytes.length === 0) return true;
        for (const [i, b] of flips) bytes[i % bytes.length] = b;
        return wellFormed(parse(rec(bytes)));
      }),
      { numRuns: 500 },
    );
  });

  it('finishes in linear time on adversarial length prefixes', () => {
    // Many nested empty messages and huge claimed lengths: must not hang or blow the stack.
    const nested = Buffer.concat(Array.from({ length: 100_000 }, () => Buffer.from([0x0b]))); // 100k group starts
    const t0 = Date.now();
    expect(wellFormed(parse(rec(nested)))).toBe(true);
    const lengths = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i % 2 === 0 ? 0x0a : 0x00))); // 100k empty resource spans
    expect(wellFormed(parse(rec(lengths)))).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
