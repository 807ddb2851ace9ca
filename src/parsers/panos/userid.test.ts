import { getPath } from '../common';
import { panosParser } from './index';
import { fixtures, only, record } from './testdata/fixtures';

const fx = fixtures('userid.log');
const parse = panosParser.create();
const at = (ecs: unknown, p: string): unknown => getPath(ecs, p);

describe('parsers/panos > userid csv', () => {
  it('maps a classic 8.x login: mapped address, domain\\user split, data source', () => {
    const ev = only(parse(record(fx['login-8x']!)));
    expect(ev.kind).toBe('userid');
    expect(ev.timestamp).toBe('2022-09-14T07:58:02.000Z');
    expect(ev.ecs).toMatchObject({
      event: { kind: 'event', category: ['network', 'iam'], code: '0' },
      source: { ip: '10.20.4.51', port: 0, user: { name: 'mchen', domain: 'CORP' } },
      user: { name: 'mchen', domain: 'CORP' },
      observer: { serial_number: '001801012345' },
      panw: { panos: { type: 'USERID', sub_type: 'login', timeout: 2700, datasource: 'active-directory', datasourcename: 'dc01-agent', datasourcetype: 'agent' } },
    });
    expect(ev.join).toMatchObject({ clientIp: '10.20.4.51', startMs: Date.UTC(2022, 8, 14, 7, 58, 2) });
  });

  it('turns a login into a User-ID claim for the mapped user', () => {
    const ev = only(parse(record(fx['login-8x']!)));
    expect(ev.claims).toEqual([
      { method: 'firewall_userid', subject: 'CORP\\mchen', source: 'panos', strength: 'network', verdict: 'unverifiable', eventId: ev.id },
    ]);
  });

  it('makes no claim from a logout, which ends the mapping', () => {
    const ev = only(parse(record(fx['logout-8x']!)));
    expect(ev.claims).toEqual([]);
    expect(at(ev.ecs, 'user.name')).toBe('mchen');
    expect(at(ev.ecs, 'panw.panos.sub_type')).toBe('logout');
  });

  it('maps the 10.x layout: device name, factor completion time, high-resolution time', () => {
    const ev = only(parse(record(fx['login-10x']!)));
    expect(ev.timestamp).toBe('2024-03-11T11:00:01.204Z');
    expect(ev.ecs).toMatchObject({
      observer: { hostname: 'PA-3220-hq' },
      user: { name: 'pwagner', domain: 'corp' },
      panw: { panos: { datasource: 'vpn-client', datasourcetype: 'globalprotect', factorcompletiontime: '2024-03-11T12:00:01.000Z', user_by_source: 'pwagner', vsys_id: '1' } },
    });
  });

  it('splits user@domain and keeps bare user names', () => {
    const upn = only(parse(record(fx['login-upn']!)));
    expect(at(upn.ecs, 'user')).toEqual({ name: 'pwagner', domain: 'corp.example' });
    expect(upn.claims[0]!.subject).toBe('pwagner@corp.example');
    const bare = only(parse(record(fx['login-bare']!)));
    expect(at(bare.ecs, 'user')).toEqual({ name: 'svc-backup' });
  });

  it('rejects a malformed mapped address and names the column', () => {
    const r = parse(record(fx['bad-ip']!));
    expect(r).toEqual({ ok: false, rejection: expect.objectContaining({ code: 'invalid_field', field: 'ip' }) });
  });
});
