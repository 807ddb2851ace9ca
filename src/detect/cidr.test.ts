import { inCidrs, networkOf, parseCidr, parseIp } from './cidr';

describe('detect > cidr', () => {
  it('parses IPv4, IPv6 (with ::, an IPv4 tail, a zone) and IPv4-mapped IPv6', () => {
    expect(parseIp('10.1.2.3')).toEqual({ family: 4, value: 0x0a010203n });
    expect(parseIp('::1')).toEqual({ family: 6, value: 1n });
    expect(parseIp('2001:db8::1%eth0')).toEqual({ family: 6, value: (0x20010db8n << 96n) | 1n });
    expect(parseIp('::ffff:192.0.2.1')).toEqual({ family: 4, value: 0xc0000201n });
    expect(parseIp('64:ff9b::192.0.2.1')?.value).toBe((0x64ff9bn << 96n) | 0xc0000201n);
    expect(parseIp('not-an-ip')).toBeUndefined();
  });

  it('matches addresses against CIDRs of their own family', () => {
    const cidrs = ['10.0.0.0/8', '192.168.0.0/16', 'fc00::/7'].map(parseCidr);
    expect(inCidrs('10.200.1.1', cidrs)).toBe(true);
    expect(inCidrs('11.0.0.1', cidrs)).toBe(false);
    expect(inCidrs('fd12:3456::1', cidrs)).toBe(true);
    expect(inCidrs('2001:db8::1', cidrs)).toBe(false);
    expect(inCidrs('::ffff:10.0.0.1', cidrs)).toBe(true);
    expect(inCidrs('garbage', cidrs)).toBe(false);
  });

  it('rejects bad CIDRs with the fix', () => {
    expect(() => parseCidr('10.0.0.0/33')).toThrow("'10.0.0.0/33': prefix length must be 0-32");
    expect(() => parseCidr('foo/8')).toThrow(/is not a CIDR/);
  });

  it('names networks at /24 and /64, compressed', () => {
    expect(networkOf('198.51.100.77', 24, 64)).toBe('198.51.100.0/24');
    expect(networkOf('2001:db8:1:2:3:4:5:6', 24, 64)).toBe('2001:db8:1:2::/64');
    expect(networkOf('2001:0:0:1::', 24, 48)).toBe('2001::/48');
  });
});
