import crypto from 'node:crypto';

/**
 * Canonical JSON in the style of RFC 8785 (JSON Canonicalization Scheme), so that a record hashes
 * to the same value before it is stored, after a JSON round trip through SQLite or Elasticsearch,
 * and in an offline verifier written in another language:
 *
 * - object members sorted by key, comparing UTF-16 code units (JS's default string order, as RFC
 *   8785 §3.2.3 asks), no whitespace anywhere;
 * - strings escaped as ECMAScript's JSON.stringify does (RFC 8785 §3.2.2.2 uses the same rules);
 * - numbers as ECMAScript serializes them (shortest round-trip form, `1e+21`, `-0` → `0`), which is
 *   RFC 8785 §3.2.2.3; NaN and ±Infinity are not JSON and throw;
 * - `undefined` members are left out and `undefined` array elements become `null`, exactly as
 *   JSON.stringify (the stores keep `JSON.stringify(record)`, so the canonical form of the stored
 *   document equals the canonical form of the record that was written); `toJSON()` is honoured.
 *
 * One deliberate difference from RFC 8785: a lone surrogate in a string is escaped (`"\ud800"`,
 * ECMAScript 2019 well-formed JSON.stringify) instead of rejected. Audit records carry whatever the
 * sources sent; refusing to hash a record would stop the pipeline, and the escaped form is still
 * deterministic.
 */
export function canonicalize(value: unknown): string {
  return ser(value, 0);
}

const MAX_DEPTH = 1000;

/** Quoted member names (field names repeat across records); bounded so that map-like data cannot grow it. */
const quoted = new Map<string, string>();
const MAX_QUOTED = 10_000;
function quote(k: string): string {
  let q = quoted.get(k);
  if (q === undefined) {
    q = JSON.stringify(k);
    if (quoted.size < MAX_QUOTED) quoted.set(k, q);
  }
  return q;
}

/** Characters JSON.stringify would escape (controls, quote, backslash, surrogates). */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

// Hot path (every record written is serialized once): the most frequent types are tested first,
// strings without anything to escape skip JSON.stringify.
function ser(v: unknown, depth: number): string {
  if (typeof v === 'string') return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError(`canonical JSON: ${v} is not a JSON number`);
    return JSON.stringify(v);
  }
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v !== 'object') {
    if (typeof v === 'bigint') throw new TypeError('canonical JSON: BigInt is not a JSON value');
    throw new TypeError(`canonical JSON: ${typeof v} is not a JSON value`);
  }
  if (depth > MAX_DEPTH) throw new RangeError(`canonical JSON: nesting deeper than ${MAX_DEPTH}`);
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) {
      if (i) out += ',';
      const el: unknown = v[i];
      out += el === undefined || typeof el === 'function' || typeof el === 'symbol' ? 'null' : ser(el, depth + 1);
    }
    return out + ']';
  }
  const withJson = v as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === 'function') return ser(withJson.toJSON(), depth + 1);
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length > 1) keys.sort();
  let out = '{';
  let first = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const el = o[k];
    if (el === undefined || typeof el === 'function' || typeof el === 'symbol') continue;
    out += (first ? '' : ',') + quote(k) + ':' + ser(el, depth + 1);
    first = false;
  }
  return out + '}';
}

/** Node's one-shot hash (20.12+), a little cheaper than a Hash object per call. */
const oneShot = (crypto as unknown as { hash?: (alg: string, data: string | Buffer, enc: 'hex') => string }).hash;

/** SHA-256 of a string's UTF-8 bytes, lower-case hex. */
export function sha256Hex(s: string | Buffer): string {
  return oneShot ? oneShot('sha256', s, 'hex') : crypto.createHash('sha256').update(s).digest('hex');
}

/** SHA-256 (hex) of a value's canonical JSON. */
export function canonicalHash(value: unknown): string {
  return sha256Hex(canonicalize(value));
}
