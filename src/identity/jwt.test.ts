import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as jose from 'jose';
import { JwtVerifier } from './jwt';
import type { IssuerConfig } from '../config/schema';

const ISS = 'https://idp.example.test/';
const T0 = Date.parse('2026-03-01T10:00:00Z');
const sec = (ms: number) => Math.floor(ms / 1000);

describe('identity/jwt > verification at event time', () => {
  let dir: string;
  let jwksFile: string;
  let key1: jose.GenerateKeyPairResult<jose.KeyLike>;
  let key2: jose.GenerateKeyPairResult<jose.KeyLike>;
  let attacker: jose.GenerateKeyPairResult<jose.KeyLike>;
  let verifier: JwtVerifier;

  const writeJwks = async (...keys: [jose.KeyLike, string][]) => {
    const jwks = { keys: await Promise.all(keys.map(async ([k, kid]) => ({ ...(await jose.exportJWK(k)), kid, alg: 'RS256', use: 'sig' }))) };
    fs.writeFileSync(jwksFile, JSON.stringify(jwks));
  };
  const sign = (key: jose.KeyLike, kid: string, claims: jose.JWTPayload, alg = 'RS256') =>
    new jose.SignJWT(claims).setProtectedHeader({ alg, kid }).sign(key);
  const good = (over: jose.JWTPayload = {}) => ({ iss: ISS, sub: 'alice', aud: 'orders-api', iat: sec(T0) - 60, exp: sec(T0) + 300, email: 'alice@example.test', ...over });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jwt-'));
    jwksFile = path.join(dir, 'jwks.json');
    key1 = await jose.generateKeyPair('RS256');
    key2 = await jose.generateKeyPair('RS256');
    attacker = await jose.generateKeyPair('RS256');
  });
  beforeEach(async () => {
    await writeJwks([key1.publicKey, 'k1']);
    const cfg: IssuerConfig = { issuer: ISS, jwksFile, audiences: ['orders-api'], algorithms: ['RS256'], clockSkewSeconds: 5 };
    verifier = new JwtVerifier([cfg], 0);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('verifies a valid token and keeps claims and a fingerprint, never the token', async () => {
    const tok = await sign(key1.privateKey, 'k1', good({ groups: ['admins'], scope: 'read write' }));
    const v = await verifier.verify(tok, T0, 'envoy');
    expect(v.verdict).toBe('verified');
    expect(v.claim).toMatchObject({ subject: 'alice', email: 'alice@example.test', groups: ['admins'], scopes: ['read', 'write'], issuer: ISS, method: 'jwt', strength: 'jwt' });
    expect(v.claim.tokenSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(v)).not.toContain(tok);
  });

  it('judges expiry at the event time, not now: last month\'s valid token stays verified', async () => {
    const tok = await sign(key1.privateKey, 'k1', good());
    expect((await verifier.verify(tok, T0, 'envoy')).verdict).toBe('verified');
    expect((await verifier.verify(tok, T0 + 301_000 + 5_000, 'envoy')).verdict).toBe('expired');
  });

  it('tolerates the configured clock skew and no more', async () => {
    const tok = await sign(key1.privateKey, 'k1', good({ exp: sec(T0) }));
    expect((await verifier.verify(tok, T0 + 4_000, 'envoy')).verdict).toBe('verified');
    expect((await verifier.verify(tok, T0 + 7_000, 'envoy')).verdict).toBe('expired');
  });

  it('says not_yet_valid for a token used before nbf', async () => {
    const tok = await sign(key1.privateKey, 'k1', good({ nbf: sec(T0) + 60 }));
    expect((await verifier.verify(tok, T0, 'envoy')).verdict).toBe('not_yet_valid');
  });

  it('rejects a forged token signed by another key, claiming another user', async () => {
    const tok = await sign(attacker.privateKey, 'k1', good({ sub: 'mallory-as-admin' }));
    const v = await verifier.verify(tok, T0, 'tyk');
    expect(v.verdict).toBe('invalid_signature');
    expect(v.claim.subject).toBe('mallory-as-admin');
  });

  it('says wrong_audience for a token minted for another API', async () => {
    const tok = await sign(key1.privateKey, 'k1', good({ aud: 'billing-api' }));
    expect((await verifier.verify(tok, T0, 'envoy')).verdict).toBe('wrong_audience');
  });

  it('says unknown_issuer for an issuer that is not trusted', async () => {
    const tok = await sign(key1.privateKey, 'k1', good({ iss: 'https://evil.example/' }));
    expect((await verifier.verify(tok, T0, 'envoy')).verdict).toBe('unknown_issuer');
  });

  it('never accepts alg none or an HMAC token keyed with the public key', async () => {
    const none = new jose.UnsecuredJWT(good()).encode();
    expect((await verifier.verify(none, T0, 'envoy')).verdict).toBe('invalid_signature');
    const pubPem = await jose.exportSPKI(key1.publicKey);
    const hs = await new jose.SignJWT(good()).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(pubPem));
    const v = await verifier.verify(hs, T0, 'envoy');
    expect(v.verdict).toBe('invalid_signature');
    expect(v.reason).toMatch(/HMAC/);
  });

  it('says malformed for garbage', async () => {
    expect((await verifier.verify('not.a.jwt', T0, 'envoy')).verdict).toBe('malformed');
    expect((await verifier.verify('', T0, 'envoy')).verdict).toBe('malformed');
  });

  it('follows a key rotation mid-stream: an unknown kid re-reads the JWKS', async () => {
    const before = await sign(key1.privateKey, 'k1', good());
    expect((await verifier.verify(before, T0, 'envoy')).verdict).toBe('verified');
    await writeJwks([key1.publicKey, 'k1'], [key2.publicKey, 'k2']);
    const after = await sign(key2.privateKey, 'k2', good({ sub: 'bob' }));
    const v = await verifier.verify(after, T0, 'envoy');
    expect(v.verdict).toBe('verified');
    expect(v.claim.subject).toBe('bob');
  });
});
