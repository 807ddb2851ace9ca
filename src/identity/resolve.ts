import type { IdentityClaim } from '../model/events';
import { STRENGTH_ORDER } from '../model/events';
import type { RecordIdentity } from '../model/record';
import { sortSmall } from '../model/sortSmall';

/** Verdicts that mean "a layer we trust vouched for this principal". */
const TRUSTED = new Set(['verified', 'trusted_upstream']);
/** Verdicts of a token that failed verification: such a claim never names the record's identity. */
const FAILED = new Set(['invalid_signature', 'expired', 'not_yet_valid', 'wrong_audience', 'unknown_issuer', 'malformed']);

const STRENGTH_RANK = new Map<string, number>(STRENGTH_ORDER.map((st, i) => [st, i]));
const rank = (c: IdentityClaim) => STRENGTH_RANK.get(c.strength) ?? -1;
/** `a.localeCompare(b)` exactly (ECMA-402 defines it as this collator's compare), without a lookup per call. */
const collate = new Intl.Collator().compare;

/**
 * Claim methods in collation order, as ranks: the methods are a small fixed vocabulary, so
 * `collate(a.method, b.method)` becomes an integer comparison. Strings the collator holds equal
 * share a rank. Unbounded input falls back to the collator.
 */
const methodRanks = new Map<string, number>();
function learnMethod(m: string): void {
  if (methodRanks.has(m) || methodRanks.size >= 64) return;
  const all = [...methodRanks.keys(), m].sort(collate);
  methodRanks.clear();
  for (let i = 0, rk = 0; i < all.length; i++) {
    if (i > 0 && collate(all[i - 1]!, all[i]!) !== 0) rk = i;
    methodRanks.set(all[i]!, rk);
  }
}
function compareMethods(a: string, b: string): number {
  if (a === b) return 0;
  // Learn both before reading either: learning a method renumbers the others.
  learnMethod(a);
  learnMethod(b);
  const ra = methodRanks.get(a), rb = methodRanks.get(b);
  return ra !== undefined && rb !== undefined ? ra - rb : collate(a, b);
}
const compareText = (a: string, b: string) => (a === b ? 0 : collate(a, b));

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

/** All names a claim answers to (sub, email, in canonical form). */
function names(c: IdentityClaim): string[] {
  const sub = canonicalPrincipal(c.subject);
  return c.email ? [sub, canonicalPrincipal(c.email)] : [sub];
}
const shareName = (a: readonly string[], b: readonly string[]) => a.some((n) => b.includes(n));

/** `c` when it sorts before `best` (strongest, human before workload, then by subject); else `best` (the first of equals stays). */
function better(best: IdentityClaim | undefined, c: IdentityClaim): IdentityClaim {
  return best === undefined || (rank(best) - rank(c) || Number(isWorkload(c)) - Number(isWorkload(best)) || compareText(c.subject, best.subject)) < 0 ? c : best;
}

/**
 * Pick the record's identity from every layer's claims: the strongest trusted claim, else the
 * strongest unverifiable one (flagged unverified); failed tokens never name the identity. Flag a
 * mismatch when human principals named by different layers disagree.
 * One pass over the claims for the choices (no filtered copies: this runs for every record); the
 * principals' canonical names are made only when there is something to compare them with.
 */
export function resolveIdentity(claims: IdentityClaim[]): RecordIdentity {
  const all = dedupe(claims);
  // Prefer a human identity at equal strength (a JWT subject over the workload that carried it).
  let trustedHuman: IdentityClaim | undefined, trusted: IdentityClaim | undefined, usable: IdentityClaim | undefined;
  let firstToken: IdentityClaim | undefined, firstFailedToken: IdentityClaim | undefined;
  let failedTokenSubjects = false;
  let humans: IdentityClaim[] | undefined;
  for (let i = 0; i < all.length; i++) {
    const c = all[i]!;
    const failed = FAILED.has(c.verdict ?? '');
    if (c.method === 'jwt') {
      firstToken ??= c;
      if (failed) {
        firstFailedToken ??= c;
        if (c.subject) failedTokenSubjects = true;
      }
    }
    if (!c.subject || failed || c.verdict === undefined) continue;
    usable = better(usable, c);
    const human = !isWorkload(c);
    if (TRUSTED.has(c.verdict)) {
      trusted = better(trusted, c);
      if (human) trustedHuman = better(trustedHuman, c);
    }
    if (human) (humans ??= []).push(c);
  }
  const best = trustedHuman ?? trusted ?? usable;

  let verdict: RecordIdentity['verdict'];
  if (best && TRUSTED.has(best.verdict!)) verdict = best.method === 'jwt' ? 'verified' : best.verdict!;
  else if (firstToken) verdict = firstFailedToken?.verdict ?? firstToken.verdict ?? 'malformed';
  else verdict = 'no_token';

  const mismatches: NonNullable<RecordIdentity['mismatches']> = [];
  if (humans && humans.length > 1) {
    const humanNames = humans.map(names);
    for (let i = 0; i < humans.length; i++) {
      for (let j = i + 1; j < humans.length; j++) {
        const a = humans[i]!, b = humans[j]!;
        if (a.source === b.source && a.method === b.method) continue;
        if (!shareName(humanNames[i]!, humanNames[j]!)) mismatches.push({ a: a.subject, b: b.subject, methods: [a.method, b.method] });
      }
    }
  }
  // A failed token that claims someone other than the trusted identity is also a mismatch (forgery).
  if (best && failedTokenSubjects && !isWorkload(best)) {
    const bn = names(best);
    for (const c of all) {
      if (c.method === 'jwt' && FAILED.has(c.verdict ?? '') && c.subject && !shareName(names(c), bn)) {
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

const byStrength = (a: IdentityClaim, b: IdentityClaim) => rank(b) - rank(a) || compareMethods(a.method, b.method) || compareText(a.subject, b.subject);

/** Claims without repeats (same method, source, subject, token and verdict), strongest first. */
function dedupe(claims: IdentityClaim[]): IdentityClaim[] {
  const out: IdentityClaim[] = [];
  if (claims.length <= 16) {
    // A record's few claims: compared field by field, no key strings.
    next: for (const c of claims) {
      for (const o of out) {
        if (o.method === c.method && o.source === c.source && o.subject === c.subject && (o.tokenSha256 ?? '') === (c.tokenSha256 ?? '') && (o.verdict ?? '') === (c.verdict ?? '')) continue next;
      }
      out.push(c);
    }
  } else {
    const seen = new Set<string>();
    for (const c of claims) {
      const k = JSON.stringify([c.method, c.source, c.subject, c.tokenSha256 ?? '', c.verdict ?? '']);
      if (!seen.has(k)) {
        seen.add(k);
        out.push(c);
      }
    }
  }
  return sortSmall(out, byStrength);
}
