import { ConfigError } from '../../errors';
import { DEFAULT_DECODE_LIMITS } from './model';

export const OTLP_FORMATS = ['auto', 'otlp_proto', 'otlp_json'] as const;
export type OtlpFormat = (typeof OTLP_FORMATS)[number];

/** Options of the `otlp` parser (pipeline `parser: { type: otlp, ... }`). */
export interface OtlpParserConfig {
  /**
   * Wire format of a record. `auto` (default): first non-space byte `{` → OTLP/JSON, anything else →
   * protobuf. `otlp_proto` is the OTel Collector Kafka exporter's default encoding; `otlp_json` is its
   * opt-in JSON encoding and the file exporter's format (one request per line).
   */
  format: OtlpFormat;
  /**
   * Largest record accepted, in bytes; bigger is rejected `too_large`. Default 16 MiB: an exporter
   * batch holds many spans, so the 1 MiB single-event default of other parsers is too small.
   */
  maxBytes: number;
  /** Most spans in one request; more rejects the request `too_large`. Bounds memory. Default 100 000. */
  maxSpans: number;
  /**
   * Most span attributes not mapped to an ECS field that are kept under `otel.attributes`.
   * 0 keeps none. Default 32.
   */
  maxExtraAttributes: number;
  /** Longest string kept in `otel.attributes` and free-text fields, in characters; longer is cut. Default 1024. */
  maxValueLength: number;
}

export const OTLP_DEFAULTS: Readonly<OtlpParserConfig> = Object.freeze({
  format: 'auto',
  maxBytes: 16 * 1024 * 1024,
  maxSpans: DEFAULT_DECODE_LIMITS.maxSpans,
  maxExtraAttributes: 32,
  maxValueLength: 1024,
});

const positiveInt = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
const nonNegativeInt = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Applies defaults and checks every option, reporting all problems at once. Throws ConfigError at
 * startup (`create`), never per record.
 */
export function resolveOtlpConfig(options: Partial<OtlpParserConfig> & { format?: string } = {}): OtlpParserConfig {
  const cfg = { ...OTLP_DEFAULTS, ...stripUndefined(options) } as OtlpParserConfig;
  const problems: string[] = [];
  if (!(OTLP_FORMATS as readonly string[]).includes(cfg.format)) {
    problems.push(`format: must be one of ${OTLP_FORMATS.join(', ')} (got ${JSON.stringify(cfg.format)})`);
  }
  if (!positiveInt(cfg.maxBytes)) problems.push(`maxBytes: must be an integer > 0 (got ${JSON.stringify(cfg.maxBytes)})`);
  if (!positiveInt(cfg.maxSpans)) problems.push(`maxSpans: must be an integer > 0 (got ${JSON.stringify(cfg.maxSpans)})`);
  if (!nonNegativeInt(cfg.maxExtraAttributes)) {
    problems.push(`maxExtraAttributes: must be an integer >= 0, 0 keeps none (got ${JSON.stringify(cfg.maxExtraAttributes)})`);
  }
  if (!positiveInt(cfg.maxValueLength)) {
    problems.push(`maxValueLength: must be an integer > 0 (got ${JSON.stringify(cfg.maxValueLength)})`);
  }
  if (problems.length > 0) throw new ConfigError(`otlp parser options: ${problems.join('; ')}`);
  return Object.freeze(cfg);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
