import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { canonicalForm, canonicalHash, canonicalize } from './canonical';
import { entryHash } from './entry';

/**
 * The reference: canonical.ts's rules written for clarity, not speed (no caches, explicit UTF-16
 * code-unit comparison, arrays of parts joined). The fast serializer must agree with it byte for byte.
 */
function reference(v: unknown, depth = 0): string {
  if (depth > 1000) throw new RangeError('too deep');
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError('not a JSON number');
    return String(v); // ECMAScript Number::toString (RFC 8785 §3.2.2.3); String(-0) is "0"
  }
  if (typeof v === 'string') return JSON.stringify(v); // ES2019 well-formed JSON.stringify escapes
  if (typeof v !== 'object') throw new TypeError(`${typeof v} is not a JSON value`);
  const skipped = (x: unknown) => x === undefined || typeof x === 'function' || typeof x === 'symbol';
  if (Array.isArray(v)) return `[${v.map((x: unknown) => (skipped(x) ? 'null' : reference(x, depth + 1))).join(',')}]`;
  const withJson = v as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === 'function') return reference(withJson.toJSON(), depth + 1);
  const o = v as Record<string, unknown>;
  const byCodeUnits = (a: string, b: string) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return a.charCodeAt(i) - b.charCodeAt(i);
    return a.length - b.length;
  };
  const members = Object.keys(o).filter((k) => !skipped(o[k])).sort(byCodeUnits);
  return `{${members.map((k) => `${JSON.stringify(k)}:${reference(o[k], depth + 1)}`).join(',')}}`;
}

/** Strings of any UTF-16 code units (lone surrogates, controls) and short ASCII keys that repeat across objects. */
const anyString = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 12 });
const key = fc.oneof(fc.constantFrom('a', 'b', 'B', '_', '1', '10', '9', '-1', '01', '@timestamp', 'auditmesh', '€', '\ud83d\ude00', '__proto__', ''), anyString);
/** What JSON.stringify leaves out of objects and writes as null in arrays. */
const notJson = fc.constantFrom(undefined, () => 0, Symbol('s'));
/** JSON-ish values plus what JSON.stringify treats specially: -0, undefined/function/symbol members and elements, toJSON. */
const { value: anyValue } = fc.letrec<{ value: unknown; obj: Record<string, unknown> }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false, 0, -0, 1, -1, 1e21, 1e-7, 5e-324, 0.1, Number.MAX_SAFE_INTEGER),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    anyString,
    fc.array(fc.oneof(tie('value'), notJson), { maxLength: 5 }),
    tie('obj'),
    fc.date({ noInvalidDate: true }),
  ),
  obj: fc
    .array(fc.tuple(key, fc.oneof(tie('value'), notJson)), { maxLength: 8 })
    .map((kvs) => {
      const o: Record<string, unknown> = {};
      // defineProperty: an own "__proto__" member, as JSON.parse makes it.
      for (const [k, v] of kvs) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      return o;
    }),
}));

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

  it('equals the simple reference implementation on random values (property)', () => {
    fc.assert(fc.property(anyValue, (v) => expect(canonicalize(v)).toBe(reference(v))), { numRuns: 2000 });
    fc.assert(fc.property(fc.jsonValue(), (v) => expect(canonicalize(v)).toBe(reference(v))), { numRuns: 1000 });
  });

  it('equals the reference for objects of one key set in every insertion order (the member-order cache) (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(key, { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { minLength: 2, maxLength: 4 }), (keys, seeds) => {
        for (const seed of seeds) {
          const order = keys.map((k, i) => [k, (i * 7919 + seed) % 1009] as const).sort((a, b) => a[1] - b[1]);
          const o: Record<string, unknown> = {};
          for (const [k, n] of order) Object.defineProperty(o, k, { value: n % 3 === 0 ? undefined : n, enumerable: true, writable: true, configurable: true });
          expect(canonicalize(o)).toBe(reference(o));
          expect(canonicalize([o, o])).toBe(reference([o, o]));
        }
      }),
    );
  });

  it('equals the reference for objects with many keys and after the member-order cache has been dropped', () => {
    const wide = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${(i * 37) % 200}`, i % 2 ? `v${i}` : i]));
    expect(canonicalize(wide)).toBe(reference(wide));
    const record = { z: 1, a: [{ y: 'x', b: null }], m: { '10': 1, '9': 2, x: undefined } };
    const before = canonicalize(record);
    for (let i = 0; i < 25_000; i++) {
      const o = { [`key${i}`]: i, a: true };
      if (i % 5000 === 0) expect(canonicalize(o)).toBe(reference(o));
      else canonicalize(o);
    }
    expect(canonicalize(record)).toBe(before);
    expect(before).toBe(reference(record));
  });

  it('equals the reference for class instances, null-prototype objects, own toJSON functions and a toJSON that canonicalizes', () => {
    class Point {
      constructor(
        readonly y: number,
        readonly x: number,
      ) {}
    }
    const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { b: 1, a: [new Point(2, 1)] });
    const values: unknown[] = [
      new Point(1, 2),
      nullProto,
      { b: 1, toJSON: () => ({ z: 1, a: 2 }) },
      { b: 1, toJSON: 'not a function' },
      { when: new Date(0), buf: Buffer.from('hi'), m: new Map([[1, 2]]) },
      { outer: { toJSON: () => canonicalize({ b: 2, a: 1 }) } }, // re-entered from toJSON
    ];
    for (const v of values) expect(canonicalize(v)).toBe(reference(v));
    expect(canonicalize(values[5])).toBe('{"outer":"{\\"a\\":1,\\"b\\":2}"}');
  });

  it('sees only own members when Object.prototype has an enumerable property, and recovers after a value that throws', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.polluted = 1;
    try {
      expect(canonicalize({ b: 1, a: { c: 2 } })).toBe('{"a":{"c":2},"b":1}');
    } finally {
      delete proto.polluted;
    }
    expect(() => canonicalize({ a: { b: [1, { c: NaN }] }, z: 'x' })).toThrow(TypeError);
    expect(canonicalize({ z: 'x', a: { b: [1, { c: 3 }] } })).toBe('{"a":{"b":[1,{"c":3}]},"z":"x"}');
  });

  it('hashes the canonical UTF-8 bytes with SHA-256, with or without making the string', () => {
    fc.assert(
      fc.property(anyValue, (v) => {
        const json = canonicalize(v);
        const hash = createHash('sha256').update(json, 'utf8').digest('hex');
        expect(canonicalHash(v)).toBe(hash);
        expect(canonicalForm(v)).toEqual({ json, hash });
      }),
      { numRuns: 500 },
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
