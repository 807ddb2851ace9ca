import type { ParserFactory } from '../types';
import { PANOS_FORMATS, resolvePanosOptions, type PanosOptions } from './config';
import { createPanosParser } from './panos';

export type { PanosFormat, PanosOptions } from './config';
export { PANOS_DEFAULTS } from './config';

/**
 * PAN-OS firewall logs (TRAFFIC, THREAT, USERID, GLOBALPROTECT; other types with the common
 * header only), as CSV with any syslog header or as CEF. One event per record, ECS fields as
 * Elastic's panw integration names them. `create` throws ConfigError on a bad `tzOffset`/`format`.
 */
export const panosParser: ParserFactory<PanosOptions> = {
  type: 'panos',
  formats: PANOS_FORMATS,
  create: (options) => createPanosParser(resolvePanosOptions(options)),
};
