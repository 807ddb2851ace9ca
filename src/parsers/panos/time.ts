/**
 * PAN-OS time values, parsed by hand (no regex, no Date string parsing) because every record
 * carries two to five of them and this is the parser's hot path.
 *
 * Accepted forms:
 * - `2018/11/30 16:09:07`: the CSV receive/generated/start time columns; no zone, `tzOffsetMs` applies.
 * - ISO 8601 `2024-06-14T14:30:15.154-04:00`, `2021-10-22T16:10:10.000000Z`, with or without fraction
 *   and zone (the high-resolution timestamp column, the 9.1 GlobalProtect variant); no zone → `tzOffsetMs`.
 * - `Mar 01 2021 20:48:21` optionally followed by ` GMT`/` UTC`/` ±HH:MM`: CEF `rt`/`start`.
 * - Epoch milliseconds (13 digits) or seconds (10 digits): CEF `rt` on some collectors.
 */

const MONTHS: ReadonlyMap<string, number> = new Map(
  ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'].map((m, i) => [m, i + 1]),
);

const DAYS_IN_MONTH = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Digits at s[i..i+n) as a number, or -1 if any is not a digit. */
function num(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const c = s.charCodeAt(k) - 48;
    if (!(c >= 0 && c <= 9)) return -1;
    v = v * 10 + c;
  }
  return v;
}

function utc(y: number, mo: number, d: number, h: number, mi: number, sec: number, ms: number): number {
  if (y < 1000 || mo < 1 || mo > 12 || d < 1 || d > DAYS_IN_MONTH[mo]! || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60) {
    return NaN;
  }
  if (mo === 2 && d === 29 && !(y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0))) return NaN;
  return Date.UTC(y, mo - 1, d, h, mi, sec === 60 ? 59 : sec, ms);
}

/**
 * Zone suffix at s[i..] → offset ms east of UTC; `fallback` when there is none; NaN when malformed.
 */
function zone(s: string, i: number, fallback: number): number {
  const n = s.length - i;
  if (n === 0) return fallback;
  const c = s.charCodeAt(i);
  if (c === 90 /* Z */ || c === 122 /* z */) return n === 1 ? 0 : NaN;
  if (c === 43 /* + */ || c === 45 /* - */) {
    const h = num(s, i + 1, 2);
    let m: number;
    if (n === 3) m = 0;
    else if (n === 5) m = num(s, i + 3, 2);
    else if (n === 6 && s.charCodeAt(i + 3) === 58 /* : */) m = num(s, i + 4, 2);
    else return NaN;
    if (h < 0 || m < 0 || h > 14 || m > 59) return NaN;
    const off = (h * 60 + m) * 60_000;
    return c === 45 ? -off : off;
  }
  if (c === 32 /* space */) {
    const z = s.slice(i + 1);
    if (z === 'GMT' || z === 'UTC' || z === 'Z') return 0;
    return zone(z, 0, NaN);
  }
  return NaN;
}

/** Parse a PAN-OS time to milliseconds since the epoch, or NaN when it is not a valid time. */
export function parsePanosTime(s: string, tzOffsetMs: number): number {
  const len = s.length;
  if (len < 10) return NaN;
  const c4 = s.charCodeAt(4);
  if (c4 === 47 /* / */ && len === 19) {
    // yyyy/MM/dd HH:mm:ss
    if (s.charCodeAt(7) !== 47 || s.charCodeAt(10) !== 32 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return NaN;
    const t = utc(num(s, 0, 4), num(s, 5, 2), num(s, 8, 2), num(s, 11, 2), num(s, 14, 2), num(s, 17, 2), 0);
    return t - tzOffsetMs;
  }
  if (c4 === 45 /* - */ && len >= 19) {
    // ISO 8601: yyyy-MM-dd[T ]HH:mm:ss[.fraction][zone]
    const sep = s.charCodeAt(10);
    if (s.charCodeAt(7) !== 45 || (sep !== 84 && sep !== 32 && sep !== 116) || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) {
      return NaN;
    }
    let i = 19;
    let ms = 0;
    if (i < len && s.charCodeAt(i) === 46 /* . */) {
      i++;
      let digits = 0;
      let frac = 0;
      while (i < len) {
        const c = s.charCodeAt(i) - 48;
        if (!(c >= 0 && c <= 9)) break;
        if (digits < 3) frac = frac * 10 + c;
        digits++;
        i++;
      }
      if (digits === 0) return NaN;
      for (let d = digits; d < 3; d++) frac *= 10;
      ms = frac;
    }
    const off = zone(s, i, tzOffsetMs);
    if (Number.isNaN(off)) return NaN;
    return utc(num(s, 0, 4), num(s, 5, 2), num(s, 8, 2), num(s, 11, 2), num(s, 14, 2), num(s, 17, 2), ms) - off;
  }
  const c0 = s.charCodeAt(0);
  if (c0 >= 48 && c0 <= 57) {
    // epoch seconds or milliseconds
    if (len !== 10 && len !== 13) return NaN;
    const v = num(s, 0, len);
    if (v < 0) return NaN;
    return len === 10 ? v * 1000 : v;
  }
  // MMM dd yyyy HH:mm:ss[ zone]
  if (len >= 20 && s.charCodeAt(3) === 32 && s.charCodeAt(6) === 32 && s.charCodeAt(11) === 32) {
    const mo = MONTHS.get(s.slice(0, 3));
    if (mo === undefined || s.charCodeAt(14) !== 58 || s.charCodeAt(17) !== 58) return NaN;
    const off = zone(s, 20, tzOffsetMs);
    if (Number.isNaN(off)) return NaN;
    return utc(num(s, 7, 4), mo, num(s, 4, 2), num(s, 12, 2), num(s, 15, 2), num(s, 18, 2), 0) - off;
  }
  return NaN;
}

const MS_PER_DAY = 86_400_000;
const MIN_ISO_MS = Date.UTC(1000, 0, 1);
const MAX_ISO_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const p2 = (n: number): string => (n < 10 ? '0' + n : '' + n);
const p3 = (n: number): string => (n < 10 ? '00' + n : n < 100 ? '0' + n : '' + n);

/** `YYYY-MM-DDT` for a day number (days since 1970-01-01), Hinnant's civil_from_days. */
function datePart(days: number): string {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return `${y}-${p2(m)}-${p2(d)}T`;
}

// One-entry cache of the date part: a batch of logs mostly shares the day.
let cachedDay = NaN;
let cachedDate = '';

/**
 * ISO 8601 UTC (`2024-06-14T18:30:15.154Z`, what `Date#toISOString` gives) for a parsed time;
 * undefined for NaN or years outside 1000–9999. Formatted by hand: `toISOString` was the largest
 * single cost of the parser (four to five times per record).
 */
export function isoTime(ms: number): string | undefined {
  if (!(ms >= MIN_ISO_MS && ms <= MAX_ISO_MS)) return undefined;
  const t = Math.floor(ms);
  const days = Math.floor(t / MS_PER_DAY);
  if (days !== cachedDay) {
    cachedDay = days;
    cachedDate = datePart(days);
  }
  let rem = t - days * MS_PER_DAY;
  const h = Math.floor(rem / 3_600_000);
  rem -= h * 3_600_000;
  const mi = Math.floor(rem / 60_000);
  rem -= mi * 60_000;
  const s = Math.floor(rem / 1000);
  return `${cachedDate}${p2(h)}:${p2(mi)}:${p2(s)}.${p3(rem - s * 1000)}Z`;
}
