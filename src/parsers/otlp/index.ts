import type { Parser, ParserFactory } from '../types';
import { guard } from '../common';
import { OTLP_FORMATS, resolveOtlpConfig, type OtlpParserConfig } from './config';
import { parseOtlp } from './otlp';

export type { OtlpParserConfig } from './config';
export { OTLP_DEFAULTS } from './config';

/**
 * `otlp`: OpenTelemetry traces as the Collector's Kafka exporter (and file exporter) writes them:
 * one `ExportTraceServiceRequest` per record, protobuf (default) or OTLP/JSON. One event per span.
 */
export const otlpParser: ParserFactory<OtlpParserConfig> = {
  type: 'otlp',
  formats: OTLP_FORMATS,
  create(options = {}): Parser {
    const cfg = resolveOtlpConfig(options);
    return guard((raw) => parseOtlp(raw, cfg));
  },
};
