import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../../errors';
import type { ParsedEvent, ParseRejection, RawRecord } from '../../model/events';
import { eventId, getPath, sha256Hex } from '../common';
import { ISTIO_TEXT_FORMAT_PRE_1_24, envoyParser, type EnvoyOptions } from './index';

const TESTDATA = path.join(__dirname, 'testdata');
const lines = (file: string): string[] =>
  fs.readFileSync(path.join(TESTDATA, file), 'utf8').split('\n').filter((l) => l.trim() !== '');
const formats = JSON.parse(fs.readFileSync(path.join(TESTDATA, 'formats.json'), 'utf8')) as {
  identityText: string;
  b3Text: string;
  customJson: Record<string, string>;
};

const rawOf = (line: string, ref: Partial<RawRecord['ref']> = {}): RawRecord => ({
  value: Buffer.from(line),
  ref: { source: 'envoy', file: 'test.log', line: 1, ...ref },
  receivedAtMs: Date.parse('2024-05-01T00:00:00Z'),
});

function parseOne(line: string, options?: Partial<EnvoyOptions> & { format?: string }): ParsedEvent {
  const r = envoyParser.create(options)(rawOf(line));
  if (!r.ok) throw new Error(`rejected: ${r.rejection.code}: ${r.rejection.reason}`);
  expect(r.events).toHaveLength(1);
  return r.events[0]!;
}

function rejectOne(line: string | Buffer, options?: Partial<EnvoyOptions> & { format?: string }): ParseRejection {
  const r = envoyParser.create(options)({ ...rawOf(''), value: typeof line === 'string' ? Buffer.from(line) : line });
  if (r.ok) throw new Error(`expected a rejection, got ${JSON.stringify(r.events[0]?.ecs)}`);
  return r.rejection;
}

const at = (ev: ParsedEvent, p: string): unknown => getPath(ev.ecs, p);

describe('parsers/envoy > factory', () => {
  it('declares type envoy and the auto, json and text formats with auto first', () => {
    expect(envoyParser.type).toBe('envoy');
    expect([...envoyParser.formats]).toEqual(['auto', 'json', 'text']);
  });

  it('rejects a bad option at create time with a ConfigError naming the key', () => {
    expect(() => envoyParser.create({ format: 'xml' } as never)).toThrow(ConfigError);
    expect(() => envoyParser.create({ format: 'xml' } as never)).toThrow(/envoy\.format/);
    expect(() => envoyParser.create({ textFormat: '' })).toThrow(/envoy\.textFormat/);
    expect(() => envoyParser.create({ jsonFormat: { tp: 'REQ(TRACEPARENT)' } })).toThrow(/envoy\.jsonFormat\.tp/);
    expect(() => envoyParser.create({ jwtPayloadHeader: 3 as unknown as string })).toThrow(/jwtPayloadHeader/);
  });

  it('uses the shared eventId of the raw record, so the same bytes give the same id', () => {
    const line = lines('istio-json.log')[0]!;
    const p = envoyParser.create();
    const a = p(rawOf(line));
    const b = p(rawOf(line));
    expect(a.ok && b.ok && a.events[0]!.id === b.events[0]!.id).toBe(true);
    const kafka: RawRecord = { ...rawOf(line), ref: { source: 'envoy', topic: 't', partition: 0, offset: '1' } };
    const k = p(kafka);
    expect(k.ok).toBe(true);
    if (!k.ok) return;
    expect(k.events[0]!.id).toBe(eventId(kafka));
    expect(k.events[0]!.ref).toEqual({ source: 'envoy', topic: 't', partition: 0, offset: '1' });
  });
});

describe('parsers/envoy > istio json', () => {
  const [outbound, failed, inbound6, tcp] = lines('istio-json.log') as [string, string, string, string];

  it('maps an outbound entry to source, destination, http, url, trace-less join keys and envoy extras', () => {
    const ev = parseOne(outbound);
    expect(ev.source).toBe('envoy');
    expect(ev.kind).toBe('access_log');
    expect(ev.timestamp).toBe('2024-03-11T08:15:42.318Z');
    expect(ev.ref).toEqual({ source: 'envoy', file: 'test.log', line: 1 });
    expect(at(ev, 'source.ip')).toBe('10.244.3.17');
    expect(at(ev, 'source.port')).toBe(51234);
    expect(at(ev, 'destination.ip')).toBe('10.244.1.9');
    expect(at(ev, 'destination.port')).toBe(8080);
    expect(at(ev, 'destination.domain')).toBe('orders.shop.svc.cluster.local');
    expect(at(ev, 'service.target.name')).toBe('orders');
    expect(at(ev, 'network.direction')).toBe('egress');
    expect(at(ev, 'client.ip')).toBe('198.51.100.23');
    expect(at(ev, 'http.request.method')).toBe('POST');
    expect(at(ev, 'http.version')).toBe('2');
    expect(at(ev, 'http.response.status_code')).toBe(201);
    expect(at(ev, 'http.request.id')).toBe('4c1e8a3b-7f0d-4e5a-9b6c-2d8e1f0a9b7c');
    expect(at(ev, 'url.path')).toBe('/api/v1/orders');
    expect(at(ev, 'url.query')).toBe('expand=items');
    expect(at(ev, 'url.domain')).toBe('orders.shop.svc.cluster.local:8080');
    expect(at(ev, 'user_agent.original')).toBe('orders-client/2.4 (go)');
    expect(at(ev, 'event.outcome')).toBe('success');
    expect(at(ev, 'event.duration')).toBe(27_000_000);
    expect(at(ev, 'network.transport')).toBe('tcp');
    expect(at(ev, 'envoy.upstream_service_time')).toBe(25);
    expect(at(ev, 'envoy.upstream_cluster')).toBe('outbound|8080|v2|orders.shop.svc.cluster.local');
    expect(at(ev, 'envoy.route_name')).toBe('default');
    expect(at(ev, 'envoy.response_flags')).toBeUndefined();
    expect(ev.join).toEqual({
      requestId: '4c1e8a3b-7f0d-4e5a-9b6c-2d8e1f0a9b7c',
      clientIp: '198.51.100.23',
      serverIp: '10.96.14.20',
      serverPort: 8080,
      method: 'POST',
      path: '/api/v1/orders',
      startMs: Date.parse('2024-03-11T08:15:42.318Z'),
      endMs: Date.parse('2024-03-11T08:15:42.318Z') + 27,
    });
    expect(ev.claims).toEqual([]);
    expect(ev.tokens).toBeUndefined();
  });

  it('maps BYTES_RECEIVED to the request side and BYTES_SENT to the response side', () => {
    const ev = parseOne(outbound);
    expect(at(ev, 'http.request.body.bytes')).toBe(412);
    expect(at(ev, 'source.bytes')).toBe(412);
    expect(at(ev, 'http.response.body.bytes')).toBe(1290);
    expect(at(ev, 'destination.bytes')).toBe(1290);
  });

  it('treats null and "-" values as absent and marks a flagged 503 as a failure', () => {
    const ev = parseOne(failed);
    expect(at(ev, 'event.outcome')).toBe('failure');
    expect(at(ev, 'envoy.response_flags')).toBe('UF,URX');
    expect(at(ev, 'destination.ip')).toBeUndefined();
    expect(at(ev, 'user_agent')).toBeUndefined();
    expect(at(ev, 'client')).toBeUndefined();
    expect(at(ev, 'envoy.upstream_service_time')).toBeUndefined();
    expect(at(ev, 'envoy.upstream_transport_failure_reason')).toBeUndefined();
    expect(JSON.stringify(ev.ecs)).not.toContain('null');
    expect(ev.join.clientIp).toBe('10.244.3.17');
    expect(ev.join.clientPort).toBe(51300);
  });

  it('reads a bracketed IPv6 peer and names the local service of an inbound entry from its SNI', () => {
    const ev = parseOne(inbound6);
    expect(at(ev, 'source.ip')).toBe('fd00:10:244::1f');
    expect(at(ev, 'source.port')).toBe(39000);
    expect(at(ev, 'service.name')).toBe('catalog');
    expect(at(ev, 'network.direction')).toBe('ingress');
    expect(at(ev, 'tls.client.server_name')).toBe('outbound_.8080_._.catalog.shop.svc.cluster.local');
    expect(ev.join.clientIp).toBe('fd00:10:244::1f');
  });

  it('makes a TCP entry (no method, path or protocol) a tcp event with network category', () => {
    const ev = parseOne(tcp);
    expect(ev.kind).toBe('tcp');
    expect(at(ev, 'event.category')).toEqual(['network']);
    expect(at(ev, 'event.outcome')).toBe('success');
    expect(at(ev, 'http')).toBeUndefined();
    expect(at(ev, 'source.bytes')).toBe(1534);
    expect(at(ev, 'destination.bytes')).toBe(8812);
    expect(at(ev, 'service.target.name')).toBe('postgres');
  });

  it('accepts numbers written as strings', () => {
    const ev = parseOne('{"start_time":"2024-03-11T08:15:42Z","method":"GET","path":"/x","protocol":"HTTP/1.1","response_code":"404","bytes_sent":"12","duration":"3"}');
    expect(at(ev, 'http.response.status_code')).toBe(404);
    expect(at(ev, 'http.response.body.bytes')).toBe(12);
    expect(at(ev, 'event.duration')).toBe(3_000_000);
  });
});

describe('parsers/envoy > istio text', () => {
  const [inbound6, outboundXff, tlsFailure, tcp] = lines('istio-text.log') as [string, string, string, string];

  it('parses an inbound entry with an IPv6 downstream peer', () => {
    const ev = parseOne(inbound6);
    expect(at(ev, 'envoy.log_format')).toBe('istio_text');
    expect(ev.timestamp).toBe('2024-03-11T09:00:01.120Z');
    expect(at(ev, 'source.ip')).toBe('fd00:10:244::2a');
    expect(at(ev, 'source.port')).toBe(44120);
    expect(at(ev, 'destination.ip')).toBe('10.244.4.4');
    expect(at(ev, 'service.name')).toBe('inventory');
    expect(at(ev, 'user_agent.original')).toBe('python-requests/2.31.0');
    expect(at(ev, 'envoy.upstream_local_address')).toBe('127.0.0.6:52001');
    expect(ev.join).toMatchObject({ serverIp: '10.244.4.4', serverPort: 8080, requestId: '5e0c9a7d-1b2c-4d3e-8f9a-0b1c2d3e4f50' });
  });

  it('takes the client from the first X-Forwarded-For hop, keeps the peer as source and redacts secrets in the query', () => {
    const ev = parseOne(outboundXff);
    expect(at(ev, 'source.ip')).toBe('10.244.3.3');
    expect(at(ev, 'client.ip')).toBe('203.0.113.50');
    expect(at(ev, 'envoy.x_forwarded_for')).toBe('203.0.113.50, 10.244.0.1');
    expect(ev.join.clientIp).toBe('203.0.113.50');
    expect(ev.join.clientPort).toBeUndefined();
    expect(ev.join.path).toBe('/checkout');
    expect(at(ev, 'url.path')).toBe('/checkout');
    expect(at(ev, 'url.query')).toBe('session=REDACTED&access_token=REDACTED');
    expect(JSON.stringify(ev.ecs)).not.toContain('s3cr3t-value');
    expect(at(ev, 'user_agent.original')).toBe('Mozilla/5.0 (X11; Linux x86_64) Firefox/123.0');
    expect(at(ev, 'service.target.name')).toBe('frontend');
  });

  it('keeps a quoted transport failure reason with spaces and a "-" service time as absent', () => {
    const ev = parseOne(tlsFailure);
    expect(at(ev, 'envoy.upstream_transport_failure_reason')).toBe(
      'TLS error: 268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED',
    );
    expect(at(ev, 'envoy.upstream_service_time')).toBeUndefined();
    expect(at(ev, 'envoy.route_name')).toBeUndefined();
    expect(at(ev, 'event.outcome')).toBe('failure');
    expect(at(ev, 'http.response.status_code')).toBe(503);
  });

  it('parses a TCP proxy entry ("- - -") as kind tcp', () => {
    const ev = parseOne(tcp);
    expect(ev.kind).toBe('tcp');
    expect(at(ev, 'source.bytes')).toBe(2048);
    expect(at(ev, 'destination.bytes')).toBe(512);
    expect(at(ev, 'event.duration')).toBe(1_500_000_000);
    expect(at(ev, 'url')).toBeUndefined();
  });

  it('parses the pre-1.24 format (UPSTREAM_CLUSTER) with the same field positions', () => {
    const a = parseOne(inbound6);
    const b = parseOne(inbound6, { textFormat: ISTIO_TEXT_FORMAT_PRE_1_24 });
    expect(b.ecs).toEqual({ ...a.ecs, envoy: { ...(a.ecs['envoy'] as object), log_format: 'istio_text' } });
  });

  it('marks a local error reply (response_code_details other than via_upstream) as a failure', () => {
    const line =
      '[2024-03-11T09:00:05.000Z] "GET /admin HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "-" "curl/8.6.0" "x-1" "admin:80" "-" inbound|80|| - 10.244.4.4:80 10.244.3.3:50010 - default';
    expect(at(parseOne(line), 'event.outcome')).toBe('failure');
    const relayed = line.replace('rbac_access_denied_matched_policy[none]', 'via_upstream');
    expect(at(parseOne(relayed), 'event.outcome')).toBe('success');
  });
});

describe('parsers/envoy > envoy default text', () => {
  const [http, tcp, noUpstream, ambassador, k8s, docker] = lines('envoy-text.log') as [string, string, string, string, string, string];

  it('parses Envoy’s own default format, taking the source from X-Forwarded-For', () => {
    const ev = parseOne(http);
    expect(at(ev, 'envoy.log_format')).toBe('envoy_text');
    expect(at(ev, 'source.ip')).toBe('192.0.2.44');
    expect(at(ev, 'destination.ip')).toBe('172.20.0.5');
    expect(at(ev, 'destination.port')).toBe(8000);
    expect(at(ev, 'url.domain')).toBe('edge.example.test');
    expect(at(ev, 'envoy.upstream_service_time')).toBe(2);
    expect(ev.join.clientIp).toBe('192.0.2.44');
    expect(ev.join.serverIp).toBeUndefined();
  });

  it('parses a TCP entry with the Envoy byte directions', () => {
    const ev = parseOne(tcp);
    expect(ev.kind).toBe('tcp');
    expect(at(ev, 'source.bytes')).toBe(1200);
    expect(at(ev, 'destination.bytes')).toBe(3400);
    expect(at(ev, 'event.action')).toBe('tcp_connection');
  });

  it('omits the destination address when the upstream host is "-"', () => {
    const ev = parseOne(noUpstream);
    expect(at(ev, 'destination.ip')).toBeUndefined();
    expect(at(ev, 'http.version')).toBe('2');
    expect(at(ev, 'http.request.method')).toBe('DELETE');
  });

  it('accepts the Ambassador ACCESS prefix', () => {
    const ev = parseOne(ambassador);
    expect(at(ev, 'envoy.log_type')).toBe('ACCESS');
    expect(at(ev, 'url.path')).toBe('/ambassador/route');
    expect(ev.timestamp).toBe('2024-02-01T12:00:03.400Z');
  });

  it('unwraps a Kubernetes container-log JSON and keeps its pod metadata', () => {
    const ev = parseOne(k8s);
    expect(at(ev, 'http.request.method')).toBe('PUT');
    expect(at(ev, 'http.response.status_code')).toBe(204);
    expect(at(ev, 'envoy.log_type')).toBe('ACCESS');
    expect(at(ev, 'kubernetes.namespace')).toBe('edge');
    expect(at(ev, 'kubernetes.pod.name')).toBe('emissary-6d9f7c-abcde');
    expect(at(ev, 'kubernetes.container.name')).toBe('emissary');
    expect(ev.timestamp).toBe('2024-02-01T12:00:04.500Z');
  });

  it('unwraps a Docker {"log": ...} line with its trailing newline', () => {
    const ev = parseOne(docker);
    expect(at(ev, 'url.path')).toBe('/docker/wrapped');
    expect(at(ev, 'kubernetes')).toBeUndefined();
  });

  it('parses several newline-separated lines in one record into one event each', () => {
    const r = envoyParser.create()(rawOf(`${http}\n${tcp}\n\n${ambassador}\n`));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.events.map((e) => e.kind)).toEqual(['access_log', 'tcp', 'access_log']);
    expect(new Set(r.events.map((e) => e.id)).size).toBe(3);
    expect(r.events[2]!.ref.index).toBe(2);
  });
});

describe('parsers/envoy > custom text formats', () => {
  const [spiffeAndPayload, bearer, basic] = lines('identity-text.log') as [string, string, string];
  const jwt = bearer.match(/Bearer ([^"]+)/)![1]!;
  const opts = { textFormat: formats.identityText };

  it('reads traceparent, a custom START_TIME format, a SPIFFE peer and the jwt payload header', () => {
    const ev = parseOne(spiffeAndPayload, opts);
    expect(at(ev, 'envoy.log_format')).toBe('custom_text');
    expect(ev.timestamp).toBe('2024-03-12T10:20:30.000Z');
    expect(ev.join.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(ev.join.spanId).toBe('00f067aa0ba902b7');
    expect(at(ev, 'trace.id')).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(at(ev, 'span.id')).toBe('00f067aa0ba902b7');
    expect(at(ev, 'user_agent.original')).toBe('Mozilla/5.0 (X11; Linux x86_64) Firefox/1');
    expect(at(ev, 'tls.client.x509.alternative_names')).toEqual(['spiffe://cluster.local/ns/shop/sa/frontend']);
    expect(ev.claims).toEqual([
      {
        method: 'spiffe',
        subject: 'spiffe://cluster.local/ns/shop/sa/frontend',
        source: 'envoy',
        strength: 'mtls',
        verdict: 'trusted_upstream',
        eventId: ev.id,
      },
      {
        method: 'jwt_payload',
        subject: 'user-1234',
        issuer: 'https://issuer.auditmesh.test',
        email: 'alice@corp.test',
        groups: ['admins', 'dev'],
        scopes: ['orders:read', 'orders:write'],
        audience: ['orders-api'],
        expiresAt: '2030-01-01T00:00:00.000Z',
        source: 'envoy',
        strength: 'jwt',
        verdict: 'trusted_upstream',
        eventId: ev.id,
      },
    ]);
    expect(at(ev, 'user.id')).toBe('user-1234');
    expect(at(ev, 'user.email')).toBe('alice@corp.test');
    expect(ev.tokens).toBeUndefined();
  });

  it('hands a bearer token to identity via tokens, keeps only its hash, and never puts it in ECS or claims', () => {
    const ev = parseOne(bearer, opts);
    expect(ev.tokens).toEqual([jwt]);
    const claim = ev.claims.find((c) => c.method === 'jwt')!;
    expect(claim).toEqual({ method: 'jwt', subject: 'bob-5678', source: 'envoy', strength: 'jwt', tokenSha256: sha256Hex(jwt), eventId: ev.id });
    expect(claim.verdict).toBeUndefined();
    expect(JSON.stringify(ev.ecs)).not.toContain(jwt);
    expect(JSON.stringify(ev.claims)).not.toContain(jwt);
    for (const part of jwt.split('.')) {
      expect(JSON.stringify(ev.ecs)).not.toContain(part);
      expect(JSON.stringify(ev.claims)).not.toContain(part);
    }
    expect(ev.join.traceId).toBeUndefined();
  });

  it('decodes a padded standard-base64 payload header and picks the SPIFFE id out of several SANs', () => {
    const ev = parseOne(bearer, opts);
    const spiffe = ev.claims.filter((c) => c.method === 'spiffe');
    expect(spiffe.map((c) => c.subject)).toEqual(['spiffe://cluster.local/ns/shop/sa/batch']);
    const payload = ev.claims.find((c) => c.method === 'jwt_payload')!;
    expect(payload).toMatchObject({ subject: 'svc-batch', audience: ['a', 'b'], scopes: ['x', 'y'], verdict: 'trusted_upstream' });
  });

  it('ignores a Basic Authorization header and records an undecodable payload header as malformed', () => {
    const ev = parseOne(basic, opts);
    expect(ev.tokens).toBeUndefined();
    expect(ev.claims).toEqual([
      {
        method: 'jwt_payload',
        subject: '',
        source: 'envoy',
        strength: 'jwt',
        verdict: 'malformed',
        reason: 'logged JWT payload header is not base64url-encoded JSON',
        eventId: ev.id,
      },
    ]);
    expect(JSON.stringify(ev)).not.toContain('dXNlcjpwYXNz');
  });

  it('uses a configured payload header name', () => {
    const fmt = '[%START_TIME%] %REQ(:METHOD)% %RESPONSE_CODE% %REQ(X-Auth-Claims)%';
    const payload = Buffer.from(JSON.stringify({ sub: 'frank', iss: 'idp' })).toString('base64url');
    const ev = parseOne(`[2024-03-12T10:20:30.000Z] GET 200 ${payload}`, { textFormat: fmt, jwtPayloadHeader: 'x-auth-claims' });
    expect(ev.claims).toMatchObject([{ method: 'jwt_payload', subject: 'frank', issuer: 'idp' }]);
  });

  describe('b3 and dynamic metadata', () => {
    const [multi, single, traceOp] = lines('b3-text.log') as [string, string, string];
    const b3 = { textFormat: formats.b3Text };

    it('left-pads 64-bit B3 trace ids and reads span and parent ids; an unknown operator is ignored', () => {
      const ev = parseOne(multi, b3);
      expect(ev.join.traceId).toBe('0000000000000000a3ce929d0e0e4736');
      expect(ev.join.spanId).toBe('00f067aa0ba902b7');
      expect(ev.join.parentSpanId).toBe('0020000000000001');
      expect(ev.timestamp).toBe('2024-03-12T10:20:30.125Z');
      expect(JSON.stringify(ev.ecs)).not.toContain('whatever');
    });

    it('reads the single b3 header and a jwt_authn metadata JSON containing spaces', () => {
      const ev = parseOne(single, b3);
      expect(ev.join.traceId).toBe('80f198ee56343ba864fe8b2a57d3eff7');
      expect(ev.join.spanId).toBe('e457b5a2e4d86bd1');
      expect(ev.join.parentSpanId).toBe('05e3ac9a4f6e3b90');
      expect(ev.claims).toMatchObject([{ method: 'jwt_payload', subject: 'carol 9', scopes: ['a', 'b'], verdict: 'trusted_upstream' }]);
    });

    it('reads %TRACE_ID% and jwt_authn metadata keyed by the filter namespace', () => {
      const ev = parseOne(traceOp, b3);
      expect(ev.join.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
      expect(ev.join.spanId).toBeUndefined();
      expect(ev.claims).toMatchObject([{ method: 'jwt_payload', subject: 'dave' }]);
    });
  });
});

describe('parsers/envoy > custom json formats', () => {
  const [withIdentity, b3AndMetadata, customKeys] = lines('custom-json.log') as [string, string, string];

  it('reads traceparent, peer_principal, x_jwt_payload and a bearer authorization key', () => {
    const ev = parseOne(withIdentity);
    expect(ev.join.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(ev.join.spanId).toBe('b7ad6b7169203331');
    expect(ev.claims.map((c) => c.method)).toEqual(['spiffe', 'jwt_payload', 'jwt']);
    expect(ev.claims[0]!.subject).toBe('spiffe://cluster.local/ns/reports/sa/reporter');
    expect(ev.claims[1]!.subject).toBe('user-1234');
    expect(ev.claims[2]!.subject).toBe('bob-5678');
    const token = JSON.parse(withIdentity).authorization.slice('Bearer '.length) as string;
    expect(ev.tokens).toEqual([token]);
    expect(JSON.stringify(ev.ecs)).not.toContain(token);
    expect(JSON.stringify(ev.claims)).not.toContain(token);
  });

  it('reads 64-bit x_b3 ids and a jwt_authn metadata object', () => {
    const ev = parseOne(b3AndMetadata);
    expect(ev.join.traceId).toBe('0000000000000000a3ce929d0e0e4736');
    expect(ev.join.spanId).toBe('00f067aa0ba902b7');
    expect(ev.claims).toMatchObject([{ method: 'jwt_payload', subject: 'erin', groups: ['auditors'], scopes: ['reports:read'] }]);
    expect(at(ev, 'http.response.status_code')).toBe(200);
  });

  it('maps keys declared in jsonFormat, including nested keys and an epoch START_TIME', () => {
    const ev = parseOne(customKeys, { jsonFormat: formats.customJson });
    expect(ev.timestamp).toBe('2024-03-12T11:00:02.000Z');
    expect(at(ev, 'http.request.method')).toBe('PATCH');
    expect(at(ev, 'url.path')).toBe('/custom/keys');
    expect(at(ev, 'http.response.status_code')).toBe(204);
    expect(at(ev, 'source.ip')).toBe('10.244.3.10');
    expect(ev.join.traceId).toBe('11111111111111111111111111111111');
    expect(ev.claims.map((c) => [c.method, c.subject])).toEqual([
      ['spiffe', 'spiffe://cluster.local/ns/ops/sa/admin'],
      ['jwt_payload', 'svc-batch'],
    ]);
  });

  it('rejects the same custom line as unsupported without jsonFormat', () => {
    expect(rejectOne(customKeys).code).toBe('unsupported_format');
  });

  it('falls back to the receive time when a JSON line has no start_time', () => {
    const ev = parseOne('{"method":"GET","path":"/","response_code":200}');
    expect(ev.timestamp).toBe('2024-05-01T00:00:00.000Z');
    expect(at(ev, 'envoy.timestamp_source')).toBe('received');
  });
});

describe('parsers/envoy > forced formats', () => {
  it('with format json rejects a text line as invalid JSON', () => {
    expect(rejectOne(lines('envoy-text.log')[0]!, { format: 'json' }).code).toBe('invalid_json');
  });

  it('with format text rejects a JSON line as an unsupported text format', () => {
    expect(rejectOne(lines('istio-json.log')[0]!, { format: 'text' }).code).toBe('unsupported_format');
  });
});
