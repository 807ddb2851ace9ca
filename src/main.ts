import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/schema';
import { createApp } from './api/app';
import { createAuthenticator } from './api/auth';
import { createRuntime, type Runtime } from './runtime';
import { createLogger } from './instrumentation/logger';
import { startTelemetry } from './instrumentation/telemetry';
import { createMetrics, observeConsumerLag } from './instrumentation/metrics';
import { loadPipelines } from './config/pipelines';
import { KafkaIngest } from './sources/kafka/kafkaSource';
import type { RawRecord, SourceType } from './model/events';
import { createDetection, type Detection } from './detect';
import { alertRoutes, alertsOpenApiPaths } from './api/routes/alerts';
import { uiRoutes } from './api/routes/ui';
import { queryApiRoutes } from './api/routes/queryApi';
import { ApiAuditTrail } from './api/apiAudit';
import { ledgerOpenApiPaths, ledgerRoutes } from './api/routes/ledger';

export interface Service {
  port: number;
  runtime: Runtime;
  kafka?: KafkaIngest;
  /** Alerting (src/detect), when detect.enabled. */
  detection?: Detection;
  stop(): Promise<void>;
}

/**
 * Composition root: config → telemetry → store → correlator → sources → API. Returns a handle
 * whose stop() is idempotent: stop fetching, finish the batch in flight, commit, flush, close.
 */
export async function startService(cfg: Config): Promise<Service> {
  const log = createLogger(cfg.log.level, { service: 'auditmesh' });
  const telemetry = await startTelemetry(log);
  const metrics = createMetrics();
  const pipelines = cfg.kafka.brokers.length ? loadPipelines(cfg.pipelinesDir) : [];
  const kafka = cfg.kafka.brokers.length ? new KafkaIngest(cfg, pipelines, log, metrics) : undefined;
  if (kafka) observeConsumerLag(kafka.lag);
  const deadLetterSink = kafka?.deadLetterSink();
  const runtime = await createRuntime(cfg, deadLetterSink ? { log, metrics, deadLetterSink, streaming: true } : { log, metrics });
  const authn = await createAuthenticator(cfg);
  // Alerting: evaluates every batch after the store acknowledged it (and before offsets are committed).
  let detection: Detection | undefined;
  try {
    detection = cfg.detect.enabled ? await createDetection(cfg, runtime.store, { log, metrics, env: process.env }) : undefined;
  } catch (e) {
    await runtime.close();
    throw e;
  }
  if (detection) runtime.runner.onWritten(detection.engine.onBatch);
  // Every authenticated API query becomes an `api` record in the store (api/apiAudit.ts).
  const apiAudit = new ApiAuditTrail({ store: runtime.store, log: log.child({ component: 'api-audit' }) });

  const ingest = async (type: SourceType, body: Buffer) => {
    const parser = runtime.parser(type);
    const raws: RawRecord[] = [];
    let line = 0;
    for (const part of body.toString('latin1').split('\n')) {
      line++;
      const buf = Buffer.from(part.endsWith('\r') ? part.slice(0, -1) : part, 'latin1');
      if (buf.length) raws.push({ value: buf, ref: { source: type, file: 'http', line }, receivedAtMs: Date.now() });
    }
    // A few quick attempts, then the client gets a 503 and sends the request again (nothing of a
    // batch that failed is stored; a batch sent twice is stored once).
    const r = await runtime.runner.process(raws, parser, { maxWriteAttempts: 3 });
    const reasons: Record<string, number> = {};
    for (const d of r.deadLetters) reasons[d.code] = (reasons[d.code] ?? 0) + 1;
    return { accepted: r.received - r.deadLetters.length, deadLettered: r.deadLetters.length, reasons };
  };

  const app = createApp({
    store: runtime.store,
    authn,
    log,
    metrics,
    rateLimitPerMinute: cfg.api.rateLimitPerMinute,
    ingest,
    metricsHandler: telemetry.metricsHandler,
    routes: [uiRoutes(), ...queryApiRoutes({ reports: cfg.reports, openApiExtraPaths: { ...ledgerOpenApiPaths(), ...(detection ? alertsOpenApiPaths() : {}) } }), ...(detection ? [alertRoutes(detection.store)] : []), ledgerRoutes()],
    middleware: [apiAudit.middleware()],
    ...(kafka ? { readiness: async () => ({ kafka: kafka.connected() }) } : {}),
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.server.port, cfg.server.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  if (kafka) await kafka.start(runtime);
  log.info('auditmesh started', {
    port,
    store: runtime.store.kind,
    kafka: cfg.kafka.brokers.length ? cfg.kafka.brokers.join(',') : 'off',
    pipelines: pipelines.map((p) => p.id),
    issuers: cfg.identity.issuers.map((i) => i.issuer),
  });
  if (!cfg.api.auth) {
    log.info(`the API needs a bearer token: run \`auditmesh token --role auditor\` (data dir ${cfg.dataDir}) and send 'Authorization: Bearer <token>'`);
  }

  let stopping: Promise<void> | undefined;
  return {
    port,
    runtime,
    ...(kafka ? { kafka } : {}),
    ...(detection ? { detection } : {}),
    stop() {
      stopping ??= (async () => {
        log.info('auditmesh stopping');
        await kafka?.stop();
        await new Promise<void>((r) => server.close(() => r()));
        server.closeAllConnections?.();
        await apiAudit.flush();
        await detection?.stop();
        await runtime.close();
        await telemetry.shutdown();
        log.info('auditmesh stopped');
      })();
      return stopping;
    },
  };
}

/** `auditmesh serve`: run until SIGINT/SIGTERM, then shut down gracefully. */
export async function serve(cfg: Config): Promise<number> {
  const svc = await startService(cfg);
  process.stdout.write(`auditmesh listening on http://localhost:${svc.port} (store: ${svc.runtime.store.kind})\n`);
  await new Promise<void>((resolve) => {
    const onSignal = () => resolve();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  await svc.stop();
  return 0;
}
