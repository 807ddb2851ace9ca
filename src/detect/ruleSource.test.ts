import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../instrumentation/logger';
import { createDetectMetrics } from './metrics';
import { RuleSource, type RuleSourceOptions } from './ruleSource';
import { RuleLoadError } from './rules/load';

const ruleYaml = (id: string, severity = 'high') =>
  `rules:\n  - id: ${id}\n    type: identity_mismatch\n    severity: ${severity}\n    suppressionWindowSeconds: 60\n    description: layers disagree about the user\n`;

describe('detect > rule source (validation at start, reload without restart)', () => {
  let dir: string;
  let logs: Record<string, unknown>[];
  const make = (over: Partial<RuleSourceOptions> = {}) =>
    new RuleSource({
      rulesDir: path.join(dir, 'rules'),
      rulesDirRequired: true,
      pollIntervalMs: 0,
      debounceMs: 20,
      log: createLogger('debug', {}, (l) => logs.push(JSON.parse(l) as Record<string, unknown>)),
      metrics: createDetectMetrics(),
      ...over,
    });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rulesrc-'));
    fs.mkdirSync(path.join(dir, 'rules'));
    fs.writeFileSync(path.join(dir, 'rules', 'a.yaml'), ruleYaml('first'));
    logs = [];
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses to start with an invalid rule file, naming the file and line', () => {
    fs.writeFileSync(path.join(dir, 'rules', 'b.yaml'), ruleYaml('second', 'urgent'));
    expect(() => make().load()).toThrow(RuleLoadError);
    expect(() => make().load()).toThrow(/b\.yaml:4:15: rule 'second' severity: Invalid enum value/);
  });

  it('treats a missing default directory as no rules, a missing configured one as an error', () => {
    expect(() => make({ rulesDir: path.join(dir, 'nope') }).load()).toThrow(/detect\.rulesDir: directory .*nope does not exist/);
    const src = make({ rulesDir: path.join(dir, 'nope'), rulesDirRequired: false });
    src.load();
    expect(src.rules).toEqual([]);
  });

  it('keeps the previous rules when a reload is invalid, and takes the fixed file', () => {
    const src = make();
    src.load();
    src.start();
    try {
      const file = path.join(dir, 'rules', 'a.yaml');
      fs.writeFileSync(file, ruleYaml('first') + '  - id: broken\n    type: nope\n');
      expect(src.check()).toBe(true);
      expect(src.rules.map((r) => r.id)).toEqual(['first']);
      const err = logs.find((l) => l.msg === 'alert rules not reloaded: keeping the previous rules');
      expect(err?.problems).toEqual([expect.stringMatching(/a\.yaml:8:11: rule 'broken' type: unknown value; use one of: invalid_tokens, /)]);
      expect(src.check()).toBe(false); // unchanged since: not reloaded again
      fs.writeFileSync(file, ruleYaml('first', 'low') + ruleYaml('second').replace('rules:\n', ''));
      expect(src.check()).toBe(true);
      expect(src.rules.map((r) => `${r.id}:${r.severity}`)).toEqual(['first:low', 'second:high']);
    } finally {
      src.stop();
    }
  });

  it('reloads on its own when a file changes (fs.watch, debounced)', async () => {
    const src = make();
    src.load();
    src.start();
    try {
      const gen = src.generation;
      fs.writeFileSync(path.join(dir, 'rules', 'c.yaml'), ruleYaml('third'));
      for (let i = 0; i < 250 && src.generation === gen; i++) await new Promise((r) => setTimeout(r, 20));
      expect(src.rules.map((r) => r.id).sort()).toEqual(['first', 'third']);
    } finally {
      src.stop();
    }
  });

  it('falls back to polling mtimes when fs.watch says nothing', async () => {
    jest.useFakeTimers();
    try {
      const src = make({ pollIntervalMs: 5_000 });
      src.load();
      src.start();
      fs.writeFileSync(path.join(dir, 'rules', 'd.yaml'), ruleYaml('fourth'));
      jest.advanceTimersByTime(5_000);
      expect(src.rules.map((r) => r.id).sort()).toEqual(['first', 'fourth']);
      src.stop();
    } finally {
      jest.useRealTimers();
    }
  });

  it('reloads the revocation list and keeps the previous one when the new one is invalid', () => {
    const rev = path.join(dir, 'revoked.yaml');
    fs.writeFileSync(rev, 'subjects:\n  - subject: dave\n    revokedAt: 2026-03-09T12:00:00Z\n');
    const src = make({ revocationFile: rev });
    src.load();
    src.start();
    try {
      expect(src.revocations.subjects.get('dave')?.revokedAtMs).toBe(Date.parse('2026-03-09T12:00:00Z'));
      fs.writeFileSync(rev, 'subjects:\n  - subject: dave\n    revokedAt: yesterday\n');
      expect(src.check()).toBe(true);
      expect(src.revocations.subjects.has('dave')).toBe(true);
      expect(logs.find((l) => l.msg === 'revocation list not reloaded: keeping the previous list')?.problems).toEqual([
        expect.stringMatching(/revoked\.yaml:3:16: subjects\[0\]\.revokedAt: must be an ISO 8601 date-time/),
      ]);
      fs.writeFileSync(rev, `tokens:\n  - sha256: ${'C'.repeat(64)}\n    revokedAt: 2026-03-09T12:00:00Z\n`);
      expect(src.check()).toBe(true);
      expect([...src.revocations.tokens.keys()]).toEqual(['c'.repeat(64)]);
      expect(src.revocations.subjects.size).toBe(0);
    } finally {
      src.stop();
    }
  });
});
