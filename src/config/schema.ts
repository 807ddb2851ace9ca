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
