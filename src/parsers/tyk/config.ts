import { ConfigError } from '../../errors';
import { MAX_RECORD_BYTES } from '../common';

export const TYK_FORMATS = ['json'] as const;
/**
 * `auto` is accepted too and means `json`: the pipeline schema defaults every parser's `format`
 * to `auto`, and Tyk Pump has only one shape per message.
 */
export type TykFormat = (typeof TYK_FORMATS)[number] | 'auto';

/** Options of the `tyk` parser (pipeline `parser: { type: tyk, ... }`). */
export interface TykParserConfig {
  /** Record format: `json`, one analytics record per Kafka message / file line (Tyk Pump's Kafka pump). */
  format: TykFormat;
  /** Largest record accepted, in bytes; bigger is rejected `too_large`. Default 1 MiB (Kafka's default max.message.bytes). */
  maxBytes: number;
  /**
   * Request headers (from `raw_request`) copied to `http.request.headers`, lower-case names.
   * Credential headers are kept as `[REDACTED]`, which still shows that they were sent.
   * `[]` keeps none; `['*']` keeps all (up to 64). Default: the headers useful for correlation and audit.
   */
  keepRequestHeaders: string[];
  /** Longest kept header value and free-text field, in characters; longer is cut. Default 512. */
  maxValueLength: number;
  /** Most pump `meta_data` keys (extra top-level string fields) kept under `labels`. 0 keeps none. Default 32. */
  maxLabels: number;
  /** Most bytes of `raw_request` examined for the request head. Default 64 KiB. */
  maxHeadBytes: number;
}

export const TYK_DEFAULTS: Readonly<TykParserConfig> = Object.freeze({
  format: 'json',
  maxBytes: MAX_RECORD_BYTES,
  keepRequestHeaders: Object.freeze([
    'host',
    'content-type',
    'accept',
    'x-forwarded-for',
    'x-forwarded-proto',
    'x-real-ip',
    'x-request-id',
    'traceparent',
    'authorization',
    'x-api-key',
  ]) as unknown as string[],
  maxValueLength: 512,
  maxLabels: 32,
  maxHeadBytes: 64 * 1024,
});

const positiveInt = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/** Applies defaults and checks every option, reporting all problems at once. Throws ConfigError (startup only). */
export function resolveTykConfig(options: Partial<TykParserConfig> & { format?: string } = {}): TykParserConfig {
  const given: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (v !== undefined) given[k] = v;
  const cfg = { ...TYK_DEFAULTS, ...given } as TykParserConfig;
  const problems: string[] = [];
  if (!(TYK_FORMATS as readonly string[]).includes(cfg.format) && cfg.format !== 'auto') {
    problems.push(`format: must be json (or auto) (got ${JSON.stringify(cfg.format)})`);
  }
  if (!positiveInt(cfg.maxBytes)) problems.push(`maxBytes: must be an integer > 0 (got ${JSON.stringify(cfg.maxBytes)})`);
  if (!Array.isArray(cfg.keepRequestHeaders) || !cfg.keepRequestHeaders.every((h) => typeof h === 'string')) {
    problems.push(`keepRequestHeaders: must be a list of header names, [] for none, ['*'] for all (got ${JSON.stringify(cfg.keepRequestHeaders)})`);
  }
  if (!positiveInt(cfg.maxValueLength)) problems.push(`maxValueLength: must be an integer > 0 (got ${JSON.stringify(cfg.maxValueLength)})`);
  if (!(typeof cfg.maxLabels === 'number' && Number.isSafeInteger(cfg.maxLabels) && cfg.maxLabels >= 0)) {
    problems.push(`maxLabels: must be an integer >= 0, 0 keeps none (got ${JSON.stringify(cfg.maxLabels)})`);
  }
  if (!positiveInt(cfg.maxHeadBytes)) problems.push(`maxHeadBytes: must be an integer > 0 (got ${JSON.stringify(cfg.maxHeadBytes)})`);
  if (problems.length > 0) throw new ConfigError(`tyk parser options: ${problems.join('; ')}`);
  return Object.freeze({ ...cfg, format: 'json', keepRequestHeaders: cfg.keepRequestHeaders.map((h) => h.toLowerCase()) });
}
