import { SOURCE_TYPES } from '../model/events';
import { REPORT_NAMES } from '../store/reports';
import { EXPORT_FORMATS, CSV_COLUMNS } from './exportFormat';
import { MAX_EXPORT_RECORDS } from './routes/export';
import { ACTIVITY_DEFAULT_DAYS, ACTIVITY_RECORDS } from './routes/identities';
import { REPORT_DEFAULT_DAYS, UNIDENTIFIED } from './routes/reports';
import { MAX_PAGE, MAX_RANGE_DAYS, OUTCOMES, RECORD_TYPES, VERDICTS } from './validation';

/**
 * The OpenAPI 3.1 document of the API, served at `GET /openapi.json`. Hand-written next to the
 * validators (api/validation.ts and the route modules); openapi.test.ts checks that every registered
 * route is documented and the other way round, and that the documented /v1/records parameters are
 * exactly what the validator accepts.
 */

type Schema = Record<string, unknown>;
interface Param {
  name: string;
  in: 'query' | 'path';
  required?: boolean;
  description: string;
  schema: Schema;
}

const q = (name: string, description: string, schema: Schema): Param => ({ name, in: 'query', description, schema });
const path = (name: string, description: string, schema: Schema): Param => ({ name, in: 'path', required: true, description, schema });
const isoSchema = (example: string): Schema => ({ type: 'string', format: 'date-time', example });
const page = (max: number, dflt: number): Schema => ({ type: 'integer', minimum: 1, maximum: max, default: dflt, example: 10 });

/** The record filters of /v1/records and /v1/export (validation.ts recordFilterShape). */
export const RECORD_FILTER_PARAMS: Param[] = [
  q('from', 'Start of the time range (@timestamp), inclusive. ISO 8601 with zone.', isoSchema('2026-03-01T00:00:00Z')),
  q('to', 'End of the time range, exclusive. Must be after `from`.', isoSchema('2026-03-02T00:00:00Z')),
  q('trace.id', 'W3C (32 hex digits) or B3 64-bit (16 hex digits, left-padded) trace id, any case.', { type: 'string', pattern: '^([0-9a-fA-F]{32}|[0-9a-fA-F]{16})$', example: '0af7651916cd43dd8448eb211c80319c' }),
  q('user.id', "Exact user.id: the record's verified (or strongest) identity.", { type: 'string', minLength: 1, maxLength: 256, example: 'alice' }),
  q('source.ip', 'Exact client address (IPv4 or IPv6).', { type: 'string', oneOf: [{ format: 'ipv4' }, { format: 'ipv6' }], example: '10.0.0.1' }),
  q('verdict', 'Identity verdict of the record.', { type: 'string', enum: [...VERDICTS], example: 'verified' }),
  q('service.name', 'Exact service.name.', { type: 'string', minLength: 1, maxLength: 256, example: 'checkout' }),
  q('http.request.method', 'HTTP method, any case.', { type: 'string', pattern: '^[A-Za-z]{1,16}$', example: 'GET' }),
  q('http.response.status_code', 'HTTP status code.', { type: 'integer', minimum: 0, maximum: 999, example: 403 }),
  q('event.outcome', 'Outcome of the request.', { type: 'string', enum: [...OUTCOMES], example: 'failure' }),
  q('source', 'Records with a member from this source.', { type: 'string', enum: [...SOURCE_TYPES], example: 'envoy' }),
  q('type', 'Record type. Without it every type except `api` (the API audit trail); `type=api` needs the admin role.', { type: 'string', enum: [...RECORD_TYPES], example: 'request' }),
  q('q', 'Free text: case-insensitive (ASCII) substring of url.path or user_agent.original. Plain text, never query syntax.', { type: 'string', minLength: 1, maxLength: 256, example: 'orders' }),
  q('rule.name', 'Exact rule.name (firewall/mesh policy rule).', { type: 'string', minLength: 1, maxLength: 256, example: 'block-untrusted' }),
  q('firewall.action', 'PAN-OS action of the firewall member (panw.panos.action), e.g. allow, deny, drop, reset-both.', { type: 'string', pattern: '^[a-z][a-z0-9-]{0,31}$', example: 'deny' }),
  q('url.path', 'Exact url.path (case-sensitive).', { type: 'string', minLength: 1, maxLength: 2048, example: '/api/admin/users' }),
  q('path_prefix', 'Case-sensitive string prefix of url.path (`/api/admin` also matches `/api/administrators`).', { type: 'string', minLength: 1, maxLength: 2048, pattern: '^/', example: '/api/admin' }),
  q('identity.mismatch', 'Layers named different principals for the request (true) or not (false).', { type: 'string', enum: ['true', 'false'], example: 'true' }),
];

export const RECORDS_PARAMS: Param[] = [
  ...RECORD_FILTER_PARAMS,
  q('limit', 'Page size.', page(MAX_PAGE, 100)),
  q('size', 'Alias of `limit` (Elasticsearch’s name).', page(MAX_PAGE, 100)),
  q('cursor', 'Opaque cursor: `next_cursor` of the previous page.', { type: 'string', maxLength: 512, example: 'WzE3MTUzMzUyMDAwMDAsInIxIl0' }),
];

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
const err = (description: string) => json(ref('Error'), description);
const AUTH_ERRORS = {
  '400': err('Invalid parameter (named in the message); unknown parameters are rejected.'),
  '401': err('Missing, expired, forged or wrong-audience bearer token.'),
  '403': err('The token’s roles may not call this endpoint.'),
  '429': err('More requests per minute than allowed for this identity (Retry-After says when to retry).'),
  '503': err('The store did not answer.'),
};
const secured = (roles: string[], op: Record<string, unknown>) => ({ security: [{ bearerAuth: [] }], 'x-roles': roles, ...op, responses: { ...(op.responses as object), ...AUTH_ERRORS } });

const isoDate = { type: 'string', format: 'date-time' };
const countList = (key: string, extra: Schema = {}) => ({
  type: 'array',
  items: { type: 'object', required: [key, 'count'], properties: { [key]: { type: 'string' }, ...extra, count: { type: 'integer', minimum: 1 } } },
});

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'auditmesh API',
      version: '1',
      description:
        'Unified, identity-verified audit records (ECS) of firewall, gateway, mesh and OpenTelemetry telemetry. Every /v1 endpoint needs a bearer token ' +
        '(`auditmesh token --role auditor|investigator|admin`); `x-roles` lists the roles each accepts. Every authenticated GET /v1 request is itself ' +
        'recorded as an `api` record (see /v1/audit-log). Rate limit: per identity, `api.rateLimitPerMinute`.',
    },
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: {
        Error: { type: 'object', required: ['error', 'message'], properties: { error: { type: 'string', enum: ['bad_request', 'unauthorized', 'forbidden', 'not_found', 'rate_limited', 'unavailable'] }, message: { type: 'string' } } },
        AuditRecord: {
          type: 'object',
          description: 'A unified audit record: ECS fields at the top level, auditmesh.* for identity, evidence and correlation.',
          required: ['@timestamp', 'auditmesh'],
          additionalProperties: true,
          properties: {
            '@timestamp': isoDate,
            event: { type: 'object', properties: { action: { type: 'string' }, outcome: { type: 'string', enum: [...OUTCOMES] }, category: { type: 'array', items: { type: 'string' } } } },
            user: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, roles: { type: 'array', items: { type: 'string' } } } },
            source: { type: 'object', properties: { ip: { type: 'string' } } },
            url: { type: 'object', properties: { path: { type: 'string' }, query: { type: 'string' } } },
            http: { type: 'object' },
            service: { type: 'object', properties: { name: { type: 'string' } } },
            trace: { type: 'object', properties: { id: { type: 'string' } } },
            rule: { type: 'object', properties: { name: { type: 'string' } } },
            auditmesh: {
              type: 'object',
              required: ['record_id', 'record_type', 'sources', 'identity'],
              properties: {
                record_id: { type: 'string' },
                record_type: { type: 'string', enum: [...RECORD_TYPES] },
                sources: { type: 'array', items: { type: 'string', enum: [...SOURCE_TYPES] } },
                identity: {
                  type: 'object',
                  properties: { subject: { type: 'string' }, method: { type: 'string' }, verdict: { type: 'string', enum: [...VERDICTS] }, verified: { type: 'boolean' }, mismatch: { type: 'boolean' }, claims: { type: 'array', items: { type: 'object' } } },
                },
              },
            },
          },
        },
        RecordPage: {
          type: 'object',
          required: ['records', 'count', 'next_cursor'],
          properties: { records: { type: 'array', items: ref('AuditRecord') }, count: { type: 'integer' }, next_cursor: { type: ['string', 'null'] } },
        },
        IdentityActivity: {
          type: 'object',
          required: ['identity', 'from', 'to', 'bucket', 'summary', 'timeline', 'records'],
          properties: {
            identity: { type: 'string' },
            from: isoDate,
            to: isoDate,
            bucket: { type: 'string', enum: ['hour', 'day'], description: 'hour when to - from <= 3 days, else day (UTC aligned)' },
            summary: {
              type: 'object',
              required: ['records', 'first_seen', 'last_seen', 'resources', 'sources', 'outcomes', 'verdicts', 'source_ips'],
              properties: {
                records: { type: 'integer' },
                first_seen: { type: ['string', 'null'], format: 'date-time' },
                last_seen: { type: ['string', 'null'], format: 'date-time' },
                resources: { ...countList('path', { service: { type: ['string', 'null'] } }), description: 'Top 50 (url.path, service.name) pairs, most used first' },
                sources: countList('source'),
                outcomes: { type: 'object', properties: { success: { type: 'integer' }, failure: { type: 'integer' }, unknown: { type: 'integer' } } },
                verdicts: { type: 'object', additionalProperties: { type: 'integer' } },
                source_ips: { ...countList('ip'), description: 'Top 50 source addresses' },
              },
            },
            timeline: { type: 'array', items: { type: 'object', required: ['bucket', 'count', 'failures'], properties: { bucket: isoDate, count: { type: 'integer' }, failures: { type: 'integer' } } } },
            records: { type: 'array', maxItems: ACTIVITY_RECORDS, items: ref('AuditRecord'), description: `The newest ${ACTIVITY_RECORDS} records` },
          },
        },
        Report: {
          type: 'object',
          required: ['report', 'from', 'to', 'generated_at', 'groups', 'total', 'identities'],
          properties: {
            report: { type: 'string', enum: [...REPORT_NAMES] },
            from: isoDate,
            to: isoDate,
            generated_at: isoDate,
            groups: {
              type: 'array',
              items: {
                type: 'object',
                required: ['identity', 'count', 'failures', 'first_seen', 'last_seen', 'examples'],
                properties: {
                  identity: { type: 'string', description: `user.id, or ${UNIDENTIFIED}` },
                  count: { type: 'integer' },
                  failures: { type: 'integer' },
                  first_seen: isoDate,
                  last_seen: isoDate,
                  examples: { type: 'array', maxItems: 5, items: { type: 'string' }, description: 'Newest record ids' },
                },
              },
            },
            total: { type: 'integer', description: 'Records matched (all identities)' },
            identities: { type: 'integer', description: 'Identities matched (also those beyond limit)' },
          },
        },
        ExportManifest: {
          type: 'object',
          required: ['export_id', 'format', 'query', 'exported_at', 'completed_at', 'exported_by', 'record_count', 'bytes', 'sha256', 'complete'],
          properties: {
            export_id: { type: 'string' },
            format: { type: 'string', enum: [...EXPORT_FORMATS] },
            query: { type: 'object', additionalProperties: { type: 'string' } },
            exported_at: isoDate,
            completed_at: isoDate,
            exported_by: { type: 'object', properties: { subject: { type: 'string' }, issuer: { type: 'string' }, roles: { type: 'array', items: { type: 'string' } } } },
            record_count: { type: 'integer' },
            bytes: { type: 'integer' },
            sha256: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the exact response body bytes' },
            complete: { type: 'boolean' },
            error: { type: 'string' },
          },
        },
      },
    },
    paths: {
      '/healthz': { get: { summary: 'Liveness', security: [], responses: { '200': json({ type: 'object' }) } } },
      '/readyz': { get: { summary: 'Readiness of the store (and Kafka)', security: [], responses: { '200': json({ type: 'object' }), '503': json({ type: 'object' }, 'Not ready') } } },
      '/metrics': { get: { summary: 'Prometheus metrics', security: [], responses: { '200': { description: 'Prometheus text exposition', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      '/openapi.json': { get: { summary: 'This document', security: [], responses: { '200': json({ type: 'object' }) } } },
      '/v1/records': {
        get: secured(['auditor', 'investigator', 'admin'], {
          summary: 'Search records, newest first (ties by record id), with a cursor',
          parameters: RECORDS_PARAMS,
          responses: { '200': json(ref('RecordPage')) },
        }),
      },
      '/v1/traces/{traceId}': {
        get: secured(['auditor', 'investigator', 'admin'], {
          summary: 'The record(s) and source events of one trace, in time order',
          parameters: [path('traceId', '32 or 16 hex digits', { type: 'string', pattern: '^([0-9a-fA-F]{32}|[0-9a-fA-F]{16})$' })],
          responses: {
            '200': json({ type: 'object', required: ['trace_id', 'records', 'events'], properties: { trace_id: { type: 'string' }, records: { type: 'array', items: ref('AuditRecord') }, events: { type: 'array', items: { type: 'object' } } } }),
            '404': err('No record of this trace'),
          },
        }),
      },
      '/v1/dead-letters': {
        get: secured(['investigator', 'admin'], {
          summary: 'Input that could not be processed, with the reason and the original bytes',
          parameters: [q('limit', 'Page size.', page(MAX_PAGE, 100)), q('cursor', 'From next_cursor.', { type: 'string', maxLength: 512 })],
          responses: { '200': json({ type: 'object', properties: { dead_letters: { type: 'array', items: { type: 'object' } }, next_cursor: { type: ['string', 'null'] } } }) },
        }),
      },
      '/v1/ingest/{type}': {
        post: secured(['admin'], {
          summary: 'HTTP ingestion of line-delimited input of one source type (embedded default)',
          parameters: [path('type', 'Source type', { type: 'string', enum: [...SOURCE_TYPES] })],
          requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream', maxLength: 64 * 1024 * 1024 } } } },
          responses: { '202': json({ type: 'object', properties: { accepted: { type: 'integer' }, deadLettered: { type: 'integer' }, reasons: { type: 'object', additionalProperties: { type: 'integer' } } } }, 'Accepted') },
        }),
      },
      '/v1/identities/{id}/activity': {
        get: secured(['auditor', 'investigator', 'admin'], {
          summary: 'What one identity (user.id) did in [from, to): summary, timeline and newest records',
          parameters: [
            path('id', 'Exact user.id (percent-encode / and other reserved characters).', { type: 'string', minLength: 1, maxLength: 256 }),
            q('from', `Inclusive. Default: ${ACTIVITY_DEFAULT_DAYS} days before to.`, isoSchema('2026-03-01T00:00:00Z')),
            q('to', `Exclusive. Default: now. At most ${MAX_RANGE_DAYS} days after from.`, isoSchema('2026-03-02T00:00:00Z')),
          ],
          responses: { '200': json(ref('IdentityActivity')) },
        }),
      },
      '/v1/reports/{name}': {
        get: secured(['auditor', 'admin'], {
          summary: 'SOC 2 evidence report grouped by identity (biggest first); api records are never included',
          parameters: [
            path('name', 'Report', { type: 'string', enum: [...REPORT_NAMES] }),
            q('from', `Inclusive. Default: ${REPORT_DEFAULT_DAYS} days before to.`, isoSchema('2026-03-01T00:00:00Z')),
            q('to', `Exclusive. Default: now. At most ${MAX_RANGE_DAYS} days after from.`, isoSchema('2026-03-02T00:00:00Z')),
            q('limit', 'Most identity groups listed.', page(1000, 100)),
          ],
          responses: { '200': json(ref('Report')) },
        }),
      },
      '/v1/export': {
        get: secured(['auditor', 'admin'], {
          summary: 'Stream every matching record as NDJSON or CSV; the manifest (with the SHA-256 of the body) is at /v1/export/{id}/manifest',
          parameters: [
            ...RECORD_FILTER_PARAMS,
            q('format', `ndjson (one record per line) or csv (RFC 4180, columns: ${CSV_COLUMNS.join(', ')}).`, { type: 'string', enum: [...EXPORT_FORMATS], default: 'ndjson' }),
            q('limit', 'Most records exported.', { type: 'integer', minimum: 1, maximum: MAX_EXPORT_RECORDS }),
            q('ledger', 'NDJSON only: after each page of records, ledger evidence lines (ledger_keys, ledger_checkpoint, ledger_proof, ledger_missing) that `auditmesh verify` checks offline. Default true when the ledger is enabled; true with format=csv is a 400.', { type: 'string', enum: ['true', 'false'] }),
          ],
          responses: {
            '200': {
              description: 'The records, streamed (chunked).',
              headers: {
                'X-Auditmesh-Export-Id': { description: 'Id of the export manifest', schema: { type: 'string' } },
                Link: { description: '</v1/export/{id}/manifest>; rel="describedby"', schema: { type: 'string' } },
              },
              content: { 'application/x-ndjson': { schema: { type: 'string' } }, 'text/csv': { schema: { type: 'string' } } },
            },
          },
        }),
      },
      '/v1/export/{id}/manifest': {
        get: secured(['auditor', 'admin'], {
          summary: 'Manifest of an export: query, who, when, record count, bytes and SHA-256 of the body',
          parameters: [path('id', 'X-Auditmesh-Export-Id of the export', { type: 'string', pattern: '^[A-Za-z0-9_-]{22}$' })],
          responses: { '200': json(ref('ExportManifest')), '404': err('Unknown export') },
        }),
      },
      '/v1/audit-log': {
        get: secured(['admin'], {
          summary: 'The API audit trail: one api record per authenticated GET /v1 request, newest first',
          parameters: [
            q('from', 'Inclusive.', isoSchema('2026-03-01T00:00:00Z')),
            q('to', 'Exclusive.', isoSchema('2026-03-02T00:00:00Z')),
            q('user.id', 'Who called the API (token subject).', { type: 'string', minLength: 1, maxLength: 256 }),
            q('event.outcome', 'success (status < 400) or failure.', { type: 'string', enum: [...OUTCOMES] }),
            q('limit', 'Page size.', page(MAX_PAGE, 100)),
            q('cursor', 'From next_cursor.', { type: 'string', maxLength: 512 }),
          ],
          responses: { '200': json(ref('RecordPage')) },
        }),
      },
    },
  };
}
