import { getPath } from '../common';
import { parseCef, parseCefExtension } from './cef';
import { panosParser } from './index';
import { fixtures, only, record } from './testdata/fixtures';

const fx = fixtures('cef.log');
const parse = panosParser.create();
const at = (ecs: unknown, p: string): unknown => getPath(ecs, p);

describe('parsers/panos > cef extension', () => {
  it('splits key=value pairs whose values contain spaces', () => {
    const m = parseCefExtension('cs1Label=Rule cs1=Service Apps src=10.0.0.1 duser= app=ssl');
    expect(Object.fromEntries(m)).toEqual({ cs1Label: 'Rule', cs1: 'Service Apps', src: '10.0.0.1', duser: '', app: 'ssl' });
  });

  it('unescapes \\= \\\\ \\| and newlines, and keeps an unescaped = inside a value', () => {
    const m = parseCefExtension('request=a.example/p?q\\=1 msg=x\\\\y\\|z\\nw url=http://h/p?a=b&c=d act=allow');
    expect(m.get('request')).toBe('a.example/p?q=1');
    expect(m.get('msg')).toBe('x\\y|z\nw');
    expect(m.get('url')).toBe('http://h/p?a=b&c=d');
    expect(m.get('act')).toBe('allow');
  });

  it('accepts dashed PAN-OS keys', () => {
    expect(parseCefExtension('PanOSX-Forwarded-ForIP=192.0.2.1 dvchost=fw').get('PanOSX-Forwarded-ForIP')).toBe('192.0.2.1');
  });

  it('splits the header with escaped pipes', () => {
    const r = parseCef('CEF:0|Palo Alto Networks|PAN-OS|10\\|1|end|TRAFFIC|1|src=10.1.1.1');
    expect(r).toMatchObject({ vendor: 'Palo Alto Networks', product: 'PAN-OS', deviceVersion: '10|1', classId: 'end', name: 'TRAFFIC', severity: '1' });
  });
});

describe('parsers/panos > traffic cef', () => {
  it('maps PAN-OS CEF traffic (subtype|type order, labelled custom fields) to the same ECS fields as CSV', () => {
    const ev = only(parse(record(fx['traffic']!)));
    expect(ev.kind).toBe('traffic');
    expect(ev.timestamp).toBe('2022-07-31T12:46:07.000Z');
    expect(ev.ecs).toMatchObject({
      event: {
        action: 'flow_terminated',
        outcome: 'success',
        created: '2022-07-31T12:46:24.000Z',
        start: '2022-07-31T12:43:09.000Z',
        end: '2022-07-31T12:46:07.000Z',
        duration: 178_000_000_000,
      },
      source: { ip: '10.30.8.21', port: 52066, nat: { ip: '203.0.113.40', port: 47252 }, bytes: 5651, packets: 13, user: { name: 'alice', domain: 'corp' } },
      destination: { ip: '142.250.74.110', port: 443, nat: { ip: '142.250.74.110', port: 443 }, bytes: 6852, packets: 11 },
      rule: { name: 'Service Apps', uuid: '2e259acc-c7ce-43d0-857f-f1a457e02699' },
      network: { transport: 'tcp', application: 'ssl', bytes: 12503, packets: 24 },
      observer: { serial_number: '016201034567', hostname: 'PA-3220-hq', ingress: { zone: 'trust', interface: { name: 'ethernet1/3' } }, egress: { zone: 'untrust' } },
      panw: { panos: { flow_id: '595456', endreason: 'tcp-fin', action_source: 'from-policy', virtual_sys: 'vsys1', log_profile: 'fwd-to-siem' } },
    });
    expect(ev.join).toMatchObject({ clientIp: '10.30.8.21', natClientIp: '203.0.113.40', serverPort: 443, sessionId: '595456' });
    expect(ev.claims.map((c) => c.subject)).toEqual(['corp\\alice']);
  });

  it('reads epoch-millisecond times and escaped header pipes', () => {
    const ev = only(parse(record(fx['escaped-pipe-header']!)));
    expect(ev.timestamp).toBe('2022-07-31T12:46:24.000Z');
    expect(at(ev.ecs, 'rule.name')).toBe('a\\b');
    expect(at(ev.ecs, 'event.start')).toBe('2022-07-31T12:46:19.000Z');
  });
});

describe('parsers/panos > threat cef', () => {
  it('maps PAN-OS CEF threat: URL from request, threat id from cat, blocked outcome', () => {
    const ev = only(parse(record(fx['threat']!)));
    expect(ev.kind).toBe('threat');
    expect(ev.ecs).toMatchObject({
      event: { action: 'url_filtering', outcome: 'failure', kind: 'alert', severity: 5 },
      url: { original: 'news.example.org/world/a.html?q=1&x=y', domain: 'news.example.org', path: '/world/a.html', query: 'q=1&x=y' },
      user: { name: 'bob', domain: 'corp.example' },
      network: { direction: 'inbound' },
      rule: { name: 'allow-web' },
      panw: { panos: { threat: { id: '9999', name: 'URL-filtering' }, url: { category: 'news' }, content_version: 'AppThreat-8650-7890' } },
    });
  });

  it('accepts the Cortex Data Lake type|subtype order, label aliases and dtz', () => {
    const ev = only(parse(record(fx['threat-lf-order']!)));
    expect(ev.timestamp).toBe('2021-03-01T20:48:16.000Z');
    expect(ev.ecs).toMatchObject({
      event: { action: 'spyware_detected', outcome: 'failure', severity: 3 },
      rule: { name: 'deny-attackers' },
      network: { direction: 'outbound', transport: 'udp' },
      observer: { ingress: { zone: 'trust' }, egress: { zone: 'untrust' } },
      panw: { panos: { virtual_sys: 'vsys1', threat: { id: '109001001', name: 'generic:bad-c2.example.ru' }, threat_category: 'dns-c2' } },
    });
    expect(ev.claims).toEqual([]);
  });

  it('maps other CEF log types with the common header only', () => {
    const ev = only(parse(record(fx['system']!)));
    expect(ev.kind).toBe('system');
    expect(ev.timestamp).toBe('2024-01-09T03:00:11.000Z');
    expect(at(ev.ecs, 'observer.serial_number')).toBe('016201034567');
  });

  it.each([
    ['other-vendor', 'unsupported_format'],
    ['short-header', 'wrong_field_count'],
    ['bad-src', 'invalid_field'],
  ])('rejects the %s record with %s', (name, code) => {
    const r = parse(record(fx[name]!));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.rejection.code).toBe(code);
  });

  it('honours format: csv and format: cef', () => {
    const csvOnly = panosParser.create({ format: 'csv' })(record(fx['traffic']!));
    expect(csvOnly).toEqual({ ok: false, rejection: expect.objectContaining({ code: 'unsupported_format' }) });
    const cefOnly = panosParser.create({ format: 'cef' })(record(fixtures('traffic.log')['classic-bare']!));
    expect(cefOnly).toEqual({ ok: false, rejection: expect.objectContaining({ code: 'unsupported_format' }) });
    expect(panosParser.create({ format: 'cef' })(record(fx['traffic']!)).ok).toBe(true);
  });
});
