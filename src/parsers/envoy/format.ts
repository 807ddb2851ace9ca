/**
 * Envoy access-log format-string compiler.
 *
 * A format string is literals and operators `%COMMAND%`, `%COMMAND(ARG)%`, `%COMMAND(ARG):LEN%`
 * (e.g. `%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%`, `%START_TIME(%Y-%m-%dT%H:%M:%SZ)%`, `%REQ(USER-AGENT):64%`).
 * It compiles once (cached) into a scanner: each operator's value runs up to the next literal, found with
 * `indexOf`, so matching a line costs one pass and no regex backtracking.
 *
 * Ambiguity rules (Envoy does not escape its output, so a line cannot always be split exactly):
 * - an operator's value ends at the FIRST occurrence of the literal that follows it;
 * - a value may contain spaces only if the operator sits inside quotes and the next literal starts with
 *   a quote (`"%REQ(USER-AGENT)%"`), or the field is free text (user agent, XFF, …); otherwise a space in
 *   the value means the line is not in this format;
 * - a JSON value (`%DYNAMIC_METADATA(...)%`) starting with `{` or `[` is scanned to its closing bracket;
 * - the last operator runs to the end of the line (after the trailing literal, if any);
 * - two operators with no literal between them cannot be split: the first gets the text, the second ''.
 * Unknown operators compile and match like any other; they map to no field.
 */
import { FREE_TEXT_FIELDS, fieldForOperator, type FieldName } from './fields';

export interface Operator {
  /** The operator as written, e.g. `%REQ(USER-AGENT):64%`. */
  text: string;
  /** `REQ`, `START_TIME`, … */
  command: string;
  /** Text inside the parentheses, if any. */
  arg?: string;
  /** `:LEN` truncation, if any: values are at most this long. */
  maxLength?: number;
  /** Semantic field, undefined if the operator is not one we map. */
  field?: FieldName;
}

export type Token = { kind: 'literal'; text: string } | { kind: 'operator'; op: Operator };

export interface CompiledFormat {
  /** The format string as given. */
  source: string;
  tokens: readonly Token[];
  operators: readonly Operator[];
  /** Values of `operators` (same order) for a line in this format, or undefined if the line does not fit. */
  match(line: string): string[] | undefined;
}

const OPERATOR = /%([A-Z][A-Z0-9_]*)(?:\((.*?)\))?(?::(\d+))?%/y;
const JSON_COMMANDS = new Set(['DYNAMIC_METADATA', 'METADATA', 'FILTER_STATE', 'CEL', 'CLUSTER_METADATA', 'UPSTREAM_METADATA']);

/** Split a format string into literal and operator tokens. Never throws: what is not an operator is literal. */
export function tokenize(format: string, jwtPayloadHeader = 'x-jwt-payload'): Token[] {
  const tokens: Token[] = [];
  const header = jwtPayloadHeader.trim().toLowerCase();
  let lit = '';
  let i = 0;
  while (i < format.length) {
    const c = format[i]!;
    if (c !== '%') {
      lit += c;
      i++;
      continue;
    }
    if (format[i + 1] === '%') {
      lit += '%';
      i += 2;
      continue;
    }
    OPERATOR.lastIndex = i;
    const m = OPERATOR.exec(format);
    if (!m) {
      lit += c;
      i++;
      continue;
    }
    if (lit !== '') tokens.push({ kind: 'literal', text: lit });
    lit = '';
    const command = m[1]!;
    const arg = m[2];
    const op: Operator = { text: m[0], command };
    if (arg !== undefined) op.arg = arg;
    if (m[3] !== undefined) op.maxLength = Number(m[3]);
    const field = fieldForOperator(command, arg, header);
    if (field !== undefined) op.field = field;
    tokens.push({ kind: 'operator', op });
    i += m[0].length;
  }
  if (lit !== '') tokens.push({ kind: 'literal', text: lit });
  return tokens;
}

/** Scan a JSON object/array starting at `start`; returns the index after its closing bracket, or -1. */
function scanJson(s: string, start: number): number {
  let depth = 0;
  let inStr = false;
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (inStr) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inStr = false;
      continue;
    }
    if (c === 34) inStr = true;
    else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

function build(source: string, tokens: Token[]): CompiledFormat {
  const operators: Operator[] = [];
  // For operator k: the literal that follows it ('' if another operator or the end follows).
  const delims: string[] = [];
  const spaceOk: boolean[] = [];
  const jsonOk: boolean[] = [];
  let prefix = '';
  let inQuote = false;
  const quotedFlags: boolean[] = [];
  for (let t = 0; t < tokens.length; t++) {
    const tok = tokens[t]!;
    if (tok.kind === 'literal') {
      if (operators.length === 0) prefix = tok.text;
      else delims[operators.length - 1] = tok.text;
      for (const ch of tok.text) if (ch === '"') inQuote = !inQuote;
    } else {
      operators.push(tok.op);
      delims.push('');
      quotedFlags.push(inQuote);
      jsonOk.push(JSON_COMMANDS.has(tok.op.command));
    }
  }
  // The trailing newline of a format string is not part of the logged line.
  const last = operators.length - 1;
  if (last >= 0) delims[last] = delims[last]!.replace(/\r?\n$/, '');
  else prefix = prefix.replace(/\r?\n$/, '');
  for (let k = 0; k < operators.length; k++) {
    const d = delims[k]!;
    const f = operators[k]!.field;
    spaceOk.push((quotedFlags[k]! && (d === '' || d.startsWith('"'))) || (f !== undefined && FREE_TEXT_FIELDS.has(f)));
  }

  const n = operators.length;
  const match = (input: string): string[] | undefined => {
    let line = input;
    // Strip one trailing newline (files, container logs).
    const end = line.length;
    if (end > 0 && line.charCodeAt(end - 1) === 10) line = line.slice(0, line.charCodeAt(end - 2) === 13 ? end - 2 : end - 1);
    if (n === 0) return line === prefix ? [] : undefined;
    if (prefix !== '' && !line.startsWith(prefix)) return undefined;
    let pos = prefix.length;
    const out = new Array<string>(n);
    for (let k = 0; k < n; k++) {
      const d = delims[k]!;
      let value: string;
      if (k === n - 1) {
        // Last operator: runs to the end, minus the trailing literal.
        if (d !== '' && !line.endsWith(d)) return undefined;
        const stop = line.length - d.length;
        if (stop < pos) return undefined;
        value = line.slice(pos, stop);
        pos = line.length;
      } else if (d === '') {
        // Adjacent operators: cannot split; the first takes up to the next literal, handled by the next one.
        out[k] = '';
        continue;
      } else {
        let stop = -1;
        if (jsonOk[k]) {
          const c = line.charCodeAt(pos);
          if (c === 123 || c === 91) {
            const j = scanJson(line, pos);
            if (j > 0 && line.startsWith(d, j)) stop = j;
          }
        }
        if (stop < 0) stop = line.indexOf(d, pos);
        if (stop < 0) return undefined;
        value = line.slice(pos, stop);
        pos = stop + d.length;
      }
      if (!spaceOk[k] && value.indexOf(' ') >= 0) {
        const c = value.charCodeAt(0);
        if (!(jsonOk[k] && (c === 123 || c === 91))) return undefined;
      }
      // Adjacent operators: the text belongs to the first of the run (see the rules above).
      let first = k;
      while (first > 0 && delims[first - 1] === '') first--;
      out[first] = value;
      if (first !== k) out[k] = '';
    }
    return out;
  };
  return { source, tokens, operators, match };
}

const cache = new Map<string, CompiledFormat>();
const CACHE_MAX = 256;

/** Compile a format string (cached per format and JWT payload header). Never throws. */
export function compileFormat(format: string, jwtPayloadHeader = 'x-jwt-payload'): CompiledFormat {
  const key = `${jwtPayloadHeader}\u0000${format}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const compiled = build(format, tokenize(format, jwtPayloadHeader));
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(key, compiled);
  return compiled;
}

/**
 * Structural signature of a compiled format: literals and mapped fields. Two formats with the same
 * signature (Istio ≥ 1.24 and < 1.24) parse every line the same way, so only one needs trying.
 */
export function signature(f: CompiledFormat): string {
  return f.tokens
    .map((t) => (t.kind === 'literal' ? `L${t.text}` : `O${t.op.field ?? '?'}${t.op.field === 'start_time' ? (t.op.arg ?? '') : ''}`))
    .join('\u0000');
}
