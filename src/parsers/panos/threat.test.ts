import { getPath } from '../common';
import { panosParser } from './index';
import { fixtures, only, record } from './testdata/fixtures';

const fx = fixtures('threat.log');
const parse = panosParser.create();
const at = (ecs: unknown, p: string): unknown => getPath(ecs, p);

describe('parsers/panos > threat csv', () => {
  it('maps a classic 8.x url log: URL parts, threat pseudo-id 9999, blocked outcome', () => {
    const ev = only(parse(record(fx['url-classic']!)));
    expect(ev.kind).toBe('threat');
    expect(ev.timestamp).toBe('2022-11-03T09:12:55.000Z');
    expect(ev.ecs).toMatchObject({
      event: {
        kind: 'alert',
        category: ['intrusion_detection', 'threat', 'network'],
        action: 'url_filtering',
        outcome: 'failure',
        type: ['denied'],
        severity: 5,
      },
      url: {
        original: 'news.example.org:443/world/article.html?id=42',
        domain: 'news.example.org',
        port: 443,
        path: '/world/article.html',
        query: 'id=42',
        extension: 'html',
      },
      source: { ip: '10.20.1.77', port: 53311, nat: { ip: '198.51.100.7', port: 28801 }, user: { name: 'bsmith', domain: 'corp' } },
      destination: { ip: '151.101.1.69', port: 443 },
      user: { name: 'bsmith', domain: 'corp' },
      rule: { name: 'allow-web' },
      log: { level: 'informational' },
      network: { direction: 'inbound', transport: 'tcp', application: 'web-browsing' },
      http: { request: { method: 'get', referrer: 'https://www.example.com/' } },
      user_agent: { original: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)' },
      observer: { serial_number: '001801012345', hostname: 'PA-850-edge' },
      panw: { panos: { type: 'THREAT', sub_type: 'url', flow_id: '77120', threat: { id: '9999', name: 'URL-filtering' }, url: { category: 'news' } } },
    });
    expect(ev.join).toMatchObject({ clientIp: '10.20.1.77', serverIp: '151.101.1.69', sessionId: '77120' });
    expect(ev.join.startMs).toBe(Date.UTC(2022, 10, 3, 9, 12, 55));
    expect(ev.claims.map((c) => c.subject)).toEqual(['corp\\bsmith']);
  });

  it('maps an x-fwd-for source user to x_forwarded_for, not to a user or claim', () => {
    const ev = only(parse(record(fx['url-xfwd']!)));
    expect(at(ev.ecs, 'panw.panos.x_forwarded_for')).toBe('172.16.5.9');
    expect(at(ev.ecs, 'user')).toBeUndefined();
    expect(ev.claims).toEqual([]);
    expect(at(ev.ecs, 'event.outcome')).toBe('success');
    expect(at(ev.ecs, 'source.nat')).toBeUndefined();
    expect(at(ev.ecs, 'destination.nat')).toBeUndefined();
    expect(at(ev.ecs, 'url')).toEqual({ original: 'intranet.corp.example/login', domain: 'intranet.corp.example', path: '/login' });
    expect(at(ev.ecs, 'destination.domain')).toBe('intranet.corp.example');
    expect(at(ev.ecs, 'panw.panos.url_category_list')).toEqual(['low-risk', 'news']);
    expect(at(ev.ecs, 'rule.uuid')).toBe('8d1e2f3a-4b5c-4d6e-8f70-91a2b3c4d5e6');
    expect(ev.timestamp).toBe('2024-07-21T22:05:10.913Z');
  });

  it('maps a virus log: file name, threat name and id, reset-both denied', () => {
    const ev = only(parse(record(fx['virus']!)));
    expect(ev.ecs).toMatchObject({
      event: { action: 'virus_detected', outcome: 'failure', type: ['denied'], severity: 1 },
      file: { name: 'invoice_2024.zip', type: 'zip' },
      log: { level: 'critical' },
      network: { direction: 'outbound' },
      user: { name: 'dlee', domain: 'corp.example' },
      panw: {
        panos: {
          action: 'reset-both',
          threat: { id: '523111987', name: 'Trojan/Win32.agent.abcd' },
          threat_category: 'trojan',
          content_version: 'Antivirus-4811-5329',
        },
      },
    });
    expect(at(ev.ecs, 'url')).toBeUndefined();
  });

  it('maps a vulnerability log whose URL/Filename column is a URL', () => {
    const ev = only(parse(record(fx['vulnerability']!)));
    expect(at(ev.ecs, 'event.action')).toBe('exploit_detected');
    expect(at(ev.ecs, 'url.path')).toBe('/cgi-bin/test.cgi');
    expect(at(ev.ecs, 'url.query')).toBe('x=1');
    expect(at(ev.ecs, 'panw.panos.threat.name')).toBe('Bash Remote Code Execution Vulnerability');
    expect(at(ev.ecs, 'event.severity')).toBe(2);
  });

  it.each([
    ['spyware', 'spyware_detected', 'failure'],
    ['scan', 'scan_detected', 'failure'],
    ['file', 'file_match', 'success'],
    ['wildfire', 'wildfire_verdict', 'success'],
  ])('maps a %s log to event.action %s', (name, action, outcome) => {
    const ev = only(parse(record(fx[name]!)));
    expect(at(ev.ecs, 'event.action')).toBe(action);
    expect(at(ev.ecs, 'event.outcome')).toBe(outcome);
    expect(at(ev.ecs, 'panw.panos.sub_type')).toBe(name);
  });

  it('keeps subtype-specific details: spyware domain, scan without user, file path, wildfire hash', () => {
    const spy = only(parse(record(fx['spyware']!)));
    expect(at(spy.ecs, 'panw.panos.misc')).toBe('bad-c2.example.ru');
    expect(at(spy.ecs, 'panw.panos.threat.id')).toBe('109001001');
    const scan = only(parse(record(fx['scan']!)));
    expect(at(scan.ecs, 'rule.name')).toBeUndefined();
    expect(scan.claims).toEqual([]);
    expect(at(scan.ecs, 'panw.panos.threat')).toEqual({ id: '8001', name: 'TCP Port scan' });
    const file = only(parse(record(fx['file']!)));
    expect(at(file.ecs, 'file')).toEqual({ path: '/downloads/report.pdf', name: 'report.pdf', type: 'pdf' });
    const wf = only(parse(record(fx['wildfire']!)));
    expect(at(wf.ecs, 'file.name')).toBe('setup.exe');
    expect(at(wf.ecs, 'panw.panos.file.hash')).toMatch(/^9f86d081/);
  });
});
