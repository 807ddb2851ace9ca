import { decodeRawRequest } from './rawhttp';

const HEAD = [
  'POST /v1/orders?x=1 HTTP/1.1',
  'Host: api.example.test',
  'X-Request-Id: abc',
  'Accept: text/plain',
  'Accept: application/json',
  'X-Folded: first',
  '  second',
  '',
  'BODY-SECRET-PASSWORD=1',
].join('\r\n');

describe('parsers/tyk > raw_request decoding', () => {
  it('parses a base64 request line and headers with lower-cased names', () => {
    const res = decodeRawRequest(Buffer.from(HEAD).toString('base64'));
    expect(res?.ok).toBe(true);
    if (!res?.ok) return;
    expect(res.request).toMatchObject({ method: 'POST', target: '/v1/orders?x=1', version: '1.1', truncated: false, encoding: 'base64' });
    expect(res.request.headers.get('host')).toBe('api.example.test');
    expect(res.request.headers.get('x-request-id')).toBe('abc');
  });

  it('joins repeated headers with commas and unfolds obs-fold continuation lines', () => {
    const res = decodeRawRequest(HEAD);
    if (!res?.ok) throw new Error('expected ok');
    expect(res.request.encoding).toBe('text');
    expect(res.request.headers.get('accept')).toBe('text/plain, application/json');
    expect(res.request.headers.get('x-folded')).toBe('first second');
  });

  it('never reads the body', () => {
    const res = decodeRawRequest(HEAD);
    if (!res?.ok) throw new Error('expected ok');
    expect(JSON.stringify([...res.request.headers])).not.toContain('BODY-SECRET');
  });

  it('accepts bare LF line endings', () => {
    const res = decodeRawRequest('GET / HTTP/1.0\nHost: a\n\n');
    if (!res?.ok) throw new Error('expected ok');
    expect(res.request).toMatchObject({ method: 'GET', target: '/', version: '1.0', truncated: false });
    expect(res.request.headers.get('host')).toBe('a');
  });

  it('returns undefined for an empty raw_request (detailed recording off)', () => {
    expect(decodeRawRequest('')).toBeUndefined();
  });

  it('decodes base64 cut mid-quantum and drops the partial last header line', () => {
    const b64 = Buffer.from(HEAD).toString('base64');
    const cut = b64.slice(0, Buffer.from('POST /v1/orders?x=1 HTTP/1.1\r\nHost: api.example.test\r\nX-Request-Id: a').toString('base64').length - 1);
    const res = decodeRawRequest(cut);
    if (!res?.ok) throw new Error('expected ok');
    expect(res.request.truncated).toBe(true);
    expect(res.request.headers.get('host')).toBe('api.example.test');
    expect(res.request.headers.has('x-request-id')).toBe(false);
  });

  it('keeps the method and target of a request cut inside its first line', () => {
    const res = decodeRawRequest(Buffer.from('GET /abc/def HTT').toString('base64'));
    if (!res?.ok) throw new Error('expected ok');
    expect(res.request).toMatchObject({ method: 'GET', target: '/abc/def', version: '', truncated: true });
  });

  it('examines at most maxHeadBytes of a huge request', () => {
    const big = `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'y'.repeat(200_000)}\r\n\r\n`;
    const res = decodeRawRequest(Buffer.from(big).toString('base64'), 1024);
    if (!res?.ok) throw new Error('expected ok');
    expect(res.request.truncated).toBe(true);
    expect(res.request.headers.get('host')).toBe('a');
    expect(res.request.headers.has('x-big')).toBe(false);
  });

  it('rejects a value that is neither base64 nor HTTP as invalid_base64', () => {
    expect(decodeRawRequest('not base64 at all!')).toEqual({ ok: false, code: 'invalid_base64', reason: expect.stringContaining('neither base64') });
  });

  it('rejects base64 that does not decode to an HTTP request as invalid_base64', () => {
    const res = decodeRawRequest(Buffer.from('\x00\x01binary').toString('base64'));
    expect(res).toEqual({ ok: false, code: 'invalid_base64', reason: expect.stringContaining('does not decode') });
  });

  it('accepts an absolute-form target (proxy requests)', () => {
    const res = decodeRawRequest('GET http://up.example.test/x HTTP/1.1\r\n\r\n');
    if (!res?.ok) throw new Error('expected ok');
    expect(res.request.target).toBe('http://up.example.test/x');
  });
});
