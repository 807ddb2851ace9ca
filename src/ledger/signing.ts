import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as jose from 'jose';
import { canonicalize } from './canonical';
import type { CheckpointPayload } from './entry';

/**
 * The ledger's checkpoint signing key: Ed25519, created on first use in `<dataDir>/ledger-signing-key.json`
 * (mode 0600, the pattern of the API's local key), kid = RFC 7638 JWK thumbprint. It lives with
 * auditmesh, not in the store, so whoever administers Elasticsearch cannot sign a rewritten chain.
 *
 * Checkpoints are compact JWS (RFC 7515) with `alg: EdDSA`. Signing uses node:crypto synchronously,
 * so a checkpoint can be signed inside the SQLite batch transaction; verification uses jose, like
 * any third party would.
 */

const KEY_FILE = 'ledger-signing-key.json';
/** JWS `typ` of a checkpoint. */
export const CHECKPOINT_TYP = 'auditmesh-checkpoint+jws';

export interface LedgerSigner {
  kid: string;
  publicJwk: jose.JWK;
  /** The public keys a verifier trusts, as a JWKS. */
  jwks(): jose.JSONWebKeySet;
  /** Compact JWS over the canonical JSON of the payload. */
  sign(payload: CheckpointPayload): string;
}

export async function ledgerSigner(dataDir: string): Promise<LedgerSigner> {
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
    jwk.use = 'sig';
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(jwk), { mode: 0o600 });
    try {
      fs.linkSync(tmp, file); // atomic create: a concurrent process keeps the first key
    } catch {
      /* another process created it first; its key is read below */
    }
    fs.unlinkSync(tmp);
    jwk = JSON.parse(fs.readFileSync(file, 'utf8')) as jose.JWK;
  }
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.d || !jwk.x) throw new Error(`${file}: not an Ed25519 private JWK`);
  const { d: _d, ...publicJwk } = jwk;
  const kid = jwk.kid ?? (await jose.calculateJwkThumbprint(publicJwk));
  const key = crypto.createPrivateKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' });
  const header = b64url(JSON.stringify({ alg: 'EdDSA', kid, typ: CHECKPOINT_TYP }));
  return {
    kid,
    publicJwk: { ...publicJwk, kid },
    jwks: () => ({ keys: [{ ...publicJwk, kid }] }),
    sign(payload) {
      const input = `${header}.${b64url(canonicalize(payload))}`;
      return `${input}.${crypto.sign(null, Buffer.from(input), key).toString('base64url')}`;
    },
  };
}

function b64url(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}

/** Outcome of checking one checkpoint JWS. */
export type CheckpointCheck = { ok: true; payload: CheckpointPayload; kid: string } | { ok: false; reason: string; payload?: CheckpointPayload };

/** Decode a checkpoint JWS without verifying it (for messages about a bad one). */
export function decodeCheckpoint(jws: string): CheckpointPayload | undefined {
  try {
    const p = JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8')) as unknown;
    return isPayload(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

function isPayload(p: unknown): p is CheckpointPayload {
  const c = p as Partial<CheckpointPayload> | null;
  return (
    typeof c === 'object' && c !== null && c.v === 1 &&
    Number.isSafeInteger(c.seq) && Number.isSafeInteger(c.first_seq) && Number.isSafeInteger(c.count) &&
    typeof c.head_hash === 'string' && typeof c.merkle_root === 'string' && typeof c.time === 'string'
  );
}

/** Verify a checkpoint's signature against trusted keys (EdDSA only) and the payload's shape. */
export async function verifyCheckpoint(jws: string, keys: jose.JSONWebKeySet): Promise<CheckpointCheck> {
  const decoded = decodeCheckpoint(jws);
  let res;
  try {
    res = await jose.compactVerify(jws, jose.createLocalJWKSet(keys), { algorithms: ['EdDSA'] });
  } catch (e) {
    const code = (e as jose.errors.JOSEError).code;
    const reason = code === 'ERR_JWKS_NO_MATCHING_KEY' ? 'signed by a key that is not trusted' : code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' ? 'signature does not verify' : `not a valid JWS (${(e as Error).message})`;
    return decoded ? { ok: false, reason, payload: decoded } : { ok: false, reason };
  }
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(res.payload).toString('utf8'));
  } catch {
    return { ok: false, reason: 'payload is not JSON' };
  }
  if (!isPayload(payload)) return { ok: false, reason: 'payload is not a checkpoint' };
  if (res.protectedHeader.typ !== CHECKPOINT_TYP) return { ok: false, reason: `typ is ${JSON.stringify(res.protectedHeader.typ)}, not ${CHECKPOINT_TYP}`, payload };
  return { ok: true, payload, kid: res.protectedHeader.kid ?? '' };
}
