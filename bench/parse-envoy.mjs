// Benchmark: Envoy / Istio access-log parsing (Istio default JSON and TEXT formats), one thread.
// Build first: npx tsc -p tsconfig.build.json   then: node bench/parse-envoy.mjs [lines] [rounds]
// Prints one JSON line per round and a summary per format: "istio json: N events/s".
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { envoyParser } = require('../dist/parsers/envoy/index.js');

const LINES = Number(process.argv[2] ?? 200_000);
const ROUNDS = Number(process.argv[3] ?? 3);

const services = ['reviews', 'ratings', 'details', 'productpage', 'orders', 'payments', 'catalog'];
const paths = ['/reviews/0', '/api/v1/orders?expand=items', '/healthz', '/static/app.js', '/ratings/12', '/'];
const agents = [
  'curl/8.6.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36',
  'Go-http-client/1.1',
  'python-requests/2.31.0',
];
const hex = (n, w) => (n >>> 0).toString(16).padStart(8, '0').repeat(Math.ceil(w / 8)).slice(0, w);

/** Fields of one realistic sidecar entry: 2/3 inbound, 1/3 outbound; some 5xx with flags; some XFF. */
function entry(i) {
  const t = 1_718_375_418_000 + i * 13;
  const svc = services[i % services.length];
  const inbound = i % 3 !== 2;
  const podIp = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  const peerIp = `10.124.${(i * 7) & 255}.${(i * 13) & 255}`;
  const failed = i % 50 === 0;
  return {
    start_time: new Date(t).toISOString(),
    method: i % 5 === 0 ? 'POST' : 'GET',
    path: paths[i % paths.length],
    protocol: i % 4 === 0 ? 'HTTP/2' : 'HTTP/1.1',
    response_code: failed ? 503 : 200,
    response_flags: failed ? 'UF,URX' : '-',
    response_code_details: failed ? 'upstream_reset_before_response_started{connection_failure}' : 'via_upstream',
    bytes_received: i % 5 === 0 ? 412 : 0,
    bytes_sent: 100 + (i % 5000),
    duration: 1 + (i % 90),
    upstream_service_time: failed ? null : String(i % 89),
    x_forwarded_for: i % 7 === 0 ? `203.0.113.${i & 255}` : null,
    user_agent: agents[i % agents.length],
    request_id: `${hex(i * 2654435761, 8)}-${hex(i, 4)}-4${hex(i * 7, 3)}-8${hex(i * 11, 3)}-${hex(i * 40503, 12)}`,
    authority: `${svc}:9080`,
    upstream_host: failed ? null : `${inbound ? podIp : peerIp}:9080`,
    upstream_cluster: inbound ? 'inbound|9080||' : `outbound|9080||${svc}.default.svc.cluster.local`,
    upstream_local_address: inbound ? `127.0.0.6:${30000 + (i % 30000)}` : `${podIp}:${30000 + (i % 30000)}`,
    downstream_local_address: inbound ? `${podIp}:9080` : `10.0.${i & 255}.1:9080`,
    downstream_remote_address: `${inbound ? peerIp : podIp}:${1024 + (i % 60000)}`,
    requested_server_name: inbound ? `outbound_.9080_._.${svc}.default.svc.cluster.local` : null,
    route_name: 'default',
    connection_termination_details: null,
    upstream_transport_failure_reason: null,
  };
}

/** Istio JSON: keys in alphabetical order, numbers as numbers, absent values as null (as Istio writes). */
function jsonLine(e) {
  const sorted = {};
  for (const k of Object.keys(e).sort()) sorted[k] = e[k];
  return JSON.stringify(sorted);
}

const d = (v) => (v === null || v === undefined ? '-' : String(v));
/** Istio default TEXT format. */
function textLine(e) {
  return (
    `[${e.start_time}] "${e.method} ${e.path} ${e.protocol}" ${e.response_code} ${e.response_flags} ${e.response_code_details} ` +
    `${d(e.connection_termination_details)} "${d(e.upstream_transport_failure_reason)}" ${e.bytes_received} ${e.bytes_sent} ${e.duration} ` +
    `${d(e.upstream_service_time)} "${d(e.x_forwarded_for)}" "${e.user_agent}" "${e.request_id}" "${e.authority}" "${d(e.upstream_host)}" ` +
    `${e.upstream_cluster} ${e.upstream_local_address} ${e.downstream_local_address} ${e.downstream_remote_address} ` +
    `${d(e.requested_server_name)} ${e.route_name}`
  );
}

const parse = envoyParser.create();

function bench(name, make) {
  const records = [];
  let bytes = 0;
  for (let i = 0; i < LINES; i++) {
    const value = Buffer.from(make(entry(i)));
    bytes += value.length;
    records.push({ value, ref: { source: 'envoy', file: 'bench', line: i + 1 }, receivedAtMs: 0 });
  }
  // Sanity: every generated line parses.
  for (let i = 0; i < Math.min(1000, records.length); i++) {
    const r = parse(records[i]);
    if (!r.ok) throw new Error(`${name} line ${i + 1} rejected: ${JSON.stringify(r.rejection)}`);
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
    console.log(
      JSON.stringify({ bench: name, round, events, seconds: Number(s.toFixed(3)), events_per_s: rate, mb_per_s: Number((bytes / 1e6 / s).toFixed(1)) }),
    );
  }
  console.log(`${name}: ${best} events/s (avg line ${Math.round(bytes / records.length)} bytes)`);
  return best;
}

bench('istio json', jsonLine);
bench('istio text', textLine);
