import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ParsedEvent, ParseResult, RawRecord } from '../../../model/events';

/** Samples in `testdata/<file>`: a `# <name>` line, then the sample line. */
export function fixtures(file: string): Record<string, string> {
  const lines = readFileSync(path.join(__dirname, file), 'utf8').split('\n');
  const out: Record<string, string> = {};
  for (let i = 0; i < lines.length - 1; i++) {
    const m = /^# (\S+)$/.exec(lines[i]!);
    if (m && lines[i + 1] !== undefined && !lines[i + 1]!.startsWith('#')) out[m[1]!] = lines[i + 1]!;
  }
  return out;
}

export function record(line: string | Buffer, line_ = 1): RawRecord {
  return { value: Buffer.isBuffer(line) ? line : Buffer.from(line, 'utf8'), ref: { source: 'panos', file: 'testdata', line: line_ }, receivedAtMs: 0 };
}

/** The single event of an accepted result; fails the test with the rejection otherwise. */
export function only(r: ParseResult): ParsedEvent {
  if (!r.ok) throw new Error(`expected an event, got rejection ${JSON.stringify(r.rejection)}`);
  if (r.events.length !== 1) throw new Error(`expected one event, got ${r.events.length}`);
  return r.events[0]!;
}
