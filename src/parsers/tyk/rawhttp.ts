/**
 * Decodes Tyk's `raw_request`: the gateway's dump of the HTTP/1.x request (Go's
 * `httputil.DumpRequest`: request line, headers, blank line, body), base64-encoded, or plain
 * text when the pump has `raw_request_decoded: true`. The pump's `max_record_size` may cut it
 * anywhere, before or after encoding, so a missing end of head is normal, not an error.
 *
 * Only the head is read (the body is never looked at or kept), and at most `maxHeadBytes` of it.
 */

export interface RawHttpRequest {
  method: string;
  /** Request target as sent (origin-form path and query, or absolute-form). */
  target: string;
  /** `1.1`, `1.0`; '' when the request line was cut. */
  version: string;
  /** Header name (lower-case) → value; repeated headers joined with `, `. */
  headers: Map<string, string>;
  /** The head was cut before its blank line (the last, partial header line is dropped). */
  truncated: boolean;
  encoding: 'base64' | 'text';
}

export type RawRequestResult =
  | { ok: true; request: RawHttpRequest }
  | { ok: false; code: 'invalid_base64'; reason: string };

/** A request line start: method token, one space, a target form (origin, absolute, authority, asterisk). */
const REQUEST_START = /^([A-Z][A-Z0-9!#$%&'*+.^_`|~-]{0,31}) (\/|\*|[a-zA-Z][a-zA-Z0-9+.-]*:\/\/|[^\s/]+:\d)/;
const REQUEST_LINE = /^([A-Z][A-Z0-9!#$%&'*+.^_`|~-]{0,31}) (\S+)(?: HTTP\/(\d(?:\.\d)?))?$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const MAX_HEADERS = 200;

/** Default cap on the head bytes examined: 64 KiB (larger than any common server's header limit). */
export const DEFAULT_MAX_HEAD_BYTES = 64 * 1024;

/**
 * Decodes a `raw_request` value. Returns undefined for '' (detailed recording off), the parsed
 * head, or an `invalid_base64` error when the value is neither base64 of an HTTP request nor one.
 */
export function decodeRawRequest(value: string, maxHeadBytes = DEFAULT_MAX_HEAD_BYTES): RawRequestResult | undefined {
  if (value === '') return undefined;
  const lead = value.charCodeAt(0) <= 0x20 ? value.trimStart() : value;
  if (REQUEST_START.test(lead)) return { ok: true, request: parseHead(lead.slice(0, maxHeadBytes), 'text') };

  const b64 = value.trim();
  if (!BASE64.test(b64)) {
    return { ok: false, code: 'invalid_base64', reason: 'raw_request is neither base64 nor an HTTP/1.x request' };
  }
  // Decode whole 4-char quanta only: a value cut by max_record_size ends mid-quantum.
  const limitChars = Math.ceil(maxHeadBytes / 3) * 4;
  let chars = Math.min(b64.length, limitChars);
  if (chars < b64.length || !b64.endsWith('=')) chars -= chars % 4;
  const bytes = Buffer.from(b64.slice(0, chars).replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  const text = bytes.toString('utf8');
  if (!REQUEST_START.test(text)) {
    return { ok: false, code: 'invalid_base64', reason: 'raw_request is base64 but does not decode to an HTTP/1.x request' };
  }
  return { ok: true, request: parseHead(text, 'base64') };
}

/** Parses request line and headers from `text` (which may be a prefix of the real head). */
function parseHead(text: string, encoding: 'base64' | 'text'): RawHttpRequest {
  const headers = new Map<string, string>();
  let end = text.indexOf('\r\n\r\n');
  let complete = end >= 0;
  const lfEnd = text.indexOf('\n\n');
  if (lfEnd >= 0 && (end < 0 || lfEnd < end)) {
    end = lfEnd;
    complete = true;
  }
  const head = complete ? text.slice(0, end) : text;
  const lines = head.split(/\r?\n/);
  // Without the blank line the head was cut (by max_record_size or by our own cap), and its last
  // line may be partial: drop it rather than keep a cut token or request id.
  const truncated = !complete;
  if (truncated && lines.length > 1) lines.pop();

  const reqLine = lines[0] ?? '';
  const m = REQUEST_LINE.exec(reqLine);
  let method = '';
  let target = '';
  let version = '';
  if (m) {
    method = m[1]!;
    target = m[2]!;
    version = m[3] ?? '';
  } else {
    const sp = reqLine.indexOf(' ');
    method = reqLine.slice(0, sp);
    target = reqLine.slice(sp + 1).split(' ')[0] ?? '';
  }

  let last = '';
  for (let i = 1; i < lines.length && headers.size < MAX_HEADERS; i++) {
    const line = lines[i]!;
    if (line === '') break;
    if ((line[0] === ' ' || line[0] === '\t') && last) {
      headers.set(last, `${headers.get(last)} ${line.trim()}`);
      continue;
    }
    const c = line.indexOf(':');
    if (c <= 0) continue;
    const name = line.slice(0, c).trim().toLowerCase();
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) continue;
    const v = line.slice(c + 1).trim();
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? v : name === 'cookie' ? `${prev}; ${v}` : `${prev}, ${v}`);
    last = name;
  }
  return { method, target, version, headers, truncated, encoding };
}
