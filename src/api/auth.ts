import fs from 'node:fs';
import path from 'node:path';
import * as jose from 'jose';
import type { Request, Response, NextFunction } from 'express';
import type { Config } from '../config/schema';

export type Role = 'auditor' | 'investigator' | 'admin';
export const ROLES: readonly Role[] = ['auditor', 'investigator', 'admin'];

export const LOCAL_ISSUER = 'auditmesh-local';
const KEY_FILE = 'api-signing-key.json';

export interface Principal {
  subject: string;
  roles: Role[];
  issuer: string;
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/** The local Ed25519 signing key of the embedded default (created on first use, mode 0600). */
export async function localSigningKey(dataDir: string): Promise<{ privateKey: jose.KeyLike; publicJwk: jose.JWK; kid: string }> {
  const file = path.join(dataDir, KEY_FILE);
  let jwk: jose.JWK;
  if (fs.existsSync(file)) {
    jwk = JSON.parse(fs.readFileSync(file, 'utf8')) as jose.JWK;
  } else {
    fs.mkdirSync(dataDir, { recursive: true });
    const { privateKey } = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    jwk = await jose.exportJWK(privateKey);
    jwk.kid = await jose.calculateJwkThumbprint(jwk);
    jwk.alg = 'EdDSA';
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(jwk), { mode: 0o600 });
    try {
      fs.linkSync(tmp, file); // atomic create: a concurrent process keeps the first key
    } catch {
      /* another process created it first */
    }
    fs.unlinkSync(tmp);
    jwk = JSON.parse(fs.readFileSync(file, 'utf8')) as jose.JWK;
  }
  const { d: _d, ...publicJwk } = jwk;
  const privateKey = (await jose.importJWK(jwk, 'EdDSA')) as jose.KeyLike;
  return { privateKey, publicJwk, kid: jwk.kid! };
}

/** Mint an API token with the local key (`auditmesh token`). */
export async function mintToken(dataDir: string, opts: { role: Role; subject: string; ttlSeconds: number; audience: string }): Promise<string> {
  const { privateKey, kid } = await localSigningKey(dataDir);
  return new jose.SignJWT({ roles: [opts.role] })
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
    .setIssuer(LOCAL_ISSUER)
    .setAudience(opts.audience)
    .setSubject(opts.subject)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + opts.ttlSeconds)
    .sign(privateKey);
}

export interface Authenticator {
  authenticate(token: string): Promise<Principal>;
}

export class AuthError extends Error {
  constructor(message: string, readonly status: 401 | 403) {
    super(message);
  }
}

/** Verifies API bearer tokens: the configured issuer, or the local key of the embedded default. */
export async function createAuthenticator(cfg: Config): Promise<Authenticator> {
  const auth = cfg.api.auth;
  let keys: jose.JWTVerifyGetKey | jose.KeyLike;
  let issuer: string;
  let audience: string;
  let rolesClaim = 'roles';
  if (auth) {
    issuer = auth.issuer;
    audience = auth.audience;
    rolesClaim = auth.rolesClaim;
    if (auth.jwksUri) keys = jose.createRemoteJWKSet(new URL(auth.jwksUri));
    else if (auth.jwksFile) keys = jose.createLocalJWKSet(JSON.parse(fs.readFileSync(auth.jwksFile, 'utf8')) as jose.JSONWebKeySet);
    else throw new Error('api.auth needs jwksUri or jwksFile');
  } else {
    const { publicJwk } = await localSigningKey(cfg.dataDir);
    keys = jose.createLocalJWKSet({ keys: [publicJwk] });
    issuer = LOCAL_ISSUER;
    audience = 'auditmesh';
  }
  return {
    async authenticate(token) {
      let payload: jose.JWTPayload;
      try {
        ({ payload } = await jose.jwtVerify(token, keys as jose.JWTVerifyGetKey, {
          issuer,
          audience,
          algorithms: ['EdDSA', 'ES256', 'ES384', 'RS256', 'RS384', 'RS512', 'PS256'],
          clockTolerance: 30,
        }));
      } catch (e) {
        const code = (e as jose.errors.JOSEError).code;
        const why = code === 'ERR_JWT_EXPIRED' ? 'token expired' : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' ? `token claim invalid: ${(e as Error).message}` : 'token signature or format invalid';
        throw new AuthError(why, 401);
      }
      const raw = (payload as Record<string, unknown>)[rolesClaim];
      const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(' ') : [];
      const roles = list.filter((r): r is Role => ROLES.includes(r as Role));
      return { subject: String(payload.sub ?? ''), roles, issuer };
    },
  };
}

/** Express middleware: bearer token required; any of `allowed` roles grants access. */
export function requireRole(authn: Authenticator, ...allowed: Role[]) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer\s+([A-Za-z0-9_\-.]+)$/i.exec(h);
    if (!m) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="auditmesh"');
      res.status(401).json({ error: 'unauthorized', message: 'a bearer token is required (get one with `auditmesh token --role auditor`)' });
      return;
    }
    try {
      req.principal = await authn.authenticate(m[1]!);
    } catch (e) {
      const status = e instanceof AuthError ? e.status : 401;
      res.setHeader('WWW-Authenticate', 'Bearer realm="auditmesh", error="invalid_token"');
      res.status(status).json({ error: 'unauthorized', message: (e as Error).message });
      return;
    }
    if (!req.principal.roles.some((r) => allowed.includes(r))) {
      res.status(403).json({ error: 'forbidden', message: `requires one of the roles: ${allowed.join(', ')}` });
      return;
    }
    next();
  };
}

/** Token-bucket rate limit per authenticated identity. */
export function rateLimit(perMinute: number) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return (req: Request, res: Response, next: NextFunction) => {
    if (perMinute <= 0) return next();
    const who = req.principal ? `${req.principal.issuer}|${req.principal.subject}` : `ip|${req.ip}`;
    const now = Date.now();
    const b = buckets.get(who) ?? { tokens: perMinute, at: now };
    b.tokens = Math.min(perMinute, b.tokens + ((now - b.at) / 60_000) * perMinute);
    b.at = now;
    if (b.tokens < 1) {
      res.setHeader('Retry-After', String(Math.ceil(((1 - b.tokens) * 60) / perMinute)));
      res.status(429).json({ error: 'rate_limited', message: `more than ${perMinute} requests per minute` });
      return;
    }
    b.tokens -= 1;
    buckets.set(who, b);
    if (buckets.size > 10_000) buckets.delete(buckets.keys().next().value!);
    next();
  };
}
