/**
 * Credentials never leave the parser: the API key is fingerprinted, raw_request/raw_response are
 * dropped, and kept headers / URLs have credential values replaced by `[REDACTED]`.
 * (Same rules as parsers/otlp/redact.ts; a candidate for parsers/common.ts.)
 */

export const REDACTED = '[REDACTED]';

const SECRET_HEADERS = new Set(['authorization', 'cookie', 'set-cookie', 'x-api-key', 'proxy-authorization']);

/** A header whose value is a credential: the fixed list, or any name containing token/secret/key. */
export function isSecretHeader(name: string): boolean {
  const n = name.toLowerCase();
  return SECRET_HEADERS.has(n) || n.includes('token') || n.includes('secret') || n.includes('key');
}

const SECRET_PARAM = /(token|secret|passw|key|auth|signature|sig|session|code|credential)/i;

/** A URL or request target with userinfo and credential-looking query parameter values redacted. */
export function redactUrl(url: string): string {
  let out = url;
  const scheme = out.indexOf('://');
  if (scheme >= 0) {
    const start = scheme + 3;
    const end = out.slice(start).search(/[/?#]/);
    const authority = end < 0 ? out.slice(start) : out.slice(start, start + end);
    const at = authority.lastIndexOf('@');
    if (at >= 0) out = `${out.slice(0, start)}${REDACTED}@${out.slice(start + at + 1)}`;
  }
  const q = out.indexOf('?');
  if (q < 0) return out;
  const hash = out.indexOf('#', q);
  const query = hash < 0 ? out.slice(q + 1) : out.slice(q + 1, hash);
  if (!SECRET_PARAM.test(query)) return out;
  const redacted = query
    .split('&')
    .map((p) => {
      const eq = p.indexOf('=');
      if (eq < 0) return p;
      let name = p.slice(0, eq);
      try {
        name = decodeURIComponent(name);
      } catch {
        // keep the raw name: a malformed escape is no reason to keep a secret
      }
      return SECRET_PARAM.test(name) ? `${p.slice(0, eq)}=${REDACTED}` : p;
    })
    .join('&');
  return out.slice(0, q + 1) + redacted + (hash < 0 ? '' : out.slice(hash));
}
