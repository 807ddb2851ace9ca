import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { configSchema } from '../config/schema';
import { createLogger } from '../instrumentation/logger';
import { noopMetrics } from '../instrumentation/metrics';
import { SqliteStore } from '../store/sqlite/sqliteStore';
import { createApp } from '../api/app';
import { createAuthenticator, mintToken } from '../api/auth';
import { exportRoutes } from '../api/routes/export';
import { ledgerRoutes } from '../api/routes/ledger';
import { attachLedger, type Ledger } from './ledger';
import { verifyOffline } from './offline';
import { writeTrail } from './testing';

const quiet = createLogger('error');

describe('ledger > GET /v1/export carries the evidence, and `auditmesh verify` checks it offline', () => {
  let dir: string;
  let store: SqliteStore;
  let ledger: Ledger;
  let server: http.Server;
  let base: string;
  let token: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-ledger-export-'));
    const cfg = configSchema.parse({ dataDir: dir, ledger: { checkpointEveryEntries: 3, checkpointEverySeconds: 0 } });
    store = new SqliteStore(dir);
    await store.init();
    ledger = (await attachLedger(cfg, store, { log: quiet }))!;
    await writeTrail(store);
    const app = createApp({ store, authn: await createAuthenticator(cfg), log: quiet, metrics: noopMetrics, rateLimitPerMinute: 10_000, routes: [exportRoutes(), ledgerRoutes()] });
    server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    token = await mintToken(dir, { role: 'auditor', subject: 'audrey', ttlSeconds: 600, audience: 'auditmesh' });
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await ledger.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const get = (p: string) => fetch(`${base}${p}`, { headers: { authorization: `Bearer ${token}` } });

  it('exports records then ledger lines; the manifest counts them; the file verifies with the published keys', async () => {
    const r = await get('/v1/export?format=ndjson');
    expect(r.status).toBe(200);
    const body = await r.text();
    const lines = body.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => 'auditmesh' in l)).toHaveLength(4); // a, b, d, e (c was merged away)
    expect(lines.filter((l) => 'ledger_proof' in l)).toHaveLength(4);
    expect(lines.filter((l) => 'ledger_keys' in l)).toHaveLength(1);
    const m = (await (await get(`/v1/export/${r.headers.get('x-auditmesh-export-id')}/manifest`)).json()) as { ledger: unknown; sha256: string };
    expect(m.ledger).toEqual({ proofs: 4, checkpoints: 3, missing: 0 });
    const file = path.join(dir, 'export.ndjson');
    fs.writeFileSync(file, body);
    fs.writeFileSync(path.join(dir, 'keys.json'), await (await fetch(`${base}/v1/ledger/keys`)).text());
    expect(await verifyOffline(file, { jwks: path.join(dir, 'keys.json') })).toMatchObject({ ok: true, failures: [] });

    // The same file with one record edited after the export fails, naming the record.
    const edited = body.replace(/"user-d"/, '"user-mallory"');
    expect(edited).not.toBe(body);
    fs.writeFileSync(file, edited);
    const res = await verifyOffline(file, { jwks: path.join(dir, 'keys.json') });
    expect(res.ok).toBe(false);
    expect(res.failures).toEqual([expect.stringMatching(/^record d .* is not what the ledger holds/)]);
  });

  it('leaves the evidence out with ledger=false, and refuses ledger=true for CSV', async () => {
    const r = await get('/v1/export?ledger=false');
    const lines = (await r.text()).trim().split('\n');
    expect(lines).toHaveLength(4);
    expect((await get('/v1/export?format=csv&ledger=true')).status).toBe(400);
    expect((await get('/v1/export?format=csv')).status).toBe(200);
  });
});
