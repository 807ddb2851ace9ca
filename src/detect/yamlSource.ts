import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { ZodError, ZodIssue } from 'zod';

/**
 * YAML with positions: parse a file keeping node ranges and a LineCounter, so that a zod issue path
 * (`rules.2.severity`) maps back to `file:line:col`. Shared by the rule files and the revocation list.
 */
export interface YamlSource {
  file: string;
  doc: Document;
  lc: LineCounter;
  value: unknown;
}

export interface Position {
  line: number;
  col: number;
}

export type YamlParse = { ok: true; src: YamlSource } | { ok: false; message: string };

/** Parse `text`; a syntax error becomes `file:line:col: invalid YAML: ...`. */
export function parseYaml(file: string, text: string): YamlParse {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, keepSourceTokens: true, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
    const msg = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    return { ok: false, message: `${file}:${pos.line}:${pos.col}: invalid YAML: ${msg}` };
  }
  return { ok: true, src: { file, doc, lc, value: doc.toJS() } };
}

const posOf = (src: YamlSource, n: { range?: [number, number, number] | null } | null | undefined): Position | undefined =>
  n?.range ? src.lc.linePos(n.range[0]) : undefined;

/**
 * The position of the node at `path`, or of its nearest existing ancestor (`exact: false`) when the
 * path names a missing key. With `key`, the position of that key inside the map at `path`.
 */
export function positionOf(src: YamlSource, path: readonly (string | number)[], key?: string): Position & { exact: boolean } {
  let node: unknown = src.doc.contents;
  let best: Position = posOf(src, node as Node) ?? { line: 1, col: 1 };
  const segs = key === undefined ? path : [...path, key];
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    const last = i === segs.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) return { ...best, exact: false };
      // Point at the key itself for an unknown key, at the value otherwise (the key when the value is empty).
      const keyPos = posOf(src, pair.key as Node);
      const valPos = posOf(src, pair.value as Node);
      if (key !== undefined && last) return { ...(keyPos ?? best), exact: true };
      best = valPos ?? keyPos ?? best;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) return { ...best, exact: false };
      best = posOf(src, item as Node) ?? best;
      node = item;
    } else {
      return { ...best, exact: false };
    }
  }
  return { ...best, exact: true };
}

/** `rules[0].params.threshold` */
export function pathText(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out || '(top level)';
}

function valueAt(v: unknown, path: readonly (string | number)[]): unknown {
  let cur = v;
  for (const p of path) cur = cur && typeof cur === 'object' ? (cur as Record<string | number, unknown>)[p] : undefined;
  return cur;
}

/** One line per zod issue: `file:line:col: key.path: message (got value)`, the line of the offending node. */
export function formatIssues(src: YamlSource, err: ZodError, base: readonly (string | number)[] = [], label?: string): string[] {
  return err.issues.map((i: ZodIssue) => {
    const path = [...base, ...i.path];
    const what = label ? `${label} ${pathText(i.path.length ? i.path : [])}`.trim() : pathText(path);
    if (i.code === 'unrecognized_keys') {
      const pos = positionOf(src, path, i.keys[0]);
      return `${src.file}:${pos.line}:${pos.col}: ${what}: unknown key(s) ${i.keys.map((k) => `'${k}'`).join(', ')} (check the spelling; keys are camelCase)`;
    }
    const pos = positionOf(src, path);
    const got = valueAt(src.value, path);
    const missing = !pos.exact || (got === undefined && i.code === 'invalid_type');
    let msg = missing && i.code === 'invalid_type' ? `required key '${String(i.path[i.path.length - 1] ?? '')}' is missing` : i.message;
    if (i.code === 'invalid_union_discriminator') {
      const options = i.options.map((o) => String(o)).join(', ');
      msg = got === undefined ? `required key '${String(i.path[i.path.length - 1] ?? '')}' is missing; use one of: ${options}` : `unknown value; use one of: ${options}`;
    }
    const gotText = got === undefined || missing ? '' : ` (got ${JSON.stringify(got)?.slice(0, 80)})`;
    return `${src.file}:${pos.line}:${pos.col}: ${what}: ${msg}${gotText}`;
  });
}
