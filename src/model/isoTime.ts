/**
 * Event times as the parsers write them (`Date.prototype.toISOString`: YYYY-MM-DDTHH:mm:ss.sssZ),
 * read without `Date.parse`, which costs about half a microsecond per call on the correlation path.
 * Anything else, and any field out of its plain range, is left to `Date.parse` by the caller.
 */

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Milliseconds since the epoch of `s` when it is a canonical ISO time (exactly what `toISOString`
 * writes, so `new Date(ms).toISOString() === s`), else undefined.
 */
export function canonicalIsoMs(s: string): number | undefined {
  if (
    typeof s !== 'string' || // a malformed stored document may lack the field
    s.length !== 24 ||
    s.charCodeAt(4) !== 45 || // -
    s.charCodeAt(7) !== 45 ||
    s.charCodeAt(10) !== 84 || // T
    s.charCodeAt(13) !== 58 || // :
    s.charCodeAt(16) !== 58 ||
    s.charCodeAt(19) !== 46 || // .
    s.charCodeAt(23) !== 90 // Z
  )
    return undefined;
  const y = digits(s, 0, 4), mo = digits(s, 5, 2), d = digits(s, 8, 2);
  const h = digits(s, 11, 2), mi = digits(s, 14, 2), se = digits(s, 17, 2), ms = digits(s, 20, 3);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59 || ms < 0) return undefined;
  const leap = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (d > DAYS_IN_MONTH[mo - 1]! + (leap ? 1 : 0)) return undefined;
  return daysFromCivil(y, mo, d) * 86_400_000 + h * 3_600_000 + mi * 60_000 + se * 1000 + ms;
}

/** `Date.parse(s)`, with the canonical form read directly (the stores' write path reads the same strings). */
export function isoMs(s: string): number {
  const ms = canonicalIsoMs(s);
  return ms !== undefined ? ms : Date.parse(s);
}
