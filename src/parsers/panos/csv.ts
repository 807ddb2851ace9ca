/**
 * Syslog framing and the PAN-OS CSV row splitter.
 *
 * PAN-OS sends each log as one syslog message whose body is a CSV row (or a CEF record). The
 * header in front of it depends on the syslog server profile and on the relay:
 * - none (file export, some collectors): `1,2024/06/14 14:30:18,...`
 * - BSD (RFC 3164) without PRI: `Nov 30 16:09:08 PA-220 1,...`; the hostname is only sent when
 *   "Send Hostname in Syslog" is on, so it may be missing: `Nov 30 16:09:08 1,...`
 * - BSD with PRI: `<14>Aug 19 13:57:32 fw1027.example.io 1,...`
 * - RFC 5424 (IETF profile): `<14>1 2024-08-19T13:57:32.686Z fw1027 - - - - 1,...`
 * - an RFC 3339 time instead of the BSD one (rsyslog templates): `2024-08-19T13:57:32+00:00 fw 1,...`
 */

const MONTH_NAMES = new Set(['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']);

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/** Index after the next space at or after i, or -1. */
function afterToken(s: string, i: number): number {
  const sp = s.indexOf(' ', i);
  return sp < 0 ? -1 : sp + 1;
}

/**
 * Skip an optional hostname token at i: a token before the next space that has no comma (the
 * CSV body's first field is immediately followed by a comma) and is not the CEF marker.
 */
function skipHost(s: string, i: number): number {
  const sp = s.indexOf(' ', i);
  if (sp < 0) return i;
  const comma = s.indexOf(',', i);
  if (comma >= 0 && comma < sp) return i; // no hostname: the token is the CSV row's start
  if (s.startsWith('CEF:', i)) return i;
  let j = sp + 1;
  while (s.charCodeAt(j) === 32) j++;
  return j;
}

/**
 * Index where the PAN-OS payload starts, after any syslog header. Returns 0 when there is no
 * recognisable header (the body is then validated by the CSV/CEF parsers).
 */
export function syslogBodyStart(s: string): number {
  let i = 0;
  const c0 = s.charCodeAt(0);
  // Fast path: a bare CSV row starts `<digits>,`.
  if (isDigit(c0)) {
    let k = 1;
    while (k < 12 && isDigit(s.charCodeAt(k))) k++;
    if (s.charCodeAt(k) === 44 /* , */) return 0;
  }
  if (c0 === 60 /* < */) {
    const gt = s.indexOf('>', 1);
    if (gt < 2 || gt > 4) return 0;
    for (let k = 1; k < gt; k++) if (!isDigit(s.charCodeAt(k))) return 0;
    i = gt + 1;
    // RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
    if (isDigit(s.charCodeAt(i)) && s.charCodeAt(i + 1) === 32) {
      let j = i + 2;
      for (let t = 0; t < 5 && j > 0; t++) j = afterToken(s, j);
      if (j < 0) return 0;
      if (s.charCodeAt(j) === 45 /* - */) j++;
      else {
        while (s.charCodeAt(j) === 91 /* [ */) {
          j++;
          while (j < s.length) {
            const c = s.charCodeAt(j);
            if (c === 92 /* \ */) j += 2;
            else if (c === 93 /* ] */) break;
            else j++;
          }
          j++;
        }
      }
      if (s.charCodeAt(j) === 32) j++;
      if (s.charCodeAt(j) === 0xfeff) j++; // BOM before a UTF-8 MSG
      return Math.min(j, s.length);
    }
  }
  // BSD timestamp `Mmm dd HH:MM:SS` (day space-padded or not), optionally followed by a year.
  if (MONTH_NAMES.has(s.slice(i, i + 3)) && s.charCodeAt(i + 3) === 32) {
    let j = i + 4;
    while (s.charCodeAt(j) === 32) j++;
    while (isDigit(s.charCodeAt(j))) j++;
    if (s.charCodeAt(j) !== 32) return i;
    j++;
    if (s.charCodeAt(j + 2) !== 58 || s.charCodeAt(j + 5) !== 58) return i;
    j += 8;
    while (s.charCodeAt(j) === 46 /* . */ || isDigit(s.charCodeAt(j))) j++; // fractional seconds
    if (s.charCodeAt(j) !== 32) return i;
    j++;
    // optional year (`Mar 01 12:00:00 2024 host ...`), only when followed by a space
    if (isDigit(s.charCodeAt(j)) && isDigit(s.charCodeAt(j + 3)) && s.charCodeAt(j + 4) === 32) j += 5;
    return skipHost(s, j);
  }
  // RFC 3339 time in a BSD-style header: `2024-08-19T13:57:32+00:00 host body`
  if (isDigit(s.charCodeAt(i)) && s.charCodeAt(i + 4) === 45 && s.charCodeAt(i + 10) === 84 /* T */) {
    const j = afterToken(s, i);
    if (j < 0) return i;
    return skipHost(s, j);
  }
  return i;
}

/** True when braces balance, so commas inside `{...}` can be protected (PAN-OS Link Switches). */
function bracesBalance(s: string): boolean {
  let depth = 0;
  for (let i = s.indexOf('{'); i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 123) depth++;
    else if (c === 125 && --depth < 0) return false;
  }
  return depth === 0;
}

/**
 * Split one PAN-OS CSV row. Fields containing commas are double-quoted and a quote inside is
 * doubled (`"a ""b"", c"` → `a "b", c`). An unterminated quote runs to the end of the row.
 *
 * With `braces`, commas inside a balanced `{...}` outside quotes do not split: PAN-OS writes the
 * TRAFFIC Link Switches column as a brace-wrapped, comma-separated list without quoting it.
 */
export function splitCsv(s: string, braces = false): string[] {
  const hasBraces = braces && s.indexOf('{') >= 0 && bracesBalance(s);
  if (!hasBraces && s.indexOf('"') < 0) return s.split(',');
  const out: string[] = [];
  const n = s.length;
  let i = 0;
  for (;;) {
    if (i < n && s.charCodeAt(i) === 34 /* " */) {
      let buf = '';
      let seg = i + 1;
      let j = seg;
      for (;;) {
        const q = s.indexOf('"', j);
        if (q < 0) {
          buf += s.slice(seg);
          i = n;
          break;
        }
        if (s.charCodeAt(q + 1) === 34) {
          buf += s.slice(seg, q + 1);
          j = q + 2;
          seg = j;
          continue;
        }
        buf += s.slice(seg, q);
        i = q + 1;
        break;
      }
      // Anything between the closing quote and the next comma is kept (lenient, like most readers).
      const c = s.indexOf(',', i);
      if (c < 0) {
        out.push(i < n ? buf + s.slice(i) : buf);
        return out;
      }
      out.push(c > i ? buf + s.slice(i, c) : buf);
      i = c + 1;
      continue;
    }
    let c: number;
    if (hasBraces) {
      let depth = 0;
      c = -1;
      for (let k = i; k < n; k++) {
        const ch = s.charCodeAt(k);
        if (ch === 123) depth++;
        else if (ch === 125 && depth > 0) depth--;
        else if (ch === 44 && depth === 0) {
          c = k;
          break;
        }
      }
    } else {
      c = s.indexOf(',', i);
    }
    if (c < 0) {
      out.push(s.slice(i));
      return out;
    }
    out.push(s.slice(i, c));
    i = c + 1;
  }
}
