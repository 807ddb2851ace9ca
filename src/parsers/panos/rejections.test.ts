import { randomBytes } from 'node:crypto';
import { MAX_RECORD_BYTES } from '../common';
import { panosParser } from './index';
import { fixtures, only, record } from './testdata/fixtures';

const traffic = fixtures('traffic.log');
const other = fixtures('other.log');
const parse = panosParser.create();

function rejection(input: string | Buffer) {
  const r = parse(record(input));
  if (r.ok) throw new Error(`expected a rejection, got ${r.events.length} event(s)`);
  return r.rejection;
}

describe('parsers/panos > bad input', () => {
  it('rejects an empty message and a blank one as empty', () => {
    expect(rejection(Buffer.alloc(0)).code).toBe('empty');
    expect(rejection(' \r\n\t').code).toBe('empty');
  });

  it('rejects invalid UTF-8 bytes', () => {
    const line = Buffer.from(traffic['classic-bare']!);
    const bad = Buffer.concat([line.subarray(0, 40), Buffer.from([0xc3, 0x28, 0xff]), line.subarray(40)]);
    expect(rejection(bad).code).toBe('invalid_utf8');
  });

  it('rejects a record over 1 MiB as too_large', () => {
    const big = Buffer.alloc(MAX_RECORD_BYTES + 1, 'a');
    expect(rejection(big)).toMatchObject({ code: 'too_large' });
  });

  it('rejects a 1 MB line of garbage (under the limit) as unsupported_format', () => {
    const r = rejection('x'.repeat(1_000_000));
    expect(r.code).toBe('unsupported_format');
  });

  it('rejects a 1 MB line of commas as an unknown log type', () => {
    expect(rejection(','.repeat(1_000_000)).code).toBe('unknown_type');
  });

  it('rejects random bytes', () => {
    // fixed bytes: 0xfe/0xff never occur in UTF-8
    expect(rejection(Buffer.from([0xfe, 0x00, 0x41, 0xff, 0x10])).code).toBe('invalid_utf8');
    for (let i = 0; i < 50; i++) {
      expect(['invalid_utf8', 'unsupported_format', 'unknown_type', 'empty']).toContain(rejection(randomBytes(64 + i)).code);
    }
  });

  it('rejects free text that is neither a CSV row nor CEF', () => {
    expect(rejection('hello world, this is not a firewall log').code).toBe('unsupported_format');
    expect(rejection('Feb 10 08:15:42 PA-850-edge sshd[42]: Accepted password for root').code).toBe('unsupported_format');
  });

  it('rejects a row with too few columns for its type, naming the type and counts', () => {
    const r = rejection(traffic['too-few']!);
    expect(r.code).toBe('wrong_field_count');
    expect(r.reason).toContain('TRAFFIC');
    expect(r.reason).toContain('30');
    expect(r.reason).toContain('47');
  });

  it.each([0.15, 0.3, 0.5, 0.6])('rejects a TRAFFIC line truncated at %p of its length', (frac) => {
    const line = traffic['classic-bare']!;
    const cut = line.slice(0, Math.floor(line.length * frac));
    expect(['wrong_field_count', 'unsupported_format', 'invalid_field']).toContain(rejection(cut).code);
  });

  it('rejects a line truncated inside the header columns', () => {
    expect(rejection('1,2023/02/10 08:15:42,0018010').code).toBe('unsupported_format');
    expect(rejection('1,2023/02/10 08:15:42,001801012345,TRAFFIC,end').code).toBe('wrong_field_count');
  });

  it('accepts a line missing only trailing columns beyond the classic prefix', () => {
    const cols = traffic['classic-bare']!.split(',');
    expect(parse(record(cols.slice(0, 47).join(','))).ok).toBe(true);
  });

  it('rejects an unknown log type and names the type column', () => {
    expect(rejection(traffic['unknown-type']!)).toMatchObject({ code: 'unknown_type', field: 'type' });
  });

  it('rejects an invalid IP in an address column and names the column', () => {
    expect(rejection(traffic['bad-src']!)).toMatchObject({ code: 'invalid_field', field: 'src' });
    expect(rejection(traffic['bad-natdst']!)).toMatchObject({ code: 'invalid_field', field: 'natdst' });
  });

  it('rejects unparsable times and names the column', () => {
    expect(rejection(traffic['bad-time']!)).toMatchObject({ code: 'invalid_field', field: 'time_generated' });
    expect(rejection(traffic['bad-receive-time']!)).toMatchObject({ code: 'invalid_field', field: 'receive_time' });
  });
});

describe('parsers/panos > other log types', () => {
  it('accepts a SYSTEM log with the common header, kind = lower-cased type', () => {
    const ev = only(parse(record(other['system']!)));
    expect(ev.kind).toBe('system');
    expect(ev.timestamp).toBe('2024-01-09T03:00:11.000Z');
    expect(ev.ecs).toMatchObject({ observer: { serial_number: '016201034567' }, panw: { panos: { type: 'SYSTEM', sub_type: 'general' } } });
    expect(ev.claims).toEqual([]);
  });

  it('rejects a SYSTEM row cut before the generated time', () => {
    expect(rejection(other['system-short']!).code).toBe('wrong_field_count');
  });
});
