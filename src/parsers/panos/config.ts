import { ConfigError } from '../../errors';

/** Input formats of the PAN-OS parser. `auto` picks CEF when the message body starts with `CEF:`. */
export const PANOS_FORMATS = ['auto', 'csv', 'cef'] as const;
export type PanosFormat = (typeof PANOS_FORMATS)[number];

export interface PanosOptions {
  /**
   * Zone of the PAN-OS times that carry none: the CSV `yyyy/MM/dd HH:mm:ss` columns and CEF
   * `rt`/`start` without a zone suffix. `+HH:MM`, `-HH:MM`, `+HHMM`, `UTC` or `Z`.
   * Default `UTC` (the firewall's own clock zone is not in the log; set it to the device's zone,
   * as Elastic's `tz_offset` does). Times that carry a zone (the high-resolution timestamp column,
   * ISO 8601 with offset) keep their own.
   */
  tzOffset: string;
  /** Message format: `auto` (default; CEF when the body starts with `CEF:`, else CSV), `csv` or `cef`. */
  format: PanosFormat;
}

export const PANOS_DEFAULTS: Readonly<PanosOptions> = Object.freeze({
  tzOffset: 'UTC',
  format: 'auto',
});

/** Options after validation: the offset as minutes east of UTC. */
export interface ResolvedPanosOptions {
  format: PanosFormat;
  /** Canonical `+HH:MM` / `UTC` form, copied to `event.timezone`. */
  tzName: string;
  /** Offset east of UTC in milliseconds (`+09:30` → 34_200_000). */
  tzOffsetMs: number;
}

/**
 * Parse a `tzOffset` value into milliseconds east of UTC. Returns undefined when it is not
 * `UTC`, `Z`, `GMT`, `±HH:MM`, `±HHMM` or `±HH` (hours ≤ 14, minutes < 60).
 */
export function parseTzOffset(v: string): number | undefined {
  const s = v.trim();
  if (/^(utc|z|gmt|etc\/utc)$/i.test(s)) return 0;
  const m = /^([+-])(\d{2})(?::?(\d{2}))?$/.exec(s);
  if (!m) return undefined;
  const h = Number(m[2]);
  const min = m[3] === undefined ? 0 : Number(m[3]);
  if (h > 14 || min > 59) return undefined;
  const ms = (h * 60 + min) * 60_000;
  return m[1] === '-' ? -ms : ms;
}

function tzName(offsetMs: number): string {
  if (offsetMs === 0) return 'UTC';
  const sign = offsetMs < 0 ? '-' : '+';
  const abs = Math.abs(offsetMs) / 60_000;
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${sign}${hh}:${mm}`;
}

/** Apply defaults and validate. Throws ConfigError (start-up only) naming the key, value and fix. */
export function resolvePanosOptions(options?: Partial<PanosOptions> & { format?: string }): ResolvedPanosOptions {
  const tz = options?.tzOffset ?? PANOS_DEFAULTS.tzOffset;
  const format = options?.format ?? PANOS_DEFAULTS.format;
  if (typeof tz !== 'string') {
    throw new ConfigError(`panos.tzOffset: must be a string like "+09:30" or "UTC" (got ${JSON.stringify(tz)})`);
  }
  const offsetMs = parseTzOffset(tz);
  if (offsetMs === undefined) {
    throw new ConfigError(`panos.tzOffset: "${tz}" is not a zone offset; use "UTC" or "±HH:MM", e.g. "+09:30" or "-05:00"`);
  }
  if (!(PANOS_FORMATS as readonly string[]).includes(format)) {
    throw new ConfigError(`panos.format: "${format}" is not supported; use one of ${PANOS_FORMATS.join(', ')}`);
  }
  return { format: format as PanosFormat, tzName: tzName(offsetMs), tzOffsetMs: offsetMs };
}
