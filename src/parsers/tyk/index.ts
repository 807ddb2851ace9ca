import type { Parser, ParserFactory } from '../types';
import { guard } from '../common';
import { resolveTykConfig, TYK_FORMATS, type TykParserConfig } from './config';
import { parseTyk } from './tyk';

export type { TykParserConfig } from './config';
export { TYK_DEFAULTS } from './config';

/**
 * `tyk`: Tyk Gateway analytics records as Tyk Pump writes them (Kafka pump JSON, or the fuller
 * AnalyticsRecord of other pumps), one record per message / line. One `analytics` event each.
 */
export const tykParser: ParserFactory<TykParserConfig> = {
  type: 'tyk',
  formats: TYK_FORMATS,
  create(options = {}): Parser {
    const cfg = resolveTykConfig(options);
    return guard((raw) => parseTyk(raw, cfg));
  },
};
