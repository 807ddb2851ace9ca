import fs from 'node:fs';
import path from 'node:path';
import { combine, evalHarness, scoreTable, type EvalResult } from './eval';

jest.setTimeout(300_000);

/**
 * The acceptance numbers of the alert rules: labeled traffic of three seeds (40 people, kiosks,
 * workloads, scanners over 10 days, plus injected misuse of every kind) through the real pipeline.
 * `node scripts/alert-eval.mjs` runs this with ALERT_EVAL_WRITE_README=1 to refresh the README table.
 */
export const SEEDS = [20260302, 2, 3];
const README = path.resolve(__dirname, '../../README.md');
const START = '<!-- alert-eval:start -->';
const END = '<!-- alert-eval:end -->';

describe('detect > precision and recall on labeled traffic', () => {
  const results: EvalResult[] = [];
  let total: EvalResult;

  beforeAll(async () => {
    for (const seed of SEEDS) {
      const h = await evalHarness({ trafficOptions: { seed } });
      try {
        await h.replay();
        results.push(await h.score());
      } finally {
        await h.dispose();
      }
    }
    total = combine(results);
    const table = `${scoreTable(total)} Seeds ${SEEDS.join(', ')}.`;
    process.stdout.write(`\n${table}\n`);
    for (const m of total.missed) process.stdout.write(`missed: ${JSON.stringify(m)}\n`);
    for (const a of total.falseAlerts.slice(0, 20)) process.stdout.write(`false alert: ${a.rule_id} ${a.group_key}: ${a.reason}\n`);
    if (process.env.ALERT_EVAL_WRITE_README === '1') {
      const text = fs.readFileSync(README, 'utf8');
      const a = text.indexOf(START), b = text.indexOf(END);
      if (a < 0 || b < a) throw new Error(`README.md has no ${START} ... ${END} block`);
      fs.writeFileSync(README, `${text.slice(0, a + START.length)}\n${table}\n${text.slice(b)}`);
    }
  });

  it('raises the expected alert for every injected case, in every run', () => {
    expect(total.missed).toEqual([]);
    for (const s of total.rules) expect(s.recall).toBe(1);
  });

  it('alerts on at most 2% of the benign identities', () => {
    for (const r of results) expect(r.benignFalsePositiveRate).toBeLessThanOrEqual(0.02);
    expect(total.benignFalsePositiveRate).toBeLessThanOrEqual(0.02);
  });

  it('keeps every rule at a precision of at least 90%', () => {
    for (const s of total.rules) expect({ rule: s.rule, precision: s.precision >= 0.9 }).toEqual({ rule: s.rule, precision: true });
  });
});
