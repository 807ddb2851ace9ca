/**
 * What never leaves a parser in clear, shared by the parsers: credential headers (Tyk's raw
 * request), credentials in span attributes (captured headers, query strings), userinfo and
 * credential-looking query parameters in URLs.
 */

export const REDACTED = '[REDACTED]';

const SECRET_HEADERS = new Set(['authorization', 'cookie', 'set-cookie', 'x-api-key', 'proxy-authorization']);

/** A header whose value is a credential: the fixed list, or any name containing token/secret/key. */
export function isSecretHeader(name: string): boolean {
  const n = name.toLowerCase();
  return SECRET_HEADERS.has(n) || n.includes('token') || n.includes('secret') || n.includes('key');
}

const SECRET_ATTR = /(authorization|cookie|passw|secret|token|api[-_.]?key|private[-_.]?key|credential)/i;
const HEADER_ATTR = /^(?:http\.(?:request|response)\.header\.|rpc\.grpc\.(?:request|response)\.metadata\.)(.+)$/;

/** A span attribute whose (string) value must not be kept. */
export function isSecretAttribute(key: string): boolean {
  const m = HEADER_ATTR.exec(key);
  if (m) return isSecretHeader(m[1]!);
  return SECRET_ATTR.test(key);
}

const SECRET_PARAM = /(token|secret|passw|key|auth|signature|sig|session|code|credential)/i;

/**
 * A URL (absolute or a request target) with credentials removed: userinfo (`user:pass@`) and the
 * values of credential-looking query parameters.
 */
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
  return out.slice(0, q + 1) + redactQueryString(query) + (hash < 0 ? '' : out.slice(hash));
}

/** A query string (`a=1&token=x`, no `?`) with the values of credential-looking parameters replaced. */
export function redactQueryString(query: string): string {
  if (!SECRET_PARAM.test(query)) return query;
  return query
    .split('&')
    .map((p) => {
      const eq = p.indexOf('=');
      if (eq < 0) return p;
      let name = p.slice(0, eq);
      try {
        name = decodeURIComponent(name);
      } catch {
        // keep the raw name: a malformed escape is not a reason to keep a secret
      }
      return SECRET_PARAM.test(name) ? `${p.slice(0, eq)}=${REDACTED}` : p;
    })
    .join('&');
}
