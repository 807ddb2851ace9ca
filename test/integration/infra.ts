/**
 * Helpers for integration tests that need real Kafka / Elasticsearch servers.
 *
 * The servers are started by the integration project's globalSetup (or reused from
 * AUDITMESH_TEST_KAFKA_BROKERS / AUDITMESH_TEST_ELASTICSEARCH_URL, see scripts/infra.mjs).
 * Generic on purpose: no auditmesh domain code here.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from '@elastic/elasticsearch';

export const KAFKA_BROKERS_ENV = 'AUDITMESH_TEST_KAFKA_BROKERS';
export const ELASTICSEARCH_URL_ENV = 'AUDITMESH_TEST_ELASTICSEARCH_URL';

function requireEnv(name: string, what: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set: ${what} is not available. Run integration tests with ` +
        '`npx jest --selectProjects integration` (its globalSetup starts the servers), or start them with ' +
        '`node scripts/infra.mjs start --detach && eval "$(node scripts/infra.mjs env)"`.',
    );
  }
  return v;
}

/** Kafka bootstrap servers, e.g. `127.0.0.1:41431` (comma-separated if several). */
export function kafkaBrokers(): string {
  return requireEnv(KAFKA_BROKERS_ENV, 'Kafka');
}

/** Elasticsearch base URL, e.g. `http://127.0.0.1:44471`. */
export function elasticsearchUrl(): string {
  return requireEnv(ELASTICSEARCH_URL_ENV, 'Elasticsearch');
}

/** A unique, lowercase name (valid as a Kafka topic, ES index or consumer group). */
export function uniqueName(prefix: string): string {
  const base = prefix.toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
  return `${base}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** A kafkajs client for the test broker (errors only in the logs). */
export function newKafka(clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: kafkaBrokers().split(','),
    logLevel: logLevel.ERROR,
    retry: { retries: 5, initialRetryTime: 100 },
  });
}

/** Create topics (waiting for their leaders); existing topics are left alone. */
export async function createTopics(names: string[], partitions = 1): Promise<void> {
  const admin = newKafka('auditmesh-test-admin').admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: names.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
    });
  } finally {
    await admin.disconnect();
  }
}

/** An Elasticsearch client for the test node. Call `close()` when done. */
export function newEsClient(): Client {
  return new Client({ node: elasticsearchUrl(), requestTimeout: 30_000 });
}

// ---------------------------------------------------------------------------
// Typed binding to the CommonJS harness (scripts/infra/harness.cjs), used by
// globalSetup/globalTeardown. Not needed by tests.
// ---------------------------------------------------------------------------

export interface InfraHandle {
  runDir: string;
  startedAt: string;
  kafka: { pid: number; port: number; controllerPort: number; brokers: string; logFile: string };
  elasticsearch: { pid: number; port: number; transportPort: number; url: string; logFile: string };
  env: Record<string, string>;
}

type Log = (msg: string) => void;

export interface Harness {
  KAFKA_VERSION: string;
  ES_VERSION: string;
  ENV_KAFKA: string;
  ENV_ES: string;
  cacheDir(): string;
  startAll(opts?: { log?: Log }): Promise<InfraHandle>;
  stopAll(handle: InfraHandle, opts?: { log?: Log }): Promise<void>;
  abortSync(): void;
  unref(handle: InfraHandle): void;
  kafkaAnswers(brokers: string, timeoutMs?: number): Promise<boolean>;
  elasticsearchAnswers(url: string, timeoutMs?: number): Promise<boolean>;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const harness: Harness = require('../../scripts/infra/harness.cjs');

/** What globalSetup leaves in globalThis for globalTeardown. */
export interface InfraGlobal {
  reused: boolean;
  handle?: InfraHandle;
  dispose?: () => void;
}

export const INFRA_GLOBAL_KEY = '__auditmeshInfra';
