import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadRules, parseRuleFile, RuleLoadError } from './load';
import { RULE_TYPES } from './schema';

const SHIPPED = path.resolve(__dirname, '../../../pipelines/rules');

function problemsOf(text: string, file = 'rules/test.yaml'): string[] {
  return parseRuleFile(file, text).problems;
}

const good = `rules:
  - id: forged
    type: invalid_tokens
    severity: high
    suppressionWindowSeconds: 600
    description: Many forged tokens from one address.
    params:
      threshold: 3
`;

describe('detect/rules > load', () => {
  it('loads the shipped rule files, with one rule of every built-in type', () => {
    const set = loadRules(SHIPPED);
    expect(set.files.length).toBeGreaterThan(0);
    expect(new Set(set.rules.map((r) => r.type))).toEqual(new Set(RULE_TYPES));
    for (const r of set.rules) expect(r.description.length).toBeGreaterThan(40);
  });

  it('applies the defaults of the params of a type', () => {
    const { rules, problems } = parseRuleFile('x.yaml', good);
    expect(problems).toEqual([]);
    expect(rules[0]).toMatchObject({ id: 'forged', enabled: true, line: 2, params: { threshold: 3, windowSeconds: 300, groupBy: 'source_ip' } });
  });

  it('accepts a file holding a single rule (a mapping)', () => {
    const { rules, problems } = parseRuleFile('one.yaml', 'id: mm\ntype: identity_mismatch\nseverity: low\nsuppressionWindowSeconds: 0\ndescription: Layers disagree on the user.\n');
    expect(problems).toEqual([]);
    expect(rules[0]).toMatchObject({ id: 'mm', type: 'identity_mismatch', line: 1 });
  });

  it('names the file and the line of a bad severity, with the allowed values', () => {
    const p = problemsOf(good.replace('severity: high', 'severity: urgent'));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^rules\/test\.yaml:4:15: rule 'forged' severity: Invalid enum value\. Expected 'low' \| 'medium' \| 'high' \| 'critical', received 'urgent'/);
  });

  it('names the file and the line of an unknown rule type, with the known types', () => {
    const p = problemsOf(good.replace('type: invalid_tokens', 'type: brute_force'));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^rules\/test\.yaml:3:11: rule 'forged' type: unknown value; use one of: invalid_tokens, identity_mismatch/);
  });

  it('names the file and the line of the rule missing a required field', () => {
    const p = problemsOf(good.replace('    suppressionWindowSeconds: 600\n', ''));
    expect(p).toEqual([expect.stringMatching(/^rules\/test\.yaml:2:5: rule 'forged' suppressionWindowSeconds: required key 'suppressionWindowSeconds' is missing$/)]);
  });

  it('names the line of a missing type and of a bad parameter value', () => {
    expect(problemsOf(good.replace('    type: invalid_tokens\n', ''))[0]).toMatch(/^rules\/test\.yaml:2:5: rule 'forged' type: required key 'type' is missing; use one of: /);
    expect(problemsOf(good.replace('threshold: 3', 'threshold: 0'))[0]).toMatch(/^rules\/test\.yaml:8:18: rule 'forged' params\.threshold: .*>= 1.*\(got 0\)$/);
  });

  it('names the line of an unknown key (a typo in params)', () => {
    const p = problemsOf(good.replace('threshold: 3', 'treshold: 3'));
    expect(p[0]).toMatch(/^rules\/test\.yaml:8:7: rule 'forged' params: unknown key\(s\) 'treshold'/);
  });

  it('names the file, line and column of a YAML syntax error', () => {
    const p = problemsOf('rules:\n  - id: x\n    type: [unclosed\n    severity: high\n');
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^rules\/test\.yaml:\d+:\d+: invalid YAML: /);
    expect(Number(/:(\d+):/.exec(p[0]!)![1])).toBeGreaterThanOrEqual(3);
  });

  it('reports every problem of every file at once, and duplicate ids across files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rules-'));
    try {
      fs.writeFileSync(path.join(dir, 'a.yaml'), good);
      fs.writeFileSync(path.join(dir, 'b.yaml'), good.replace('severity: high', 'severity: urgent') + good.replace('rules:\n', '').replace('threshold: 3', 'threshold: 4'));
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a rule file');
      let err: RuleLoadError | undefined;
      try {
        loadRules(dir);
      } catch (e) {
        err = e as RuleLoadError;
      }
      expect(err).toBeInstanceOf(RuleLoadError);
      expect(err!.problems).toEqual([
        expect.stringMatching(/b\.yaml:4:15: rule 'forged' severity/),
        expect.stringMatching(/b\.yaml:9:5: rule 'forged': id is already used by the rule at .*a\.yaml:2/),
      ]);
      expect(err!.message).toMatch(/^invalid alert rules:\n {2}\S*b\.yaml:4:15/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
