/**
 * Envoy / Istio access-log parser (`type: envoy` in a pipeline).
 *
 * Formats: `auto` (default; JSON if the line starts with `{`, else text), `json`, `text`.
 * Text lines are matched against compiled Envoy format strings (Istio's default, Envoy's default, or
 * `textFormat`); JSON lines are mapped by key (Istio's default keys, extra identity/trace keys, `jsonFormat`).
 */
import type { ParserFactory } from '../types';
import { ENVOY_FORMATS, resolveOptions, type EnvoyOptions } from './config';
import { createEnvoyParser } from './envoy';

export type { EnvoyOptions } from './config';
export {
  DEFAULT_ENVOY_OPTIONS,
  DEFAULT_TEXT_FORMATS,
  ENVOY_DEFAULT_FORMAT,
  ISTIO_JSON_FORMAT,
  ISTIO_TEXT_FORMAT,
  ISTIO_TEXT_FORMAT_PRE_1_24,
} from './config';
export { compileFormat, type CompiledFormat, type Operator } from './format';

export const envoyParser: ParserFactory<EnvoyOptions> = {
  type: 'envoy',
  formats: ENVOY_FORMATS,
  create(options) {
    return createEnvoyParser(resolveOptions(options));
  },
};
