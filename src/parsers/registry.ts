import type { SourceType } from '../model/events';
import type { Parser, ParserFactory } from './types';
import { envoyParser } from './envoy';
import { tykParser } from './tyk';
import { panosParser } from './panos';
import { otlpParser } from './otlp';

/** Source type → parser factory. Nothing scans the disk; add a parser here. */
export const PARSERS: Record<SourceType, ParserFactory<any>> = {
  envoy: envoyParser,
  tyk: tykParser,
  panos: panosParser,
  otlp: otlpParser,
};

export function createParser(type: SourceType, options: Record<string, unknown> = {}): Parser {
  return PARSERS[type].create(options);
}
