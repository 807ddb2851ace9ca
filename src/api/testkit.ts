import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import { createApp, type RouteModule } from './app';
import { createAuthenticator, mintToken, type Role } from './auth';
import { ApiAuditTrail } from './apiAudit';
import { queryApiRoutes } from './routes/queryApi';
import { ExportManifests } from './routes/export';
import { SqliteStore } from '../store/sqlite/sqliteStore';
import { configSchema } from '../config/schema';
import { silentLogger } from '../instrumentation/logger';
import { noopMetrics } from '../instrumentation/metrics';
import type { AuditRecord } from '../model/record';
import type { ReportsConfig } from '../store/reports';

/**
 * A real HTTP server (port 0, loopback) over the embedded store with every API route, for the API
 * tests: the same composition as main.ts, minus Kafka and telemetry.
 */
export interface TestApi {
  base: string;
  dir: string;
  store: SqliteStore;
  app: express.Express;
  audit: ApiAuditTrail;
  manifests: ExportManifests;
  token(role: Role, subject?: string, ttlSeconds?: number, audience?: string): Promise<string>;
  get(p: string, token?: string, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestApi(opts: { records?: AuditRecord[]; reports: ReportsConfig; rateLimitPerMinute?: number; extraRoutes?: RouteModule[]; now?: () => Date }): Promise<TestApi> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditmesh-api-'));
  const store = new SqliteStore(dir);
  await store.init();
  if (opts.records?.length) await store.write({ records: opts.records, events: [], keys: [], deletedRecords: [], deadLetters: [] });
  const cfg = configSchema.parse({ dataDir: dir });
  const audit = new ApiAuditTrail({ store, log: silentLogger });
  const manifests = new ExportManifests();
  const app = createApp({
    store,
    authn: await createAuthenticator(cfg),
    log: silentLogger,
    metrics: noopMetrics,
    rateLimitPerMinute: opts.rateLimitPerMinute ?? 100_000,
    ingest: async () => ({ accepted: 0, deadLettered: 0, reasons: {} }),
    metricsHandler: (_req, res) => {
      res.type('text/plain').send('');
    },
    routes: [...queryApiRoutes({ reports: opts.reports, manifests, ...(opts.now ? { now: opts.now } : {}) }), ...(opts.extraRoutes ?? [])],
    middleware: [audit.middleware()],
  });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    dir,
    store,
    app,
    audit,
    manifests,
    token: (role, subject = `${role}-user`, ttlSeconds = 600, audience = 'auditmesh') => mintToken(dir, { role, subject, ttlSeconds, audience }),
    get: (p, token, headers = {}) => fetch(`${base}${p}`, { headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) } }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await audit.flush();
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
