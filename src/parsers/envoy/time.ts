/**
 * START_TIME parsing: Envoy's default (`%Y-%m-%dT%H:%M:%E3SZ`, always UTC), ISO 8601 variants found in
 * JSON logs, epoch numbers, and custom `%START_TIME(<strftime>)%` formats. Envoy formats START_TIME in UTC,
 * so a time without a zone is read as UTC (never as the host's local time).
 */

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

function utc(y: number, mo: number, d: number, h: number, mi: number, s: number, fracMs: number): number | undefined {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || s > 60) return undefined;
  const ms = Date.UTC(y, mo - 1, d, h, mi, s) + fracMs;
  return Number.isFinite(ms) ? ms : undefined;
}

function fracToMs(frac: string | undefined): number {
  if (!frac) return 0;
  // Whole milliseconds: sub-millisecond digits are dropped (join windows are in ms).
  return Number((frac + '000').slice(0, 3));
}

function zoneOffsetMs(z: string | undefined): number {
  if (!z || z === 'Z' || z === 'z') return 0;
  const sign = z[0] === '-' ? -1 : 1;
  const digits = z.slice(1).replace(':', '');
  const h = Number(digits.slice(0, 2));
  const m = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
  return sign * (h * 60 + m) * 60_000;
}

/** Epoch number → ms, guessing the unit from the magnitude (s, ms, µs, ns). */
function fromEpoch(n: number): number | undefined {
  if (!Number.isFinite(n) || n < 0) return undefined;
  if (n >= 1e17) return Math.floor(n / 1e6);
  if (n >= 1e14) return Math.floor(n / 1e3);
  if (n >= 1e11) return Math.floor(n);
  return Math.floor(n * 1000);
}

function parseIsoLike(s: string): number | undefined {
  const m = ISO.exec(s);
  if (m) {
    const ms = utc(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!, fracToMs(m[7]));
    return ms === undefined ? undefined : ms - zoneOffsetMs(m[8]?.toUpperCase());
  }
  if (/^\d{9,19}(\.\d+)?$/.test(s)) return fromEpoch(Number(s));
  // Other textual dates are accepted only with an explicit zone, so the host's zone never leaks in.
  if (/(?:\bGMT\b|\bUTC\b|[+-]\d{4}\b|Z$)/i.test(s) && /\d{4}/.test(s)) {
    const ms = Date.parse(s);
    return Number.isFinite(ms) ? ms : undefined;
  }
  return undefined;
}

type Setter = (p: Parts, v: string) => void;
interface Parts {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  frac: number;
  pm?: boolean;
  epoch?: number;
  offsetMs: number;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const reEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Compile a strftime pattern (the subset Envoy users write) into a parser; undefined if unsupported. */
function compileStrftime(fmt: string): ((s: string) => number | undefined) | undefined {
  let re = '^';
  const setters: Setter[] = [];
  const num = (width: string, set: (p: Parts, n: number) => void): void => {
    re += `(${width})`;
    setters.push((p, v) => set(p, Number(v.trim())));
  };
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (c !== '%') {
      re += /\s/.test(c) ? '\\s+' : reEscape(c);
      continue;
    }
    const spec = fmt[++i];
    // %E<n>S (seconds with n fractional digits), %Es / %E*S variants, %<n>f.
    if (spec === 'E' && /\d/.test(fmt[i + 1] ?? '') && fmt[i + 2] === 'S') {
      const n = Number(fmt[i + 1]);
      i += 2;
      re += `(\\d{2})\\.(\\d{${n}})`;
      setters.push((p, v) => (p.s = Number(v)));
      setters.push((p, v) => (p.frac = fracToMs(v)));
      continue;
    }
    if (spec === 'E' && fmt[i + 1] === '*' && fmt[i + 2] === 'S') {
      i += 2;
      re += '(\\d{2})(?:\\.(\\d+))?';
      setters.push((p, v) => (p.s = Number(v)));
      setters.push((p, v) => (p.frac = v ? fracToMs(v) : 0));
      continue;
    }
    if (spec !== undefined && /[1-9]/.test(spec) && fmt[i + 1] === 'f') {
      const n = Number(spec);
      i += 1;
      re += `(\\d{${n}})`;
      setters.push((p, v) => (p.frac = fracToMs(v)));
      continue;
    }
    switch (spec) {
      case 'Y':
        num('\\d{4}', (p, n) => (p.y = n));
        break;
      case 'y':
        num('\\d{2}', (p, n) => (p.y = 2000 + n));
        break;
      case 'm':
        num('\\d{1,2}', (p, n) => (p.mo = n));
        break;
      case 'd':
        num('\\d{1,2}', (p, n) => (p.d = n));
        break;
      case 'e':
        num(' ?\\d{1,2}', (p, n) => (p.d = n));
        break;
      case 'H':
        num('\\d{1,2}', (p, n) => (p.h = n));
        break;
      case 'I':
        num('\\d{1,2}', (p, n) => (p.h = n % 12));
        break;
      case 'M':
        num('\\d{1,2}', (p, n) => (p.mi = n));
        break;
      case 'S':
        num('\\d{1,2}', (p, n) => (p.s = n));
        break;
      case 'f':
        re += '(\\d{1,9})';
        setters.push((p, v) => (p.frac = fracToMs(v)));
        break;
      case 's':
        re += '(\\d{1,12})';
        setters.push((p, v) => (p.epoch = Number(v) * 1000));
        break;
      case 'z':
        re += '([+-]\\d{2}:?\\d{2}|Z)';
        setters.push((p, v) => (p.offsetMs = zoneOffsetMs(v)));
        break;
      case 'Z':
        re += '(UTC|GMT|Z)';
        setters.push(() => undefined);
        break;
      case 'T':
        num('\\d{1,2}', (p, n) => (p.h = n));
        re += ':';
        num('\\d{1,2}', (p, n) => (p.mi = n));
        re += ':';
        num('\\d{1,2}', (p, n) => (p.s = n));
        break;
      case 'F':
        num('\\d{4}', (p, n) => (p.y = n));
        re += '-';
        num('\\d{1,2}', (p, n) => (p.mo = n));
        re += '-';
        num('\\d{1,2}', (p, n) => (p.d = n));
        break;
      case 'b':
      case 'h':
      case 'B':
        re += '([A-Za-z]{3,9})';
        setters.push((p, v) => (p.mo = MONTHS.indexOf(v.slice(0, 3).toLowerCase()) + 1));
        break;
      case 'a':
      case 'A':
        re += '[A-Za-z]{3,9}';
        break;
      case 'p':
        re += '(AM|PM|am|pm)';
        setters.push((p, v) => (p.pm = v.toLowerCase() === 'pm'));
        break;
      case 'j':
        re += '\\d{3}';
        break;
      case '%':
        re += '%';
        break;
      default:
        return undefined;
    }
  }
  let rx: RegExp;
  try {
    rx = new RegExp(re + '$');
  } catch {
    return undefined;
  }
  return (s: string) => {
    const m = rx.exec(s);
    if (!m) return undefined;
    const p: Parts = { y: 1970, mo: 1, d: 1, h: 0, mi: 0, s: 0, frac: 0, offsetMs: 0 };
    for (let k = 0; k < setters.length; k++) setters[k]!(p, m[k + 1] ?? '');
    if (p.epoch !== undefined) return p.epoch + p.frac;
    if (p.pm) p.h += 12;
    const ms = utc(p.y, p.mo, p.d, p.h, p.mi, p.s, p.frac);
    return ms === undefined ? undefined : ms - p.offsetMs;
  };
}

const strftimeCache = new Map<string, ((s: string) => number | undefined) | undefined>();

/**
 * Parse a START_TIME value to ms since epoch. `fmt` is the operator's strftime argument, if any.
 * Returns undefined when the value is not a time.
 */
export function parseStartTime(value: unknown, fmt?: string): number | undefined {
  if (typeof value === 'number') return fromEpoch(value);
  if (typeof value !== 'string') return undefined;
  const s = value.trim();
  if (s === '') return undefined;
  if (fmt !== undefined && fmt !== '') {
    let parse = strftimeCache.get(fmt);
    if (parse === undefined && !strftimeCache.has(fmt)) {
      parse = compileStrftime(fmt);
      if (strftimeCache.size < 256) strftimeCache.set(fmt, parse);
    }
    const ms = parse?.(s);
    if (ms !== undefined) return ms;
  }
  return parseIsoLike(s);
}
