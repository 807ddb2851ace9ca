/**
 * The walking skeleton on the embedded default: files → `auditmesh ingest` → durable embedded store
 * → the API of `auditmesh serve`. No servers: this is what a newcomer runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../src/cli';
import { startService, type Service } from '../../src/main';
import { loadConfig } from '../../src/config/load';
import { envoyJsonLine, otlpJsonLine, TRACE_ID } from '../fixtures/skeleton';

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  delete process.env.KAFKA_BROKERS;
  delete process.env.ELASTICSEARCH_URL;
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    const code = await runCli(args);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.env = saved;
  }
}

describe('e2e > embedded default: file ingestion to the API', () => {
  let dir: string;
  let env: Record<string, string>;
  let envoyFile: string;
  let otlpFile: string;
  let svc: Service | undefined;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-embedded-'));
    env = { AUDITMESH_DATA_DIR: path.join(dir, 'data'), LOG_LEVEL: 'error' };
    envoyFile = path.join(dir, 'access.log');
    otlpFile = path.join(dir, 'spans.jsonl');
    // A valid line, a line that is not JSON, and the valid line's neighbour that must still land.
    fs.writeFileSync(envoyFile, `${envoyJsonLine()}\n{"method": "GET", "path": \n${envoyJsonLine({ request_id: 'other-req', traceparent: null, path: '/healthz' })}\n`);
    fs.writeFileSync(otlpFile, `${otlpJsonLine()}\n`);
  });
  afterAll(async () => {
    await svc?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('ingests files, dead-letters the bad line with its reason and keeps the valid neighbours', async () => {
    const r = await cli(['ingest', '--type', 'envoy', envoyFile], env);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ingested 3 line\(s\) of envoy from 1 file\(s\): 2 accepted/);
    expect(r.out).toMatch(/1 dead-lettered/);
    expect(r.out).toMatch(new RegExp(`dead-lettered invalid_json: 1 \\(first at ${envoyFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: `));
    const o = await cli(['ingest', '--type', 'otlp', otlpFile], env);
    expect(o.code).toBe(0);
    expect(o.out).toMatch(/1 accepted \(1 events/);
  });

  it('rejects an unknown --type with a clear message and no stack trace', async () => {
    const r = await cli(['ingest', '--type', 'syslog', envoyFile], env);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown --type 'syslog': use one of envoy, tyk, panos, otlp/);
    expect(r.err).not.toMatch(/\n\s+at /);
    const missing = await cli(['ingest', '--type', 'envoy', path.join(dir, 'nope.log')], env);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/no such file/);
  });

  it('serves the joined record, with both source references, through the API', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, env, { PORT: '0' });
    delete process.env.KAFKA_BROKERS;
    delete process.env.ELASTICSEARCH_URL;
    try {
      svc = await startService(loadConfig());
    } finally {
      process.env = saved;
    }
    const tok = await cli(['token', '--role', 'auditor'], env);
    expect(tok.code).toBe(0);
    const headers = { authorization: `Bearer ${tok.out.trim()}` };
    const base = `http://127.0.0.1:${svc.port}`;

    const res = await fetch(`${base}/v1/records?trace.id=${TRACE_ID}`, { headers });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.records).toHaveLength(1);
    const rec = body.records[0];
    expect(rec.trace.id).toBe(TRACE_ID);
    expect(rec.url.path).toBe('/api/orders/7');
    expect(rec.http.request.method).toBe('GET');
    expect(rec.http.response.status_code).toBe(200);
    expect(rec.service.name).toBe('orders');
    const members = rec.auditmesh.members.map((m: { source: string; ref: { file: string; line: number }; joined_by: string }) => [m.source, path.basename(m.ref.file), m.ref.line, m.joined_by]);
    expect(members.sort()).toEqual([
      ['envoy', 'access.log', 1, 'trace.id'],
      ['otlp', 'spans.jsonl', 1, 'trace.id'],
    ]);

    const trace = (await (await fetch(`${base}/v1/traces/${TRACE_ID}`, { headers })).json()) as any;
    expect(trace.records).toHaveLength(1);
    expect(trace.events.map((e: { source: string }) => e.source).sort()).toEqual(['envoy', 'otlp']);

    const all = (await (await fetch(`${base}/v1/records?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z`, { headers })).json()) as any;
    expect(all.records).toHaveLength(2); // the joined request and the /healthz request
  });

  it('re-ingesting the same files changes nothing (idempotent)', async () => {
    await cli(['ingest', '--type', 'envoy', envoyFile], env);
    await cli(['ingest', '--type', 'otlp', otlpFile], env);
    const tok = (await cli(['token', '--role', 'auditor'], env)).out.trim();
    const all = (await (await fetch(`http://127.0.0.1:${svc!.port}/v1/records`, { headers: { authorization: `Bearer ${tok}` } })).json()) as any;
    expect(all.records).toHaveLength(2);
    const joined = all.records.find((r: { trace?: { id: string } }) => r.trace?.id === TRACE_ID);
    expect(joined.auditmesh.member_count).toBe(2);
  });
});
