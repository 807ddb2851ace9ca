import { canonicalPrincipal, resolveIdentity } from './resolve';
import { seededRng } from '../testing/rng';
import { STRENGTH_ORDER, type ClaimMethod, type ClaimStrength, type IdentityClaim, type SourceType, type Verdict } from '../model/events';
import type { RecordIdentity } from '../model/record';

const claim = (method: ClaimMethod, subject: string, source: SourceType, strength: ClaimStrength, verdict: Verdict | undefined, extra: Partial<IdentityClaim> = {}): IdentityClaim => ({
  method, subject, source, strength, ...(verdict !== undefined ? { verdict } : {}), ...extra,
});

describe('identity/resolve > resolveIdentity', () => {
  it('names the verified JWT subject over the mTLS workload that carried it, and flags no mismatch for the same person in another spelling', () => {
    const id = resolveIdentity([
      claim('spiffe', 'spiffe://cluster.local/ns/shop/sa/web', 'envoy', 'mtls', 'trusted_upstream'),
      claim('jwt', 'alice', 'tyk', 'jwt', 'verified', { issuer: 'https://idp.example', tokenSha256: 'a'.repeat(64) }),
      claim('firewall_userid', 'CORP\\Alice', 'panos', 'network', 'unverifiable'),
    ]);
    expect(id).toMatchObject({ subject: 'alice', method: 'jwt', strength: 'jwt', verdict: 'verified', verified: true, issuer: 'https://idp.example', mismatch: false });
    expect(id.claims.map((c) => c.method)).toEqual(['jwt', 'spiffe', 'firewall_userid']); // strongest first
  });

  it('flags a forged token that claims another user, and never names it', () => {
    const id = resolveIdentity([
      claim('jwt', 'mallory', 'tyk', 'jwt', 'invalid_signature'),
      claim('jwt', 'bob', 'envoy', 'jwt', 'verified'),
    ]);
    expect(id.subject).toBe('bob');
    expect(id.mismatches).toEqual([{ a: 'bob', b: 'mallory', methods: ['jwt', 'jwt'] }]);
  });

  it('without a trusted claim: the strongest unverifiable one, unverified, and the failed token’s verdict', () => {
    const id = resolveIdentity([
      claim('otel_enduser', 'carol', 'otlp', 'asserted', 'unverifiable'),
      claim('jwt', 'carol', 'tyk', 'jwt', 'expired'),
      claim('tyk_key', 'carol-laptop', 'tyk', 'gateway', 'unverifiable'),
    ]);
    expect(id).toMatchObject({ subject: 'carol-laptop', method: 'tyk_key', verified: false, verdict: 'expired', mismatch: true });
    expect(resolveIdentity([]).verdict).toBe('no_token');
  });

  it('answers as the filter-per-question implementation it replaced, on 5,000 random claim sets', () => {
    const rnd = seededRng(0x5eed); // the same sets on every run
    const pickOf = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const methods: ClaimMethod[] = ['jwt', 'jwt_payload', 'spiffe', 'tyk_key', 'tyk_oauth', 'firewall_userid', 'otel_enduser'];
    const subjects = ['alice', 'Alice', 'CORP\\alice', 'alice@corp.example', 'bob', 'bob@corp.example', 'spiffe://cluster.local/ns/a/sa/b', 'svc-x', ''];
    const verdicts: (Verdict | undefined)[] = ['verified', 'trusted_upstream', 'unverifiable', 'invalid_signature', 'expired', 'wrong_audience', 'malformed', undefined];
    const sources: SourceType[] = ['tyk', 'envoy', 'otlp', 'panos'];
    let mismatches = 0;
    for (let n = 0; n < 5000; n++) {
      const claims: IdentityClaim[] = [];
      const size = Math.floor(rnd() * 8);
      for (let i = 0; i < size; i++) {
        const extra: Partial<IdentityClaim> = {};
        if (rnd() < 0.3) extra.email = pickOf(['alice@corp.example', 'bob@corp.example', 'eve@corp.example']);
        if (rnd() < 0.3) extra.tokenSha256 = pickOf(['1', '2']).repeat(64);
        if (rnd() < 0.3) extra.issuer = 'https://idp.example';
        claims.push(claim(pickOf(methods), pickOf(subjects), pickOf(sources), pickOf(STRENGTH_ORDER), pickOf(verdicts), extra));
      }
      const got = resolveIdentity(claims);
      expect(got).toEqual(reference(got.claims));
      if (got.mismatch) mismatches++;
    }
    expect(mismatches).toBeGreaterThan(500); // the sets exercise the mismatch rules, not just the choice
  });
});

/** The implementation before the single pass (one filtered list per question), on deduplicated claims. */
function reference(all: IdentityClaim[]): RecordIdentity {
  const TRUSTED = new Set(['verified', 'trusted_upstream']);
  const FAILED = new Set(['invalid_signature', 'expired', 'not_yet_valid', 'wrong_audience', 'unknown_issuer', 'malformed']);
  const rank = (c: IdentityClaim) => STRENGTH_ORDER.indexOf(c.strength);
  const isWorkload = (c: IdentityClaim) => c.method === 'spiffe' || c.subject.startsWith('spiffe://');
  const names = (c: IdentityClaim) => (c.email ? [canonicalPrincipal(c.subject), canonicalPrincipal(c.email)] : [canonicalPrincipal(c.subject)]);
  const shareName = (a: string[], b: string[]) => a.some((x) => b.includes(x));
  const pick = (cs: IdentityClaim[]) => {
    let best: IdentityClaim | undefined;
    for (const c of cs) {
      if (best === undefined || (rank(best) - rank(c) || Number(isWorkload(c)) - Number(isWorkload(best)) || (c.subject === best.subject ? 0 : c.subject.localeCompare(best.subject))) < 0) best = c;
    }
    return best;
  };
  const usable = all.filter((c) => c.subject && !FAILED.has(c.verdict ?? '') && c.verdict !== undefined);
  const trusted = usable.filter((c) => TRUSTED.has(c.verdict!));
  const best = pick(trusted.filter((c) => !isWorkload(c))) ?? pick(trusted) ?? pick(usable);
  const tokenClaims = all.filter((c) => c.method === 'jwt');
  let verdict: RecordIdentity['verdict'];
  if (best && TRUSTED.has(best.verdict!)) verdict = best.method === 'jwt' ? 'verified' : best.verdict!;
  else if (tokenClaims.length) verdict = tokenClaims.find((c) => FAILED.has(c.verdict ?? ''))?.verdict ?? tokenClaims[0]!.verdict ?? 'malformed';
  else verdict = 'no_token';
  const humans = usable.filter((c) => !isWorkload(c));
  const mismatches: NonNullable<RecordIdentity['mismatches']> = [];
  for (let i = 0; i < humans.length; i++) {
    for (let j = i + 1; j < humans.length; j++) {
      const a = humans[i]!, b = humans[j]!;
      if (a.source === b.source && a.method === b.method) continue;
      if (!shareName(names(a), names(b))) mismatches.push({ a: a.subject, b: b.subject, methods: [a.method, b.method] });
    }
  }
  if (best) {
    for (const c of all) {
      if (c.method === 'jwt' && FAILED.has(c.verdict ?? '') && c.subject && !shareName(names(c), names(best)) && !isWorkload(best)) {
        mismatches.push({ a: best.subject, b: c.subject, methods: [best.method, c.method] });
      }
    }
  }
  const out: RecordIdentity = { verdict, verified: Boolean(best && TRUSTED.has(best.verdict!)), claims: all, mismatch: mismatches.length > 0 };
  if (best) {
    out.subject = best.subject;
    out.method = best.method;
    out.strength = best.strength;
    if (best.issuer) out.issuer = best.issuer;
  }
  if (mismatches.length) out.mismatches = mismatches;
  return out;
}
