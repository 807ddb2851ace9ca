import { z } from 'zod';

/**
 * The auditmesh configuration file (YAML, path in AUDITMESH_CONFIG). Keys are camelCase because the
 * identity section is specified that way (`identity.issuers[].jwksUri`); the whole file follows it.
 * Environment variables override the file (see load.ts). Unknown keys are errors.
 */

const issuer = z
  .object({
    /** Expected `iss` claim, exactly. */
    issuer: z.string().min(1),
    /** JWKS URL; fetched lazily, cached, refetched (rate-limited) on an unknown `kid`. */
    jwksUri: z.string().url().optional(),
    /** JWKS file path (JSON `{ "keys": [...] }`), re-read when a `kid` is unknown. */
    jwksFile: z.string().min(1).optional(),
    /** Accepted `aud` values; empty means the audience is not checked. */
    audiences: z.array(z.string().min(1)).default([]),
    /** Allowed JWS algorithms. `none` and HMAC (`HS*`) are never allowed with public keys. */
    algorithms: z.array(z.string().regex(/^(RS|PS|ES)(256|384|512)$|^EdDSA$/, 'must be one of RS/PS/ES 256/384/512 or EdDSA')).default(['RS256', 'ES256', 'EdDSA']),
    /** Tolerance for exp/nbf/iat against the event time, in seconds. 0 = exact. */
    clockSkewSeconds: z.number().int().min(0).max(3600).default(60),
  })
  .strict()
  .refine((v) => Boolean(v.jwksUri) !== Boolean(v.jwksFile), { message: 'exactly one of jwksUri or jwksFile is required' });

/** A url.path prefix: starts with `/`, no control characters. */
const pathPrefix = z
  .string()
  .min(1)
  .max(1024)
  .refine((s) => s.startsWith('/'), 'must start with / (a url.path prefix, e.g. /api/admin)')
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

export const configSchema = z
  .object({
    server: z
      .object({
        /** HTTP port of the API and dashboard. 0 = pick a free port. */
        port: z.number().int().min(0).max(65535).default(8080),
        /** Interface to bind. */
        host: z.string().default('0.0.0.0'),
      })
      .strict()
      .default({}),
    /** Directory of the embedded store, local signing key and checkpoints. */
    dataDir: z.string().min(1).default('./data'),
    /** Directory of pipeline definitions (`*.yaml`). */
    pipelinesDir: z.string().min(1).default('./pipelines'),
    kafka: z
      .object({
        /** Bootstrap brokers; empty = no Kafka (embedded default: file/HTTP ingestion only). */
        brokers: z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port')).default([]),
        clientId: z.string().min(1).default('auditmesh'),
        /** Prefix of consumer group ids: `<prefix>-<pipeline id>`. */
        groupPrefix: z.string().min(1).default('auditmesh'),
        /** Dead-letter topic for records that cannot be parsed. */
        deadLetterTopic: z.string().min(1).default('auditmesh-dead-letters'),
      })
      .strict()
      .default({}),
    elasticsearch: z
      .object({
        /** Cluster URL; empty = embedded store. */
        url: z.string().url().optional(),
        username: z.string().optional(),
        password: z.string().optional(),
        apiKey: z.string().optional(),
        /** Prefix of every auditmesh index. */
        indexPrefix: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _').default('auditmesh'),
        /** Records older than this many days are deleted (daily indices). 0 = keep forever. */
        retentionDays: z.number().int().min(0).default(400),
      })
      .strict()
      .default({}),
    identity: z
      .object({
        issuers: z.array(issuer).default([]),
        /** Minimum seconds between JWKS refetches for one issuer (unknown `kid`). */
        jwksRefetchIntervalSeconds: z.number().int().min(0).default(30),
      })
      .strict()
      .default({}),
    correlation: z
      .object({
        /** How long after a request an event may arrive and still amend its record (event time). */
        latenessMs: z.number().int().min(0).default(300_000),
        /**
         * How far ahead of auditmesh's clock an event may be dated (streaming). A later one is
         * dead-lettered (code `too_early`) instead of moving the event-time watermark: keep it at or
         * below latenessMs, so a device with a fast clock or a wrong time zone can never make other
         * sources' on-time events "too late". Default 5 minutes (= latenessMs).
         */
        maxAheadMs: z.number().int().min(0).default(300_000),
        /** Time window for address/time joins of firewall and trace-less gateway events. */
        joinWindowMs: z.number().int().min(0).default(5_000),
        /** Cap on records kept in memory by the correlator (LRU); the store holds the rest. */
        maxOpenRecords: z.number().int().min(1).default(100_000),
        /** Cap on members per record; beyond it the record is marked partial. */
        maxMembersPerRecord: z.number().int().min(1).default(1_000),
      })
      .strict()
      .default({}),
    sources: z
      .object({
        panos: z.object({ tzOffset: z.string().default('UTC') }).passthrough().default({}),
        envoy: z.record(z.unknown()).default({}),
        tyk: z.record(z.unknown()).default({}),
        otlp: z.record(z.unknown()).default({}),
      })
      .strict()
      .default({}),
    api: z
      .object({
        /** Bearer-token issuer for the query API. Absent = a local key in dataDir (`auditmesh token`). */
        auth: z
          .object({
            issuer: z.string().min(1),
            jwksUri: z.string().url().optional(),
            jwksFile: z.string().optional(),
            audience: z.string().min(1).default('auditmesh'),
            /** Claim holding the roles (array or space-separated string). */
            rolesClaim: z.string().default('roles'),
          })
          .strict()
          .optional(),
        /** Requests per minute per identity. 0 = unlimited. */
        rateLimitPerMinute: z.number().int().min(0).default(600),
      })
      .strict()
      .default({}),
    /**
     * SOC 2 reports (`GET /v1/reports/:name`). Path prefixes are case-sensitive string prefixes of
     * url.path: `/api/admin` also matches `/api/administrators`; end a prefix with `/` to match only
     * below a segment. An empty list matches nothing (the report then lists nothing for that rule).
     */
    reports: z
      .object({
        sensitive: z
          .object({
            /** url.path prefixes whose access is sensitive (`sensitive-access`). */
            pathPrefixes: z.array(pathPrefix).max(100).default(['/api/admin', '/api/payments']),
            /** service.name values whose access is sensitive (exact). */
            services: z.array(z.string().min(1).max(256)).max(100).default([]),
          })
          .strict()
          .default({}),
        /** url.path prefixes of administrative endpoints (`privileged-actions` with POST/PUT/PATCH/DELETE). */
        adminPathPrefixes: z.array(pathPrefix).max(100).default(['/api/admin']),
        /** Identity groups (user.roles, from the verified token's groups claim) that make any write privileged. */
        adminGroups: z.array(z.string().min(1).max(256)).max(100).default([]),
        /**
         * user.id patterns of service accounts (`service-accounts`, besides every SPIFFE identity): a
         * simple glob where `*` is any run of characters and `?` one character; everything else is literal.
         */
        serviceAccountPatterns: z
          .array(z.string().min(1).max(256).refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters'))
          .max(100)
          .default(['svc-*', 'system:serviceaccount:*']),
      })
      .strict()
      .default({}),
    /**
     * Tamper-evident audit trail (src/ledger): every record version written is appended to a hash
     * chain, sealed by Ed25519-signed checkpoints (Merkle roots) that are copied out of the store.
     */
    ledger: z
      .object({
        /** Ledger every record write. false = no entries, no checkpoints, no /v1/ledger verification. */
        enabled: z.boolean().default(true),
        /**
         * Sign a checkpoint when this many entries are not covered by one yet. 0 = never by count.
         * Default 1000: an inclusion proof is then at most 10 hashes.
         */
        checkpointEveryEntries: z.number().int().min(0).max(1_000_000).default(1_000),
        /** Sign a checkpoint when the oldest entry not covered by one is this old, in seconds. 0 = never by time. Default 60. */
        checkpointEverySeconds: z.number().int().min(0).max(86_400).default(60),
        /**
         * Directory the checkpoints are appended to (`checkpoints.jws`, one JWS per line, fsync'ed; and
         * `keys.json`). Put it where the store's administrators cannot rewrite it. Absent = no file copy.
         */
        exportDir: z.string().min(1).optional(),
        /** Kafka topic the checkpoints are produced to (needs kafka.brokers; give it long retention). Absent = none. */
        kafkaTopic: z.string().min(1).max(249).regex(/^[a-zA-Z0-9._-]+$/, 'letters, digits, ., _ and -').optional(),
      })
      .strict()
      .refine((l) => !l.enabled || l.checkpointEveryEntries > 0 || l.checkpointEverySeconds > 0, {
        message: 'checkpointEveryEntries and checkpointEverySeconds cannot both be 0: entries would never be signed (set one of them, e.g. checkpointEverySeconds: 60)',
      })
      .default({}),
    /** Alerting on anomalous identity use (src/detect): rules, baselines, alert outputs. */
    detect: z
      .object({
        /** Evaluate alert rules on every stored batch. false = no alerting (rules are not loaded). */
        enabled: z.boolean().default(true),
        /**
         * Directory of rule files (`*.yaml`, see pipelines/rules/). Absent = `<pipelinesDir>/rules`,
         * where a missing directory means no rules; a configured directory must exist.
         */
        rulesDir: z.string().min(1).optional(),
        /** Fallback poll of the rule and revocation files' mtimes, in ms (fs.watch is the fast path). 0 = fs.watch only. */
        reloadPollIntervalMs: z.number().int().min(0).default(5_000),
        /** Revocation list (YAML/JSON: revoked subjects and token SHA-256s with their revocation time). Absent = none. */
        revocationFile: z.string().min(1).optional(),
        /** Kafka topic of alerts (when kafka.brokers is set; same client settings). */
        kafkaTopic: z.string().min(1).default('auditmesh-alerts'),
        /** Webhooks notified of every new alert (POST JSON, HMAC-SHA256 signed). Empty = none. */
        webhooks: z
          .array(
            z
              .object({
                url: z.string().url().refine((u) => /^https?:/.test(u), 'must be an http(s) URL'),
                /** HMAC key, literally ... */
                secret: z.string().min(16, 'must be at least 16 characters').optional(),
                /** ... or the name of the environment variable holding it (preferred: keeps the secret out of the file). */
                secretEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
                /** Retries after the first attempt (0 = one attempt), then a dead letter. */
                maxRetries: z.number().int().min(0).max(20).default(5),
                /** Delay before the first retry, in ms; doubles per retry, with jitter. */
                initialBackoffMs: z.number().int().min(1).default(1_000),
                /** Upper bound of one retry delay, in ms. */
                maxBackoffMs: z.number().int().min(1).default(60_000),
                /** Timeout of one attempt, in ms. */
                timeoutMs: z.number().int().min(1).default(10_000),
              })
              .strict()
              .refine((w) => Boolean(w.secret) !== Boolean(w.secretEnv), { message: 'exactly one of secret or secretEnv is required' }),
          )
          .default([]),
      })
      .strict()
      .default({}),
    log: z
      .object({
        level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type IssuerConfig = z.infer<typeof issuer>;
