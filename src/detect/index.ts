import path from 'node:path';
import type { Client } from '@elastic/elasticsearch';
import type { Config } from '../config/schema';
import { ConfigError } from '../errors';
import type { Logger } from '../instrumentation/logger';
import type { Metrics } from '../instrumentation/metrics';
import type { AuditStore } from '../model/record';
import type { SqliteStore } from '../store/sqlite/sqliteStore';
import { AlertEngine } from './engine';
import { createDetectMetrics, type DetectMetrics } from './metrics';
import type { AlertOutput } from './outputs/output';
import { WebhookOutput, type WebhookTarget } from './outputs/webhook';
import { RuleSource } from './ruleSource';
import type { AlertStore } from './store/alertStore';
import { SqliteAlertStore } from './store/sqliteAlertStore';

/** Alerting as the service runs it: store, rules (hot-reloaded), engine, outputs. */
export interface Detection {
  engine: AlertEngine;
  store: AlertStore;
  rules: RuleSource;
  /** Stop watching, finish the batch in flight, flush outputs. Idempotent. */
  stop(): Promise<void>;
}

export interface DetectionDeps {
  log: Logger;
  metrics: Metrics;
  /** Where `secretEnv` references are resolved (main passes process.env; components never read it). */
  env: Record<string, string | undefined>;
  detectMetrics?: DetectMetrics;
  /** Extra outputs (tests). */
  outputs?: AlertOutput[];
}

/** The alert store for the audit store the runtime uses: tables in the same SQLite file, or indices under the same ES prefix. */
export async function createAlertStore(store: AuditStore): Promise<AlertStore> {
  if (store.kind === 'sqlite') return new SqliteAlertStore((store as SqliteStore).database);
  const es = store as unknown as { esClient: Client; prefix: string };
  const { ElasticsearchAlertStore } = await import('./store/elasticsearchAlertStore');
  return new ElasticsearchAlertStore(es.esClient, es.prefix);
}

/** Webhook targets with their secrets resolved; a missing variable is a ConfigError naming the key. */
export function webhookTargets(cfg: Config['detect'], env: Record<string, string | undefined>): WebhookTarget[] {
  return cfg.webhooks.map((w, i) => {
    const secret = w.secret ?? env[w.secretEnv!];
    if (!secret) throw new ConfigError(`detect.webhooks[${i}].secretEnv: environment variable ${w.secretEnv} is not set (it holds the webhook's HMAC secret)`);
    return { url: w.url, secret, maxRetries: w.maxRetries, initialBackoffMs: w.initialBackoffMs, maxBackoffMs: w.maxBackoffMs, timeoutMs: w.timeoutMs };
  });
}

/**
 * Build and start alerting for a runtime's store: load and validate the rules (ConfigError with
 * file:line on a bad file), create the alert tables/indices, start watching the files. The caller
 * subscribes `engine.onBatch` to `runner.onWritten`.
 */
export async function createDetection(cfg: Config, auditStore: AuditStore, deps: DetectionDeps): Promise<Detection> {
  const log = deps.log.child({ component: 'detect' });
  const detectMetrics = deps.detectMetrics ?? createDetectMetrics();
  const d = cfg.detect;
  const rules = new RuleSource({
    rulesDir: d.rulesDir ?? path.join(cfg.pipelinesDir, 'rules'),
    rulesDirRequired: d.rulesDir !== undefined,
    ...(d.revocationFile ? { revocationFile: d.revocationFile } : {}),
    pollIntervalMs: d.reloadPollIntervalMs,
    debounceMs: 200,
    log,
    metrics: detectMetrics,
  });
  rules.load();
  const targets = webhookTargets(d, deps.env);
  const store = await createAlertStore(auditStore);
  await store.init();
  const outputs: AlertOutput[] = [...(deps.outputs ?? [])];
  if (targets.length) outputs.push(new WebhookOutput({ targets, store, log, metrics: deps.metrics, detectMetrics }));
  if (cfg.kafka.brokers.length) {
    const { KafkaAlertOutput } = await import('./outputs/kafka');
    outputs.push(new KafkaAlertOutput({ brokers: cfg.kafka.brokers, clientId: cfg.kafka.clientId }, d.kafkaTopic, log, deps.metrics, detectMetrics));
  }
  const engine = new AlertEngine({ store, auditStore, rules, outputs, log, metrics: deps.metrics, detectMetrics });
  rules.start();
  log.info('alerting started', {
    rules: rules.rules.map((r) => r.id),
    rulesDir: d.rulesDir ?? path.join(cfg.pipelinesDir, 'rules'),
    revocationFile: d.revocationFile ?? 'none',
    webhooks: targets.length,
    kafkaTopic: cfg.kafka.brokers.length ? d.kafkaTopic : 'off',
    store: store.kind,
  });
  let stopping: Promise<void> | undefined;
  return {
    engine,
    store,
    rules,
    stop() {
      stopping ??= (async () => {
        rules.stop();
        await engine.stop();
        log.info('alerting stopped');
      })();
      return stopping;
    },
  };
}

export { AlertEngine } from './engine';
