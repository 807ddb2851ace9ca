import { getPath } from '../common';
import { panosParser } from './index';
import { fixtures, only, record } from './testdata/fixtures';

const fx = fixtures('globalprotect.log');
const parse = panosParser.create();
const at = (ecs: unknown, p: string): unknown => getPath(ecs, p);

describe('parsers/panos > globalprotect csv', () => {
  it('maps a gateway-auth login: tunnel address as source, public address as its NAT, host details', () => {
    const ev = only(parse(record(fx['gateway-auth']!)));
    expect(ev.kind).toBe('globalprotect');
    // the high-resolution timestamp carries its own zone
    expect(ev.timestamp).toBe('2023-06-19T21:45:10.337Z');
    expect(ev.ecs).toMatchObject({
      event: { kind: 'event', category: ['network'], code: 'gateway-auth', outcome: 'success', duration: 0 },
      source: { ip: '10.99.0.17', nat: { ip: '198.51.100.201' }, user: { name: 'kyamada', domain: 'corp' } },
      user: { name: 'kyamada', domain: 'corp' },
      host: { ip: '10.99.0.17', name: 'LT-4411', id: '6f3c2a10-1b2d-4e5f-8a9b-0c1d2e3f4a5b', os: { family: 'Windows', full: 'Microsoft Windows 11 Pro , 64-bit' } },
      observer: { serial_number: '016201034567', hostname: 'PA-3220-hq' },
      panw: { panos: { type: 'GLOBALPROTECT', stage: 'login', auth_method: 'LDAP', portal: 'GP-Gateway-Tokyo', tunnel_type: 'IPSec', connect_method: 'on-demand', error_code: 0 } },
    });
    expect(ev.join).toMatchObject({ clientIp: '10.99.0.17', natClientIp: '198.51.100.201' });
    expect(ev.claims.map((c) => [c.subject, c.method, c.verdict])).toEqual([['corp\\kyamada', 'firewall_userid', 'unverifiable']]);
  });

  it('maps a failed portal pre-login without a user', () => {
    const ev = only(parse(record(fx['portal-prelogin-failure']!)));
    expect(at(ev.ecs, 'event.outcome')).toBe('failure');
    expect(at(ev.ecs, 'event.reason')).toBe('client cert not present');
    expect(at(ev.ecs, 'source.ip')).toBe('0.0.0.0');
    expect(at(ev.ecs, 'user')).toBeUndefined();
    expect(ev.claims).toEqual([]);
  });

  it('keeps pre-logon as the user name but makes no claim from it', () => {
    const ev = only(parse(record(fx['getconfig-prelogon']!)));
    expect(at(ev.ecs, 'user.name')).toBe('pre-logon');
    expect(ev.claims).toEqual([]);
  });

  it('falls back to the IPv6 columns when the IPv4 ones are empty', () => {
    const ev = only(parse(record(fx['ipv6-only']!)));
    expect(at(ev.ecs, 'source.ip')).toBe('fd00:99::17');
    expect(at(ev.ecs, 'source.nat.ip')).toBe('2001:db8:ff::201');
    expect(at(ev.ecs, 'network.type')).toBe('ipv6');
  });

  it('accepts the 36-column 9.1 layout behind a BSD header without hostname', () => {
    const ev = only(parse(record(fx['classic-36']!)));
    expect(ev.timestamp).toBe('2023-06-20T06:45:10.000Z');
    expect(at(ev.ecs, 'event.created')).toBe('2023-06-20T06:45:12.000Z');
    expect(at(ev.ecs, 'observer.hostname')).toBeUndefined();
    expect(at(ev.ecs, 'user.name')).toBe('kyamada');
  });
});
