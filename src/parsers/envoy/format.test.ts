import { ENVOY_DEFAULT_FORMAT, ISTIO_TEXT_FORMAT, ISTIO_TEXT_FORMAT_PRE_1_24 } from './config';
import { compileFormat, signature, tokenize, type Operator } from './format';
import { parseStartTime } from './time';

const ops = (fmt: string): Operator[] => compileFormat(fmt).operators as Operator[];

describe('parsers/envoy > format compiler', () => {
  it('parses operators with arguments, alternatives and :LEN truncation', () => {
    const [a, b, c, d] = ops('%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME):8% %REQ(USER-AGENT):40% %DYNAMIC_METADATA(envoy.filters.http.jwt_authn:payload):512%');
    expect(a).toEqual({ text: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%', command: 'REQ', arg: 'X-ENVOY-ORIGINAL-PATH?:PATH', field: 'path' });
    expect(b).toMatchObject({ command: 'RESP', arg: 'X-ENVOY-UPSTREAM-SERVICE-TIME', maxLength: 8, field: 'upstream_service_time' });
    expect(c).toMatchObject({ command: 'REQ', arg: 'USER-AGENT', maxLength: 40, field: 'user_agent' });
    expect(d).toMatchObject({ command: 'DYNAMIC_METADATA', arg: 'envoy.filters.http.jwt_authn:payload', maxLength: 512, field: 'jwt_authn' });
  });

  it('keeps % and : inside a START_TIME argument', () => {
    const [st] = ops('[%START_TIME(%Y-%m-%dT%H:%M:%SZ)%] x');
    expect(st).toMatchObject({ command: 'START_TIME', arg: '%Y-%m-%dT%H:%M:%SZ', field: 'start_time' });
    expect(st!.maxLength).toBeUndefined();
  });

  it('maps operators without arguments and header names case-insensitively', () => {
    const fields = ops('%TRACE_ID% %DOWNSTREAM_PEER_URI_SAN% %UPSTREAM_CLUSTER_RAW% %UPSTREAM_CLUSTER% %REQ(traceparent)% %REQ(X-B3-TraceId)% %REQ(authorization)% %REQ(x-jwt-payload)%').map((o) => o.field);
    expect(fields).toEqual(['trace_id', 'downstream_peer_uri_san', 'upstream_cluster', 'upstream_cluster', 'traceparent', 'x_b3_traceid', 'authorization', 'jwt_payload']);
  });

  it('treats %% and a stray % as literal text', () => {
    const t = tokenize('100%% of %DURATION% ms, 5% off');
    expect(t).toEqual([
      { kind: 'literal', text: '100% of ' },
      { kind: 'operator', op: { text: '%DURATION%', command: 'DURATION', field: 'duration' } },
      { kind: 'literal', text: ' ms, 5% off' },
    ]);
    expect(compileFormat('100%% of %DURATION% ms').match('100% of 42 ms')).toEqual(['42']);
  });

  it('compiles a format with an unknown operator, matches it, and maps it to no field', () => {
    const f = compileFormat('%SOMETHING_NEW(a:b):4% %RESPONSE_CODE%');
    expect(f.operators[0]).toEqual({ text: '%SOMETHING_NEW(a:b):4%', command: 'SOMETHING_NEW', arg: 'a:b', maxLength: 4 });
    expect(f.match('abcd 200')).toEqual(['abcd', '200']);
  });

  it('compiles the Istio default format to its 24 operators and splits a line on the literals', () => {
    const f = compileFormat(ISTIO_TEXT_FORMAT);
    expect(f.operators).toHaveLength(24);
    const line =
      '[2024-01-01T00:00:00.000Z] "GET /a HTTP/1.1" 200 - via_upstream - "-" 0 5 2 1 "-" "agent with spaces/1.0" "rid" "host:80" "10.0.0.1:80" inbound|80|| 127.0.0.6:1 10.0.0.1:80 10.0.0.2:3 - default';
    const v = f.match(line)!;
    expect(v[0]).toBe('2024-01-01T00:00:00.000Z');
    expect(v.slice(1, 4)).toEqual(['GET', '/a', 'HTTP/1.1']);
    expect(v[14]).toBe('agent with spaces/1.0');
    expect(v[23]).toBe('default');
  });

  it('rejects a line of another format instead of mis-splitting it', () => {
    const istio = compileFormat(ISTIO_TEXT_FORMAT);
    const envoy = compileFormat(ENVOY_DEFAULT_FORMAT);
    const envoyLine = '[2024-01-01T00:00:00.000Z] "GET /a HTTP/1.1" 200 - 0 5 2 1 "-" "curl" "rid" "host" "10.0.0.1:80"';
    expect(istio.match(envoyLine)).toBeUndefined();
    expect(envoy.match(envoyLine)).toHaveLength(15);
    expect(envoy.match(`${envoyLine} trailing`)).toBeUndefined();
    expect(envoy.match('hello')).toBeUndefined();
  });

  it('strips the trailing newline of the format and of the line', () => {
    const f = compileFormat('%RESPONSE_CODE% %ROUTE_NAME%\n');
    expect(f.match('200 default\n')).toEqual(['200', 'default']);
    expect(f.match('200 default\r\n')).toEqual(['200', 'default']);
  });

  it('scans a JSON metadata value to its closing brace even when it holds the delimiter', () => {
    const f = compileFormat('%DYNAMIC_METADATA(envoy.filters.http.jwt_authn)% %RESPONSE_CODE%');
    expect(f.match('{"sub":"a b","n":{"x":"} "}} 200')).toEqual(['{"sub":"a b","n":{"x":"} "}}', '200']);
  });

  it('gives the text of two adjacent operators to the first', () => {
    expect(compileFormat('%RESPONSE_CODE%%RESPONSE_FLAGS% end').match('200UF end')).toEqual(['200UF', '']);
  });

  it('caches compiled formats and gives Istio current and pre-1.24 the same signature', () => {
    expect(compileFormat(ISTIO_TEXT_FORMAT)).toBe(compileFormat(ISTIO_TEXT_FORMAT));
    expect(signature(compileFormat(ISTIO_TEXT_FORMAT))).toBe(signature(compileFormat(ISTIO_TEXT_FORMAT_PRE_1_24)));
    expect(signature(compileFormat(ISTIO_TEXT_FORMAT))).not.toBe(signature(compileFormat(ENVOY_DEFAULT_FORMAT)));
  });

  it('maps a configured payload header instead of x-jwt-payload', () => {
    expect(compileFormat('%REQ(X-Claims)%', 'x-claims').operators[0]!.field).toBe('jwt_payload');
    expect(compileFormat('%REQ(X-Claims)%').operators[0]!.field).toBeUndefined();
  });
});

describe('parsers/envoy > start time', () => {
  it('reads Envoy’s default ISO time and ISO variants as UTC unless a zone is given', () => {
    expect(parseStartTime('2024-03-11T08:15:42.318Z')).toBe(Date.parse('2024-03-11T08:15:42.318Z'));
    expect(parseStartTime('2024-03-11T08:15:42.318123Z')).toBe(Date.parse('2024-03-11T08:15:42.318Z'));
    expect(parseStartTime('2024-03-11 08:15:42')).toBe(Date.parse('2024-03-11T08:15:42Z'));
    expect(parseStartTime('2024-03-11T10:15:42+02:00')).toBe(Date.parse('2024-03-11T08:15:42Z'));
  });

  it('reads strftime formats given as the START_TIME argument', () => {
    expect(parseStartTime('2024-03-11T08:15:42Z', '%Y-%m-%dT%H:%M:%SZ')).toBe(Date.parse('2024-03-11T08:15:42Z'));
    expect(parseStartTime('1710144942.318', '%s.%3f')).toBe(Date.parse('2024-03-11T08:15:42.318Z'));
    expect(parseStartTime('11/Mar/2024:08:15:42 +0100', '%d/%b/%Y:%H:%M:%S %z')).toBe(Date.parse('2024-03-11T07:15:42Z'));
    expect(parseStartTime('2024-03-11 08:15:42.318123', '%F %T.%6f')).toBe(Date.parse('2024-03-11T08:15:42.318Z'));
    expect(parseStartTime('2024-03-11T08:15:42.318Z', '%Y-%m-%dT%H:%M:%E3SZ')).toBe(Date.parse('2024-03-11T08:15:42.318Z'));
  });

  it('reads epoch numbers in seconds and milliseconds', () => {
    expect(parseStartTime(1710144942)).toBe(1710144942000);
    expect(parseStartTime(1710144942318)).toBe(1710144942318);
  });

  it('returns undefined for things that are not times', () => {
    expect(parseStartTime('yesterday')).toBeUndefined();
    expect(parseStartTime('2024-13-45T99:99:99Z')).toBeUndefined();
    expect(parseStartTime('1')).toBeUndefined();
    expect(parseStartTime({})).toBeUndefined();
    expect(parseStartTime('x', '%Q')).toBeUndefined();
  });
});
