/**
 * The Envoy / Istio access-log parser: one raw record (one line, or a few newline-separated lines) in,
 * one ParsedEvent per line out, or a rejection. Never throws on bad input.
 */
import type { ParsedEvent, ParseRejection, ParseResult, RawRecord } from '../../model/events';
import { decodeText, guard, isRejection } from '../common';
import type { Parser } from '../types';
import {
  DEFAULT_TEXT_FORMATS,
  ENVOY_DEFAULT_FORMAT,
  EXTRA_JSON_KEYS,
  ISTIO_JSON_FORMAT,
  ISTIO_TEXT_FORMAT,
  ISTIO_TEXT_FORMAT_PRE_1_24,
  type EnvoyOptions,
} from './config';
import { buildEvent, type BuildContext } from './event';
import type { AccessFields, FieldName } from './fields';
import { compileFormat, signature, tokenize, type CompiledFormat } from './format';

interface JsonKey {
  field: FieldName;
  timeFormat?: string;
}

interface TextFormat {
  compiled: CompiledFormat;
  /** `istio_text`, `envoy_text` or `custom_text`. */
  name: string;
}

const MAX_LINES = 1000;
const AMBASSADOR_PREFIX = 'ACCESS ';

function formatName(f: string): string {
  if (f === ISTIO_TEXT_FORMAT || f === ISTIO_TEXT_FORMAT_PRE_1_24) return 'istio_text';
  if (f === ENVOY_DEFAULT_FORMAT) return 'envoy_text';
  return 'custom_text';
}

/** JSON key → field, from Istio's keys, our extra keys, the payload header and `jsonFormat` (last wins). */
function buildJsonKeys(opts: EnvoyOptions): { flat: Map<string, JsonKey>; nested: [string, JsonKey][] } {
  const header = opts.jwtPayloadHeader.trim().toLowerCase();
  const all: Record<string, string> = { ...ISTIO_JSON_FORMAT, ...EXTRA_JSON_KEYS };
  all['jwt_payload'] = '%REQ(X-JWT-PAYLOAD)%';
  all['x_jwt_payload'] = '%REQ(X-JWT-PAYLOAD)%';
  if (header !== '') {
    all[header] = `%REQ(${header})%`;
    all[header.replace(/-/g, '_')] = `%REQ(${header})%`;
  }
  Object.assign(all, opts.jsonFormat);
  const flat = new Map<string, JsonKey>();
  const nested: [string, JsonKey][] = [];
  for (const [key, opText] of Object.entries(all)) {
    // x-jwt-payload is the default header; with a different header configured, map those keys to it.
    const tok = tokenize(opText, header === '' ? 'x-jwt-payload' : header).find((t) => t.kind === 'operator');
    let field = tok?.kind === 'operator' ? tok.op.field : undefined;
    if (field === undefined && (key === 'jwt_payload' || key === 'x_jwt_payload')) field = 'jwt_payload';
    if (field === undefined) continue;
    const spec: JsonKey = { field };
    if (field === 'start_time' && tok?.kind === 'operator' && tok.op.arg) spec.timeFormat = tok.op.arg;
    if (key.includes('.') && !(key in ISTIO_JSON_FORMAT) && opts.jsonFormat[key] !== undefined) nested.push([key, spec]);
    else flat.set(key, spec);
  }
  return { flat, nested };
}

function getNested(obj: Record<string, unknown>, path: string): unknown {
  let cur: unknown = obj;
  for (const k of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** JSON.parse error → rejection with the position (and line/column when the text has several lines). */
function jsonRejection(text: string, e: unknown): ParseRejection {
  const msg = (e as Error)?.message ?? String(e);
  const m = /position (\d+)/.exec(msg);
  const pos = m ? Number(m[1]) : text.length;
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  const where = m ? `at position ${pos}` : `at position ${pos} (end of input: truncated?)`;
  return { code: 'invalid_json', reason: `invalid JSON ${where}, line ${line} column ${col}: ${msg}` };
}

const K8S_KEYS: readonly [string, string][] = [
  ['namespace_name', 'namespace'],
  ['pod_name', 'pod.name'],
  ['pod_id', 'pod.uid'],
  ['container_name', 'container.name'],
  ['host', 'node.name'],
];

/** Kubernetes metadata of a container-log wrapper (Elastic's `kubernetes.*` or Fluent Bit's flat keys). */
function kubernetesMeta(v: unknown): Record<string, unknown> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const k = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const put = (path: string, val: unknown): void => {
    if (typeof val !== 'string' || val === '') return;
    const [a, b] = path.split('.') as [string, string | undefined];
    if (b === undefined) out[a] = val;
    else out[a] = { ...((out[a] as Record<string, unknown>) ?? {}), [b]: val };
  };
  put('namespace', k['namespace']);
  for (const p of ['pod.name', 'pod.uid', 'container.name', 'node.name']) put(p, getNested(k, p));
  for (const [from, to] of K8S_KEYS) if (getNested(out, to) === undefined) put(to, k[from]);
  const labels = k['labels'];
  if (typeof labels === 'object' && labels !== null && !Array.isArray(labels)) {
    const l: Record<string, string> = {};
    for (const [a, b] of Object.entries(labels)) if (typeof b === 'string') l[a] = b;
    if (Object.keys(l).length > 0) out['labels'] = l;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export function createEnvoyParser(opts: EnvoyOptions): Parser {
  const header = opts.jwtPayloadHeader.trim().toLowerCase();
  const list = typeof opts.textFormat === 'string' ? [opts.textFormat] : opts.textFormat;
  const textFormats: TextFormat[] = [];
  const seen = new Set<string>();
  for (const f of list.length > 0 ? list : DEFAULT_TEXT_FORMATS) {
    const compiled = compileFormat(f, header);
    const sig = signature(compiled);
    if (seen.has(sig)) continue;
    seen.add(sig);
    textFormats.push({ compiled, name: formatName(f) });
  }
  const ambassadorInFormat = textFormats.some((t) => t.compiled.source.startsWith(AMBASSADOR_PREFIX));
  const { flat: jsonKeys, nested: nestedKeys } = buildJsonKeys(opts);
  const formatList = textFormats.map((t, i) => (t.name === 'custom_text' ? `textFormat[${i}]` : t.name)).join(', ');

  function parseText(line0: string, ctx: BuildContext): ParsedEvent | ParseRejection {
    let line = line0;
    for (let pass = 0; pass < 2; pass++) {
      for (const tf of textFormats) {
        const values = tf.compiled.match(line);
        if (!values) continue;
        const fields: AccessFields = {};
        const ops = tf.compiled.operators;
        for (let k = 0; k < ops.length; k++) {
          const field = ops[k]!.field;
          if (field === undefined) continue;
          const v = values[k]!;
          if (v === '' || v === '-' || fields[field] !== undefined) continue;
          fields[field] = v;
          if (field === 'start_time' && ops[k]!.arg) fields.startTimeFormat = ops[k]!.arg;
        }
        return buildEvent(fields, { ...ctx, logFormat: tf.name });
      }
      // Ambassador/Emissary prefix `ACCESS [...] ...`: strip and retry once.
      if (pass === 0 && !ambassadorInFormat && line.startsWith(AMBASSADOR_PREFIX)) {
        line = line.slice(AMBASSADOR_PREFIX.length);
        ctx = { ...ctx, logType: 'ACCESS' };
      } else break;
    }
    const shown = line0.length > 80 ? `${line0.slice(0, 80)}…` : line0;
    return {
      code: 'unsupported_format',
      reason:
        `text line matches none of the configured Envoy formats (${formatList}): ${JSON.stringify(shown)}; ` +
        'set envoy.textFormat to the access-log format string of this proxy',
    };
  }

  function parseJson(text: string, ctx: BuildContext, depth: number): ParsedEvent | ParseRejection {
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      return jsonRejection(text, e);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      const what = Array.isArray(obj) ? 'an array' : obj === null ? 'null' : `a ${typeof obj}`;
      return { code: 'unsupported_format', reason: `JSON value is ${what}; an Envoy JSON access log is one object per line` };
    }
    const o = obj as Record<string, unknown>;
    const fields: AccessFields = {};
    let mapped = 0;
    for (const key in o) {
      const spec = jsonKeys.get(key);
      if (spec === undefined) continue;
      mapped++;
      fields[spec.field] = o[key];
      if (spec.timeFormat !== undefined) fields.startTimeFormat = spec.timeFormat;
    }
    for (let i = 0; i < nestedKeys.length; i++) {
      const [path, spec] = nestedKeys[i]!;
      const v = getNested(o, path);
      if (v === undefined) continue;
      mapped++;
      fields[spec.field] = v;
      if (spec.timeFormat !== undefined) fields.startTimeFormat = spec.timeFormat;
    }
    if (mapped > 0) return buildEvent(fields, ctx);

    // Container-log wrapper: {"message": "<access log>", "kubernetes": {...}} or Docker's {"log": "..."}.
    const inner = typeof o['message'] === 'string' ? o['message'] : typeof o['log'] === 'string' ? o['log'] : undefined;
    if (inner !== undefined && depth === 0) {
      const k8s = kubernetesMeta(o['kubernetes']);
      const innerCtx: BuildContext = k8s ? { ...ctx, kubernetes: k8s } : { ...ctx };
      const line = inner.trim();
      if (line === '') return { code: 'empty', reason: 'container-log wrapper has an empty message' };
      return line.startsWith('{') ? parseJson(line, innerCtx, depth + 1) : parseText(line, innerCtx);
    }
    const known = Object.keys(ISTIO_JSON_FORMAT).slice(0, 6).join(', ');
    return {
      code: 'unsupported_format',
      reason: `JSON object has none of the Envoy access-log keys (${known}, …) and is not a container-log wrapper; map your keys with envoy.jsonFormat`,
    };
  }

  function parseLine(line: string, raw: RawRecord, index: number): ParsedEvent | ParseRejection {
    const ctx: BuildContext = { raw, index, logFormat: 'json' };
    if (opts.format === 'json' || (opts.format === 'auto' && line.charCodeAt(0) === 123)) return parseJson(line, ctx, 0);
    return parseText(line, ctx);
  }

  return guard((raw: RawRecord): ParseResult => {
    const decoded = decodeText(raw);
    if (typeof decoded !== 'string') return { ok: false, rejection: decoded };
    const text = decoded.trim();
    if (text.indexOf('\n') < 0) {
      const r = parseLine(text, raw, 0);
      return isRejection(r) ? { ok: false, rejection: r } : { ok: true, events: [r] };
    }
    // Several lines: a pretty-printed JSON object, or one access-log line per line.
    if (text.charCodeAt(0) === 123 && opts.format !== 'text') {
      try {
        JSON.parse(text);
        const r = parseLine(text, raw, 0);
        return isRejection(r) ? { ok: false, rejection: r } : { ok: true, events: [r] };
      } catch {
        // not one object: per line below
      }
    }
    const lines = text.split('\n');
    if (lines.length > MAX_LINES) {
      return { ok: false, rejection: { code: 'too_large', reason: `record has ${lines.length} lines, over the ${MAX_LINES}-line limit` } };
    }
    const events: ParsedEvent[] = [];
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      const r = parseLine(line, raw, events.length);
      if (isRejection(r)) {
        const rejection: ParseRejection = { ...r, reason: `line ${i + 1}: ${r.reason}` };
        return { ok: false, rejection };
      }
      events.push(r);
    }
    return { ok: true, events };
  });
}
