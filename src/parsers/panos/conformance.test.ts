import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ParsedEvent } from '../../model/events';
import { getPath } from '../common';
import { panosParser } from './index';

/**
 * Elastic's panw pipeline test corpus (see /work/shared/corpus/README.md "panos/"): every line of
 * each `*.log` that has a `-expected.json` must map these keys to the values Elastic produces.
 */
const CORPUS = process.env.AUDITMESH_CORPUS ?? path.resolve(__dirname, '../../../../shared/corpus');
const DIR = path.join(CORPUS, 'panos');

const KEYS = [
  'source.ip',
  'source.port',
  'destination.ip',
  'destination.port',
  'source.nat.ip',
  'destination.nat.ip',
  'user.name',
  'source.user.name',
  'event.action',
  'event.outcome',
  'rule.name',
  'network.transport',
  'url.path',
  'observer.serial_number',
];

if (!existsSync(DIR)) {
  throw new Error(`PAN-OS conformance corpus not found at ${DIR}; set AUDITMESH_CORPUS to the corpus directory (the one holding panos/)`);
}

/** `tz_offset` from the elastic-package test config; `+09:30` for the url-no-xff file (its config is missing), else UTC. */
function tzFor(logFile: string): string {
  const cfg = `${logFile}-config.yml`;
  if (existsSync(cfg)) {
    const m = /tz_offset:\s*["']?([^"'\s]+)["']?/.exec(readFileSync(cfg, 'utf8'));
    if (m) return m[1]!;
  }
  return path.basename(logFile).includes('url-no-xff') ? '+09:30' : 'UTC';
}

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.log') && existsSync(path.join(DIR, `${f}-expected.json`)))
  .sort();

const lower = (v: unknown): string => String(v).toLowerCase();

describe('parsers/panos > conformance with Elastic panw pipeline outputs', () => {
  it('finds the corpus files', () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
  });

  let total = 0;
  afterAll(() => {
    // 36 lines in the corpus as described in its README.
    expect(total).toBe(36);
  });

  for (const file of files) {
    const logFile = path.join(DIR, file);
    const lines = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.trim() !== '');
    const expected = (JSON.parse(readFileSync(`${logFile}-expected.json`, 'utf8')) as { expected: unknown[] }).expected;
    const parse = panosParser.create({ tzOffset: tzFor(logFile) });

    describe(file, () => {
      it('has one expected document per line', () => {
        expect(expected).toHaveLength(lines.length);
      });

      lines.forEach((line, i) => {
        it(`line ${i + 1} matches the expected ECS values`, () => {
          total++;
          const r = parse({ value: Buffer.from(line), ref: { source: 'panos', file, line: i + 1 }, receivedAtMs: 0 });
          if (!r.ok) throw new Error(`rejected: ${JSON.stringify(r.rejection)}`);
          expect(r.events).toHaveLength(1);
          const ev = r.events[0] as ParsedEvent;
          const want: Record<string, string> = {};
          const got: Record<string, string> = {};
          for (const key of KEYS) {
            const e = getPath(expected[i], key);
            if (e === undefined) continue;
            want[key] = lower(e);
            const g = getPath(ev.ecs, key);
            got[key] = g === undefined ? '<missing>' : lower(g);
          }
          expect(got).toEqual(want);
        });
      });
    });
  }
});
