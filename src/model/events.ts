/**
 * Shared vocabulary of the data path: raw bytes in, normalized events out.
 *
 * A parser is a pure function `(raw: RawRecord, options) => ParseResult`. It never throws on bad
 * input: it returns a rejection, which the runner turns into a dead-letter record.
 */

export type SourceType = 'envoy' | 'tyk' | 'panos' | 'otlp';
export const SOURCE_TYPES: readonly SourceType[] = ['envoy', 'tyk', 'panos', 'otlp'];

/** Where a raw record came from: Kafka coordinates or file/line. Kept on every event as evidence. */
export interface SourceRef {
  source: SourceType;
  topic?: string;
  partition?: number;
  /** Kafka offset as a decimal string (int64). */
  offset?: string;
  file?: string;
  /** 1-based line number within `file`. */
  line?: number;
  /** Index of the event within the raw record (an OTLP request carries many spans). */
  index?: number;
}

export interface RawRecord {
  value: Buffer;
  ref: SourceRef;
  /** Kafka headers, lower-cased keys, if any. */
  headers?: Record<string, string>;
  /** Kafka message key, if any. */
  key?: string;
  /** Kafka message timestamp (ms since epoch) or file read time. */
  receivedAtMs: number;
}

/** How strong an identity claim is, weakest first. Used to pick the record's identity. */
export type ClaimStrength = 'asserted' | 'network' | 'gateway' | 'mtls' | 'jwt';
export const STRENGTH_ORDER: readonly ClaimStrength[] = ['asserted', 'network', 'gateway', 'mtls', 'jwt'];

export type ClaimMethod =
  | 'jwt' // bearer token; must be verified before it counts
  | 'jwt_payload' // payload forwarded by Envoy jwt_authn (already verified by the mesh, not by us)
  | 'spiffe' // mTLS peer principal
  | 'tyk_key' // Tyk key alias / api key hash
  | 'tyk_oauth' // Tyk OAuth client id
  | 'firewall_userid' // PAN-OS User-ID
  | 'otel_enduser'; // span attribute enduser.id / user.id

export type Verdict =
  | 'verified'
  | 'invalid_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_audience'
  | 'unknown_issuer'
  | 'malformed'
  | 'no_token'
  | 'unverifiable' // a claim with no cryptographic proof (User-ID, enduser.id): recorded, never "verified"
  | 'trusted_upstream'; // asserted by a layer that verified it (mesh jwt_authn, mTLS handshake)

export interface IdentityClaim {
  method: ClaimMethod;
  /** The principal named by the claim: JWT sub, SPIFFE URI, Tyk alias, User-ID, enduser.id. */
  subject: string;
  /** Which layer said it. */
  source: SourceType;
  strength: ClaimStrength;
  verdict?: Verdict;
  reason?: string;
  issuer?: string;
  email?: string;
  groups?: string[];
  scopes?: string[];
  audience?: string[];
  /** SHA-256 (hex) of the raw token; the token itself is never stored. */
  tokenSha256?: string;
  /** Token validity window (ISO 8601), from exp / nbf / iat. */
  expiresAt?: string;
  notBefore?: string;
  /** Event id of the source event that carried this claim. */
  eventId?: string;
}

/** Join keys a source event offers to the correlator. All ids are normalized lower-case hex. */
export interface JoinKeys {
  /** 32 hex chars (B3 64-bit ids are left-padded with zeros). */
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  /** x-request-id as logged. */
  requestId?: string;
  /** For firewall and trace-less gateway events. */
  clientIp?: string;
  clientPort?: number;
  natClientIp?: string;
  natClientPort?: number;
  serverIp?: string;
  serverPort?: number;
  natServerIp?: string;
  natServerPort?: number;
  method?: string;
  path?: string;
  /** Firewall session id. */
  sessionId?: string;
  /** Event time span (ms since epoch) used for time-window joins. */
  startMs?: number;
  endMs?: number;
}

/** An ECS document fragment (nested objects, ECS field names). */
export type Ecs = Record<string, unknown>;

export interface ParsedEvent {
  /** Deterministic id: same raw input → same id (dedupe on redelivery). */
  id: string;
  source: SourceType;
  /** Sub-type, e.g. `access_log`, `span`, `traffic`, `threat`, `userid`, `globalprotect`, `analytics`. */
  kind: string;
  /** Event time, ISO 8601 with zone. */
  timestamp: string;
  /** Normalized ECS fields of this event. Never contains a raw token, API key, cookie or password. */
  ecs: Ecs;
  join: JoinKeys;
  claims: IdentityClaim[];
  /**
   * Raw bearer tokens found in the event, handed to identity verification and dropped before
   * anything is stored (see identity/). Never serialized.
   */
  tokens?: string[];
  ref: SourceRef;
}

export type RejectCode =
  | 'empty'
  | 'too_large'
  | 'invalid_utf8'
  | 'invalid_json'
  | 'invalid_protobuf'
  | 'invalid_base64'
  | 'wrong_field_count'
  | 'missing_field'
  | 'invalid_field'
  | 'unsupported_format'
  | 'unknown_type';

export interface ParseRejection {
  code: RejectCode;
  reason: string;
  field?: string;
}

export type ParseResult = { ok: true; events: ParsedEvent[] } | { ok: false; rejection: ParseRejection };

export interface DeadLetter {
  id: string;
  /** ISO time the record was dead-lettered. */
  timestamp: string;
  ref: SourceRef;
  code: RejectCode | string;
  reason: string;
  field?: string;
  stage: 'parse' | 'sink' | 'processing';
  /** Original bytes, base64 (capped at 64 KiB; `originalTruncated` says so). */
  originalBase64: string;
  originalBytes: number;
  originalTruncated?: boolean;
}

export const ok = (events: ParsedEvent[]): ParseResult => ({ ok: true, events });
export const reject = (code: RejectCode, reason: string, field?: string): ParseResult => ({
  ok: false,
  rejection: field === undefined ? { code, reason } : { code, reason, field },
});
