import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ParsedEvent, ParseResult, RawRecord, SourceRef } from '../../model/events';
import { ConfigError } from '../../errors';
import { sha256Hex } from '../common';
import { tykParser } from './index';

const TESTDATA = path.join(__dirname, 'testdata');
const read = (f: string): string => fs.readFileSync(path.join(TESTDATA, f), 'utf8');
const JWT = read('jwt.txt').trim();

function rec(v: string | Buffer, ref: Partial<SourceRef> = {}): RawRecord {
  return {
    value: Buffer.isBuffer(v) ? v : Buffer.from(v),
    ref: { source: 'tyk', file: 'tyk.jsonl', line: 1, ...ref },
    receivedAtMs: 1714557600000,
  };
}

const parse = tykParser.create();

function one(res: ParseResult): ParsedEvent {
  if (!res.ok) throw new Error(`rejected: ${res.rejection.code} ${res.rejection.reason}`);
  expect(res.events).toHaveLength(1);
  return res.events[0]!;
}

/** The event as it would be stored: everything but `tokens`. */
const stored = (e: ParsedEvent): string => JSON.stringify({ ...e, tokens: undefined });

describe('parsers/tyk > factory', () => {
  it('declares type tyk and the json format', () => {
    expect(tykParser.type).toBe('tyk');
    expect(tykParser.formats).toEqual(['json']);
  });

  it('accepts format auto (the pipeline default) as json', () => {
    expect(tykParser.create({ format: 'auto' })(rec(read('omit-detailed.json'))).ok).toBe(true);
  });

  it('refuses bad options at create time, naming each key and the fix', () => {
    expect(() => tykParser.create({ format: 'csv' as never /* as read from YAML */ })).toThrow(/format: must be json \(or auto\) \(got "csv"\)/);
    expect(() => tykParser.create({ format: 'csv' as never })).toThrow(ConfigError);
    expect(() => tykParser.create({ maxBytes: -1, maxLabels: 1.5 })).toThrow(/maxBytes: must be an integer > 0.*maxLabels/);
  });
});

describe('parsers/tyk > kafka pump record', () => {
  const raw = read('kafka-basic.json');
  const e = one(parse(rec(raw)));

  it('maps the core fields to ECS', () => {
    expect(e.source).toBe('tyk');
    expect(e.kind).toBe('analytics');
    expect(e.timestamp).toBe('2024-05-01T10:00:00.123Z');
    expect(e.ecs).toMatchObject({
      event: { kind: 'event', category: ['web'], dataset: 'tyk.analytics', outcome: 'success', duration: 42_000_000 },
      http: { request: { method: 'POST', id: '9f1c2d3e-aaaa-bbbb-cccc-0123456789ab', body: { bytes: 27 } }, response: { status_code: 201 }, version: '1.1' },
      url: { path: '/orders', original: '/orders/v1/orders', domain: 'api.example.test' },
      source: { ip: '10.0.0.7' },
      client: { ip: '203.0.113.9' },
      user_agent: { original: 'curl/8.5.0' },
      service: { name: 'Orders API' },
      tyk: {
        api_id: '41433797848f41a558c1573d3e55a410',
        api_name: 'Orders API',
        api_version: 'v1',
        org_id: '5e9d9544a1dcd60001d0ed20',
        alias: 'partner-acme',
        tags: ['key-partner-acme', 'org-5e9d9544a1dcd60001d0ed20'],
        raw_request_encoding: 'base64',
      },
      labels: { env: 'prod', pump_host: 'pump-1' },
    });
  });

  it('offers trace, request id, client and time join keys', () => {
    expect(e.join).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      requestId: '9f1c2d3e-aaaa-bbbb-cccc-0123456789ab',
      clientIp: '203.0.113.9',
      method: 'POST',
      path: '/orders',
      startMs: Date.parse('2024-05-01T10:00:00.123Z'),
      endMs: Date.parse('2024-05-01T10:00:00.123Z') + 42,
    });
  });

  it('stores only a SHA-256 fingerprint of the API key', () => {
    const key = (JSON.parse(raw) as { api_key: string }).api_key;
    expect((e.ecs['tyk'] as Record<string, unknown>)['api_key_sha256']).toBe(sha256Hex(key));
    expect(JSON.stringify(e)).not.toContain(key);
  });

  it('hands the bearer JWT to verification and keeps only its hash in the claim', () => {
    expect(e.tokens).toEqual([JWT]);
    expect(e.claims).toContainEqual({
      method: 'jwt',
      subject: 'user-42',
      source: 'tyk',
      strength: 'jwt',
      tokenSha256: sha256Hex(JWT),
      eventId: e.id,
    });
    expect(e.claims.find((c) => c.method === 'jwt')?.verdict).toBeUndefined();
    expect(stored(e)).not.toContain(JWT);
    expect(stored(e)).not.toContain(JWT.split('.')[1]);
  });

  it('claims the key alias as an unverifiable gateway identity', () => {
    expect(e.claims).toContainEqual({ method: 'tyk_key', subject: 'partner-acme', source: 'tyk', strength: 'gateway', verdict: 'unverifiable', eventId: e.id });
  });

  it('keeps selected request headers with credentials redacted', () => {
    const headers = (e.ecs['http'] as { request: { headers: Record<string, string> } }).request.headers;
    expect(headers).toMatchObject({
      authorization: '[REDACTED]',
      'x-forwarded-for': '203.0.113.9, 10.0.0.7',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      host: 'api.example.test',
    });
    expect(headers).not.toHaveProperty('cookie');
    expect(stored(e)).not.toContain('abc123');
  });

  it('redacts every credential header when all headers are kept', () => {
    const all = one(tykParser.create({ keepRequestHeaders: ['*'] })(rec(raw)));
    const headers = (all.ecs['http'] as { request: { headers: Record<string, string> } }).request.headers;
    expect(headers['cookie']).toBe('[REDACTED]');
    expect(headers['authorization']).toBe('[REDACTED]');
    expect(headers['user-agent']).toBe('curl/8.5.0');
    expect(stored(all)).not.toContain('abc123');
  });

  it('never keeps raw_request, raw_response or the request body', () => {
    const r = JSON.parse(raw) as { raw_request: string; raw_response: string };
    const s = stored(e);
    expect(s).not.toContain(r.raw_request.slice(0, 40));
    expect(s).not.toContain(r.raw_response.slice(0, 20));
    expect(s).not.toContain('"item"');
    expect(s).not.toContain('tok-in-query');
  });

  it('derives the id from the content: a redelivered record gets the same id, another record another', () => {
    const ref = { topic: 'tyk', partition: 3, offset: '1234' };
    const a = one(parse(rec(raw, ref)));
    const b = one(parse(rec(raw, { ...ref, offset: '1240' })));
    const c = one(parse(rec(read('kafka-decoded.json'), ref)));
    expect(a.id).toBe(b.id);
    expect(a.id).not.toBe(c.id);
    expect(a.ref).toMatchObject(ref);
  });
});

describe('parsers/tyk > decoded raw_request (raw_request_decoded: true)', () => {
  const e = one(parse(rec(read('kafka-decoded.json'))));

  it('reads the plain-text request and a B3 single header', () => {
    expect((e.ecs['tyk'] as Record<string, unknown>)['raw_request_encoding']).toBe('text');
    expect(e.join.traceId).toBe('80f198ee56343ba864fe8b2a57d3eff7');
    expect(e.join.spanId).toBe('e457b5a2e4d86bd1');
    expect(e.join.requestId).toBe('req-222');
  });

  it('converts the +02:00 offset to UTC and marks a 403 as failure', () => {
    expect(e.timestamp).toBe('2024-05-01T10:00:00.000Z');
    expect((e.ecs['event'] as Record<string, unknown>)['outcome']).toBe('failure');
  });

  it('splits host and port and keeps an IPv6 client address', () => {
    expect(e.ecs['url']).toMatchObject({ domain: 'api.example.test', port: 8443 });
    expect(e.ecs['source']).toEqual({ ip: '2001:db8::5' });
    expect(e.join.clientIp).toBe('2001:db8::5');
  });

  it('claims the OAuth client id and does not take a Tyk key in Authorization for a JWT', () => {
    expect(e.claims).toEqual([{ method: 'tyk_oauth', subject: 'oauth-client-7', source: 'tyk', strength: 'gateway', verdict: 'unverifiable', eventId: e.id }]);
    expect(e.tokens).toBeUndefined();
    expect(stored(e)).not.toContain('deadbeef');
  });

  it('leaves out tags written as null', () => {
    expect(e.ecs['tyk']).not.toHaveProperty('tags');
  });
});

describe('parsers/tyk > full AnalyticsRecord (other pumps)', () => {
  const e = one(parse(rec(read('full-record.json'))));

  it('takes the duration from request_time and keeps latency and network', () => {
    expect((e.ecs['event'] as Record<string, unknown>)['duration']).toBe(1_250_000_000);
    expect(e.join.endMs! - e.join.startMs!).toBe(1250);
    expect(e.ecs['tyk']).toMatchObject({
      latency: { total: 1250, upstream: 1200, gateway: 50 },
      network: { open_connections: 1, closed_connections: 0, bytes_in: 512, bytes_out: 1024 },
      track_path: true,
      expire_at: '2024-05-08T10:00:01.000Z',
      alias: 'billing-batch',
    });
  });

  it('maps geo to source.geo', () => {
    expect((e.ecs['source'] as Record<string, unknown>)['geo']).toEqual({
      country_iso_code: 'DE',
      city_name: 'Berlin',
      location: { lat: 52.52, lon: 13.405 },
      timezone: 'Europe/Berlin',
    });
  });

  it('pads a 64-bit X-B3-TraceId to 32 hex chars', () => {
    expect(e.join.traceId).toBe('0000000000000000463ac35c9f6413ad');
    expect(e.join.spanId).toBe('a2fb4a1d1a96d312');
  });

  it('does not turn AnalyticsRecord fields into labels', () => {
    expect(e.ecs).not.toHaveProperty('labels');
  });

  it('falls back to latency.total when no request time is given', () => {
    const r = JSON.parse(read('full-record.json')) as Record<string, unknown>;
    delete r['request_time'];
    const ev = one(parse(rec(JSON.stringify(r))));
    expect((ev.ecs['event'] as Record<string, unknown>)['duration']).toBe(1_250_000_000);
  });

  it('ignores an empty geo struct (GeoIP off)', () => {
    const r = JSON.parse(read('full-record.json')) as Record<string, unknown>;
    r['geo'] = { country: { iso_code: '' }, city: { geoname_id: 0, names: null }, location: { latitude: 0, longitude: 0, time_zone: '' } };
    const ev = one(parse(rec(JSON.stringify(r))));
    expect(ev.ecs['source']).toEqual({ ip: '198.51.100.23' });
  });
});

describe('parsers/tyk > bad or missing raw_request', () => {
  it('keeps a record whose raw_request was cut by max_record_size and marks it truncated', () => {
    const e = one(parse(rec(read('truncated.json'))));
    expect(e.ecs['tyk']).toMatchObject({ raw_request_truncated: true, raw_request_encoding: 'base64' });
    // The traceparent line was cut: no half trace id.
    expect(e.join.traceId).toBeUndefined();
    // Complete header lines before the cut still count.
    expect(e.tokens).toEqual([JWT]);
  });

  it('keeps a record whose raw_request is not base64 and notes the error', () => {
    const e = one(parse(rec(read('bad-raw-request.json'))));
    expect(String((e.ecs['tyk'] as Record<string, unknown>)['raw_request_error'])).toMatch(/^invalid_base64: /);
    expect(e.join.traceId).toBeUndefined();
    expect(e.join.clientIp).toBe('10.0.0.7');
    expect(e.claims.map((c) => c.method)).toEqual(['tyk_key']);
  });

  it('notes a raw_request that is not a string', () => {
    const r = JSON.parse(read('kafka-basic.json')) as Record<string, unknown>;
    r['raw_request'] = 42;
    const e = one(parse(rec(JSON.stringify(r))));
    expect(String((e.ecs['tyk'] as Record<string, unknown>)['raw_request_error'])).toMatch(/not a string/);
  });

  it('maps a record with omit_detailed_recording and no key', () => {
    const e = one(parse(rec(read('omit-detailed.json'))));
    expect(e.timestamp).toBe('2024-05-01T10:00:02.500Z');
    expect(e.claims).toEqual([]);
    expect(e.ecs['tyk']).not.toHaveProperty('api_key_sha256');
    expect(e.ecs['tyk']).not.toHaveProperty('raw_request_error');
    expect(e.join).toEqual({ method: 'GET', path: '/healthz', clientIp: '192.0.2.1', startMs: Date.parse('2024-05-01T10:00:02.5Z'), endMs: Date.parse('2024-05-01T10:00:02.5Z') });
  });

  it('does not leak an alias that is the API key itself', () => {
    const r = JSON.parse(read('omit-detailed.json')) as Record<string, unknown>;
    r['api_key'] = 'the-key-itself-0123456789';
    r['alias'] = 'the-key-itself-0123456789';
    const e = one(parse(rec(JSON.stringify(r))));
    expect(JSON.stringify(e)).not.toContain('the-key-itself');
    expect(e.claims).toEqual([]);
  });
});

describe('parsers/tyk > rejections', () => {
  const base = JSON.parse(read('omit-detailed.json')) as Record<string, unknown>;
  const without = (k: string): string => JSON.stringify({ ...base, [k]: undefined });
  const code = (res: ParseResult): string => (res.ok ? 'ok' : res.rejection.code);

  it('rejects invalid JSON', () => {
    expect(code(parse(rec('{"method": "GET",')))).toBe('invalid_json');
  });

  it('rejects JSON that is not an object', () => {
    for (const v of ['[1,2]', '"str"', '42', 'null', 'true']) expect(code(parse(rec(v)))).toBe('invalid_json');
  });

  it('rejects a record without timestamp and names the field', () => {
    const res = parse(rec(without('timestamp')));
    expect(res).toEqual({ ok: false, rejection: { code: 'missing_field', reason: 'record has no timestamp', field: 'timestamp' } });
  });

  it('rejects a record without method and names the field', () => {
    const res = parse(rec(without('method')));
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.rejection).toMatchObject({ code: 'missing_field', field: 'method' });
  });

  it('rejects a malformed timestamp, a number and Go zero time as invalid_field', () => {
    for (const ts of ['yesterday', '2024-13-01T00:00:00Z', '2024-05-01', 1714557600, '0001-01-01T00:00:00Z']) {
      const res = parse(rec(JSON.stringify({ ...base, timestamp: ts })));
      expect(res.ok).toBe(false);
      if (!res.ok) expect(res.rejection).toMatchObject({ code: 'invalid_field', field: 'timestamp' });
    }
  });

  it('rejects a method that is not a token', () => {
    const res = parse(rec(JSON.stringify({ ...base, method: 'GET /x' })));
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.rejection).toMatchObject({ code: 'invalid_field', field: 'method' });
  });

  it('rejects empty and blank messages', () => {
    expect(code(parse(rec('')))).toBe('empty');
    expect(code(parse(rec('  \n\t')))).toBe('empty');
  });

  it('rejects invalid UTF-8', () => {
    expect(code(parse(rec(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]))))).toBe('invalid_utf8');
  });

  it('rejects a record over 1 MiB as too_large', () => {
    const big = JSON.stringify({ ...base, raw_request: 'A'.repeat(1024 * 1024) });
    expect(code(parse(rec(big)))).toBe('too_large');
  });

  it('parses a 1 MB line with a huge raw_request quickly when the limit allows it', () => {
    const head = `GET /x HTTP/1.1\r\nHost: a\r\nX-Request-Id: big-1\r\n\r\n${'b'.repeat(1_000_000)}`;
    const big = JSON.stringify({ ...base, raw_request: Buffer.from(head).toString('base64') });
    const t0 = Date.now();
    const e = one(tykParser.create({ maxBytes: 4 * 1024 * 1024 })(rec(big)));
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(e.join.requestId).toBe('big-1');
  });
});
