import { createHash } from 'node:crypto';
import type { ParseRejection, ParseResult, RawRecord } from '../model/events';

/** Largest raw record a parser accepts (Kafka's default max.message.bytes is 1 MiB). */
export const MAX_RECORD_BYTES = 1024 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Common guards every parser runs first: empty, oversized, invalid UTF-8.
 * Returns the decoded text, or a rejection.
 */
export function decodeText(raw: RawRecord, maxBytes = MAX_RECORD_BYTES): string | ParseRejection {
  const len = raw.value.length;
  if (len === 0) return { code: 'empty', reason: 'empty message' };
  if (len > maxBytes) return { code: 'too_large', reason: `message is ${len} bytes, over the ${maxBytes}-byte limit` };
  let text: string;
  try {
    text = utf8.decode(raw.value);
  } catch {
    return { code: 'invalid_utf8', reason: 'message is not valid UTF-8' };
  }
  if (text.trim() === '') return { code: 'empty', reason: 'message is blank' };
  return text;
}

export const isRejection = (v: unknown): v is ParseRejection =>
  typeof v === 'object' && v !== null && 'code' in v && 'reason' in v && !('events' in v);

/**
 * Deterministic event id, content-addressed: the same bytes give the same id wherever they come from,
 * so a message redelivered by Kafka, re-sent by a retrying producer (a new offset) or re-ingested
 * from a file is one event. The coordinates are kept separately in `ref` as evidence.
 */
export function eventId(raw: RawRecord, index = 0): string {
  return createHash('sha256').update(`${raw.ref.source}|${index}|`).update(raw.value).digest('base64url').slice(0, 22);
}

const HEX = /^[0-9a-f]+$/;

/**
 * Normalize a trace id to 32 lower-case hex chars: W3C 128-bit as is, B3 64-bit left-padded.
 * Returns undefined for anything else, including the all-zero invalid id.
 */
export function normalizeTraceId(id: string | undefined | null): string | undefined {
  if (!id) return undefined;
  const s = id.trim().toLowerCase();
  if (!HEX.test(s)) return undefined;
  let out: string;
  if (s.length === 32) out = s;
  else if (s.length === 16) out = s.padStart(32, '0');
  else return undefined;
  return /^0+$/.test(out) ? undefined : out;
}

export function normalizeSpanId(id: string | undefined | null): string | undefined {
  if (!id) return undefined;
  const s = id.trim().toLowerCase();
  if (s.length !== 16 || !HEX.test(s) || s === '0000000000000000') return undefined;
  return s;
}

/** W3C traceparent `00-<32 hex>-<16 hex>-<2 hex>`. */
export function parseTraceparent(v: string | undefined | null): { traceId: string; spanId: string } | undefined {
  if (!v) return undefined;
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})/.exec(v.trim().toLowerCase());
  if (!m || m[1] === 'ff') return undefined;
  const traceId = normalizeTraceId(m[2]);
  const spanId = normalizeSpanId(m[3]);
  if (!traceId || !spanId) return undefined;
  return { traceId, spanId };
}

/** B3 single header `traceid-spanid[-sampled[-parentspanid]]`. */
export function parseB3Single(v: string | undefined | null): { traceId: string; spanId?: string } | undefined {
  if (!v) return undefined;
  const parts = v.trim().split('-');
  const traceId = normalizeTraceId(parts[0]);
  if (!traceId) return undefined;
  const spanId = normalizeSpanId(parts[1]);
  return spanId ? { traceId, spanId } : { traceId };
}

/**
 * Split `host:port`, `[v6]:port`, bare IPv4 or bare IPv6. Envoy writes `-` for empty; that gives {}.
 */
export function splitHostPort(v: string | undefined | null): { ip?: string; port?: number } {
  if (!v || v === '-') return {};
  const s = v.trim();
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) return {};
    const ip = s.slice(1, end);
    const port = s[end + 1] === ':' ? toPort(s.slice(end + 2)) : undefined;
    return port === undefined ? { ip } : { ip, port };
  }
  const colons = s.split(':').length - 1;
  if (colons === 1) {
    const i = s.indexOf(':');
    const port = toPort(s.slice(i + 1));
    const ip = s.slice(0, i);
    return port === undefined ? { ip } : { ip, port };
  }
  return { ip: s };
}

function toPort(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

/** Set a dotted ECS path on a nested object, skipping undefined/null/'' and Envoy's '-'. */
export function setPath(doc: Record<string, unknown>, path: string, value: unknown): void {
  if (value === undefined || value === null || value === '' || value === '-') return;
  if (typeof value === 'number' && Number.isNaN(value)) return;
  const keys = path.split('.');
  // Never let a key taken from input reach the prototype chain.
  if (keys.some((k) => k === '__proto__' || k === 'constructor' || k === 'prototype')) return;
  let cur: Record<string, unknown> = doc;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i]!;
    let next = cur[k];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      next = {};
      cur[k] = next;
    }
    cur = next as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}

/** Read a dotted path from a nested object. */
export function getPath(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const k of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

export const sha256Hex = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

/** Wrap a parser so that an unexpected exception becomes a rejection instead of escaping. */
export function guard(fn: (raw: RawRecord) => ParseResult): (raw: RawRecord) => ParseResult {
  return (raw) => {
    try {
      return fn(raw);
    } catch (e) {
      return {
        ok: false,
        rejection: { code: 'invalid_field', reason: `parser error: ${(e as Error)?.message ?? String(e)}` },
      };
    }
  };
}

/** HTTP status → ECS event.outcome. */
export function outcomeFromStatus(status: number | undefined): 'success' | 'failure' | 'unknown' {
  if (status === undefined || status === 0 || Number.isNaN(status)) return 'unknown';
  return status < 400 ? 'success' : 'failure';
}

/** Decode a base64url or base64 (padded or not) JWT segment / payload header to a JSON object. */
export function decodeJsonB64(s: string): Record<string, unknown> | undefined {
  try {
    const norm = s.trim().replace(/-/g, '+').replace(/_/g, '/');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(norm)) return undefined;
    const obj: unknown = JSON.parse(Buffer.from(norm, 'base64').toString('utf8'));
    return typeof obj === 'object' && obj !== null && !Array.isArray(obj) ? (obj as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
