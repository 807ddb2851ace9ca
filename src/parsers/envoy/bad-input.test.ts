import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ParseResult } from '../../model/events';
import { MAX_RECORD_BYTES } from '../common';
import { envoyParser } from './index';

const TESTDATA = path.join(__dirname, 'testdata');
const fixture = (file: string): string[] =>
  fs.readFileSync(path.join(TESTDATA, file), 'utf8').split('\n').filter((l) => l.trim() !== '');

const parse = envoyParser.create();
const run = (value: Buffer | string): ParseResult =>
  parse({ value: typeof value === 'string' ? Buffer.from(value) : value, ref: { source: 'envoy', file: 'bad.log', line: 1 }, receivedAtMs: 0 });

function rejection(value: Buffer | string): { code: string; reason: string; field?: string } {
  const r = run(value);
  if (r.ok) throw new Error(`expected a rejection for ${JSON.stringify(String(value).slice(0, 80))}`);
  return r.rejection;
}

const ISTIO_TEXT = fixture('istio-text.log')[0]!;
const ISTIO_JSON = fixture('istio-json.log')[0]!;
const ENVOY_TEXT = fixture('envoy-text.log')[0]!;

describe('parsers/envoy > bad input', () => {
  it('rejects an empty record and a blank one as empty', () => {
    expect(rejection(Buffer.alloc(0)).code).toBe('empty');
    expect(rejection('  \n\t\n').code).toBe('empty');
    expect(rejection('{"message":"   "}').code).toBe('empty');
  });

  it('rejects invalid UTF-8', () => {
    expect(rejection(Buffer.from([0x5b, 0xff, 0xfe, 0x5d, 0x20, 0xc3])).code).toBe('invalid_utf8');
  });

  it('rejects a record over 1 MiB as too_large without parsing it', () => {
    const big = Buffer.alloc(MAX_RECORD_BYTES + 1, 0x61);
    const r = rejection(big);
    expect(r.code).toBe('too_large');
    expect(r.reason).toContain(String(MAX_RECORD_BYTES));
  });

  it('parses a line of almost 1 MB with a huge quoted user agent', () => {
    const ua = 'x'.repeat(1_000_000);
    const r = run(ISTIO_TEXT.replace('python-requests/2.31.0', ua));
    expect(r.ok).toBe(true);
    if (r.ok) expect((r.events[0]!.ecs['user_agent'] as { original: string }).original).toHaveLength(1_000_000);
  });

  it('rejects a 1 MB line of garbage as an unsupported format, quoting only its start', () => {
    const r = rejection('z'.repeat(1_000_000));
    expect(r.code).toBe('unsupported_format');
    expect(r.reason.length).toBeLessThan(500);
  });

  it('rejects invalid JSON with the position of the error', () => {
    const r = rejection('{"start_time": "2024-01-01T00:00:00Z", "method" "GET"}');
    expect(r.code).toBe('invalid_json');
    expect(r.reason).toMatch(/at position 48/);
    expect(r.reason).toMatch(/line 1 column 49/);
  });

  it('rejects a truncated JSON line as invalid JSON at the end of input', () => {
    const cut = ISTIO_JSON.slice(0, 200);
    const r = rejection(cut);
    expect(r.code).toBe('invalid_json');
    expect(r.reason).toMatch(/position (199|200)/);
  });

  it('rejects a truncated text line as an unsupported format naming the formats tried', () => {
    const r = rejection(ISTIO_TEXT.slice(0, 120));
    expect(r.code).toBe('unsupported_format');
    expect(r.reason).toContain('istio_text');
    expect(r.reason).toContain('envoy_text');
    expect(r.reason).toContain('envoy.textFormat');
  });

  it('rejects a JSON array, number or string as unsupported', () => {
    expect(rejection('[1,2,3]').code).toBe('unsupported_format');
    expect(rejection('42').code).toBe('unsupported_format');
    expect(rejection('"ACCESS"').code).toBe('unsupported_format');
  });

  it('rejects a JSON object with no access-log keys and says to map them with jsonFormat', () => {
    const r = rejection('{"level":"info","msg":"started"}');
    expect(r.code).toBe('unsupported_format');
    expect(r.reason).toContain('jsonFormat');
  });

  it('rejects a wrapper whose message is not an access log', () => {
    expect(rejection('{"log":"[2024-01-01 00:00:00.000][1][info][main] starting\\n"}').code).toBe('unsupported_format');
  });

  it('rejects a bad status code as invalid_field naming the field', () => {
    const bad = ISTIO_TEXT.replace('" 200 - via_upstream', '" 2x0 - via_upstream');
    expect(rejection(bad)).toMatchObject({ code: 'invalid_field', field: 'response_code' });
    expect(rejection(ISTIO_JSON.replace('"response_code":201', '"response_code":-1'))).toMatchObject({ code: 'invalid_field', field: 'response_code' });
    expect(rejection(ISTIO_JSON.replace('"response_code":201', '"response_code":1000'))).toMatchObject({ code: 'invalid_field', field: 'response_code' });
    expect(rejection(ISTIO_JSON.replace('"response_code":201', '"response_code":{"a":1}'))).toMatchObject({ code: 'invalid_field', field: 'response_code' });
  });

  it('rejects a bad start time as invalid_field naming the field', () => {
    expect(rejection(ENVOY_TEXT.replace('2024-02-01T12:00:00.100Z', 'not-a-time'))).toMatchObject({ code: 'invalid_field', field: 'start_time' });
    expect(rejection(ISTIO_JSON.replace('2024-03-11T08:15:42.318Z', '2024-02-31T99:00:00Z'))).toMatchObject({ code: 'invalid_field', field: 'start_time' });
  });

  it('rejects non-numeric byte counts and durations as invalid_field', () => {
    expect(rejection(ISTIO_JSON.replace('"bytes_sent":1290', '"bytes_sent":"lots"'))).toMatchObject({ code: 'invalid_field', field: 'bytes_sent' });
    expect(rejection(ISTIO_JSON.replace('"duration":27', '"duration":2.5'))).toMatchObject({ code: 'invalid_field', field: 'duration' });
  });

  it('names the failing line of a multi-line record', () => {
    const r = rejection(`${ENVOY_TEXT}\n${ENVOY_TEXT.slice(0, 30)}`);
    expect(r.code).toBe('unsupported_format');
    expect(r.reason).toMatch(/^line 2: /);
  });

  it('never throws on random bytes', () => {
    let seed = 42;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 500; i++) {
      const len = Math.floor(rnd() * 300);
      const buf = Buffer.alloc(len);
      for (let j = 0; j < len; j++) buf[j] = Math.floor(rnd() * 256);
      if (rnd() < 0.3 && len > 0) buf[0] = 0x7b; // '{'
      if (rnd() < 0.3 && len > 0) buf[0] = 0x5b; // '['
      const r = run(buf);
      expect(typeof r.ok).toBe('boolean');
      if (!r.ok) expect(r.rejection.reason).not.toMatch(/^parser error/);
    }
  });
});
