import type { Config } from './config/schema';
import type { AuditStore } from './model/record';
import type { SourceType } from './model/events';
import type { Parser } from './parsers/types';
import { SqliteStore } from './store/sqlite/sqliteStore';
import { JwtVerifier } from './identity/jwt';
import { Correlator } from './correlate/correlator';
import { PendingWrites } from './pipeline/pendingWrites';
import { PipelineRunner, type DeadLetterSink, type Streaming } from './pipeline/runner';
import { OpenRecords, Watermark } from './correlate/watermark';
import { metrics as otelMetrics } from '@opentelemetry/api';
import { createParser } from './parsers/registry';
import { createMetrics, type Metrics } from './instrumentation/metrics';
import { createLogger, type Logger } from './instrumentation/logger';
import { attachLedger, type Ledger } from './ledger/ledger';

/** Everything the data path needs, built from a validated config. */
export interface Runtime {
  cfg: Config;
  store: AuditStore;
  runner: PipelineRunner;
  correlator: Correlator;
  metrics: Metrics;
  log: Logger;
  parser(type: SourceType, options?: Record<string, unknown>): Parser;
  close(): Promise<void>;
}

export async function createStore(cfg: Config): Promise<AuditStore> {
  const es = cfg.elasticsearch;
  if (es.url) {
    // Loaded on demand: the embedded default never loads the Elasticsearch client.
    const { ElasticsearchStore } = await import('./store/elasticsearch/elasticsearchStore');
    const opts: ConstructorParameters<typeof ElasticsearchStore>[0] = { url: es.url, indexPrefix: es.indexPrefix, retentionDays: es.retentionDays };
    if (es.username) opts.username = es.username;
    if (es.password) opts.password = es.password;
    if (es.apiKey) opts.apiKey = es.apiKey;
    return new ElasticsearchStore(opts);
  }
  return new SqliteStore(cfg.dataDir);
}

export interface RuntimeOptions {
  log?: Logger;
  metrics?: Metrics;
  deadLetterSink?: DeadLetterSink;
  /** Streaming (Kafka): enforce the event-time watermark and allowed lateness; off for file backfills. */
  streaming?: boolean;
}

export async function createRuntime(cfg: Config, opts: RuntimeOptions = {}): Promise<Runtime> {
  const log = opts.log ?? createLogger(cfg.log.level, { service: 'auditmesh' });
  const metrics = opts.metrics ?? createMetrics();
  const store = await createStore(cfg);
  await store.init();
  // Tamper-evident trail (src/ledger): hooked into the store's writes before the first one.
  let ledger: Ledger | undefined;
  try {
    ledger = await attachLedger(cfg, store, { log, metrics });
  } catch (e) {
    await store.close();
    throw e;
  }
  const verifier = new JwtVerifier(cfg.identity.issuers, cfg.identity.jwksRefetchIntervalSeconds);
  // The correlator reads the store through the batches on their way to it: the next batch is
  // correlated while the previous one is written.
  const pendingWrites = new PendingWrites(store);
  const correlator = new Correlator(pendingWrites, verifier, { maxMembersPerRecord: cfg.correlation.maxMembersPerRecord, joinWindowMs: cfg.correlation.joinWindowMs }, metrics);
  let streaming: Streaming | undefined;
  if (opts.streaming) {
    streaming = { watermark: new Watermark(cfg.correlation.latenessMs, undefined, undefined, cfg.correlation.maxAheadMs), open: new OpenRecords(cfg.correlation.maxOpenRecords) };
    const open = streaming.open;
    otelMetrics
      .getMeter('auditmesh')
      .createObservableGauge('auditmesh_correlation_open_records', { description: 'Records still within the allowed lateness (may be amended)' })
      .addCallback((r) => r.observe(open.size));
    otelMetrics
      .getMeter('auditmesh')
      .createObservableCounter('auditmesh_correlation_open_records_evicted_total', { description: 'Open records evicted by the maxOpenRecords cap' })
      .addCallback((r) => r.observe(open.evicted));
  }
  const runner = new PipelineRunner(store, correlator, metrics, log, opts.deadLetterSink, streaming, { pendingWrites });
  const parsers = new Map<string, Parser>();
  return {
    cfg,
    store,
    runner,
    correlator,
    metrics,
    log,
    parser(type, options) {
      const base = (cfg.sources[type] ?? {}) as Record<string, unknown>;
      const merged = { ...base, ...(options ?? {}) };
      const key = `${type}|${JSON.stringify(merged)}`;
      let p = parsers.get(key);
      if (!p) parsers.set(key, (p = createParser(type, merged)));
      return p;
    },
    async close() {
      await ledger?.close(); // seals and exports the last checkpoint
      await store.close();
    },
  };
}
