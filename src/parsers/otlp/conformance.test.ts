import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RawRecord } from '../../model/events';
import { otlpParser } from './index';

/** The shared corpus (read-only, not copied here): AUDITMESH_CORPUS or ../../../../shared/corpus. */
const CORPUS = process.env['AUDITMESH_CORPUS'] ?? path.resolve(__dirname, '../../../../shared/corpus');
const TRACE_JSON = path.join(CORPUS, 'otlp', 'trace.json');

describe('parsers/otlp > conformance (opentelemetry-proto examples/trace.json)', () => {
  it('parses the upstream example with its upper-case ids lower-cased', () => {
    if (!fs.existsSync(TRACE_JSON)) {
      throw new Error(`corpus file missing: ${TRACE_JSON}; set AUDITMESH_CORPUS to the shared corpus directory`);
    }
    const raw: RawRecord = { value: fs.readFileSync(TRACE_JSON), ref: { source: 'otlp', file: TRACE_JSON, line: 1 }, receivedAtMs: 0 };
    const res = otlpParser.create()(raw);
    if (!res.ok) throw new Error(`rejected: ${res.rejection.code} ${res.rejection.reason}`);
    expect(res.events).toHaveLength(1);
    const e = res.events[0]!;
    expect(e.join).toEqual({
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: 'eee19b7ec3c1b174',
      parentSpanId: 'eee19b7ec3c1b173',
      startMs: 1544712660000,
      endMs: 1544712661000,
    });
    expect(e.timestamp).toBe('2018-12-13T14:51:00.000Z');
    expect(e.ecs).toMatchObject({
      trace: { id: '5b8efff798038103d269b633813fc60c' },
      span: { id: 'eee19b7ec3c1b174', name: "I'm a server span", kind: 'server' },
      parent: { id: 'eee19b7ec3c1b173' },
      transaction: { id: 'eee19b7ec3c1b174' },
      service: { name: 'my.service' },
      event: { duration: 1_000_000_000, outcome: 'unknown' },
      otel: { scope: { name: 'my.library', version: '1.0.0' }, attributes: { 'my.span.attr': 'some value' } },
    });
  });
});
