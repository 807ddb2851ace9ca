#!/usr/bin/env node
'use strict';
// Entry point of the `auditmesh` command; the TypeScript sources are compiled to dist/ by `npm install` (prepare).
const path = require('node:path');
let cli;
try {
  cli = require(path.join(__dirname, '..', 'dist', 'cli.js'));
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes('cli.js')) {
    process.stderr.write('auditmesh: not built yet; run `npm install` (or `npm run build`) in ' + path.join(__dirname, '..') + '\n');
    process.exit(1);
  }
  throw e;
}
cli.runCli(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => { process.stderr.write('auditmesh: fatal: ' + (e && e.stack || e) + '\n'); process.exitCode = 1; },
);
