import fs from 'node:fs';
import * as jose from 'jose';
import type { IssuerConfig } from '../config/schema';
import type { IdentityClaim, Verdict } from '../model/events';
import { sha256Hex } from '../parsers/common';
import { extend } from '../model/extend';

export interface TokenVerdict {
  verdict: Verdict;
  reason: string;
  claim: IdentityClaim;
}

type KeyResolver = (header: jose.JWSHeaderParameters, token: jose.FlattenedJWSInput) => Promise<jose.KeyLike | Uint8Array>;

interface IssuerState {
  cfg: IssuerConfig;
  keys: KeyResolver;
}

const HMAC = /^HS/;

/**
 * Verifies bearer tokens against each configured issuer's JWKS, at the time of the event (not
 * ingestion time), and turns the outcome into an IdentityClaim with a verdict. The raw token is
 * only hashed; it never leaves this function.
 */
export class JwtVerifier {
  private readonly issuers = new Map<string, IssuerState>();
  private readonly cache = new Map<string, TokenVerdict>();
  private readonly cacheMax = 10_000;

  constructor(issuers: readonly IssuerConfig[], refetchIntervalSeconds = 30) {
    for (const cfg of issuers) {
      this.issuers.set(cfg.issuer, { cfg, keys: cfg.jwksUri ? remoteKeys(cfg.jwksUri, refetchIntervalSeconds) : fileKeys(cfg.jwksFile!, refetchIntervalSeconds) });
    }
  }

  /** Verify `token` as of `atMs` (event time). Never throws. */
  async verify(token: string, atMs: number, source: IdentityClaim['source']): Promise<TokenVerdict> {
    const tokenSha256 = sha256Hex(token);
    const cacheKey = `${tokenSha256}|${Math.floor(atMs / 1000)}`;
    const hit = this.cache.get(cacheKey);
    if (hit) return extend(hit, { claim: extend(hit.claim, { source }) });
    const res = await this.verifyUncached(token, atMs, source, tokenSha256);
    if (this.cache.size >= this.cacheMax) this.cache.delete(this.cache.keys().next().value!);
    // Do not cache failures that a JWKS refresh could fix.
    if (res.verdict !== 'invalid_signature') this.cache.set(cacheKey, res);
    return res;
  }

  private async verifyUncached(token: string, atMs: number, source: IdentityClaim['source'], tokenSha256: string): Promise<TokenVerdict> {
    const base: IdentityClaim = { method: 'jwt', subject: '', source, strength: 'jwt', tokenSha256 };
    const done = (verdict: Verdict, reason: string, extra: Partial<IdentityClaim> = {}): TokenVerdict => ({
      verdict,
      reason,
      claim: Object.assign({}, base, extra, { verdict, reason }),
    });
    let header: jose.ProtectedHeaderParameters;
    let payload: jose.JWTPayload;
    try {
      header = jose.decodeProtectedHeader(token);
      payload = jose.decodeJwt(token);
    } catch (e) {
      return done('malformed', `not a JWS compact JWT: ${(e as Error).message}`);
    }
    const unverified = claimFields(payload);
    if (!header.alg || header.alg === 'none') return done('invalid_signature', 'unsigned token (alg none) is never accepted', unverified);
    const iss = typeof payload.iss === 'string' ? payload.iss : '';
    const st = this.issuers.get(iss);
    if (!st) return done('unknown_issuer', iss ? `issuer ${JSON.stringify(iss)} is not trusted` : 'token has no iss claim', unverified);
    if (HMAC.test(header.alg)) return done('invalid_signature', `algorithm ${header.alg} (HMAC) is not allowed for issuer ${iss}`, unverified);
    if (!st.cfg.algorithms.includes(header.alg)) return done('invalid_signature', `algorithm ${header.alg} is not allowed for issuer ${iss} (allowed: ${st.cfg.algorithms.join(', ')})`, unverified);
    try {
      const opts: jose.JWTVerifyOptions = {
        issuer: st.cfg.issuer,
        algorithms: st.cfg.algorithms,
        clockTolerance: st.cfg.clockSkewSeconds,
        currentDate: new Date(atMs),
      };
      if (st.cfg.audiences.length) opts.audience = st.cfg.audiences;
      const { payload: p } = await jose.jwtVerify(token, st.keys, opts);
      return done('verified', `signature valid (kid ${header.kid ?? '-'}, ${header.alg}); claims valid at ${new Date(atMs).toISOString()}`, { ...claimFields(p), issuer: iss });
    } catch (e) {
      const err = e as jose.errors.JOSEError & { claim?: string };
      const extra = { ...unverified, issuer: iss };
      switch (err.code) {
        case 'ERR_JWT_EXPIRED':
          return done('expired', `token expired at ${unverified.expiresAt ?? '?'}, event at ${new Date(atMs).toISOString()} (skew ${st.cfg.clockSkewSeconds}s)`, extra);
        case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
          if (err.claim === 'nbf' || err.claim === 'iat') return done('not_yet_valid', `${err.message} at event time ${new Date(atMs).toISOString()}`, extra);
          if (err.claim === 'aud') return done('wrong_audience', `audience ${JSON.stringify(unverified.audience ?? [])} not in ${JSON.stringify(st.cfg.audiences)}`, extra);
          if (err.claim === 'iss') return done('unknown_issuer', err.message, extra);
          return done('malformed', err.message, extra);
        case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
          return done('invalid_signature', 'signature does not verify with the issuer key', extra);
        case 'ERR_JWKS_NO_MATCHING_KEY':
          return done('invalid_signature', `no key in the issuer's JWKS matches kid ${header.kid ?? '-'} (after refetch)`, extra);
        case 'ERR_JOSE_ALG_NOT_ALLOWED':
          return done('invalid_signature', err.message, extra);
        case 'ERR_JWS_INVALID':
        case 'ERR_JWT_INVALID':
          return done('malformed', err.message, extra);
        default:
          return done('invalid_signature', `verification failed: ${err.message}`, extra);
      }
    }
  }
}

function claimFields(p: jose.JWTPayload): Partial<IdentityClaim> {
  const out: Partial<IdentityClaim> = {};
  const email = (p as Record<string, unknown>).email;
  const pref = (p as Record<string, unknown>).preferred_username;
  out.subject = typeof p.sub === 'string' ? p.sub : typeof pref === 'string' ? pref : '';
  if (typeof email === 'string') out.email = email;
  const groups = (p as Record<string, unknown>).groups ?? (p as Record<string, unknown>).roles;
  if (Array.isArray(groups)) out.groups = groups.filter((g): g is string => typeof g === 'string');
  const scope = (p as Record<string, unknown>).scope ?? (p as Record<string, unknown>).scp;
  if (typeof scope === 'string') out.scopes = scope.split(' ').filter(Boolean);
  else if (Array.isArray(scope)) out.scopes = scope.filter((s): s is string => typeof s === 'string');
  if (typeof p.aud === 'string') out.audience = [p.aud];
  else if (Array.isArray(p.aud)) out.audience = p.aud;
  if (typeof p.exp === 'number') out.expiresAt = new Date(p.exp * 1000).toISOString();
  if (typeof p.nbf === 'number') out.notBefore = new Date(p.nbf * 1000).toISOString();
  if (typeof p.iss === 'string') out.issuer = p.iss;
  return out;
}

function remoteKeys(uri: string, refetchIntervalSeconds: number): KeyResolver {
  // jose refetches on an unknown kid, at most once per cooldownDuration: key rotation mid-stream.
  return jose.createRemoteJWKSet(new URL(uri), { cooldownDuration: refetchIntervalSeconds * 1000, cacheMaxAge: 10 * 60_000 }) as unknown as KeyResolver;
}

function fileKeys(file: string, refetchIntervalSeconds: number): KeyResolver {
  let set: ReturnType<typeof jose.createLocalJWKSet> | undefined;
  let loadedAt = 0;
  const load = () => {
    const jwks = JSON.parse(fs.readFileSync(file, 'utf8')) as jose.JSONWebKeySet;
    set = jose.createLocalJWKSet(jwks);
    loadedAt = Date.now();
  };
  return async (header, token) => {
    if (!set) load();
    try {
      return await set!(header, token);
    } catch (e) {
      // Unknown kid: re-read the file (rotation), rate-limited.
      if ((e as jose.errors.JOSEError).code === 'ERR_JWKS_NO_MATCHING_KEY' && Date.now() - loadedAt >= refetchIntervalSeconds * 1000) {
        load();
        return set!(header, token);
      }
      throw e;
    }
  };
}
