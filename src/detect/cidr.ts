import net from 'node:net';

/**
 * IPv4/IPv6 addresses as bigints, CIDR membership and network prefixes (/24, /64) for the
 * detection rules. Pure functions; an unparsable address is `undefined`, never an exception.
 */

export interface Cidr {
  /** The text as configured, for messages. */
  text: string;
  family: 4 | 6;
  base: bigint;
  prefix: number;
}

/** Strip an IPv6 zone and unwrap IPv4-mapped IPv6 (`::ffff:10.0.0.1` is 10.0.0.1). */
function normalize(ip: string): string {
  let s = ip.trim();
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  return m ? m[1]! : s;
}

/** Address → (family, value). */
export function parseIp(ip: string): { family: 4 | 6; value: bigint } | undefined {
  const s = normalize(ip);
  const fam = net.isIP(s);
  if (fam === 4) {
    const parts = s.split('.').map(Number);
    return { family: 4, value: BigInt(((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!) };
  }
  if (fam === 6) {
    // Expand `::` and an embedded IPv4 tail into 8 groups.
    let head = s;
    let tail4: number[] | undefined;
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(head);
    if (v4) {
      tail4 = v4[1]!.split('.').map(Number);
      head = head.slice(0, -v4[1]!.length) + '0:0';
    }
    const [l, r] = head.includes('::') ? head.split('::') : [head, undefined];
    const left = l ? l.split(':') : [];
    const right = r !== undefined && r !== '' ? r.split(':') : [];
    const groups = r === undefined ? left : [...left, ...new Array(8 - left.length - right.length).fill('0'), ...right];
    let v = 0n;
    for (const g of groups) v = (v << 16n) | BigInt(parseInt(g || '0', 16));
    if (tail4) v = (v & ~0xffffffffn) | BigInt(((tail4[0]! << 24) >>> 0) + (tail4[1]! << 16) + (tail4[2]! << 8) + tail4[3]!);
    return { family: 6, value: v };
  }
  return undefined;
}

const bits = (family: 4 | 6) => (family === 4 ? 32 : 128);
const mask = (family: 4 | 6, prefix: number) => {
  const b = bits(family);
  return prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(b - prefix);
};

/** `10.0.0.0/8`, `fc00::/7`, or a bare address (a /32 or /128). Throws a message naming the fix. */
export function parseCidr(text: string): Cidr {
  const [addr, p] = text.split('/');
  const ip = parseIp(addr ?? '');
  if (!ip) throw new Error(`'${text}' is not a CIDR (e.g. 10.0.0.0/8 or fc00::/7)`);
  const prefix = p === undefined ? bits(ip.family) : Number(p);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits(ip.family)) throw new Error(`'${text}': prefix length must be 0-${bits(ip.family)}`);
  return { text, family: ip.family, base: ip.value & mask(ip.family, prefix), prefix };
}

export function inCidrs(ip: string, cidrs: readonly Cidr[]): boolean {
  const a = parseIp(ip);
  if (!a) return false;
  return cidrs.some((c) => c.family === a.family && (a.value & mask(c.family, c.prefix)) === c.base);
}

function format(family: 4 | 6, v: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((v >> BigInt(i * 16)) & 0xffffn).toString(16));
  // RFC 5952: the longest run (2+) of zero groups becomes '::'.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** The network of `ip` at the given prefix lengths, as `base/prefix` (e.g. `198.51.100.0/24`). */
export function networkOf(ip: string, v4Prefix: number, v6Prefix: number): string | undefined {
  const a = parseIp(ip);
  if (!a) return undefined;
  const prefix = a.family === 4 ? v4Prefix : v6Prefix;
  return `${format(a.family, a.value & mask(a.family, prefix))}/${prefix}`;
}
