import { eventId, getPath } from '../common';
import { panosParser } from './index';
import { fixtures, only, record } from './testdata/fixtures';

const fx = fixtures('traffic.log');
const parse = panosParser.create();
const at = (ecs: unknown, p: string): unknown => getPath(ecs, p);

describe('parsers/panos > traffic csv', () => {
  it('maps a classic PAN-OS 8.x TRAFFIC end row to ECS fields', () => {
    const ev = only(parse(record(fx['classic-bare']!)));
    expect(ev.source).toBe('panos');
    expect(ev.kind).toBe('traffic');
    expect(ev.timestamp).toBe('2023-02-10T08:15:41.000Z');
    expect(ev.ecs).toMatchObject({
      event: {
        kind: 'event',
        category: ['network'],
        type: ['allowed', 'end', 'connection'],
        action: 'flow_terminated',
        outcome: 'success',
        start: '2023-02-10T08:15:10.000Z',
        end: '2023-02-10T08:15:40.000Z',
        duration: 30_000_000_000,
        created: '2023-02-10T08:15:42.000Z',
      },
      source: {
        ip: '10.20.1.15',
        port: 51544,
        nat: { ip: '198.51.100.7', port: 40123 },
        bytes: 1024,
        packets: 9,
        user: { name: 'jdoe', domain: 'corp' },
      },
      destination: { ip: '93.184.216.34', port: 80, nat: { ip: '93.184.216.34', port: 80 }, bytes: 3805, packets: 9 },
      user: { name: 'jdoe', domain: 'corp' },
      rule: { name: 'allow-web' },
      network: { transport: 'tcp', application: 'web-browsing', bytes: 4829, packets: 18, type: 'ipv4' },
      observer: {
        vendor: 'Palo Alto Networks',
        product: 'PAN-OS',
        type: 'firewall',
        serial_number: '001801012345',
        hostname: 'PA-850-edge',
        ingress: { zone: 'trust', interface: { name: 'ethernet1/2' } },
        egress: { zone: 'untrust', interface: { name: 'ethernet1/1' } },
      },
      panw: { panos: { type: 'TRAFFIC', sub_type: 'end', flow_id: '81234', endreason: 'tcp-fin', action: 'allow', repeat_count: 1 } },
    });
    expect(at(ev.ecs, 'rule.uuid')).toBeUndefined();
  });

  it('gives the raw record ref and a deterministic event id', () => {
    const raw = record(fx['classic-bare']!, 7);
    const ev = only(parse(raw));
    expect(ev.ref).toEqual(raw.ref);
    expect(ev.id).toBe(eventId(raw));
    expect(only(parse(record(fx['classic-bare']!, 7))).id).toBe(ev.id);
  });

  it('offers addresses, NAT, session id and the session span as join keys', () => {
    const ev = only(parse(record(fx['classic-bare']!)));
    const start = Date.UTC(2023, 1, 10, 8, 15, 10);
    expect(ev.join).toEqual({
      clientIp: '10.20.1.15',
      clientPort: 51544,
      natClientIp: '198.51.100.7',
      natClientPort: 40123,
      serverIp: '93.184.216.34',
      serverPort: 80,
      natServerIp: '93.184.216.34',
      natServerPort: 80,
      sessionId: '81234',
      startMs: start,
      endMs: start + 30_000,
    });
  });

  it('records the User-ID source user as an unverifiable network claim', () => {
    const ev = only(parse(record(fx['classic-bare']!)));
    expect(ev.claims).toEqual([
      { method: 'firewall_userid', subject: 'corp\\jdoe', source: 'panos', strength: 'network', verdict: 'unverifiable', eventId: ev.id },
    ]);
  });

  it('makes no claim from an x-fwd-for source user and keeps the address as x_forwarded_for', () => {
    const ev = only(parse(record(fx['xfwd-user']!)));
    expect(ev.claims).toEqual([]);
    expect(at(ev.ecs, 'user')).toBeUndefined();
    expect(at(ev.ecs, 'source.user')).toBeUndefined();
    expect(at(ev.ecs, 'panw.panos.x_forwarded_for')).toBe('192.0.2.44');
  });

  it('applies tzOffset to the zone-less CSV times', () => {
    const ev = only(panosParser.create({ tzOffset: '+09:30' })(record(fx['classic-bare']!)));
    expect(ev.timestamp).toBe('2023-02-09T22:45:41.000Z');
    expect(at(ev.ecs, 'event.start')).toBe('2023-02-09T22:45:10.000Z');
    expect(at(ev.ecs, 'event.timezone')).toBe('+09:30');
    expect(ev.join.startMs).toBe(Date.UTC(2023, 1, 9, 22, 45, 10));
    const west = only(panosParser.create({ tzOffset: '-05:00' })(record(fx['classic-bare']!)));
    expect(west.timestamp).toBe('2023-02-10T13:15:41.000Z');
  });

  it.each([
    ['classic-bsd-host'],
    ['classic-bsd-nohost'],
    ['classic-pri-bsd'],
    ['classic-rfc5424'],
    ['classic-rfc5424-sd'],
    ['classic-rfc3339-host'],
  ])('strips the %s syslog header and parses the same row', (name) => {
    const bare = only(parse(record(fx['classic-bare']!)));
    const ev = only(parse(record(fx[name]!)));
    expect(ev.ecs).toEqual(bare.ecs);
    expect(ev.timestamp).toBe(bare.timestamp);
  });

  it('handles a space-padded BSD day', () => {
    const ev = only(parse(record(fx['classic-bsd-padded-day']!)));
    expect(ev.timestamp).toBe('2023-02-01T08:15:41.000Z');
    expect(at(ev.ecs, 'observer.hostname')).toBe('PA-850-edge');
  });

  it('maps deny and drop subtypes to denied flows with a failure outcome', () => {
    const deny = only(parse(record(fx['classic-deny']!)));
    expect(at(deny.ecs, 'event.action')).toBe('flow_denied');
    expect(at(deny.ecs, 'event.outcome')).toBe('failure');
    expect(at(deny.ecs, 'event.type')).toEqual(['denied', 'connection']);
    // natsrc 0.0.0.0 with port 0 means no translation
    expect(at(deny.ecs, 'source.nat')).toBeUndefined();
    expect(deny.join.natClientIp).toBeUndefined();
    expect(deny.claims).toEqual([]);
    const drop = only(parse(record(fx['classic-drop-icmp']!)));
    expect(at(drop.ecs, 'event.action')).toBe('flow_dropped');
    expect(at(drop.ecs, 'network.transport')).toBe('icmp');
    expect(at(drop.ecs, 'source.port')).toBe(0);
  });

  it('maps a start log to flow_started', () => {
    const ev = only(parse(record(fx['classic-start']!)));
    expect(at(ev.ecs, 'event.action')).toBe('flow_started');
    expect(at(ev.ecs, 'event.type')).toEqual(['allowed', 'start', 'connection']);
    expect(ev.join.startMs).toBe(ev.join.endMs);
  });

  it('maps the newer 10.x/11.x layout: rule uuid, high-resolution time, users, app metadata', () => {
    const ev = only(parse(record(fx['modern']!)));
    expect(ev.timestamp).toBe('2024-05-02T15:40:03.482Z');
    expect(ev.ecs).toMatchObject({
      rule: { name: 'Service-Apps', uuid: '3c7d4e21-9b8a-4f0e-a1d2-6e5f4c3b2a10' },
      source: { ip: '10.30.8.21', port: 60112, user: { name: 'alice', domain: 'corp.example' } },
      destination: { ip: '142.250.74.110', port: 443, user: { name: 'host/db-7.corp.example' } },
      user: { name: 'alice', domain: 'corp.example' },
      network: { application: 'ssl', forwarded_ip: '192.0.2.99' },
      event: { start: '2024-05-02T17:36:03.000Z', end: '2024-05-02T17:40:03.000Z', duration: 240_000_000_000 },
      panw: {
        panos: {
          endreason: 'tcp-rst-from-server',
          high_resolution_timestamp: '2024-05-02T15:40:03.482Z',
          application: { risk_level: 4, category: 'networking', is_saas: 'no', tunneled: 'ssl' },
        },
      },
      related: { ip: ['10.30.8.21', '142.250.74.110', '203.0.113.40'], user: ['alice', 'host/db-7.corp.example'] },
    });
    expect(ev.claims.map((c) => c.subject)).toEqual(['alice@corp.example']);
  });

  it('keeps columns aligned when Link Switches holds an unquoted brace list with commas', () => {
    const ev = only(parse(record(fx['modern-link-switches']!)));
    const modern = only(parse(record(fx['modern']!)));
    expect(at(ev.ecs, 'network.forwarded_ip')).toBe('192.0.2.99');
    expect(ev.timestamp).toBe(modern.timestamp);
    expect(at(ev.ecs, 'panw.panos.application')).toEqual(at(modern.ecs, 'panw.panos.application'));
  });

  it('accepts IPv6 addresses and reports network.type ipv6', () => {
    const ev = only(parse(record(fx['modern-ipv6']!)));
    expect(at(ev.ecs, 'source.ip')).toBe('2001:db8:10::15');
    expect(at(ev.ecs, 'destination.ip')).toBe('2606:4700::6810:84e5');
    expect(at(ev.ecs, 'network.type')).toBe('ipv6');
    expect(at(ev.ecs, 'source.nat')).toBeUndefined();
  });

  it('unquotes a quoted rule name with commas and doubled quotes', () => {
    const ev = only(parse(record(fx['quoted-rule']!)));
    expect(at(ev.ecs, 'rule.name')).toBe('outbound "legacy", temp');
    expect(at(ev.ecs, 'network.application')).toBe('web-browsing');
  });

  it('tolerates a trailing CRLF and leading whitespace', () => {
    const ev = only(parse(record(`  ${fx['classic-bare']!}\r\n`)));
    expect(at(ev.ecs, 'source.ip')).toBe('10.20.1.15');
  });

  it('treats subtypes named like Object.prototype members as unknown subtypes', () => {
    for (const sub of ['constructor', '__proto__', 'toString']) {
      const cols = fx['classic-bare']!.split(',');
      cols[4] = sub;
      const ev = only(parse(record(cols.join(','))));
      expect(at(ev.ecs, 'event.action')).toBeUndefined();
      expect(at(ev.ecs, 'event.type')).toEqual(['allowed']);
      expect(at(ev.ecs, 'panw.panos.sub_type')).toBe(sub);
    }
  });
});
