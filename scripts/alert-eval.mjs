#!/usr/bin/env node
// Precision/recall of the alert rules on labeled synthetic traffic (src/testing/traffic.ts) through
// the real pipeline, and the README's "Alerting" table refreshed from the run:
//   node scripts/alert-eval.mjs
// It runs src/detect/eval.test.ts (the same assertions the test suite makes) with ALERT_EVAL_WRITE_README=1.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const jest = path.join(root, 'node_modules', '.bin', 'jest');
const r = spawnSync(jest, ['src/detect/eval.test.ts', '--selectProjects', 'unit', '--verbose=false'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, ALERT_EVAL_WRITE_README: '1' },
});
process.exit(r.status ?? 1);
