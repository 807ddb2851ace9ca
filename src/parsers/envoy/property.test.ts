import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import type { ParseResult } from '../../model/events';
import { envoyParser } from './index';

const TESTDATA = path.join(__dirname, 'testdata');
const VALID = ['istio-json.log', 'istio-text.log', 'envoy-text.log', 'custom-json.log']
  .flatMap((f) => fs.readFileSync(path.join(TESTDATA, f), 'utf8').split('\n'))
  .filter((l) => l.trim() !== '');
const formats = JSON.parse(fs.readFileSync(path.join(TESTDATA, 'formats.json'), 'utf8')) as { identityText: string; b3Text: string };
const CUSTOM = ['identity-text.log', 'b3-text.log']
  .flatMap((f) => fs.readFileSync(path.join(TESTDATA, f), 'utf8').split('\n'))
  .filter((l) => l.trim() !== '');

const parsers = [
  envoyParser.create(),
  envoyParser.create({ format: 'json' }),
  envoyParser.create({ format: 'text' }),
  envoyParser.create({ textFormat: [formats.identityText, formats.b3Text] }),
];

/** The result is a well-formed value, and no internal exception was turned into a rejection by guard(). */
function wellFormed(r: ParseResult): boolean {
  if (!r.ok) {
    return typeof r.rejection.code === 'string' && typeof r.rejection.reason === 'string' && !r.rejection.reason.startsWith('parser error');
  }
  return r.events.every(
    (e) =>
      typeof e.id === 'string' &&
      e.source === 'envoy' &&
      !Number.isNaN(Date.parse(e.timestamp)) &&
      // A token must not be stored. Mutated headers can leave a token of a few characters
      // ("Bearer e yJhb…" → "e"), which occurs in any JSON by chance: only tokens of 8+ characters
      // say something when found.
      (e.tokens ?? []).every((t) => t.length < 8 || (!JSON.stringify(e.ecs).includes(t) && !JSON.stringify(e.claims).includes(t))),
  );
}

const run = (value: Buffer): ParseResult[] =>
  parsers.map((p) => p({ value, ref: { source: 'envoy', file: 'prop.log', line: 1 }, receivedAtMs: 1_700_000_000_000 }));

describe('parsers/envoy > properties', () => {
  it('returns ok or a rejection, never throws, for arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (s) => run(Buffer.from(s)).every(wellFormed)),
      { numRuns: 500 },
    );
  });

  it('returns ok or a rejection, never throws, for arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => run(Buffer.from(b)).every(wellFormed)),
      { numRuns: 500 },
    );
  });

  it('returns ok or a rejection for every truncation of a valid line', () => {
    fc.assert(
      fc.property(fc.constantFrom(...VALID, ...CUSTOM), fc.nat(), (line, n) => {
        const cut = line.slice(0, n % (line.length + 1));
        return run(Buffer.from(cut)).every(wellFormed);
      }),
      { numRuns: 1000 },
    );
  });

  it('returns ok or a rejection when one character of a valid line is replaced or a chunk is spliced in', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...VALID, ...CUSTOM),
        fc.nat(),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }),
        fc.constantFrom('" ', '{', '}', '-', ' ', '%', '[', ']', ':', '\\"', '\n'),
        (line, n, junk, special) => {
          const i = n % line.length;
          const a = line.slice(0, i) + junk + line.slice(i + 1);
          const b = line.slice(0, i) + special + line.slice(i);
          return run(Buffer.from(a)).every(wellFormed) && run(Buffer.from(b)).every(wellFormed);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('parses every default-format fixture line in auto mode', () => {
    const p = envoyParser.create();
    for (const line of VALID.filter((l) => !l.includes('"verb"'))) expect(p({ value: Buffer.from(line), ref: { source: 'envoy' }, receivedAtMs: 0 }).ok).toBe(true);
  });
});
