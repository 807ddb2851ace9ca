import { isIp, isIPv4, splitThreat, splitUrl, splitUser, toPort } from './values';

describe('parsers/panos > values', () => {
  it('checks IPv4 and IPv6 literals', () => {
    for (const ok of ['0.0.0.0', '10.20.1.15', '255.255.255.255', '2001:db8::1', 'fc00::abcd', '::']) expect(isIp(ok)).toBe(true);
    for (const bad of ['', '10.20.1', '10.20.1.300', '01.2.3.4', '1.2.3.4.5', 'a.b.c.d', 'host', '1.2.3.4 ', '2001:db8:::1']) expect(isIp(bad)).toBe(false);
    expect(isIPv4('192.168.1.1')).toBe(true);
  });

  it('parses ports 0-65535 only', () => {
    expect(toPort('0')).toBe(0);
    expect(toPort('65535')).toBe(65535);
    expect(toPort('65536')).toBeUndefined();
    expect(toPort('-1')).toBeUndefined();
    expect(toPort('')).toBeUndefined();
  });

  it('splits users as Elastic does', () => {
    expect(splitUser('domain\\user')).toEqual({ name: 'user', domain: 'domain' });
    expect(splitUser('host\\\\user')).toEqual({ name: 'user', domain: 'host' });
    expect(splitUser('Max.Mustermann@domain.de')).toEqual({ name: 'Max.Mustermann', domain: 'domain.de' });
    expect(splitUser('host/555-1212.example.com')).toEqual({ name: 'host/555-1212.example.com' });
    expect(splitUser('pre-logon')).toEqual({ name: 'pre-logon' });
    expect(splitUser('x-fwd-for: 10.34.32.4')).toEqual({ xff: '10.34.32.4' });
    expect(splitUser('  ')).toBeUndefined();
    expect(splitUser('a@b@c')).toEqual({ name: 'a@b@c' });
  });

  it('splits threat names and ids', () => {
    expect(splitThreat('Virus/Linux.example(419149938)')).toEqual({ name: 'Virus/Linux.example', id: '419149938' });
    expect(splitThreat('(9999)')).toEqual({ name: 'URL-filtering', id: '9999' });
    expect(splitThreat('SCAN: Host Sweep(8002)')).toEqual({ name: 'SCAN: Host Sweep', id: '8002' });
    expect(splitThreat('no id here')).toEqual({ name: 'no id here' });
    expect(splitThreat('')).toEqual({});
  });

  it('splits scheme-less URLs', () => {
    expect(splitUrl('dev-prod06.example.net:443/')).toEqual({ original: 'dev-prod06.example.net:443/', domain: 'dev-prod06.example.net', port: 443, path: '/' });
    expect(splitUrl('consent.cmp.oath.com/')).toEqual({ original: 'consent.cmp.oath.com/', domain: 'consent.cmp.oath.com', path: '/' });
    expect(splitUrl('a.example/x/file.tar.gz?x=1')).toMatchObject({ path: '/x/file.tar.gz', query: 'x=1', extension: 'gz' });
    expect(splitUrl('https://a.example/p')).toMatchObject({ scheme: 'https', domain: 'a.example', path: '/p' });
    expect(splitUrl('a.example?q')).toEqual({ original: 'a.example?q', domain: 'a.example', query: 'q' });
  });
});
