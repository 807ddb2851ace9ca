/**
 * The common scaffolding of integration tests that run `auditmesh serve` against the real Kafka and
 * Elasticsearch of the harness: a work directory with pipeline files, a config for it, and cleanup.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSchema, type Config } from '../../src/config/schema';
import type { Service } from '../../src/main';
import { elasticsearchUrl, kafkaBrokers, newEsClient, uniqueName } from '../integration/infra';

/** A temp dir with one pipeline file per entry: id → topic, parser (source type) and extra YAML lines. */
export function workDirWithPipelines(name: string, pipelines: Record<string, { topic: string; parser: string; extra?: string }>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  fs.mkdirSync(path.join(dir, 'pipelines'));
  for (const [id, p] of Object.entries(pipelines)) {
    fs.writeFileSync(path.join(dir, 'pipelines', `${id}.yaml`), `id: ${id}\ntype: kafka\ntopics: [${p.topic}]\nparser: ${p.parser}\n${p.extra ?? ''}`);
  }
  return dir;
}

/** Config of a service on port 0 using `dir`, the harness's servers and index prefix `prefix`. */
export function serviceConfig(dir: string, prefix: string, over: { deadLetterTopic?: string } & Record<string, unknown> = {}): Config {
  const { deadLetterTopic, ...rest } = over;
  return configSchema.parse({
    server: { port: 0, host: '127.0.0.1' },
    dataDir: path.join(dir, 'data'),
    pipelinesDir: path.join(dir, 'pipelines'),
    kafka: { brokers: kafkaBrokers().split(','), groupPrefix: uniqueName('grp'), deadLetterTopic: deadLetterTopic ?? uniqueName('dlq') },
    elasticsearch: { url: elasticsearchUrl(), indexPrefix: prefix },
    log: { level: 'error' },
    ...rest,
  });
}

/** Stop the service, delete its indices and its work directory. */
export async function cleanupService(svc: Service | undefined, prefix: string, dir: string): Promise<void> {
  await svc?.stop();
  const es = newEsClient();
  await es.indices.delete({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true }).catch(() => undefined);
  await es.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
