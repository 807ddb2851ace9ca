#!/usr/bin/env node
// `npm run demo`: load the bundled samples into the embedded store (./data) and serve the API on
// the embedded default. Idempotent: running it again re-ingests the same events without duplicates.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'auditmesh.js');
const env = { ...process.env };
env.AUDITMESH_CONFIG ??= path.join(root, 'samples', 'auditmesh.yaml');
env.AUDITMESH_DATA_DIR ??= path.join(root, 'data');
delete env.KAFKA_BROKERS;
delete env.ELASTICSEARCH_URL;

if (!fs.existsSync(path.join(root, 'dist', 'cli.js'))) {
  const b = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
const run = (args) => spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8' });
for (const [type, file] of [['panos', 'panos-traffic.log'], ['tyk', 'tyk-analytics.jsonl'], ['envoy', 'envoy-access.log'], ['otlp', 'otlp-spans.jsonl']]) {
  const r = run(['ingest', '--type', type, path.join(root, 'samples', file)]);
  process.stdout.write(r.stdout);
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    process.exit(r.status ?? 1);
  }
}
const tok = run(['token', '--role', 'auditor', '--subject', 'demo-auditor']);
if (tok.status !== 0) {
  process.stderr.write(tok.stderr);
  process.exit(1);
}
const token = tok.stdout.trim();
const port = env.PORT ?? '8080';
process.stdout.write(`
Sample data loaded into ${env.AUDITMESH_DATA_DIR}. Try (an auditor token, valid 8 hours):

  export TOKEN=${token}
  open http://localhost:${port}/ui/   (the dashboard: paste the token above)
  curl -s -H "Authorization: Bearer $TOKEN" 'http://localhost:${port}/v1/records?limit=5'
  curl -s -H "Authorization: Bearer $TOKEN" 'http://localhost:${port}/v1/records?verdict=invalid_signature'
  curl -s -H "Authorization: Bearer $TOKEN" 'http://localhost:${port}/v1/records?user.id=alice&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z'

New tokens: node bin/auditmesh.js token --role auditor   (with AUDITMESH_DATA_DIR=${env.AUDITMESH_DATA_DIR})
`);
const srv = spawn(process.execPath, [bin, 'serve'], { env, stdio: 'inherit' });
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => srv.kill(s));
srv.on('exit', (code) => process.exit(code ?? 0));
