import { z } from 'zod';
import { parseCidr } from '../cidr';

/**
 * Alert rule files (`pipelines/rules/*.yaml`): either one rule (a mapping) or `rules:` with a list.
 * Keys are camelCase like the rest of the configuration. Every rule has the same envelope (id,
 * type, severity, suppression, description) and `params` typed by its `type`. Unknown keys are
 * errors, reported with the file and line (see load.ts).
 */

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Token verdicts that count as an invalid or forged token. `expired` has its own rule type. */
export const FAILED_VERDICTS = ['invalid_signature', 'unknown_issuer', 'wrong_audience', 'malformed', 'not_yet_valid', 'expired'] as const;
export const CLAIM_METHODS = ['jwt', 'jwt_payload', 'spiffe', 'tyk_key', 'tyk_oauth', 'firewall_userid', 'otel_enduser'] as const;

const seconds = (what: string) => z.number({ invalid_type_error: `${what} must be a number of seconds` }).int().positive(`${what} must be > 0 seconds`);
const threshold = z.number().int().min(1, 'must be >= 1 (1 = every matching record)');
const prefixes = z.array(z.string().regex(/^\//, "must start with '/' (a URL path prefix, e.g. /api/admin)")).min(1, 'needs at least one path prefix');
const cidrs = z.array(z.string().refine((s) => {
  try {
    parseCidr(s);
    return true;
  } catch {
    return false;
  }
}, 'must be a CIDR, e.g. 10.0.0.0/8 or fc00::/7'));
/** Which identities a baseline rule looks at: people, SPIFFE workloads, or both. */
const subjects = z.enum(['human', 'workload', 'all']).default('human');

/** Per-type parameters. Every field documents its unit and default; `.strict()` rejects typos. */
export const PARAMS = {
  /** Repeated invalid/forged tokens (bad signature, unknown issuer, ...) per source address or claimed identity. */
  invalid_tokens: z
    .object({
      /** `source_ip`: the client address; `identity`: the subject the (unverified) token claims. */
      groupBy: z.enum(['source_ip', 'identity']).default('source_ip'),
      /** Distinct records with an invalid token within the window that raise the alert. */
      threshold: threshold.default(5),
      /** Sliding window, in seconds of event time. */
      windowSeconds: seconds('windowSeconds').default(300),
      /** Which token verdicts count. Default: every failure except `expired` (see expired_token). */
      verdicts: z.array(z.enum(FAILED_VERDICTS)).min(1).default(['invalid_signature', 'unknown_issuer', 'wrong_audience', 'malformed', 'not_yet_valid']),
    })
    .strict(),
  /** Layers named different principals for one request (auditmesh.identity.mismatch). */
  identity_mismatch: z
    .object({
      /** Mismatches involving one of these claim methods are ignored (e.g. a noisy `otel_enduser`). Empty = none ignored. */
      ignoreMethods: z.array(z.enum(CLAIM_METHODS)).default([]),
    })
    .strict(),
  /** A request without a verified identity reached a sensitive route (not denied there). */
  unverified_sensitive_route: z
    .object({
      /** URL path prefixes, matched on path-segment boundaries (`/api/admin` matches `/api/admin/x`, not `/api/administrators`). */
      pathPrefixes: prefixes,
      /** HTTP methods to check (upper case). Empty = all methods. */
      methods: z.array(z.string().regex(/^[A-Z]{1,16}$/, 'upper-case HTTP method, e.g. DELETE')).default([]),
      /** Also alert when the request was denied (status in deniedStatusCodes). false = only requests that got through. */
      includeDenied: z.boolean().default(false),
      deniedStatusCodes: z.array(z.number().int().min(100).max(599)).default([401, 403]),
    })
    .strict(),
  /** An identity seen from a source it never used before (first-seen set per identity). */
  new_source: z
    .object({
      /** `ip`: the exact address; `network`: its /24 (IPv4) or /64 (IPv6); `country`: source.geo.country_iso_code (records without it are skipped). */
      scope: z.enum(['ip', 'network', 'country']).default('network'),
      /** Learning period: the identity's first N records with this scope only teach the baseline, never alert. */
      learningRecords: z.number().int().min(0).default(30),
      /** Network prefix lengths for scope `network`. */
      ipv4PrefixLength: z.number().int().min(8).max(32).default(24),
      ipv6PrefixLength: z.number().int().min(16).max(128).default(64),
      subjects,
      /** Only verified identities (an unverified claim can name anyone, and would poison the baseline). */
      verifiedOnly: z.boolean().default(true),
    })
    .strict(),
  /** A burst of denied requests (firewall deny, 401/403) per identity or source address. */
  denied_burst: z
    .object({
      /** `identity_or_source_ip`: the verified identity when there is one, else the source address. */
      groupBy: z.enum(['identity', 'source_ip', 'identity_or_source_ip']).default('identity_or_source_ip'),
      threshold: threshold.default(10),
      windowSeconds: seconds('windowSeconds').default(120),
      statusCodes: z.array(z.number().int().min(100).max(599)).min(1).default([401, 403]),
      /** Count firewall sessions the firewall denied/dropped/reset (event.type `denied`). */
      includeFirewallDenies: z.boolean().default(true),
    })
    .strict(),
  /** Activity at an hour of the day this identity is rarely active (learned histogram, UTC). */
  unusual_hour: z
    .object({
      /** Records of the identity before the histogram is trusted. */
      minObservations: z.number().int().min(1).default(100),
      /** Alert when the smoothed probability of the hour is below this (0-1). */
      minProbability: z.number().gt(0).lt(1).default(0.003),
      /** Neighbouring hours that share evidence (1 = ±1 hour). */
      smoothingHours: z.number().int().min(0).max(3).default(1),
      subjects,
    })
    .strict(),
  /** Request rate of an identity far above its learned hourly rate (EWMA mean/variance, z-score). */
  rate_spike: z
    .object({
      /** Active hours learned before the rate is trusted. */
      minBuckets: z.number().int().min(2).default(24),
      /** Alert when the hour's count exceeds mean + zScore × standard deviation ... */
      zScore: z.number().positive().default(4),
      /** ... and is at least this many requests. */
      minCount: z.number().int().min(1).default(30),
      subjects,
    })
    .strict(),
  /** A SPIFFE (workload) identity presented from an address outside the mesh. */
  workload_outside_mesh: z
    .object({
      /** Addresses inside the mesh. The mTLS peer address of the event that carried the SPIFFE claim is checked. */
      internalCidrs: cidrs.min(1).default(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', 'fc00::/7', '::1/128']),
      /** Only SPIFFE ids of these trust domains (e.g. cluster.local). Empty = every SPIFFE id. */
      trustDomains: z.array(z.string().min(1)).default([]),
    })
    .strict(),
  /** A human (JWT) token presented by a workload: over an mTLS connection from a peer that is not a gateway, or on a workload-only route. */
  human_token_from_workload: z
    .object({
      /** SPIFFE ids allowed to forward human tokens (the API gateway). Every other peer presenting a human token alerts. */
      gatewayPrincipals: z.array(z.string().regex(/^spiffe:\/\//, 'must be a SPIFFE id (spiffe://...)')).default([]),
      /** Routes only workloads may call; a verified human identity there alerts. Empty = no such check. */
      workloadPathPrefixes: z.array(z.string().regex(/^\//, "must start with '/'")).default([]),
    })
    .strict(),
  /** A token used after it expired (verdict `expired` at the time of the request). */
  expired_token: z
    .object({
      /** Tolerance beyond the issuer's clock skew, in seconds past `exp`. 0 = any expired token. */
      graceSeconds: z.number().int().min(0).default(0),
    })
    .strict(),
  /** A request by a revoked identity, or with a revoked token, after its revocation time (detect.revocationFile). */
  revoked_token: z
    .object({
      checkSubjects: z.boolean().default(true),
      checkTokens: z.boolean().default(true),
    })
    .strict(),
} as const;

export type RuleType = keyof typeof PARAMS;
export const RULE_TYPES = Object.keys(PARAMS) as RuleType[];

const envelope = {
  /** Unique across all rule files; names the alerts (`rule.id`). */
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, - and _ (max 64), e.g. invalid-tokens-per-source'),
  severity: z.enum(SEVERITIES),
  /** Further matches of the same rule and key within this many seconds (event time) after the last one join the alert instead of raising a new one. */
  suppressionWindowSeconds: z.number().int().min(0, 'must be >= 0 (0 = every match is a new alert)'),
  /** What the alert means, for the analyst who reads it. */
  description: z.string().trim().min(10, 'write a sentence an analyst can act on (at least 10 characters)'),
  /** false = loaded and validated but not evaluated. */
  enabled: z.boolean().default(true),
};

const variant = <T extends RuleType, S extends z.AnyZodObject>(type: T, params: S) =>
  z.object({ ...envelope, type: z.literal(type), params: params.default({} as never) }).strict();

export const ruleSchema = z.discriminatedUnion('type', [
  variant('invalid_tokens', PARAMS.invalid_tokens),
  variant('identity_mismatch', PARAMS.identity_mismatch),
  variant('unverified_sensitive_route', PARAMS.unverified_sensitive_route),
  variant('new_source', PARAMS.new_source),
  variant('denied_burst', PARAMS.denied_burst),
  variant('unusual_hour', PARAMS.unusual_hour),
  variant('rate_spike', PARAMS.rate_spike),
  variant('workload_outside_mesh', PARAMS.workload_outside_mesh),
  variant('human_token_from_workload', PARAMS.human_token_from_workload),
  variant('expired_token', PARAMS.expired_token),
  variant('revoked_token', PARAMS.revoked_token),
]);

export type RuleConfig = z.infer<typeof ruleSchema>;
export type RuleOf<T extends RuleType> = Extract<RuleConfig, { type: T }>;
export type ParamsOf<T extends RuleType> = z.infer<(typeof PARAMS)[T]>;

/** A loaded rule with where it came from (for messages). */
export type LoadedRule = RuleConfig & { file: string; line: number; col: number };
