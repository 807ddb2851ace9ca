import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Ecs, ParsedEvent, ParseResult, RawRecord, SourceRef } from '../../model/events';
import { encodeTraceRequest, toOtlpJson, type SpanInput, type TraceRequestInput } from './encode';
import { otlpParser } from './index';

const TESTDATA = path.join(__dirname, 'testdata');
const read = (f: string): Buffer => fs.readFileSync(path.join(TESTDATA, f));

const rec = (value: Buffer | string, ref: Partial<SourceRef> = {}): RawRecord => ({
  value: Buffer.isBuffer(value) ? value : Buffer.from(value),
  ref: { source: 'otlp', topic: 'otlp_spans', partition: 0, offset: '100', ...ref },
  receivedAtMs: 1714557700000,
});

const parse = otlpParser.create();

function events(res: ParseResult): ParsedEvent[] {
  if (!res.ok) throw new Error(`rejected: ${res.rejection.code} ${res.rejection.reason}`);
  return res.events;
}

function rejection(res: ParseResult): { code: string; reason: string; field?: string } {
  if (res.ok) throw new Error('expected a rejection');
  return res.rejection;
}

const get = (e: ParsedEvent, p: string): unknown => p.split('.').reduce<unknown>((o, k) => (o as Ecs | undefined)?.[k], e.ecs);

/** JSON fixture → the same request as protobuf bytes, via the encoder (both forms must map the same). */
function asProto(json: Buffer): Buffer {
  type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const value = (v: J): unknown => {
    if ('stringValue' in v) return v['stringValue'];
    if ('intValue' in v) return BigInt(v['intValue']);
    if ('boolValue' in v) return v['boolValue'];
    if ('doubleValue' in v) return { double: v['doubleValue'] };
    if ('arrayValue' in v) return (v['arrayValue'].values as J[]).map(value);
    return null;
  };
  const attrs = (l: J[] | undefined): Record<string, never> => Object.fromEntries((l ?? []).map((a) => [a['key'], value(a['value'])]));
  const doc = JSON.parse(json.toString('utf8')) as J;
  const input: TraceRequestInput = {
    resourceSpans: (doc['resourceSpans'] as J[]).map((rs) => ({
      resource: attrs(rs['resource']?.attributes),
      scopeSpans: (rs['scopeSpans'] as J[]).map((ss) => ({
        scope: ss['scope'],
        spans: (ss['spans'] as J[]).map(
          (s): SpanInput => ({
            traceId: String(s['traceId']).toLowerCase(),
            spanId: String(s['spanId']).toLowerCase(),
            parentSpanId: s['parentSpanId'],
            name: s['name'],
            kind: s['kind'],
            startTimeUnixNano: BigInt(String(s['startTimeUnixNano'])),
            endTimeUnixNano: BigInt(String(s['endTimeUnixNano'])),
            attributes: attrs(s['attributes']),
            status: s['status'],
            events: (s['events'] as J[] | undefined)?.map((e) => ({ timeUnixNano: BigInt(e['timeUnixNano']), name: e['name'], attributes: attrs(e['attributes']) })),
            links: (s['links'] as J[] | undefined)?.map((l) => ({ traceId: l['traceId'], spanId: l['spanId'] })),
          }),
        ),
      })),
    })),
  };
  return encodeTraceRequest(input);
}

describe('parsers/otlp > factory', () => {
  it('declares type otlp and its formats, auto first', () => {
    expect(otlpParser.type).toBe('otlp');
    expect(otlpParser.formats).toEqual(['auto', 'otlp_proto', 'otlp_json']);
  });

  it('refuses bad options at create time, naming each key and the fix', () => {
    expect(() => otlpParser.create({ format: 'jaeger_proto' as never /* as read from YAML */ })).toThrow(/format: must be one of auto, otlp_proto, otlp_json \(got "jaeger_proto"\)/);
    expect(() => otlpParser.create({ maxBytes: 0, maxExtraAttributes: -1 })).toThrow(/maxBytes: must be an integer > 0.*maxExtraAttributes/);
  });
});

describe.each([
  ['otlp_json', (b: Buffer) => b],
  ['otlp_proto', asProto],
])('parsers/otlp > current semantic conventions (%s)', (_format, to) => {
  const evs = events(parse(rec(to(read('new-semconv.json')))));
  const [server, client, internal] = evs as [ParsedEvent, ParsedEvent, ParsedEvent];

  it('emits one event per span with indexed refs and distinct deterministic ids', () => {
    expect(evs).toHaveLength(3);
    expect(evs.map((e) => e.ref.index)).toEqual([0, 1, 2]);
    expect(evs.every((e) => e.source === 'otlp' && e.kind === 'span')).toBe(true);
    expect(new Set(evs.map((e) => e.id)).size).toBe(3);
    expect(events(parse(rec(to(read('new-semconv.json'))))).map((e) => e.id)).toEqual(evs.map((e) => e.id));
    expect(server.ref).toMatchObject({ topic: 'otlp_spans', partition: 0, offset: '100' });
  });

  it('maps a server span: ids lower-cased, HTTP, URL, client address, user, duration', () => {
    expect(server.timestamp).toBe('2024-05-01T10:00:00.000Z');
    expect(server.ecs).toMatchObject({
      event: { kind: 'event', dataset: 'otlp.span', category: ['web'], outcome: 'success', duration: 250_000_000 },
      trace: { id: '0af7651916cd43dd8448eb211c80319c' },
      span: { id: 'b7ad6b7169203331', name: 'POST /api/checkout', kind: 'server' },
      transaction: { id: 'b7ad6b7169203331' },
      http: {
        request: { method: 'POST', id: '7c5e2a1b-0000-4000-8000-000000000001', body: { bytes: 512 } },
        response: { status_code: 201 },
        version: '2',
      },
      url: { path: '/api/checkout', scheme: 'https', domain: 'shop.example.test', query: 'cart=42&session_token=[REDACTED]' },
      source: { ip: '203.0.113.50', port: 51234 },
      destination: { domain: 'shop.example.test', port: 443 },
      user_agent: { original: 'Mozilla/5.0 (X11; Linux x86_64)' },
      user: { id: 'alice@example.test' },
      otel: { scope: { name: 'go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp', version: '0.49.0' } },
    });
    expect(server.ecs).not.toHaveProperty('parent');
  });

  it('copies resource attributes to service, host, orchestrator and kubernetes', () => {
    expect(server.ecs).toMatchObject({
      service: { name: 'checkout', namespace: 'shop', version: '2.3.1', instance: { id: '627cc493-f310-47de-96bd-71410b7dec09' } },
      host: { name: 'checkout-5d8f7-x2x4q' },
      orchestrator: { type: 'kubernetes', namespace: 'shop', cluster: { name: 'prod-eu' } },
      kubernetes: { namespace: 'shop', pod: { name: 'checkout-5d8f7-x2x4q' }, node: { name: 'node-3' }, deployment: { name: 'checkout' } },
    });
  });

  it('offers trace, request id, client and time join keys', () => {
    expect(server.join).toEqual({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      requestId: '7c5e2a1b-0000-4000-8000-000000000001',
      clientIp: '203.0.113.50',
      clientPort: 51234,
      serverPort: 443,
      method: 'POST',
      path: '/api/checkout',
      startMs: 1714557600000,
      endMs: 1714557600250,
    });
  });

  it('claims enduser.id as an asserted, unverifiable identity', () => {
    expect(server.claims).toEqual([
      { method: 'otel_enduser', subject: 'alice@example.test', source: 'otlp', strength: 'asserted', verdict: 'unverifiable', eventId: server.id },
    ]);
  });

  it('redacts a captured Authorization header and never stores the token', () => {
    expect(get(server, 'otel.attributes')).toMatchObject({ 'http.request.header.authorization': '[REDACTED]', 'http.route': '/api/checkout' });
    expect(JSON.stringify(evs)).not.toContain('eyJhbGciOiJIUzI1NiJ9');
  });

  it('maps a client span to the destination it called, with parent and error details', () => {
    expect(client.ecs).toMatchObject({
      span: { kind: 'client' },
      parent: { id: 'b7ad6b7169203331' },
      event: { outcome: 'failure', duration: 80_000_000 },
      url: { full: 'http://[REDACTED]@inventory.shop.svc:8080/v1/stock?sku=9&api_key=[REDACTED]', path: '/v1/stock', scheme: 'http', domain: 'inventory.shop.svc' },
      destination: { domain: 'inventory.shop.svc', port: 8080 },
      error: { type: '*url.Error', message: 'connection refused' },
      otel: { status_code: 'ERROR' },
    });
    expect(client.ecs).not.toHaveProperty('source');
    expect(client.ecs).not.toHaveProperty('transaction');
    expect(client.join).toMatchObject({ parentSpanId: 'b7ad6b7169203331', serverPort: 8080, path: '/v1/stock' });
    expect(client.join.clientIp).toBeUndefined();
    expect(JSON.stringify(client)).not.toContain('k-123');
    expect(JSON.stringify(client)).not.toContain(':pw@');
  });

  it('keeps unmapped attributes of an internal span, redacting secrets, and valid links', () => {
    expect(internal.ecs).toMatchObject({
      span: { kind: 'internal', name: 'price.compute' },
      event: { outcome: 'success', duration: 500_000 },
      otel: {
        status_code: 'OK',
        attributes: { 'price.items': 3, 'price.currency': 'EUR', 'db.password': '[REDACTED]' },
        links: [{ trace: { id: '11111111111111111111111111111111' }, span: { id: '2222222222222222' } }],
      },
    });
    expect(internal.ecs).not.toHaveProperty('http');
    expect(internal.ecs).not.toHaveProperty('event.category');
  });
});

describe.each([
  ['otlp_json', (b: Buffer) => b],
  ['otlp_proto', asProto],
])('parsers/otlp > older semantic conventions (%s)', (_format, to) => {
  const [server, client] = events(parse(rec(to(read('old-semconv.json'))))) as [ParsedEvent, ParsedEvent];

  it('reads http.method, http.target, http.host, http.status_code, http.flavor, http.user_agent', () => {
    expect(server.ecs).toMatchObject({
      http: { request: { method: 'GET' }, response: { status_code: 404 }, version: '1.1' },
      url: { path: '/orders/77', query: 'expand=items&access_token=[REDACTED]', scheme: 'http', domain: 'orders.example.test' },
      user_agent: { original: 'okhttp/3.14' },
      event: { outcome: 'failure' },
      user: { id: 'bob' },
      otel: { attributes: { 'thread.id': 41 } },
    });
    expect(JSON.stringify(server)).not.toContain('secret-1');
  });

  it('reads net.peer.ip/port as the client and net.host.port as the server', () => {
    expect(server.ecs['source']).toEqual({ ip: '192.0.2.44', port: 40000 });
    expect(server.join).toMatchObject({ clientIp: '192.0.2.44', clientPort: 40000, serverPort: 8080 });
  });

  it('claims user.id when enduser.id is absent', () => {
    expect(server.claims).toEqual([expect.objectContaining({ method: 'otel_enduser', subject: 'bob' })]);
  });

  it('takes the path of http.url and net.peer.name as destination on a client span', () => {
    expect(client.ecs).toMatchObject({
      url: { full: 'https://payments.example.test/v2/charges/9?x=1', path: '/v2/charges/9', scheme: 'https', domain: 'payments.example.test' },
      destination: { domain: 'payments.example.test', port: 443 },
      event: { outcome: 'success' },
    });
  });
});

describe('parsers/otlp > Envoy tracer spans', () => {
  const [e] = events(parse(rec(read('envoy.json')))) as [ParsedEvent];

  it('reads guid:x-request-id, a string status code, peer.address, user_agent and http.protocol', () => {
    expect(e.join).toMatchObject({ requestId: 'f0a6c1d2-3b4c-4d5e-8f90-123456789abc', clientIp: '172.16.0.9', method: 'GET', path: '/users/17' });
    expect(e.ecs).toMatchObject({
      http: { request: { method: 'GET', id: 'f0a6c1d2-3b4c-4d5e-8f90-123456789abc' }, response: { status_code: 403 }, version: '1.1' },
      event: { outcome: 'failure' },
      user_agent: { original: 'curl/8.5.0' },
      source: { ip: '172.16.0.9' },
      url: { domain: 'api.example.test', path: '/users/17' },
    });
    expect(get(e, 'otel.attributes.upstream_cluster')).toBe('outbound|80||users.default.svc.cluster.local');
  });
});

describe('parsers/otlp > mapping rules', () => {
  const T = 'ab'.repeat(16);
  const S = 'cd'.repeat(8);
  const one = (span: Partial<SpanInput>, opts = {}): ParsedEvent => {
    const bytes = encodeTraceRequest({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: T, spanId: S, startTimeUnixNano: 1714557600000000000n, endTimeUnixNano: 1714557600001000000n, ...span }] }] }] });
    return events(otlpParser.create(opts)(rec(bytes)))[0]!;
  };
  const outcome = (span: Partial<SpanInput>): unknown => get(one(span), 'event.outcome');

  it('derives event.outcome from status, then HTTP status, then gRPC status', () => {
    expect(outcome({ status: { code: 2 }, attributes: { 'http.response.status_code': 200 } })).toBe('failure');
    expect(outcome({ kind: 2, attributes: { 'http.response.status_code': 404 } })).toBe('failure');
    expect(outcome({ attributes: { 'http.status_code': 302 } })).toBe('success');
    expect(outcome({ attributes: { 'rpc.grpc.status_code': 0 } })).toBe('success');
    expect(outcome({ attributes: { 'rpc.grpc.status_code': 7 } })).toBe('failure');
    expect(outcome({ status: { code: 1 } })).toBe('success');
    expect(outcome({})).toBe('unknown');
  });

  it('sets transaction.id on server and consumer spans and on roots, not on child client spans', () => {
    expect(get(one({ kind: 5, parentSpanId: 'ef'.repeat(8) }), 'transaction.id')).toBe(S);
    expect(get(one({ kind: 3 }), 'transaction.id')).toBe(S);
    expect(get(one({ kind: 3, parentSpanId: 'ef'.repeat(8) }), 'transaction')).toBeUndefined();
  });

  it('treats an all-zero parent span id as a root span', () => {
    const e = one({ parentSpanId: '0000000000000000' });
    expect(e.join.parentSpanId).toBeUndefined();
    expect(e.ecs).not.toHaveProperty('parent');
  });

  it('uses http.request.method_original for _OTHER methods', () => {
    expect(one({ attributes: { 'http.request.method': '_OTHER', 'http.request.method_original': 'PURGE' } }).join.method).toBe('PURGE');
  });

  it('keeps IPv6 and host:port peer addresses apart', () => {
    expect(one({ kind: 2, attributes: { 'network.peer.address': '2001:db8::1', 'network.peer.port': 443 } }).ecs['source']).toEqual({ ip: '2001:db8::1', port: 443 });
    expect(one({ kind: 2, attributes: { 'peer.address': '10.0.0.1:5555' } }).ecs['source']).toEqual({ ip: '10.0.0.1', port: 5555 });
  });

  it('caps otel.attributes and long values, and counts what it left out', () => {
    const attributes = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`x.k${i}`, 'v'.repeat(50)]));
    const e = one({ attributes }, { maxExtraAttributes: 3, maxValueLength: 10 });
    const kept = get(e, 'otel.attributes') as Record<string, unknown>;
    expect(Object.keys(kept)).toEqual(['x.k0', 'x.k1', 'x.k2', 'otel.dropped_attributes']);
    expect(kept['x.k0']).toBe(`${'v'.repeat(10)}…`);
    expect(kept['otel.dropped_attributes']).toBe(7);
    expect(get(one({ attributes }, { maxExtraAttributes: 0 }), 'otel')).toBeUndefined();
  });

  it('flattens kvlist attributes and never creates a __proto__ key', () => {
    const e = one({ attributes: { obj: new Map<string, string>([['a', '1'], ['__proto__', 'x']]), __proto__x: 'ok' } as never });
    const attrs = get(e, 'otel.attributes') as Record<string, unknown>;
    expect(attrs['obj.a']).toBe('1');
    expect(attrs['obj.__proto__']).toBe('x');
    expect(Object.getPrototypeOf(attrs)).toBe(Object.prototype);
  });

  it('redacts credential query parameters in a span name that carries a URL', () => {
    expect(get(one({ name: 'GET /cb?code=abc&state=1' }), 'span.name')).toBe('GET /cb?code=[REDACTED]&state=1');
  });

  it('falls back to the receive time for a span without a start time', () => {
    const bytes = encodeTraceRequest({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: T, spanId: S }] }] }] });
    const [e] = events(parse(rec(bytes)));
    expect(e!.timestamp).toBe(new Date(1714557700000).toISOString());
    expect(get(e!, 'event.duration')).toBeUndefined();
  });

  it('leaves out event.duration when the end is before the start', () => {
    const e = one({ startTimeUnixNano: 2_000_000_000n, endTimeUnixNano: 1_000_000_000n });
    expect(get(e, 'event.duration')).toBeUndefined();
    expect(e.join.endMs).toBe(e.join.startMs);
  });

  it('counts the span index across resources and scopes', () => {
    const span = { traceId: T, spanId: S };
    const bytes = encodeTraceRequest({
      resourceSpans: [
        { scopeSpans: [{ spans: [span, span] }, { spans: [span] }] },
        { scopeSpans: [{ spans: [span] }] },
      ],
    });
    const evs = events(parse(rec(bytes)));
    expect(evs.map((e) => e.ref.index)).toEqual([0, 1, 2, 3]);
    expect(new Set(evs.map((e) => e.id)).size).toBe(4);
  });
});

describe('parsers/otlp > rejections and bad input', () => {
  const T = 'ab'.repeat(16);
  const S = 'cd'.repeat(8);
  const req = (spans: SpanInput[]): TraceRequestInput => ({ resourceSpans: [{ scopeSpans: [{ spans }] }] });

  it('accepts a request with zero spans as ok with zero events', () => {
    // (A request with no resource spans at all encodes to zero bytes: that is an `empty` message.)
    expect(rejection(parse(rec(encodeTraceRequest({ resourceSpans: [] })))).code).toBe('empty');
    expect(parse(rec(encodeTraceRequest({ resourceSpans: [{ resource: { 'service.name': 'x' }, scopeSpans: [] }] })))).toEqual({ ok: true, events: [] });
    expect(parse(rec('{"resourceSpans":[]}'))).toEqual({ ok: true, events: [] });
    expect(parse(rec('{}'))).toEqual({ ok: true, events: [] });
  });

  it('reads non-finite double attributes the same from protobuf and from OTLP/JSON (proto3 JSON writes them as strings)', () => {
    const input = req([{ traceId: T, spanId: S, attributes: { 'x.neg': { double: Number.NEGATIVE_INFINITY }, 'x.pos': Number.POSITIVE_INFINITY, 'x.nan': { double: Number.NaN } } }]);
    const json = JSON.stringify(toOtlpJson(input));
    expect(json).toContain('"doubleValue":"-Infinity"');
    const [fromProto] = events(parse(rec(encodeTraceRequest(input))));
    const [fromJson] = events(parse(rec(json)));
    expect(fromJson!.join).toEqual(fromProto!.join);
    expect(get(fromJson!, 'otel.attributes')).toEqual(get(fromProto!, 'otel.attributes'));
  });

  it.each([
    ['a short trace id', 'abcd', S],
    ['an all-zero trace id', '0'.repeat(32), S],
    ['a missing trace id', '', S],
  ])('rejects the whole request for %s, naming traceId', (_what, traceId, spanId) => {
    for (const bytes of [encodeTraceRequest(req([{ traceId: T, spanId: S }, { traceId, spanId }])), Buffer.from(JSON.stringify(toOtlpJson(req([{ traceId: T, spanId: S }, { traceId, spanId }]))))]) {
      const r = rejection(parse(rec(bytes)));
      expect(r).toMatchObject({ code: 'invalid_field', field: 'traceId' });
      expect(r.reason).toMatch(/^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[1\]\.traceId: /);
    }
  });

  it('rejects a non-hex trace id in JSON, naming traceId', () => {
    const json = JSON.stringify(toOtlpJson(req([{ traceId: 'zz'.repeat(16), spanId: S }])));
    expect(rejection(parse(rec(json)))).toMatchObject({ code: 'invalid_field', field: 'traceId' });
  });

  it('rejects an invalid span id or a wrong-length parent span id, naming the field', () => {
    expect(rejection(parse(rec(encodeTraceRequest(req([{ traceId: T, spanId: '00'.repeat(8) }])))))).toMatchObject({ code: 'invalid_field', field: 'spanId' });
    expect(rejection(parse(rec(encodeTraceRequest(req([{ traceId: T, spanId: S, parentSpanId: 'abcd' }])))))).toMatchObject({
      code: 'invalid_field',
      field: 'parentSpanId',
    });
  });

  it('rejects truncated protobuf with invalid_protobuf and the byte offset', () => {
    const bytes = encodeTraceRequest(req([{ traceId: T, spanId: S, name: 'x', attributes: { a: 'b' } }]));
    const r = rejection(parse(rec(bytes.subarray(0, bytes.length - 3))));
    expect(r.code).toBe('invalid_protobuf');
    expect(r.reason).toMatch(/at byte offset \d+$/);
  });

  it('rejects random bytes with invalid_protobuf', () => {
    expect(rejection(parse(rec(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]))))).toMatchObject({ code: 'invalid_protobuf' });
    expect(rejection(parse(rec(Buffer.from('hello world, not protobuf'))))).toMatchObject({ code: 'invalid_protobuf' });
  });

  it('rejects invalid JSON, and JSON that is not a request', () => {
    expect(rejection(parse(rec('{"resourceSpans": [')))).toMatchObject({ code: 'invalid_json' });
    expect(rejection(parse(rec('{"resourceSpans": 5}')))).toMatchObject({ code: 'invalid_field', field: 'resourceSpans' });
    expect(rejection(otlpParser.create({ format: 'otlp_json' })(rec('"x"')))).toMatchObject({ code: 'invalid_json' });
    expect(rejection(parse(rec(' [1,2]')))).toMatchObject({ code: 'unsupported_format' });
  });

  it('names the JSON path of a field of the wrong type', () => {
    const json = '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"' + T + '","spanId":"' + S + '","startTimeUnixNano":"soon"}]}]}]}';
    const r = rejection(parse(rec(json)));
    expect(r).toMatchObject({ code: 'invalid_field', field: 'startTimeUnixNano' });
    expect(r.reason).toContain('resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano');
  });

  it('rejects empty and blank messages', () => {
    expect(rejection(parse(rec(''))).code).toBe('empty');
    expect(rejection(parse(rec(' \n '))).code).toBe('empty');
  });

  it('rejects invalid UTF-8 in a JSON message', () => {
    expect(rejection(parse(rec(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d])))).code).toBe('invalid_utf8');
  });

  it('rejects compressed payloads as unsupported_format, saying what they are', () => {
    const gz = gzipSync(encodeTraceRequest(req([{ traceId: T, spanId: S }])));
    expect(rejection(parse(rec(gz)))).toMatchObject({ code: 'unsupported_format', reason: expect.stringContaining('gzip') });
  });

  it('rejects a record over maxBytes (default 16 MiB) as too_large', () => {
    expect(rejection(otlpParser.create({ maxBytes: 1000 })(rec(Buffer.alloc(1001, 0x20)))).code).toBe('too_large');
    const big = Buffer.alloc(16 * 1024 * 1024 + 1);
    expect(rejection(parse(rec(big))).code).toBe('too_large');
  });

  it('rejects a request with more spans than maxSpans as too_large, in both formats', () => {
    const spans = Array.from({ length: 3 }, () => ({ traceId: T, spanId: S }));
    const p = otlpParser.create({ maxSpans: 2 });
    expect(rejection(p(rec(encodeTraceRequest(req(spans))))).code).toBe('too_large');
    expect(rejection(p(rec(JSON.stringify(toOtlpJson(req(spans)))))).code).toBe('too_large');
  });

  it('parses a 1 MB line (JSON) and a 1 MB protobuf message quickly', () => {
    const spans = Array.from({ length: 2000 }, (_, i) => ({
      traceId: T,
      spanId: (i + 1).toString(16).padStart(16, '0'),
      name: 'op',
      attributes: { 'http.request.method': 'GET', 'url.path': `/p/${i}`, note: 'n'.repeat(300) },
    }));
    const json = Buffer.from(JSON.stringify(toOtlpJson(req(spans))));
    const proto = encodeTraceRequest(req(spans));
    expect(json.length).toBeGreaterThan(1_000_000);
    const t0 = Date.now();
    expect(events(parse(rec(json)))).toHaveLength(2000);
    expect(events(parse(rec(proto)))).toHaveLength(2000);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('auto-detects protobuf whose first length byte is { or [ after the leading 0x0a', () => {
    for (const marker of [0x7b, 0x5b]) {
      let bytes: Buffer = Buffer.alloc(0);
      for (let n = 0; n < 200; n++) {
        bytes = encodeTraceRequest(req([{ traceId: T, spanId: S, name: 'x'.repeat(n) }]));
        if (bytes[1] === marker) break;
      }
      expect([bytes[0], bytes[1]]).toEqual([0x0a, marker]);
      expect(events(parse(rec(bytes)))).toHaveLength(1);
    }
  });

  it('reads several requests from one OTLP/JSON text, one per line (file exporter)', () => {
    const line = (spanId: string): string => JSON.stringify(toOtlpJson(req([{ traceId: T, spanId }])));
    const evs = events(parse(rec(`${line(S)}\n${line('ef'.repeat(8))}\n`)));
    expect(evs.map((e) => [e.join.spanId, e.ref.index])).toEqual([[S, 0], ['ef'.repeat(8), 1]]);
    expect(rejection(parse(rec(`${line(S)}\n{oops\n`)))).toMatchObject({ code: 'invalid_json', reason: expect.stringContaining('line 2') });
  });

  it('skips a UTF-8 byte order mark before JSON', () => {
    const json = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(toOtlpJson(req([{ traceId: T, spanId: S }]))))]);
    expect(events(parse(rec(json)))).toHaveLength(1);
  });

  it('honours a forced format', () => {
    const bytes = encodeTraceRequest(req([{ traceId: T, spanId: S }]));
    expect(events(otlpParser.create({ format: 'otlp_proto' })(rec(bytes)))).toHaveLength(1);
    expect(rejection(otlpParser.create({ format: 'otlp_json' })(rec(bytes))).code).toMatch(/invalid_json|invalid_utf8/);
    expect(rejection(otlpParser.create({ format: 'otlp_proto' })(rec('{"resourceSpans":[]}'))).code).toBe('invalid_protobuf');
  });
});
