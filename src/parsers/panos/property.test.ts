import fc from 'fast-check';
import type { ParseResult } from '../../model/events';
import { panosParser } from './index';
import { fixtures, record } from './testdata/fixtures';

const parse = panosParser.create({ tzOffset: '+09:30' });
const samples = [
  ...Object.values(fixtures('traffic.log')),
  ...Object.values(fixtures('threat.log')),
  ...Object.values(fixtures('userid.log')),
  ...Object.values(fixtures('globalprotect.log')),
  ...Object.values(fixtures('cef.log')),
  ...Object.values(fixtures('other.log')),
];

/** Well-formed result, and no internal exception turned into a rejection by guard(). */
function checkResult(r: ParseResult): void {
  if (r.ok) {
    expect(r.events).toHaveLength(1);
    const ev = r.events[0]!;
    expect(ev.source).toBe('panos');
    expect(Number.isNaN(Date.parse(ev.timestamp))).toBe(false);
    expect(() => JSON.stringify(ev)).not.toThrow();
  } else {
    expect(typeof r.rejection.code).toBe('string');
    expect(r.rejection.reason).not.toMatch(/^parser error/);
  }
}

const run = (input: string | Uint8Array): ParseResult => {
  let r: ParseResult | undefined;
  expect(() => {
    r = parse(record(typeof input === 'string' ? input : Buffer.from(input)));
  }).not.toThrow();
  return r!;
};

describe('parsers/panos > properties', () => {
  it('never throws on arbitrary strings', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => checkResult(run(s))), { numRuns: 500 });
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => checkResult(run(b))), { numRuns: 500 });
  });

  it('never throws on sample lines truncated at any position', () => {
    fc.assert(
      fc.property(fc.constantFrom(...samples), fc.nat(), (line, n) => checkResult(run(line.slice(0, n % (line.length + 1))))),
      { numRuns: 1000 },
    );
  });

  it('never throws when columns are deleted, duplicated or replaced with arbitrary text', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom('delete', 'dup', 'replace'), fc.string({ maxLength: 30 })), { minLength: 1, maxLength: 5 }),
        (line, edits) => {
          const sep = line.includes('CEF:') ? ' ' : ',';
          const cols = line.split(sep);
          for (const [i, op, text] of edits) {
            const k = i % cols.length;
            if (op === 'delete') cols.splice(k, 1);
            else if (op === 'dup') cols.splice(k, 0, cols[k] ?? '');
            else cols[k] = text;
          }
          checkResult(run(cols.join(sep)));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('never throws on sample lines with random characters spliced in', () => {
    fc.assert(
      fc.property(fc.constantFrom(...samples), fc.nat(), fc.string({ minLength: 1, maxLength: 8, unit: 'grapheme' }), (line, pos, ins) => {
        const p = pos % (line.length + 1);
        checkResult(run(line.slice(0, p) + ins + line.slice(p)));
      }),
      { numRuns: 1000 },
    );
  });
});
