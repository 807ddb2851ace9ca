import type { IdentityClaim } from '../model/events';
import { STRENGTH_ORDER } from '../model/events';
import type { RecordIdentity } from '../model/record';

/** Verdicts that mean "a layer we trust vouched for this principal". */
const TRUSTED = new Set(['verified', 'trusted_upstream']);
/** Verdicts of a token that failed verification: such a claim never names the record's identity. */
const FAILED = new Set(['invalid_signature', 'expired', 'not_yet_valid', 'wrong_audience', 'unknown_issuer', 'malformed']);

const rank = (c: IdentityClaim) => STRENGTH_ORDER.indexOf(c.strength);
/** `a.localeCompare(b)` exactly (ECMA-402 defines it as this collator's compare), without a lookup per call. */
const collate = new Intl.Collator().compare;

/** Canonical human name for cross-layer comparison: `DOMAIN\user`, `user@domain` → `user`. */
export function canonicalPrincipal(s: string): string {
  let v = s.trim().toLowerCase();
  const bs = v.lastIndexOf('\\');
  if (bs >= 0) v = v.slice(bs + 1);
  const at = v.indexOf('@');
  if (at > 0) v = v.slice(0, at);
  return v;
}

const isWorkload = (c: IdentityClaim) => c.method === 'spiffe' || c.subject.startsWith('spiffe://');

/** All names a claim answers to (sub, email, and their canonical forms). */
function names(c: IdentityClaim): Set<string> {
  const out = new Set<string>([canonicalPrincipal(c.subject)]);
  if (c.email) out.add(canonicalPrincipal(c.email));
  return out;
}

/**
 * Pick the record's identity from every layer's claims: the strongest trusted claim, else the
 * strongest unverifiable one (flagged unverified); failed tokens never name the identity. Flag a
 * mismatch when human principals named by different layers disagree.
 */
export function resolveIdentity(claims: IdentityClaim[]): RecordIdentity {
  const all = dedupe(claims);
  const usable = all.filter((c) => c.subject && !FAILED.has(c.verdict ?? '') && c.verdict !== undefined);
  const trusted = usable.filter((c) => TRUSTED.has(c.verdict!));
  // Prefer a human identity at equal strength (a JWT subject over the workload that carried it).
  const pick = (cs: IdentityClaim[]) =>
    [...cs].sort((a, b) => rank(b) - rank(a) || Number(isWorkload(a)) - Number(isWorkload(b)) || collate(a.subject, b.subject))[0];
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
      const na = names(a), nb = names(b);
      if (![...na].some((n) => nb.has(n))) mismatches.push({ a: a.subject, b: b.subject, methods: [a.method, b.method] });
    }
  }
  // A failed token that claims someone other than the trusted identity is also a mismatch (forgery).
  if (best) {
    const bn = names(best);
    for (const c of all) {
      if (c.method === 'jwt' && FAILED.has(c.verdict ?? '') && c.subject && ![...names(c)].some((n) => bn.has(n)) && !isWorkload(best)) {
        mismatches.push({ a: best.subject, b: c.subject, methods: [best.method, c.method] });
      }
    }
  }

  const out: RecordIdentity = {
    verdict,
    verified: Boolean(best && TRUSTED.has(best.verdict!)),
    claims: all,
    mismatch: mismatches.length > 0,
  };
  if (best) {
    out.subject = best.subject;
    out.method = best.method;
    out.strength = best.strength;
    if (best.issuer) out.issuer = best.issuer;
  }
  if (mismatches.length) out.mismatches = mismatches;
  return out;
}

function dedupe(claims: IdentityClaim[]): IdentityClaim[] {
  const seen = new Map<string, IdentityClaim>();
  for (const c of claims) {
    const k = `${c.method}|${c.source}|${c.subject}|${c.tokenSha256 ?? ''}|${c.verdict ?? ''}`;
    if (!seen.has(k)) seen.set(k, c);
  }
  return [...seen.values()].sort((a, b) => rank(b) - rank(a) || collate(a.method, b.method) || collate(a.subject, b.subject));
}
