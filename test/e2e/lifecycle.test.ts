/**
 * The service's operational surface on the embedded default: /healthz and /readyz, structured JSON
 * logs of the lifecycle, and a graceful, idempotent stop() that drains the batch in flight.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startService, type Service } from '../../src/main';
import { loadConfig } from '../../src/config/load';
import { mintToken } from '../../src/api/auth';
import { SqliteStore } from '../../src/store/sqlite/sqliteStore';

describe('e2e > service lifecycle: health, readiness, logs and graceful stop', () => {
  let dir: string;
  let dataDir: string;
  let svc: Service | undefined;
  const saved = { ...process.env };
  let logLines: string[];
  let restoreStderr: () => void;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifecycle-'));
    dataDir = path.join(dir, 'data');
    Object.assign(process.env, { AUDITMESH_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'info' });
    delete process.env.KAFKA_BROKERS;
    delete process.env.ELASTICSEARCH_URL;
    delete process.env.AUDITMESH_CONFIG;
    logLines = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      logLines.push(...String(s).split('\n').filter(Boolean));
      return true;
    });
    restoreStderr = () => spy.mockRestore();
  });
  afterEach(async () => {
    await svc?.stop();
    svc = undefined;
    restoreStderr();
    process.env = { ...saved };
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers /healthz, and /readyz turns 503 naming the store when the store stops answering', async () => {
    svc = await startService(loadConfig());
    const base = `http://127.0.0.1:${svc.port}`;
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { store: true } });

    await svc.runtime.store.close();
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: 'not_ready', checks: { store: false } });
    // Liveness is the process, not its dependencies.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('logs the lifecycle as one JSON object per line', async () => {
    svc = await startService(loadConfig());
    await svc.stop();
    const events = logLines.map((l) => JSON.parse(l) as { level: string; msg: string; time: string; service: string });
    const msgs = events.map((e) => e.msg);
    expect(msgs).toContain('auditmesh started');
    // Components log their own stop in between; the service's stop brackets them.
    expect(msgs.indexOf('auditmesh stopping')).toBeGreaterThan(msgs.indexOf('auditmesh started'));
    expect(msgs[msgs.length - 1]).toBe('auditmesh stopped');
    for (const e of events) {
      expect(e.service).toBe('auditmesh');
      expect(Number.isNaN(Date.parse(e.time))).toBe(false);
    }
  });

  it('stop() is idempotent and drains: the ingest in flight finishes and is stored before the store closes', async () => {
    svc = await startService(loadConfig());
    const base = `http://127.0.0.1:${svc.port}`;
    const admin = await mintToken(dataDir, { role: 'admin', subject: 't', ttlSeconds: 600, audience: 'auditmesh' });
    // Hold the batch in the store write so stop() arrives while it is in flight.
    const store = svc.runtime.store;
    const write = store.write.bind(store);
    let inWrite!: () => void;
    const writing = new Promise<void>((r) => (inWrite = r));
    jest.spyOn(store, 'write').mockImplementation(async (b) => {
      inWrite();
      await new Promise((r) => setTimeout(r, 300));
      return write(b);
    });
    const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ start_time: '2026-11-01T09:00:00.000Z', method: 'GET', path: `/drain/${i}`, response_code: 200, duration: 3, request_id: `drain-${i}`, downstream_remote_address: '10.0.0.1:5000' }));
    const ingest = fetch(`${base}/v1/ingest/envoy`, { method: 'POST', headers: { authorization: `Bearer ${admin}` }, body: lines.join('\n') });
    await writing;

    const first = svc.stop();
    const second = svc.stop();
    expect(second).toBe(first);
    const res = await ingest;
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ accepted: 20, deadLettered: 0 });
    await first;
    await svc.stop(); // after the fact too
    // The server is gone and the store was closed only after the batch was written.
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
    const reopened = new SqliteStore(dataDir);
    await reopened.init();
    try {
      expect(reopened.counts().records).toBe(20);
    } finally {
      await reopened.close();
    }
    svc = undefined;
  });
});
