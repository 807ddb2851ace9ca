import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { canonicalHash, canonicalize } from './canonical';
import { entryHash } from './entry';

describe('ledger/canonical > RFC 8785-style canonical JSON', () => {
  it('matches the RFC 8785 §3.2.2 example (numbers, escapes, literals, sorted keys)', () => {
    const input = String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`;
    expect(canonicalize(JSON.parse(input))).toBe(String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`);
  });

  it('sorts keys by UTF-16 code units (the RFC 8785 §3.2.3 example), not by code point or locale', () => {
    const o = JSON.parse(String.raw`{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}`);
    // (Object.keys would list "1" first: read the member order from the text itself.)
    const c = canonicalize(o);
    const values = [...c.matchAll(/:"([^"]*)"/g)].map((m) => m[1]);
    expect(values).toEqual(['Carriage Return', 'One', 'Control', 'Latin Small Letter O With Diaeresis', 'Euro Sign', 'Emoji: Grinning Face', 'Hebrew Letter Dalet With Dagesh']);
  });

  it('sorts nested objects too and leaves array order alone', () => {
    expect(canonicalize({ b: [3, 1, { z: 1, a: 2 }], a: { y: null, x: 'é' } })).toBe('{"a":{"x":"é","y":null},"b":[3,1,{"a":2,"z":1}]}');
  });

  it('serializes numbers as ECMAScript does (shortest round trip, exponent forms, -0 as 0)', () => {
    expect(canonicalize([0, -0, 1, -1, 1.5, 1e21, 1e-7, 123456789012345680000, 5e-324, Number.MAX_SAFE_INTEGER, 0.1 + 0.2])).toBe(
      '[0,0,1,-1,1.5,1e+21,1e-7,123456789012345680000,5e-324,9007199254740991,0.30000000000000004]',
    );
  });

  it('escapes control characters and keeps non-ASCII text as UTF-8; a lone surrogate is escaped, not rejected', () => {
    expect(canonicalize({ s: 'a\u0000b\u001f\u2028😀' })).toBe('{"s":"a\\u0000b\\u001f\u2028😀"}');
    expect(canonicalize('\ud800')).toBe('"\\ud800"');
  });

  it('serializes every string exactly as JSON.stringify, lone surrogates and controls included (property)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (str) => expect(canonicalize(str)).toBe(JSON.stringify(str))));
    fc.assert(fc.property(fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }), (str) => expect(canonicalize({ [str]: str })).toBe(`{${JSON.stringify(str)}:${JSON.stringify(str)}}`)));
  });

  it('drops undefined members and turns undefined array elements into null, like JSON.stringify', () => {
    expect(canonicalize({ a: undefined, b: [undefined, 1] })).toBe('{"b":[null,1]}');
  });

  it('rejects values that are not JSON (NaN, Infinity, BigInt)', () => {
    expect(() => canonicalize({ n: NaN })).toThrow(TypeError);
    expect(() => canonicalize([Infinity])).toThrow(TypeError);
    expect(() => canonicalize({ n: BigInt(1) })).toThrow(TypeError);
  });

  it('gives one form whatever the key insertion order, and survives a JSON round trip (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const once = canonicalize(v);
        // A JSON round trip (what the stores do) does not change the canonical form.
        expect(canonicalize(JSON.parse(JSON.stringify(v)))).toBe(once);
        // Canonical form is itself JSON that parses back to an equal value, and is a fixed point.
        expect(canonicalize(JSON.parse(once))).toBe(once);
      }),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (o) => {
        const reversed = Object.fromEntries(Object.entries(o).reverse());
        expect(canonicalize(reversed)).toBe(canonicalize(o));
      }),
    );
  });

  it('hashes the canonical UTF-8 bytes with SHA-256', () => {
    expect(canonicalHash({ b: 1, a: 'x' })).toBe(createHash('sha256').update('{"a":"x","b":1}', 'utf8').digest('hex'));
    expect(canonicalHash({})).toBe('44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  });

  it('entry hashes (written out for speed) equal the canonical hash of the six entry fields (property)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.string(), fc.nat(), fc.string(), fc.string(), fc.string(), (seq, rid, version, ch, ph, time) => {
        const e = { seq, record_id: rid, version, content_hash: ch, prev_hash: ph, time };
        expect(entryHash(e)).toBe(canonicalHash({ time, version, seq, record_id: rid, prev_hash: ph, content_hash: ch }));
      }),
    );
  });
});
