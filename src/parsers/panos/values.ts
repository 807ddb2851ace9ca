import { isIPv6 } from 'node:net';

/** Small value parsers for PAN-OS columns. All are total: bad input gives undefined, never throws. */

/** Dotted-quad IPv4 check without regex (hot path: four address columns per row). */
export function isIPv4(s: string): boolean {
  const n = s.length;
  if (n < 7 || n > 15) return false;
  let dots = 0;
  let val = 0;
  let digits = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return false;
      val = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && val === 0) return false; // leading zero
      val = val * 10 + (c - 48);
      if (++digits > 3 || val > 255) return false;
    } else {
      return false;
    }
  }
  return dots === 3 && digits > 0;
}

/** IPv4 or IPv6 literal. */
export const isIp = (s: string): boolean => isIPv4(s) || (s.indexOf(':') >= 0 && isIPv6(s));

/** Non-negative decimal integer (digits only, ≤ 2^53), or undefined. */
export function toUint(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = s.length;
  if (n === 0 || n > 16) return undefined;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (!(c >= 0 && c <= 9)) return undefined;
    v = v * 10 + c;
  }
  return v <= Number.MAX_SAFE_INTEGER ? v : undefined;
}

/** TCP/UDP port 0–65535, or undefined. */
export function toPort(s: string | undefined): number | undefined {
  const v = toUint(s);
  return v !== undefined && v <= 65535 ? v : undefined;
}

export type UserRef =
  | { name: string; domain?: string; xff?: undefined }
  | { xff: string; name?: undefined; domain?: undefined };

/**
 * Split a PAN-OS user column the way Elastic's panw pipeline does: `domain\user` (also with a
 * doubled backslash) and `user@domain` give name + domain; anything else (`host/x.example.com`,
 * bare names) is the name as logged. `x-fwd-for: <ip>` is not a user: PAN-OS puts the
 * X-Forwarded-For value there when User-ID mapped the XFF address to no one.
 */
export function splitUser(raw: string): UserRef | undefined {
  const s = raw.trim();
  if (s === '') return undefined;
  if (s.length > 10 && (s.charCodeAt(0) | 32) === 120 /* x */ && s.slice(0, 10).toLowerCase() === 'x-fwd-for:') {
    const xff = s.slice(10).trim();
    return xff === '' ? undefined : { xff };
  }
  const bs = s.indexOf('\\');
  if (bs > 0) {
    let j = bs;
    while (s.charCodeAt(j) === 92) j++;
    const name = s.slice(j);
    if (name !== '' && name.indexOf('\\') < 0) return { name, domain: s.slice(0, bs) };
    return { name: s };
  }
  const at = s.indexOf('@');
  if (at > 0 && at < s.length - 1 && s.indexOf('@', at + 1) < 0) {
    return { name: s.slice(0, at), domain: s.slice(at + 1) };
  }
  return { name: s };
}

/** `Virus/Linux.example(419149938)` → name + id; `(9999)` is PAN-OS's URL filtering pseudo-threat. */
export function splitThreat(raw: string): { name?: string; id?: string } {
  const s = raw.trim();
  if (s === '') return {};
  if (s.charCodeAt(s.length - 1) === 41 /* ) */) {
    const open = s.lastIndexOf('(');
    if (open >= 0) {
      const id = s.slice(open + 1, -1).trim();
      if (toUint(id) !== undefined) {
        const name = s.slice(0, open).trim();
        if (id === '9999') return { name: 'URL-filtering', id };
        return name === '' ? { id } : { name, id };
      }
    }
  }
  return { name: s };
}

export interface UrlParts {
  original: string;
  scheme?: string;
  domain?: string;
  port?: number;
  path?: string;
  query?: string;
  extension?: string;
}

/**
 * Split the THREAT URL/Filename column (`host[:port]/path?query`, no scheme as PAN-OS logs it,
 * though a scheme is tolerated), as Elastic's pipeline does.
 */
export function splitUrl(original: string): UrlParts {
  const out: UrlParts = { original };
  let rest = original;
  const schemeEnd = rest.indexOf('://');
  if (schemeEnd > 0 && schemeEnd < 10) {
    out.scheme = rest.slice(0, schemeEnd).toLowerCase();
    rest = rest.slice(schemeEnd + 3);
  }
  let hostPort = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    hostPort = rest.slice(0, slash);
    const after = rest.slice(slash);
    const q = after.indexOf('?');
    const path = q < 0 ? after : after.slice(0, q);
    out.path = path;
    if (q >= 0 && q < after.length - 1) out.query = after.slice(q + 1);
    const lastSlash = path.lastIndexOf('/');
    const dot = path.lastIndexOf('.');
    if (dot > lastSlash + 1 && dot < path.length - 1) out.extension = path.slice(dot + 1);
  } else {
    const q = rest.indexOf('?');
    if (q >= 0) {
      hostPort = rest.slice(0, q);
      if (q < rest.length - 1) out.query = rest.slice(q + 1);
    }
  }
  const colon = hostPort.lastIndexOf(':');
  if (colon >= 0 && hostPort.indexOf(']') < colon && hostPort.indexOf(':') === colon) {
    const port = toPort(hostPort.slice(colon + 1));
    hostPort = hostPort.slice(0, colon);
    if (port !== undefined) out.port = port;
  }
  if (hostPort !== '') out.domain = hostPort;
  return out;
}
