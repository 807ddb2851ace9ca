import { normalizeTraceId, parseB3Single, parseTraceparent, setPath, splitHostPort } from './common';

describe('parsers/common', () => {
  it('normalizes W3C and B3 ids to 32 lower-case hex digits and refuses invalid ones', () => {
    expect(normalizeTraceId('4BF92F3577B34DA6A3CE929D0E0E4736')).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(normalizeTraceId('a3ce929d0e0e4736')).toBe('0000000000000000a3ce929d0e0e4736');
    expect(normalizeTraceId('0'.repeat(32))).toBeUndefined();
    expect(normalizeTraceId('xyz')).toBeUndefined();
    expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' });
    expect(parseTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBeUndefined();
    expect(parseB3Single('a3ce929d0e0e4736-00f067aa0ba902b7-1')).toEqual({ traceId: '0000000000000000a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' });
  });

  it('splits IPv4, bracketed IPv6 and bare addresses', () => {
    expect(splitHostPort('10.0.0.1:8080')).toEqual({ ip: '10.0.0.1', port: 8080 });
    expect(splitHostPort('[2001:db8::1]:443')).toEqual({ ip: '2001:db8::1', port: 443 });
    expect(splitHostPort('2001:db8::1')).toEqual({ ip: '2001:db8::1' });
    expect(splitHostPort('-')).toEqual({});
  });

  it('never writes through __proto__ or constructor keys', () => {
    const doc: Record<string, unknown> = {};
    setPath(doc, '__proto__.polluted', 'yes');
    setPath(doc, 'constructor.prototype.polluted', 'yes');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    setPath(doc, 'a.b', 1);
    expect(doc).toEqual({ a: { b: 1 } });
  });
});
