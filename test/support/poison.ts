/**
 * Poison messages for the fault-injection suite: what a broken or hostile producer puts on a source's
 * topic. Every kind is rendered for one source type and CHECKED with the real parser: the generator
 * keeps only messages the parser rejects (so the truth is exact: each of them must become exactly one
 * dead letter, and nothing else may), except the `future` kind, which parses but claims an event time
 * centuries ahead of any clock (and must be dead-lettered by the streaming pipeline all the same: it would
 * otherwise drag the event-time watermark into the future and make all healthy traffic "too late").
 */
import { createHash } from 'node:crypto';
import { createParser } from '../../src/parsers/registry';
import { encodeTraceRequest } from '../../src/parsers/otlp/encode';
import type { SourceType } from '../../src/model/events';
import { hex, type Message, type Rng } from './scenario';

export interface Poison {
  source: SourceType;
  /** null: a Kafka tombstone (no value at all). */
  value: Buffer | null;
  kind: string;
}

const MAX_ORIGINAL_BYTES = 64 * 1024;

/** What a dead letter keeps of a poison message: SHA-256 of its first 64 KiB, and its length. */
export function poisonFingerprint(value: Buffer | null): string {
  const v = value ?? Buffer.alloc(0);
  return `${createHash('sha256').update(v.subarray(0, MAX_ORIGINAL_BYTES)).digest('hex')}:${v.length}`;
}

const randomBytes = (rng: Rng, n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rng() * 256)));

/** A healthy message cut short (JSON sources only: a cut CSV line or protobuf may still parse). */
function truncated(rng: Rng, m: Message): Buffer {
  return m.value.subarray(0, 1 + Math.floor(rng() * Math.max(1, m.value.length * 0.8)));
}

/** Candidate poison of one kind for `source`; `healthy` are real messages of that source to mangle. */
function candidate(rng: Rng, source: SourceType, kind: string, healthy: Message[]): Buffer | null {
  const some = healthy[Math.floor(rng() * healthy.length)]!;
  const s = (x: string) => Buffer.from(x, 'utf8');
  switch (kind) {
    case 'random_bytes':
      return randomBytes(rng, 1 + Math.floor(rng() * 2048));
    case 'empty':
      return Buffer.alloc(0);
    case 'tombstone':
      return null;
    case 'control_chars':
      return Buffer.concat([s('\u0000\u0001\u0002'), randomBytes(rng, 8), s('\u001b[2J\r\n\t\u0000')]);
    case 'invalid_utf8':
      return Buffer.concat([s('{"start_time":"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1]), s('","method":"GET"')]);
    case 'huge':
      return Buffer.from('A'.repeat(300 * 1024 + Math.floor(rng() * 200 * 1024)));
    case 'deep_nesting':
      return s('['.repeat(50_000) + ']'.repeat(50_000));
    case 'json_scalar':
      return s(['[]', '42', 'null', '"text"', 'true', '{}', '[{}]', '-1e309'][Math.floor(rng() * 8)]!);
    case 'prototype_pollution':
      return s('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"toString":1}');
    case 'wrong_types':
      return s(JSON.stringify({ start_time: 12, timestamp: { a: 1 }, method: ['GET'], path: 7, response_code: 'x', ip_address: [], raw_request: 5 }));
    case 'truncated_json':
      return source === 'envoy' || source === 'tyk' ? truncated(rng, some) : null;
    case 'other_source': {
      const other: Record<SourceType, string> = {
        envoy: '1,2026/10/05 08:15:30,0154510000,THREAT,url,2561',
        tyk: '[2026-10-05T08:15:30.000Z] "GET /x HTTP/1.1" 200 - via_upstream',
        panos: '{"start_time":"2026-10-05T08:15:30Z","method":"GET","path":"/x"}',
        otlp: '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}',
      };
      return s(other[source]);
    }
    case 'bad_csv':
      return s(['1,2026/13/45 99:99:99,x,TRAFFIC,end', 'x,'.repeat(200), '1,2026/10/05 08:15:30,0154510000,TRAFFIC,end,' + 'not-an-ip,'.repeat(60)][Math.floor(rng() * 3)]!);
    case 'bad_protobuf':
      return Buffer.concat([Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), randomBytes(rng, 16)]);
    case 'bad_date':
      return source === 'envoy' || source === 'tyk' ? Buffer.from(some.value.toString('utf8').replace(/"(start_time|timestamp)":"[^"]+"/, '"$1":"yesterday at noon"')) : null;
    case 'future': {
      // Parses, but claims the year 2399: poison for event time, not for the parser.
      if (source === 'otlp') {
        const t = BigInt(Date.UTC(2399, 0, 1) + Math.floor(rng() * 86_400_000)) * 1_000_000n; // unix nanos of 2999 overflow 64 bits
        return encodeTraceRequest({
          resourceSpans: [{ resource: { 'service.name': 'orders' }, scopeSpans: [{ spans: [{ traceId: hex(rng, 32), spanId: hex(rng, 16), name: 'GET /api/orders/:id', kind: 2, startTimeUnixNano: t, endTimeUnixNano: t + 9_000_000n, attributes: { 'http.request.method': 'GET', 'url.path': '/api/orders/1' } }] }] }],
        });
      }
      const text = some.value.toString('utf8');
      if (source === 'panos') return Buffer.from(text.replace(/\b20\d\d\//g, '2399/'));
      return /"(start_time|timestamp)":"\d{4}/.test(text) ? Buffer.from(text.replace(/"(start_time|timestamp)":"\d{4}/, '"$1":"2399')) : null;
    }
    default:
      throw new Error(`unknown poison kind ${kind}`);
  }
}

export const POISON_KINDS = [
  'random_bytes', 'empty', 'tombstone', 'control_chars', 'invalid_utf8', 'huge', 'deep_nesting', 'json_scalar', 'prototype_pollution',
  'wrong_types', 'truncated_json', 'other_source', 'bad_csv', 'bad_protobuf', 'bad_date', 'future',
];

/** Kinds rare on purpose (big messages), at most this many each. */
const RARE: Record<string, number> = { huge: 8, deep_nesting: 8 };

/**
 * `n` poison messages spread over the sources of `healthy` (each source gets its share), every kind
 * represented. Each candidate is checked with the source's real parser: kept only when rejected
 * (or, for `future`, when it parses to events dated after the year 2300).
 */
export function poisonMessages(rng: Rng, n: number, healthy: Message[]): Poison[] {
  const sources = [...new Set(healthy.map((m) => m.source))].sort();
  const parsers = new Map(sources.map((s) => [s, createParser(s, s === 'otlp' ? { format: 'otlp_proto' } : {})]));
  const used: Record<string, number> = {};
  const out: Poison[] = [];
  for (let guard = 0; out.length < n; guard++) {
    if (guard > n * 50) throw new Error(`poison generator: only ${out.length} of ${n} candidates were rejected by the parsers`);
    const source = sources[out.length % sources.length]!;
    const kind = POISON_KINDS[Math.floor(rng() * POISON_KINDS.length)]!;
    if ((used[kind] ?? 0) >= (RARE[kind] ?? Infinity)) continue;
    const value = candidate(rng, source, kind, healthy.filter((m) => m.source === source));
    if (value === null && kind !== 'tombstone') continue;
    const res = parsers.get(source)!({ value: value ?? Buffer.alloc(0), ref: { source, topic: 't', partition: 0, offset: '0' }, receivedAtMs: Date.now() });
    const keep = kind === 'future' ? res.ok && res.events.length > 0 && res.events.every((e) => Date.parse(e.timestamp) > Date.UTC(2300, 0, 1)) : !res.ok;
    if (!keep) continue;
    used[kind] = (used[kind] ?? 0) + 1;
    out.push({ source, value, kind });
  }
  return out;
}
