import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import type { ParseResult, RawRecord } from '../../model/events';
import { tykParser } from './index';

const parse = tykParser.create();
const rec = (value: Buffer): RawRecord => ({ value, ref: { source: 'tyk', file: 'p.jsonl', line: 1 }, receivedAtMs: 0 });
const VALID = fs.readFileSync(path.join(__dirname, 'testdata', 'kafka-basic.json'));
const BASE = JSON.parse(VALID.toString('utf8')) as Record<string, unknown>;

/** A parse must come back as a well-formed value, quickly, whatever the input. */
function wellFormed(res: ParseResult): boolean {
  if (res.ok) return res.events.every((e) => e.source === 'tyk' && typeof e.id === 'string' && !Number.isNaN(Date.parse(e.timestamp)));
  return typeof res.rejection.code === 'string' && typeof res.rejection.reason === 'string';
}

describe('parsers/tyk > properties', () => {
  it('returns events or a rejection for arbitrary bytes, never throws', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => wellFormed(parse(rec(Buffer.from(b))))), { numRuns: 500 });
  });

  it('returns events or a rejection for arbitrary JSON values', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => wellFormed(parse(rec(Buffer.from(JSON.stringify(v) ?? 'null'))))), { numRuns: 500 });
  });

  it('returns events or a rejection for every truncation of a valid record', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: VALID.length }), (n) => wellFormed(parse(rec(VALID.subarray(0, n))))),
      { numRuns: 300 },
    );
  });

  it('never rejects a valid record because of its raw_request', () => {
    const rawRequest = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.base64String({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('base64')),
      fc.integer({ min: 0, max: 800 }).map((n) => String(BASE['raw_request']).slice(0, n)),
    );
    fc.assert(
      fc.property(rawRequest, (rr) => {
        const res = parse(rec(Buffer.from(JSON.stringify({ ...BASE, raw_request: rr }))));
        return res.ok && res.events.length === 1;
      }),
      { numRuns: 400 },
    );
  });

  it('never stores the API key, whatever it is', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9]{20,40}$/), (key) => {
        const res = parse(rec(Buffer.from(JSON.stringify({ ...BASE, api_key: key, alias: key }))));
        return res.ok && !JSON.stringify(res.events).includes(key);
      }),
      { numRuns: 200 },
    );
  });

  it('accepts fields of the wrong JSON type without throwing', () => {
    const anyVal = fc.oneof(fc.constant(null), fc.integer(), fc.double(), fc.boolean(), fc.string(), fc.array(fc.string()), fc.object());
    const keys = Object.keys(BASE).filter((k) => k !== 'timestamp' && k !== 'method');
    fc.assert(
      fc.property(fc.constantFrom(...keys), anyVal, (k, v) => {
        const res = parse(rec(Buffer.from(JSON.stringify({ ...BASE, [k]: v }))));
        return res.ok;
      }),
      { numRuns: 400 },
    );
  });
});
