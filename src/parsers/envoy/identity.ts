/**
 * Identity claims an access-log line can carry (only with custom formats; Istio's defaults carry none):
 * - the mTLS peer principal (`%DOWNSTREAM_PEER_URI_SAN%`, a SPIFFE id) — verified by the handshake;
 * - the JWT payload forwarded by Envoy jwt_authn (`%REQ(x-jwt-payload)%`, Istio `outputPayloadToHeader`)
 *   or stored in its dynamic metadata — verified by the mesh, not by us;
 * - a raw `Authorization: Bearer` token — unverified: handed to the identity layer via `event.tokens`,
 *   only its SHA-256 is kept.
 */
import type { IdentityClaim } from '../../model/events';
import { decodeJsonB64, sha256Hex } from '../common';
import { JWT_AUTHN_NAMESPACE, type AccessFields } from './fields';

export interface IdentityResult {
  claims: IdentityClaim[];
  tokens: string[];
  /** SPIFFE ids of the downstream peer. */
  peerSans: string[];
  /** The (mesh-verified) JWT payload used for `user.*`, if any. */
  payload?: Record<string, unknown>;
}

const str = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;

function strList(v: unknown, splitSpaces = false): string[] | undefined {
  if (Array.isArray(v)) {
    const out = v.map(str).filter((s): s is string => s !== undefined && s !== '');
    return out.length > 0 ? out : undefined;
  }
  const s = str(v);
  if (s === undefined || s === '') return undefined;
  return splitSpaces ? s.split(/\s+/).filter((x) => x !== '') : [s];
}

function epochIso(v: unknown): string | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n)) return undefined;
  const d = new Date(n * 1000);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** A verified-upstream claim from a decoded JWT payload. */
export function payloadClaim(p: Record<string, unknown>, eventId: string): IdentityClaim {
  const c: IdentityClaim = {
    method: 'jwt_payload',
    subject: str(p['sub']) ?? '',
    source: 'envoy',
    strength: 'jwt',
    verdict: 'trusted_upstream',
    eventId,
  };
  const iss = str(p['iss']);
  if (iss) c.issuer = iss;
  const email = str(p['email']);
  if (email) c.email = email;
  const groups = strList(p['groups']);
  if (groups) c.groups = groups;
  const scopes = strList(p['scope'], true) ?? strList(p['scp'], true);
  if (scopes) c.scopes = scopes;
  const aud = strList(p['aud']);
  if (aud) c.audience = aud;
  const exp = epochIso(p['exp']);
  if (exp) c.expiresAt = exp;
  const nbf = epochIso(p['nbf']);
  if (nbf) c.notBefore = nbf;
  return c;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const looksLikePayload = (o: Record<string, unknown>): boolean => 'sub' in o || 'iss' in o;

/** The JWT payload inside a logged jwt_authn dynamic-metadata value (object or JSON text), if any. */
export function jwtAuthnPayload(v: unknown): Record<string, unknown> | undefined {
  let o: unknown = v;
  if (typeof o === 'string') {
    const s = o.trim();
    if (!s.startsWith('{')) return undefined;
    try {
      o = JSON.parse(s);
    } catch {
      return undefined;
    }
  }
  for (let depth = 0; depth < 4 && isObj(o); depth++) {
    if (looksLikePayload(o)) return o;
    if (isObj(o[JWT_AUTHN_NAMESPACE])) o = o[JWT_AUTHN_NAMESPACE];
    else if (isObj(o['payload'])) o = o['payload'];
    else {
      // Older Envoy keys the payload by issuer (`payload_in_metadata: <issuer>`): one object value.
      const vals = Object.values(o).filter(isObj);
      if (vals.length !== 1) return undefined;
      o = vals[0];
    }
  }
  return undefined;
}

/** The payload of a logged payload header: base64url JSON (padded or not), or plain JSON. */
function headerPayload(v: unknown): Record<string, unknown> | undefined {
  if (isObj(v)) return v;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (s.startsWith('{')) return jwtAuthnPayload(s);
  return decodeJsonB64(s);
}

const BEARER = /^\s*bearer\s+([A-Za-z0-9\-._~+/]+=*)/i;

/** Claims and tokens of one access-log entry. */
export function extractIdentity(f: AccessFields, eventId: string): IdentityResult {
  const claims: IdentityClaim[] = [];
  const tokens: string[] = [];
  const peerSans: string[] = [];
  let payload: Record<string, unknown> | undefined;

  const san = f.downstream_peer_uri_san;
  if (san !== undefined && san !== null) {
    const list = Array.isArray(san) ? san.map(str) : (str(san) ?? '').split(',');
    for (const s0 of list) {
      const s = s0?.trim();
      if (s && s.toLowerCase().startsWith('spiffe://')) {
        peerSans.push(s);
        if (peerSans.length === 1) {
          claims.push({ method: 'spiffe', subject: s, source: 'envoy', strength: 'mtls', verdict: 'trusted_upstream', eventId });
        }
      }
    }
  }

  const seen = new Set<string>();
  const addPayload = (p: Record<string, unknown>): void => {
    const c = payloadClaim(p, eventId);
    const key = `${c.issuer ?? ''}\u0000${c.subject}`;
    if (seen.has(key)) return;
    seen.add(key);
    payload ??= p;
    claims.push(c);
  };
  const hp = f.jwt_payload;
  if (hp !== undefined && hp !== null && hp !== '' && hp !== '-') {
    const p = headerPayload(hp);
    if (p) addPayload(p);
    else {
      claims.push({
        method: 'jwt_payload',
        subject: '',
        source: 'envoy',
        strength: 'jwt',
        verdict: 'malformed',
        reason: 'logged JWT payload header is not base64url-encoded JSON',
        eventId,
      });
    }
  }
  const md = f.jwt_authn;
  if (md !== undefined && md !== null && md !== '' && md !== '-') {
    const p = jwtAuthnPayload(md);
    if (p) addPayload(p);
  }

  const auth = str(f.authorization);
  if (auth) {
    const m = BEARER.exec(auth);
    if (m) {
      const token = m[1]!;
      tokens.push(token);
      const parts = token.split('.');
      const unverified = parts.length === 3 ? decodeJsonB64(parts[1]!) : undefined;
      claims.push({
        method: 'jwt',
        subject: str(unverified?.['sub']) ?? '',
        source: 'envoy',
        strength: 'jwt',
        tokenSha256: sha256Hex(token),
        eventId,
      });
    }
  }
  const out: IdentityResult = { claims, tokens, peerSans };
  if (payload) out.payload = payload;
  return out;
}
