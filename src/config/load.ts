import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ZodError } from 'zod';
import { configSchema, type Config } from './schema';
import { ConfigError } from '../errors';

/** Environment variables that override the file, and the key each one sets. */
export const ENV_OVERRIDES: { env: string; key: string; parse: (v: string) => unknown }[] = [
  { env: 'PORT', key: 'server.port', parse: (v) => numberOr(v) },
  { env: 'AUDITMESH_DATA_DIR', key: 'dataDir', parse: (v) => v },
  { env: 'AUDITMESH_PIPELINES_DIR', key: 'pipelinesDir', parse: (v) => v },
  { env: 'KAFKA_BROKERS', key: 'kafka.brokers', parse: (v) => v.split(',').map((s) => s.trim()).filter(Boolean) },
  { env: 'ELASTICSEARCH_URL', key: 'elasticsearch.url', parse: (v) => v },
  { env: 'ELASTICSEARCH_USERNAME', key: 'elasticsearch.username', parse: (v) => v },
  { env: 'ELASTICSEARCH_PASSWORD', key: 'elasticsearch.password', parse: (v) => v },
  { env: 'ELASTICSEARCH_API_KEY', key: 'elasticsearch.apiKey', parse: (v) => v },
  { env: 'AUDITMESH_INDEX_PREFIX', key: 'elasticsearch.indexPrefix', parse: (v) => v },
  { env: 'LOG_LEVEL', key: 'log.level', parse: (v) => v },
];

function numberOr(v: string): unknown {
  return /^\d+$/.test(v) ? Number(v) : v;
}

function setDotted(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (typeof cur[p] !== 'object' || cur[p] === null) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}

/** Format every zod issue as `key.path: message (got value)`. */
export function formatIssues(e: ZodError, input: unknown, origin: string): string {
  const lines = e.issues.map((i) => {
    const key = i.path.join('.') || '(root)';
    let got: unknown = input;
    for (const p of i.path) got = got && typeof got === 'object' ? (got as Record<string | number, unknown>)[p] : undefined;
    const gotText = got === undefined ? '' : ` (got ${JSON.stringify(got)?.slice(0, 80)})`;
    const msg = i.code === 'unrecognized_keys' ? `unknown key(s) ${i.keys.map((k) => `'${k}'`).join(', ')}` : i.message;
    return `  ${key}: ${msg}${i.code === 'unrecognized_keys' ? '' : gotText}`;
  });
  return `invalid configuration (${origin}):\n${lines.join('\n')}`;
}

/** Load, override from the environment, validate. Throws ConfigError naming every bad key. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, file = env.AUDITMESH_CONFIG): Config {
  let raw: Record<string, unknown> = {};
  let origin = 'defaults and environment';
  if (file) {
    origin = file;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file} (AUDITMESH_CONFIG): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const doc = YAML.parseDocument(text, { prettyErrors: true });
    if (doc.errors.length > 0) throw new ConfigError(`invalid YAML in ${file}: ${doc.errors[0]!.message}`);
    const parsed: unknown = doc.toJS();
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new ConfigError(`${file}: the top level must be a mapping of keys`);
    }
    raw = (parsed as Record<string, unknown>) ?? {};
  }
  for (const o of ENV_OVERRIDES) {
    const v = env[o.env];
    if (v !== undefined && v !== '') setDotted(raw, o.key, o.parse(v));
  }
  const res = configSchema.safeParse(raw);
  if (!res.success) throw new ConfigError(formatIssues(res.error, raw, origin));
  const cfg = res.data;
  if (file) {
    // Relative paths in the file are relative to the file; from the environment, to the cwd.
    const base = path.dirname(path.resolve(file));
    for (const iss of cfg.identity.issuers) if (iss.jwksFile && !path.isAbsolute(iss.jwksFile)) iss.jwksFile = path.resolve(base, iss.jwksFile);
  }
  return Object.freeze(cfg) as Config;
}
