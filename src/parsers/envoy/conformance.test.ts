/**
 * Conformance against Elastic's istio / envoyproxy ingest-pipeline test outputs (shared corpus).
 * For each input line, every key below that the expected document has must equal our ECS value
 * (lower-cased string compare). Keys the expected document lacks are not compared; bytes are not
 * compared at all (Elastic's istio mapping of bytes is inverted, see event.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getPath } from '../common';
import { envoyParser } from './index';

const CORPUS = process.env['AUDITMESH_CORPUS'] ?? path.resolve(__dirname, '../../../../shared/corpus');

const KEYS = [
  'source.ip',
  'source.port',
  'destination.ip',
  'destination.port',
  'user.name',
  'event.action',
  'event.outcome',
  'network.transport',
  'url.path',
  'http.request.method',
  'http.response.status_code',
] as const;

const FILES = ['istio/test-access-json-logs.log', 'istio/test-access-logs.log', 'envoy/test-log.log'];

function load(rel: string): { lines: string[]; expected: Record<string, unknown>[] } {
  const file = path.join(CORPUS, rel);
  if (!fs.existsSync(file) || !fs.existsSync(`${file}-expected.json`)) {
    throw new Error(
      `conformance corpus not found: ${file} (and ${file}-expected.json). ` +
        'Set AUDITMESH_CORPUS to the shared corpus directory (the one holding istio/ and envoy/).',
    );
  }
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const expected = (JSON.parse(fs.readFileSync(`${file}-expected.json`, 'utf8')) as { expected: Record<string, unknown>[] }).expected;
  return { lines, expected };
}

/** Expected docs use nested objects but sometimes dotted keys; read both. */
function expectedValue(doc: Record<string, unknown>, key: string): unknown {
  return key in doc ? doc[key] : getPath(doc, key);
}

describe('parsers/envoy > conformance with the peer corpus', () => {
  const parse = envoyParser.create();
  let total = 0;

  for (const rel of FILES) {
    describe(rel, () => {
      const { lines, expected } = load(rel);

      it('has one expected document per input line', () => {
        expect(lines.length).toBe(expected.length);
      });

      lines.forEach((line, i) => {
        it(`line ${i + 1} matches the expected ECS keys`, () => {
          total++;
          const r = parse({ value: Buffer.from(line), ref: { source: 'envoy', file: rel, line: i + 1 }, receivedAtMs: 0 });
          if (!r.ok) throw new Error(`line ${i + 1} rejected: ${r.rejection.code}: ${r.rejection.reason}`);
          expect(r.events).toHaveLength(1);
          const ev = r.events[0]!;
          const exp = expected[i]!;
          const compared: string[] = [];
          const mismatches: string[] = [];
          for (const key of KEYS) {
            const want = expectedValue(exp, key);
            if (want === undefined || want === null) continue;
            compared.push(key);
            const got = getPath(ev.ecs, key);
            if (String(got).toLowerCase() !== String(want).toLowerCase()) {
              mismatches.push(`${key}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
            }
          }
          expect(mismatches).toEqual([]);
          expect(compared.length).toBeGreaterThan(0);
          // @timestamp is not in the compared key list, but the peer's is the line's start time.
          expect(ev.timestamp).toBe(exp['@timestamp']);
        });
      });
    });
  }

  afterAll(() => {
    // 3 + 10 + 7 lines in the corpus.
    expect(total).toBe(20);
  });
});
