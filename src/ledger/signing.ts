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
 * Rotation: `rotateLedgerKey(dataDir)` (or replacing / removing the key file) gives the next start a
 * new key and kid. Every public key the data dir has signed with is remembered in
 * `<dataDir>/ledger-public-keys.json` (a JWKS, current key first), and `jwks()` lists them all: new
 * checkpoints are signed with the current key only, while checkpoints signed before the rotation
 * still verify (GET /v1/ledger/verify, the keys of exports, `exportDir/keys.json`). To stop trusting a
 * compromised key, remove it from that file (its checkpoints then fail as `checkpoint_invalid`).
 *
 * Checkpoints are compact JWS (RFC 7515) with `alg: EdDSA`. Signing uses node:crypto synchronously,
 * so a checkpoint can be signed inside the SQLite batch transaction; verification uses jose, like
 * any third party would.
 */

const KEY_FILE = 'ledger-signing-key.json';
/** Public keys of every key this data dir signed with (JWKS, current first). */
export const PUBLIC_KEYS_FILE = 'ledger-public-keys.json';
/** JWS `typ` of a checkpoint. */
export const CHECKPOINT_TYP = 'auditmesh-checkpoint+jws';

export interface LedgerSigner {
  kid: string;
  publicJwk: jose.JWK;
  /** The public keys a verifier trusts, as a JWKS: the current key first, then the previous ones. */
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
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(await newPrivateJwk()), { mode: 0o600 });
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
  const current = { ...publicJwk, kid };
  const known = rememberPublicKey(dataDir, current);
  return {
    kid,
    publicJwk: current,
    jwks: () => ({ keys: known.map((k) => ({ ...k })) }),
    sign(payload) {
      const input = `${header}.${b64url(canonicalize(payload))}`;
      return `${input}.${crypto.sign(null, Buffer.from(input), key).toString('base64url')}`;
    },
  };
}

/**
 * Replace the data dir's signing key with a new one (the next start signs with it) and remember the
 * old public key, so that checkpoints it signed keep verifying. Returns the kids.
 */
export async function rotateLedgerKey(dataDir: string): Promise<{ kid: string; previousKid?: string }> {
  const file = path.join(dataDir, KEY_FILE);
  let previousKid: string | undefined;
  if (fs.existsSync(file)) {
    const old = JSON.parse(fs.readFileSync(file, 'utf8')) as jose.JWK;
    const { d: _d, ...pub } = old;
    previousKid = old.kid ?? (await jose.calculateJwkThumbprint(pub));
    rememberPublicKey(dataDir, { ...pub, kid: previousKid });
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const jwk = await newPrivateJwk();
  writeAtomically(file, JSON.stringify(jwk), 0o600);
  const { d: _d, ...pub } = jwk;
  rememberPublicKey(dataDir, pub);
  return { kid: jwk.kid!, ...(previousKid ? { previousKid } : {}) };
}

async function newPrivateJwk(): Promise<jose.JWK> {
  const { privateKey } = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  jwk.kid = await jose.calculateJwkThumbprint(jwk);
  jwk.alg = 'EdDSA';
  jwk.use = 'sig';
  return jwk;
}

/** Add `current` (first) to the remembered public keys; answers them all, current first. */
function rememberPublicKey(dataDir: string, current: jose.JWK): jose.JWK[] {
  const file = path.join(dataDir, PUBLIC_KEYS_FILE);
  let known: jose.JWK[] = [];
  if (fs.existsSync(file)) {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { keys?: unknown };
    if (!Array.isArray(parsed.keys)) throw new Error(`${file}: not a JWKS ({ "keys": [...] })`);
    known = (parsed.keys as jose.JWK[]).map(({ d: _d, ...pub }) => pub);
  }
  const others = known.filter((k) => k.kid !== current.kid);
  const keys = [current, ...others];
  if (known[0]?.kid !== current.kid || others.length !== known.length - 1) writeAtomically(file, `${JSON.stringify({ keys }, null, 1)}\n`, 0o644);
  return keys;
}

function writeAtomically(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode });
  fs.renameSync(tmp, file);
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
