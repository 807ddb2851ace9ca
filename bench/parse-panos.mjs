// Benchmark: PAN-OS TRAFFIC CSV parsing, one thread.
// Build first: npx tsc -p tsconfig.build.json   then: node bench/parse-panos.mjs [lines] [rounds]
// Prints one JSON line per round and a summary: {"bench":"panos csv","events_per_s":...}.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { panosParser } = require('../dist/parsers/panos/index.js');

const LINES = Number(process.argv[2] ?? 200_000);
const ROUNDS = Number(process.argv[3] ?? 3);

const pad = (n, w = 2) => String(n).padStart(w, '0');
const fmt = (ms) => {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
};
const apps = ['ssl', 'web-browsing', 'dns-base', 'ms-office365-base', 'google-base', 'ping', 'incomplete', 'ldap'];
const users = ['', '', 'corp\\alice', 'corp\\bob', 'carol@corp.example', 'host/ws-0042.corp.example', ''];
const actions = ['allow', 'allow', 'allow', 'deny', 'drop', 'reset-both'];
const reasons = ['tcp-fin', 'tcp-rst-from-client', 'aged-out', 'policy-deny', 'threat'];
const rules = ['allow-web', 'Service-Apps', 'outbound "legacy", temp', 'deny-all'];

/**
 * A realistic TRAFFIC end row: 2/3 in the 10.x/11.x layout (115 columns, quoted app
 * characteristics), 1/3 classic 8.x (65 columns) behind a BSD syslog header.
 */
function makeLine(i) {
  const t = 1_718_375_418_000 + i * 37;
  const gen = fmt(t);
  const start = fmt(t - 240_000);
  const src = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  const dst = `203.0.113.${(i * 7) % 250}`;
  const sport = 1024 + (i % 60000);
  const app = apps[i % apps.length];
  const action = actions[i % actions.length];
  const rule = rules[i % rules.length];
  const ruleCsv = rule.includes(',') ? `"${rule.replace(/"/g, '""')}"` : rule;
  const bytes = 500 + ((i * 7919) % 2_000_000);
  const sent = Math.floor(bytes / 3);
  const head = [
    '1', gen, '015451000018305', 'TRAFFIC', 'end', '2561', gen, src, dst, '198.51.100.13', dst, ruleCsv,
    users[i % users.length], '', app, 'vsys1', 'trust-L3', 'untrust', 'ethernet1/3', 'ethernet1/1', 'Panorama-Forwarder',
    gen, String(1_556_841 + i), '1', String(sport), '443', String(20000 + (i % 40000)), '443', '0x40041c', 'tcp', action,
    String(bytes), String(sent), String(bytes - sent), '34', start, '240', 'web-advertisements', '', String(7341478510372295372n + BigInt(i)),
    '0x8000000000000000', '10.0.0.0-10.255.255.255', 'United States', '', '17', '17', reasons[i % reasons.length],
    '15', '0', '0', '0', '', 'fw-edge-01.example.com', 'from-policy', '', '', '0', '', '0', '', 'N/A', '0', '0', '0', '0',
  ];
  if (i % 3 === 2) return `Jun 14 14:30:18 fw-edge-01 ${head.join(',')}`;
  const tail = [
    '0f009045-0651-4dad-9370-89892c8d6aec', '0', '0', ...Array(34).fill(''),
    new Date(t + 154).toISOString().replace('Z', '+00:00'), '', '',
    'encrypted-tunnel', 'networking', 'browser-based', '4',
    '"used-by-malware,able-to-transfer-file,has-known-vulnerability,tunnel-other-application,pervasive-use"', '', app, 'no', 'no', '0',
  ];
  return [...head, ...tail].join(',');
}

const parse = panosParser.create({ tzOffset: '+02:00' });
const records = [];
for (let i = 0; i < LINES; i++) {
  records.push({ value: Buffer.from(makeLine(i)), ref: { source: 'panos', file: 'bench', line: i + 1 }, receivedAtMs: 0 });
}

// Sanity: every generated line parses.
for (let i = 0; i < 1000; i++) {
  const r = parse(records[i]);
  if (!r.ok) throw new Error(`line ${i + 1} rejected: ${JSON.stringify(r.rejection)}`);
}

let best = 0;
for (let round = 1; round <= ROUNDS; round++) {
  let events = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < records.length; i++) {
    const r = parse(records[i]);
    if (r.ok) events += r.events.length;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const rate = Math.round(events / s);
  best = Math.max(best, rate);
  console.log(JSON.stringify({ bench: 'panos csv', round, events, seconds: Number(s.toFixed(3)), events_per_s: rate }));
}
console.log(`panos csv: ${best} events/s`);
