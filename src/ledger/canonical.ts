import { sha256 } from '../model/digest';

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
 *
 * Implementation (the write path serializes every record version once, so it is built for speed):
 * a writer puts the UTF-8 bytes into one reusable buffer, plain objects are read in one for-in pass
 * and written in an order cached per key sequence ("shapes"), and the bytes are hashed as they are.
 * canonical.test.ts checks it, byte for byte, against a plain reference implementation of the rules
 * above on random values. Values are read as data: a getter that changes other members while the
 * object is being read is not supported.
 */
export function canonicalize(value: unknown): string {
  return serialize(value, textOf);
}

/** The canonical JSON of a value and the SHA-256 (hex) of its UTF-8 bytes, serialized once. */
export function canonicalForm(value: unknown): { json: string; hash: string } {
  return serialize(value, (w) => ({ json: textOf(w), hash: sha256Hex(w.view()) }));
}

const MAX_DEPTH = 1000;

/** Characters JSON.stringify would escape (controls, quote, backslash, surrogates). */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

/** A string as canonical JSON (= JSON.stringify); strings with nothing to escape skip JSON.stringify. */
export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/**
 * Shapes: the member order of a plain object, found from its own keys in insertion order (the order
 * of Object.keys and for-in) through a trie. Records of one kind share a handful of shapes, so the
 * sort and the encoding of the member names happen once per shape instead of once per object. The
 * cache is only an index of work already done: a key sequence always leads to the same node, and a
 * node's order is computed from the keys on its path, so the output cannot depend on what was cached.
 */
class Shape {
  /** Keys on the path from the root: this node stands for objects with exactly these keys, in this order. */
  readonly size: number;
  /** The child of the first key seen after this one (most nodes have one: no Map lookup). */
  onlyKey: string | undefined = undefined;
  onlyChild: Shape | undefined = undefined;
  /** Further children, by key. */
  next: Map<string, Shape> | undefined = undefined;
  /** Set on first use: for each member in canonical order, its index in insertion order... */
  order: number[] | undefined = undefined;
  /** ...and the UTF-8 of `"key":` (first member written) and `,"key":` (any later one). */
  heads: Uint8Array[] = [];
  commaHeads: Uint8Array[] = [];
  /** Some key is not ASCII. */
  nonAscii = false;
  /** One of the keys is "toJSON" (an own toJSON function is called, as JSON.stringify does). */
  hasToJSON = false;

  constructor(
    readonly parent: Shape | undefined,
    readonly key: string,
  ) {
    this.size = parent ? parent.size + 1 : 0;
  }

  child(k: string): Shape | undefined {
    if (this.onlyKey === k) return this.onlyChild;
    const found = this.next?.get(k);
    if (found !== undefined) return found;
    if (shapeCount >= MAX_SHAPES) {
      shapesFull = true;
      return undefined;
    }
    shapeCount++;
    const c = new Shape(this, k);
    if (this.onlyChild === undefined) {
      this.onlyKey = k;
      this.onlyChild = c;
    } else (this.next ??= new Map()).set(k, c);
    return c;
  }

  complete(): void {
    const keys = new Array<string>(this.size);
    for (let n: Shape = this; n.parent !== undefined; n = n.parent) keys[n.size - 1] = n.key;
    const sorted = keys.slice().sort();
    const heads = sorted.map((k) => `${JSON.stringify(k)}:`);
    this.heads = heads.map((h) => Buffer.from(h, 'utf8'));
    this.commaHeads = heads.map((h) => Buffer.from(`,${h}`, 'utf8'));
    this.nonAscii = this.heads.some((h, i) => h.length !== heads[i]!.length);
    this.hasToJSON = keys.includes('toJSON');
    this.order = sorted.map((k) => keys.indexOf(k));
  }
}

/** Bound of the shape cache (map-like data with ever new keys must not grow it): dropped when full. */
const MAX_SHAPES = 20_000;
/** Objects with more keys than this (maps, not records) are sorted without the cache. */
const MAX_SHAPE_KEYS = 64;
let shapes = new Shape(undefined, '');
let shapeCount = 0;
let shapesFull = false;

/** JSON.stringify leaves these members out (and writes them as null in arrays). */
function isSkipped(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

const INITIAL_BYTES = 64 * 1024;
/** A writer whose buffer grew beyond this (one huge value) gets a fresh small one afterwards. */
const KEPT_BYTES = 4 * 1024 * 1024;
const QUOTE = 0x22;
const COMMA = 0x2c;

/**
 * Writes canonical JSON as UTF-8 straight into one reusable buffer, which is hashed as it is: no
 * string per member or value (at ingest rates that garbage costs more than the serializing). Plain
 * objects are read in one for-in pass, keys and values together (V8 reads for-in values by field
 * index, not through a per-key property lookup), into a reusable stack of values that is then
 * written in the shape's order. Plain ASCII strings are copied byte by byte; any other string is
 * written as JSON.stringify writes it, UTF-8 encoded.
 */
class Writer {
  buf = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  pos = 0;
  /** Every byte written is ASCII (the text is then decoded as latin1: a plain copy). */
  ascii = true;
  busy = false;
  /** Values of the plain objects being written, a stack: an object's members sit at [base, base + n). */
  private readonly vals: unknown[] = [];
  private sp = 0;
  /** Object.prototype has no enumerable property (for-in over a plain object sees its own keys only). */
  plainForIn = true;

  reset(): void {
    this.pos = 0;
    this.ascii = true;
    this.sp = 0;
  }

  /** Drop references to the values of a serialization that threw half way. */
  clearStack(): void {
    this.vals.length = 0;
    this.sp = 0;
  }

  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafeSlow(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private byte(b: number): void {
    if (this.pos >= this.buf.length) this.room(1);
    this.buf[this.pos++] = b;
  }

  private bytes(b: Uint8Array): void {
    const n = b.length;
    this.room(n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = b[i]!;
    this.pos = p;
  }

  /** Text known to be ASCII with nothing to escape (numbers, literals). */
  private latin(s: string): void {
    const n = s.length;
    this.room(n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  private string(s: string): void {
    const n = s.length;
    this.room(n + 2);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = QUOTE;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === QUOTE || c === 0x5c || c >= 0x80) return this.escaped(s);
      buf[p++] = c;
    }
    buf[p++] = QUOTE;
    this.pos = p;
  }

  /** A string with something to escape or beyond ASCII: JSON.stringify's text (lone surrogates escaped, so well-formed), as UTF-8. */
  private escaped(s: string): void {
    const j = JSON.stringify(s);
    this.room(j.length * 3);
    const n = this.buf.write(j, this.pos, 'utf8');
    if (n !== j.length) this.ascii = false;
    this.pos += n;
  }

  // Hot path (every record written is serialized once): the most frequent types are tested first.
  value(v: unknown, depth: number): void {
    if (typeof v === 'string') return this.string(v);
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new TypeError(`canonical JSON: ${v} is not a JSON number`);
      // ECMAScript Number::toString, which is also what JSON.stringify writes (-0 becomes "0").
      return this.latin(`${v}`);
    }
    if (v === null) return this.latin('null');
    if (typeof v === 'boolean') return this.latin(v ? 'true' : 'false');
    if (typeof v !== 'object') {
      if (typeof v === 'bigint') throw new TypeError('canonical JSON: BigInt is not a JSON value');
      throw new TypeError(`canonical JSON: ${typeof v} is not a JSON value`);
    }
    if (depth > MAX_DEPTH) throw new RangeError(`canonical JSON: nesting deeper than ${MAX_DEPTH}`);
    if (Array.isArray(v)) {
      this.byte(0x5b);
      for (let i = 0; i < v.length; i++) {
        if (i) this.byte(COMMA);
        const el: unknown = v[i];
        if (isSkipped(el)) this.latin('null');
        else this.value(el, depth + 1);
      }
      return this.byte(0x5d);
    }
    const proto: unknown = Object.getPrototypeOf(v);
    if ((proto !== Object.prototype && proto !== null) || !this.plainForIn) return this.generic(v as Record<string, unknown>, depth);
    this.plain(v as Record<string, unknown>, depth);
  }

  /** A plain object (prototype Object.prototype or null): its shape's order, values read in one pass. */
  private plain(o: Record<string, unknown>, depth: number): void {
    const vals = this.vals;
    const base = this.sp;
    let shape: Shape | undefined = shapes;
    let n = 0;
    for (const k in o) {
      shape = n < MAX_SHAPE_KEYS ? shape.child(k) : undefined;
      if (shape === undefined) break;
      vals[base + n++] = o[k];
    }
    if (shape === undefined) {
      // Too many keys, or the cache is full: the plain sort.
      for (let i = base; i < base + n; i++) vals[i] = undefined;
      return this.generic(o, depth);
    }
    if (shape.order === undefined) shape.complete();
    if (shape.hasToJSON && typeof o.toJSON === 'function') {
      for (let i = base; i < base + n; i++) vals[i] = undefined;
      return this.value((o as { toJSON: () => unknown }).toJSON(), depth + 1);
    }
    this.sp = base + n;
    const order = shape.order!;
    const heads = shape.heads;
    const commaHeads = shape.commaHeads;
    if (shape.nonAscii) this.ascii = false;
    this.byte(0x7b);
    let first = true;
    for (let i = 0; i < order.length; i++) {
      const at = base + order[i]!;
      const el = vals[at];
      vals[at] = undefined;
      if (isSkipped(el)) continue;
      this.bytes(first ? heads[i]! : commaHeads[i]!);
      this.value(el, depth + 1);
      first = false;
    }
    this.sp = base;
    this.byte(0x7d);
  }

  /** Any other object (class instances, Date, objects with many keys): toJSON, else own keys sorted. */
  private generic(o: Record<string, unknown>, depth: number): void {
    if (typeof o.toJSON === 'function') return this.value((o as { toJSON: () => unknown }).toJSON(), depth + 1);
    const keys = Object.keys(o).sort();
    this.byte(0x7b);
    let first = true;
    for (const k of keys) {
      const el = o[k];
      if (isSkipped(el)) continue;
      if (!first) this.byte(COMMA);
      this.string(k);
      this.byte(0x3a);
      this.value(el, depth + 1);
      first = false;
    }
    this.byte(0x7d);
  }
}

const shared = new Writer();

function textOf(w: Writer): string {
  return w.buf.toString(w.ascii ? 'latin1' : 'utf8', 0, w.pos);
}

/** Serialize into the shared writer (a fresh one when re-entered, e.g. by a toJSON that canonicalizes). */
function serialize<T>(value: unknown, finish: (w: Writer) => T): T {
  const w = shared.busy ? new Writer() : shared;
  w.busy = true;
  w.reset();
  w.plainForIn = !hasEnumerable(Object.prototype);
  try {
    w.value(value, 0);
    return finish(w);
  } catch (e) {
    w.clearStack();
    throw e;
  } finally {
    w.busy = false;
    if (w.buf.length > KEPT_BYTES) w.buf = Buffer.allocUnsafeSlow(INITIAL_BYTES);
    if (shapesFull) {
      shapes = new Shape(undefined, '');
      shapeCount = 0;
      shapesFull = false;
    }
  }
}

function hasEnumerable(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** SHA-256 of a string's UTF-8 bytes, lower-case hex. */
export function sha256Hex(s: string | Buffer): string {
  return sha256(s, 'hex');
}

/** SHA-256 (hex) of a value's canonical JSON (hashed as UTF-8 bytes, no string made). */
export function canonicalHash(value: unknown): string {
  return serialize(value, (w) => sha256Hex(w.view()));
}
