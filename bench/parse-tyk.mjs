// Benchmark: Tyk analytics record parsing (Tyk Pump Kafka-pump JSON), one thread.
// Build first: npx tsc -p tsconfig.build.json   then: node bench/parse-tyk.mjs [seconds-per-case]
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';

const require = createRequire(import.meta.url);
const { tykParser } = require('../dist/parsers/tyk/index.js');

const SECONDS = Number(process.argv[2] ?? 2);
const RECORDS = 2000;

const hex = (n) => randomBytes(n).toString('hex');
const b64u = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const apis = [
  { name: 'Orders API', id: '41433797848f41a558c1573d3e55a410', listen: '/orders/v1', paths: ['/orders', '/orders/17', '/orders/17/items'] },
  { name: 'Users API', id: '7a6c0b2f44e94cbb86b5d1de9b2f0e33', listen: '/users/v2', paths: ['/users/me', '/users/42'] },
  { name: 'Payments', id: 'c0ffee00c0ffee00c0ffee00c0ffee00', listen: '/pay/v1', paths: ['/payments', '/payments/9/refund'] },
];
const agents = ['curl/8.6.0', 'okhttp/4.12.0', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0 Safari/537.36'];
const methods = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];
const sorted = (o) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));

/** One realistic Kafka-pump record; detailed recording on for 3 in 4 (base64 raw_request). */
function record(i, decoded) {
  const api = apis[i % apis.length];
  const path = api.paths[i % api.paths.length];
  const method = methods[i % methods.length];
  const ua = agents[i % agents.length];
  const status = i % 23 === 0 ? 500 : i % 7 === 0 ? 403 : 200;
  const jwt = i % 3 === 0 ? `${b64u({ alg: 'RS256', kid: 'k1' })}.${b64u({ sub: `user-${i % 97}`, iss: 'https://idp.example.test', exp: 1893456000 })}.${hex(64)}` : undefined;
  const head = [
    `${method} ${api.listen}${path}?page=${i % 5} HTTP/1.1`,
    'Host: api.example.test',
    'Accept: application/json',
    jwt ? `Authorization: Bearer ${jwt}` : `Authorization: ${hex(16)}`,
    method === 'GET' ? undefined : 'Content-Length: 64',
    'Content-Type: application/json',
    `Traceparent: 00-${hex(16)}-${hex(8)}-01`,
    `User-Agent: ${ua}`,
    `X-Forwarded-For: 203.0.113.${i % 250}, 10.0.0.${i % 9}`,
    `X-Request-Id: ${hex(8)}-${hex(4)}`,
    '',
    method === 'GET' ? '' : '{"item":"book","qty":1,"note":"' + 'x'.repeat(30) + '"}',
  ].filter((l) => l !== undefined).join('\r\n');
  const detailed = i % 4 !== 3;
  return sorted({
    alias: i % 5 === 0 ? '' : `partner-${i % 31}`,
    api_id: api.id,
    api_key: hex(24),
    api_name: api.name,
    api_version: 'v1',
    content_length: method === 'GET' ? 0 : 64,
    host: 'api.example.test',
    ip_address: `10.0.0.${i % 9}`,
    method,
    oauth_id: i % 11 === 0 ? `client-${i % 4}` : '',
    org_id: '5e9d9544a1dcd60001d0ed20',
    path,
    raw_path: `${api.listen}${path}`,
    raw_request: detailed ? (decoded ? head : Buffer.from(head).toString('base64')) : '',
    raw_response: detailed ? Buffer.from(`HTTP/1.1 ${status} OK\r\nContent-Type: application/json\r\n\r\n{"ok":true}`).toString('base64') : '',
    request_time_ms: 1 + (i % 250),
    response_code: status,
    tags: [`key-${i % 31}`, 'org-5e9d9544a1dcd60001d0ed20'],
    timestamp: new Date(1_714_557_600_000 + i * 17).toISOString().replace('Z', `${String(i % 1000).padStart(3, '0')}Z`),
    user_agent: ua,
    env: 'prod',
  });
}

function run(name, payloads, options = {}) {
  const parse = tykParser.create(options);
  let events = 0;
  let bytes = 0;
  let n = 0;
  for (let i = 0; i < 2000; i++) parse({ value: payloads[i % payloads.length], ref: { source: 'tyk', topic: 'tyk', partition: 0, offset: String(i) }, receivedAtMs: 0 });
  const deadline = process.hrtime.bigint() + BigInt(Math.round(SECONDS * 1e9));
  const t0 = process.hrtime.bigint();
  while (process.hrtime.bigint() < deadline) {
    for (let k = 0; k < 200; k++) {
      const value = payloads[n % payloads.length];
      const res = parse({ value, ref: { source: 'tyk', topic: 'tyk', partition: 0, offset: String(n) }, receivedAtMs: 0 });
      if (!res.ok) throw new Error(`unexpected rejection: ${res.rejection.reason}`);
      events += res.events.length;
      bytes += value.length;
      n++;
    }
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(
    `${name.padEnd(36)} ${Math.round(n / secs).toLocaleString('en-US').padStart(9)} records/s  ${Math.round(events / secs).toLocaleString('en-US').padStart(9)} events/s  (${Math.round(bytes / n)} B/record, ${(bytes / secs / 1048576).toFixed(1)} MiB/s)`,
  );
}

const b64Records = Array.from({ length: RECORDS }, (_, i) => Buffer.from(JSON.stringify(record(i, false))));
const textRecords = Array.from({ length: RECORDS }, (_, i) => Buffer.from(JSON.stringify(record(i, true))));
console.log(`node ${process.version}, ${RECORDS} distinct records, ${SECONDS}s per case`);
run('kafka pump, base64 raw_request', b64Records);
run('kafka pump, raw_request_decoded', textRecords);
run('kafka pump, all headers kept', b64Records, { keepRequestHeaders: ['*'] });
