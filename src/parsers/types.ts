import type { ParseResult, RawRecord, SourceType } from '../model/events';

/** A parser: one raw record in, events or a rejection out. Never throws on bad input. */
export type Parser = (raw: RawRecord) => ParseResult;

/** Each parser folder exports one factory from its index.ts. `options` come from the pipeline file. */
export interface ParserFactory<O extends object = Record<string, unknown>> {
  type: SourceType;
  /** Formats this parser accepts (the `format:` key of a pipeline), first is the default. */
  formats: readonly string[];
  create(options?: Partial<O> & { format?: string }): Parser;
}
