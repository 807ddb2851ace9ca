import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors';
import { SOURCE_TYPES, type SourceType } from '../model/events';
import { formatIssues } from './load';

/**
 * One pipeline per file in `pipelines/*.yaml`: a Kafka source (its own consumer group
 * `<kafka.groupPrefix>-<id>`), the parser for its topics, and batching. Validated at start;
 * every problem is reported with the file name and key.
 */
export const pipelineSchema = z
  .object({
    /** Unique id; names the consumer group. */
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _'),
    /** Source kind. Only `kafka` for now; files and HTTP are served by the CLI and API. */
    type: z.literal('kafka'),
    topics: z.array(z.string().min(1)).min(1, 'needs at least one topic'),
    /** Parser (source type) for every message of these topics. */
    parser: z.enum(SOURCE_TYPES as [SourceType, ...SourceType[]]),
    /** Parser format (`auto` detects). */
    format: z.string().default('auto'),
    /** Parser options (see each parser's config). */
    options: z.record(z.unknown()).default({}),
    /** Start a new consumer group at the earliest offset (audit data is never skipped). */
    fromBeginning: z.boolean().default(true),
    batch: z
      .object({
        /** Max records handed to the pipeline at once. */
        maxRecords: z.number().int().min(1).max(100_000).default(2_000),
        /**
         * Partitions of these topics processed at the same time (kafkajs `partitionsConsumedConcurrently`).
         * Their chunks wait behind the batch in flight and are then merged into one pipeline batch, so
         * more partitions in flight means fewer, larger store round trips. Order within a partition holds.
         */
        partitionsConcurrently: z.number().int().min(1).max(64).default(4),
      })
      .strict()
      .default({}),
  })
  .strict();

export type PipelineConfig = z.infer<typeof pipelineSchema> & { file: string };

export function loadPipelines(dir: string): PipelineConfig[] {
  if (!fs.existsSync(dir)) throw new ConfigError(`pipelinesDir: directory ${dir} does not exist`);
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  if (files.length === 0) throw new ConfigError(`pipelinesDir: no *.yaml pipeline files in ${dir}`);
  const errors: string[] = [];
  const out: PipelineConfig[] = [];
  for (const f of files) {
    const file = path.join(dir, f);
    const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'), { prettyErrors: true });
    if (doc.errors.length) {
      errors.push(`${file}: invalid YAML: ${doc.errors[0]!.message}`);
      continue;
    }
    const raw: unknown = doc.toJS();
    const res = pipelineSchema.safeParse(raw);
    if (!res.success) errors.push(formatIssues(res.error, raw, file));
    else out.push({ ...res.data, file });
  }
  const ids = new Map<string, string>();
  for (const p of out) {
    const prev = ids.get(p.id);
    if (prev) errors.push(`${p.file}: id: '${p.id}' is already used by ${prev}`);
    ids.set(p.id, p.file);
  }
  const topics = new Map<string, string>();
  for (const p of out) for (const t of p.topics) {
    const prev = topics.get(t);
    if (prev && prev !== p.id) errors.push(`${p.file}: topics: '${t}' is already consumed by pipeline '${prev}'`);
    topics.set(t, p.id);
  }
  if (errors.length) throw new ConfigError(errors.join('\n'));
  return out;
}
