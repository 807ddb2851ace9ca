import { decodeTraceRequestJson } from './json';
import type { OtlpSpan } from './model';

const T = '5B8EFFF798038103D269B633813FC60C';
const S = 'EEE19B7EC3C1B174';

function span(s: Record<string, unknown>, extra: Record<string, unknown> = {}): OtlpSpan {
  const res = decodeTraceRequestJson({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: T, spanId: S, ...s }] }], ...extra }] });
  if (!res.ok) throw new Error(res.reason);
  return res.request.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
}

describe('parsers/otlp > json', () => {
  it('lower-cases hex ids of any case', () => {
    expect(span({ parentSpanId: 'AbCdEf0123456789' })).toMatchObject({ traceId: T.toLowerCase(), spanId: S.toLowerCase(), parentSpanId: 'abcdef0123456789' });
  });

  it('accepts base64 ids from the generic protobuf JSON mapping', () => {
    const s = span({ traceId: Buffer.from(T, 'hex').toString('base64'), spanId: Buffer.from(S, 'hex').toString('base64') });
    expect(s.traceId).toBe(T.toLowerCase());
    expect(s.spanId).toBe(S.toLowerCase());
  });

  it('reads int64 nanoseconds as strings or numbers, keeping the written digits', () => {
    expect(span({ startTimeUnixNano: '1544712660000000001' }).startTimeUnixNano).toBe(1544712660000000001n);
    expect(span({ startTimeUnixNano: 1714557600010000000 }).startTimeUnixNano).toBe(1714557600010000000n);
  });

  it('reads enums as integers or names', () => {
    expect(span({ kind: 3, status: { code: 2 } })).toMatchObject({ kind: 3, statusCode: 2 });
    expect(span({ kind: 'SPAN_KIND_CONSUMER', status: { code: 'STATUS_CODE_OK' } })).toMatchObject({ kind: 5, statusCode: 1 });
  });

  it('reads every AnyValue form, int64 as string or number', () => {
    const s = span({
      attributes: [
        { key: 's', value: { stringValue: 'x' } },
        { key: 'b', value: { boolValue: true } },
        { key: 'i1', value: { intValue: '42' } },
        { key: 'i2', value: { intValue: -7 } },
        { key: 'i3', value: { intValue: '9223372036854775807' } },
        { key: 'd', value: { doubleValue: 1.5 } },
        { key: 'dn', value: { doubleValue: 'NaN' } },
        { key: 'by', value: { bytesValue: 'AAEC' } },
        { key: 'a', value: { arrayValue: { values: [{ stringValue: 'y' }, { intValue: 1 }] } } },
        { key: 'kv', value: { kvlistValue: { values: [{ key: 'k', value: { boolValue: false } }] } } },
        { key: 'e', value: {} },
      ],
    });
    expect(Object.fromEntries(s.attributes)).toEqual({
      s: 'x',
      b: true,
      i1: 42,
      i2: -7,
      i3: '9223372036854775807',
      d: 1.5,
      dn: NaN,
      by: 'AAEC',
      a: ['y', 1],
      kv: new Map([['k', false]]),
      e: null,
    });
  });

  it('accepts snake_case keys and the pre-1.0 instrumentationLibrarySpans', () => {
    const res = decodeTraceRequestJson({
      resource_spans: [{ instrumentationLibrarySpans: [{ instrumentationLibrary: { name: 'old', version: '0.1' }, spans: [{ trace_id: T, span_id: S, start_time_unix_nano: '5' }] }] }],
    });
    if (!res.ok) throw new Error(res.reason);
    const ss = res.request.resourceSpans[0]!.scopeSpans[0]!;
    expect(ss).toMatchObject({ scopeName: 'old', scopeVersion: '0.1' });
    expect(ss.spans[0]).toMatchObject({ traceId: T.toLowerCase(), startTimeUnixNano: 5n });
  });

  it('ignores unknown fields', () => {
    expect(span({ somethingNew: { deep: [1, 2] }, name: 'n' }).name).toBe('n');
  });

  it('rejects wrong types with the JSON path and field name', () => {
    const res = decodeTraceRequestJson({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: T, spanId: S, attributes: [{ key: 'x', value: { intValue: 'abc' } }] }] }] }] });
    expect(res).toMatchObject({ ok: false, field: 'intValue', reason: expect.stringContaining('resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value') });
    expect(decodeTraceRequestJson({ resourceSpans: [{ scopeSpans: {} }] })).toMatchObject({ ok: false, field: 'scopeSpans' });
    expect(decodeTraceRequestJson({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 5 }] }] }] })).toMatchObject({ ok: false, field: 'name' });
    expect(decodeTraceRequestJson({ resourceSpans: [{ scopeSpans: [{ spans: [{ startTimeUnixNano: '-1' }] }] }] })).toMatchObject({ ok: false, field: 'startTimeUnixNano' });
  });

  it('rejects a document that is not an object', () => {
    for (const v of [null, [], 'x', 1]) {
      const res = decodeTraceRequestJson(v);
      expect(res.ok).toBe(false);
      if (!res.ok) expect(res.field).toBeUndefined();
    }
  });

  it('refuses values nested deeper than the limit', () => {
    let v: Record<string, unknown> = { stringValue: 'x' };
    for (let i = 0; i < 40; i++) v = { arrayValue: { values: [v] } };
    const res = decodeTraceRequestJson({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: T, spanId: S, attributes: [{ key: 'deep', value: v }] }] }] }] });
    expect(res).toMatchObject({ ok: false, reason: expect.stringContaining('nested deeper than 16') });
  });
});
