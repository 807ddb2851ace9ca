import type { Response } from 'express';
import { z } from 'zod';
import type { RouteModule } from '../app';
import { ledgerOf } from '../../ledger/ledger';
import { EVIDENCE_FORMAT } from '../../ledger/evidence';
import { PROBLEM_REASONS, type VerifyRange } from '../../ledger/verify';

/**
 * The tamper-evident audit trail's endpoints (src/ledger):
 *
 * - `GET /v1/ledger/keys` — the public keys of the checkpoint signatures, a JWKS. NO AUTHENTICATION:
 *   it is public key material, and an offline verifier (or an auditor's script) must be able to
 *   fetch it without holding an auditmesh token. Rate-limited per client address; cacheable.
 * - `GET /v1/ledger/verify?from=&to=` (auditor, admin) — verify the stored ledger: a seq range
 *   (`from=1&to=5000`, both inclusive) or a time range (ISO 8601, from inclusive, to exclusive);
 *   neither = the whole ledger. 200 with `{ ok, checked, first_broken?, problems, ... }` either way.
 * - `GET /v1/ledger/proof/:recordId` (auditor, investigator, admin) — the inclusion proof of the
 *   record's current version, with the checkpoint and keys (what `auditmesh verify` reads).
 *
 * Unknown query parameters are a 400, as everywhere in /v1. `ledgerOpenApiPaths()` documents these
 * routes (merged into /openapi.json through queryApiRoutes' openApiExtraPaths, like the alerts').
 */

const seqOrTime = z
  .string()
  .max(64)
  .refine((s) => /^\d{1,15}$/.test(s) || (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) && !Number.isNaN(Date.parse(s))), 'must be a ledger seq (digits) or an ISO 8601 date-time');
const verifyQuery = z.object({ from: seqOrTime.optional(), to: seqOrTime.optional() }).strict();
const noQuery = z.object({}).strict();
const recordId = z.string().min(1).max(512).refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

function bad(res: Response, message: string): void {
  res.status(400).json({ error: 'bad_request', message });
}

function queryProblem(error: z.ZodError): string {
  return error.issues.map((i) => (i.code === 'unrecognized_keys' ? `unknown parameter(s): ${i.keys.join(', ')}` : `${i.path.join('.')}: ${i.message}`)).join('; ');
}

export function ledgerRoutes(): RouteModule {
  return (app, { requireRole, limiter, deps }) => {
    const notEnabled = (res: Response) => res.status(404).json({ error: 'not_found', message: 'the ledger is not enabled (ledger.enabled: false)' });

    app.get('/v1/ledger/keys', limiter, (req, res) => {
      const q = noQuery.safeParse(req.query);
      if (!q.success) return bad(res, queryProblem(q.error));
      const ledger = ledgerOf(deps.store);
      if (!ledger) return notEnabled(res);
      res.setHeader('Cache-Control', 'public, max-age=300');
      res.type('application/jwk-set+json').send(JSON.stringify(ledger.keys()));
    });

    app.get('/v1/ledger/verify', requireRole('auditor', 'admin'), limiter, async (req, res, next) => {
      const p = verifyQuery.safeParse(req.query);
      if (!p.success) return bad(res, queryProblem(p.error));
      const ledger = ledgerOf(deps.store);
      if (!ledger) return notEnabled(res);
      const { from, to } = p.data;
      const isSeq = (s: string | undefined) => s !== undefined && /^\d+$/.test(s);
      const range: VerifyRange = {};
      if ((from !== undefined && to !== undefined && isSeq(from) !== isSeq(to))) return bad(res, 'from and to must both be seqs or both be date-times');
      if (isSeq(from) || isSeq(to)) {
        if (from !== undefined) range.fromSeq = Number(from);
        if (to !== undefined) range.toSeq = Number(to);
        if (range.fromSeq !== undefined && range.toSeq !== undefined && range.fromSeq > range.toSeq) return bad(res, 'from must not be after to');
      } else {
        if (from !== undefined) range.fromTime = new Date(from).toISOString();
        if (to !== undefined) range.toTime = new Date(to).toISOString();
        if (range.fromTime && range.toTime && range.fromTime >= range.toTime) return bad(res, 'from must be before to');
      }
      try {
        res.json(await ledger.verify(range));
      } catch (e) {
        next(e);
      }
    });

    app.get('/v1/ledger/proof/:recordId', requireRole('auditor', 'investigator', 'admin'), limiter, async (req, res, next) => {
      const q = noQuery.safeParse(req.query);
      if (!q.success) return bad(res, queryProblem(q.error));
      const p = recordId.safeParse(req.params.recordId);
      if (!p.success) return bad(res, `recordId: ${p.error.issues[0]!.message}`);
      const ledger = ledgerOf(deps.store);
      if (!ledger) return notEnabled(res);
      try {
        const cur = (await deps.store.getRecords([p.data])).get(p.data);
        const ev = await ledger.evidenceFor([cur ?? { record_id: p.data }], { includeRecords: true });
        if (!ev.proofs.length) {
          res.status(404).json({ error: 'not_found', message: `no ledger proof for record ${p.data}${ev.missing[0] ? ` (${ev.missing[0].reason})` : ''}`, missing: ev.missing });
          return;
        }
        res.json(ev);
      } catch (e) {
        next(e);
      }
    });
  };
}

/**
 * OpenAPI 3.1 path items of these routes. The keys route is public (`security: []`); the others take
 * a bearer token with the roles in `x-roles`.
 */
export function ledgerOpenApiPaths(): Record<string, unknown> {
  const json = (schema: Record<string, unknown>, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
  const error = json({ type: 'object', required: ['error', 'message'], properties: { error: { type: 'string' }, message: { type: 'string' } } }, 'Error');
  const notEnabled = json({ type: 'object', required: ['error', 'message'], properties: { error: { type: 'string', enum: ['not_found'] }, message: { type: 'string' } } }, 'The ledger is not enabled (ledger.enabled: false), or (proof) the record has no ledger entry');
  const errors = { '400': json({ type: 'object' }, 'Invalid parameter (named in the message); unknown parameters are rejected.'), '401': error, '403': error, '429': error, '503': error };
  const secured = (roles: string[], op: Record<string, unknown>) => ({ security: [{ bearerAuth: [] }], 'x-roles': roles, ...op, responses: { ...(op.responses as object), ...errors } });
  const hex64 = { type: 'string', pattern: '^[0-9a-f]{64}$' };
  const isoDate = { type: 'string', format: 'date-time' };
  const jwks = {
    type: 'object',
    required: ['keys'],
    description: 'JWKS (RFC 7517) of the checkpoint signing keys: Ed25519 public JWKs, kid = RFC 7638 thumbprint; the current key first, then previous ones (checkpoints signed by any listed key verify).',
    properties: {
      keys: {
        type: 'array',
        items: { type: 'object', required: ['kty', 'crv', 'x', 'kid'], properties: { kty: { type: 'string', enum: ['OKP'] }, crv: { type: 'string', enum: ['Ed25519'] }, x: { type: 'string' }, kid: { type: 'string' }, alg: { type: 'string', enum: ['EdDSA'] }, use: { type: 'string', enum: ['sig'] } } },
      },
    },
  };
  const entry = {
    type: 'object',
    required: ['seq', 'record_id', 'version', 'content_hash', 'prev_hash', 'entry_hash', 'time'],
    properties: { seq: { type: 'integer', minimum: 1 }, record_id: { type: 'string' }, version: { type: 'integer' }, content_hash: hex64, prev_hash: hex64, entry_hash: hex64, time: isoDate },
  };
  const checkpoint = { type: 'object', required: ['seq', 'jws'], properties: { seq: { type: 'integer' }, jws: { type: 'string', description: 'Compact JWS (EdDSA, typ auditmesh-checkpoint+jws) over { v, seq, first_seq, count, head_hash, merkle_root, time }' } } };
  const problem = {
    type: 'object',
    required: ['seq', 'reason', 'detail'],
    properties: { seq: { type: 'integer' }, record_id: { type: 'string' }, reason: { type: 'string', enum: [...PROBLEM_REASONS] }, detail: { type: 'string' } },
  };
  const count = { type: 'integer', minimum: 0 };
  const verifyResult = {
    type: 'object',
    required: ['ok', 'range', 'checked', 'expired_records', 'unsealed_entries', 'problems', 'problem_count'],
    properties: {
      ok: { type: 'boolean' },
      range: { oneOf: [{ type: 'null' }, { type: 'object', required: ['from', 'to'], properties: { from: { type: 'integer' }, to: { type: 'integer' } } }], description: 'Seq range walked (widened to whole checkpoint intervals); null when the range holds no entry' },
      checked: { type: 'object', required: ['entries', 'versions', 'records', 'checkpoints'], properties: { entries: count, versions: count, records: count, checkpoints: count } },
      expired_records: { ...count, description: 'Records gone by elasticsearch.retentionDays (not problems)' },
      unsealed_entries: { ...count, description: 'Entries after the last checkpoint (signed with the next one)' },
      first_broken: { ...problem, description: 'The lowest-seq problem of the ledger itself; a current-record problem only when the ledger is intact' },
      problems: { type: 'array', maxItems: 1000, items: problem },
      problem_count: count,
    },
  };
  const seqOrTimeSchema = (example: string) => ({ type: 'string', maxLength: 64, oneOf: [{ pattern: '^\\d{1,15}$' }, { format: 'date-time' }], example });
  const evidence = {
    type: 'object',
    required: ['format', 'keys', 'checkpoints', 'proofs', 'missing'],
    properties: {
      format: { type: 'string', enum: [EVIDENCE_FORMAT] },
      keys: jwks,
      checkpoints: { type: 'array', items: checkpoint },
      proofs: {
        type: 'array',
        items: {
          type: 'object',
          required: ['record_id', 'version', 'content_hash', 'entry', 'checkpoint_seq', 'leaf_index', 'tree_size', 'path'],
          properties: {
            record_id: { type: 'string' },
            version: { type: 'integer' },
            content_hash: hex64,
            entry,
            checkpoint_seq: { type: 'integer' },
            leaf_index: { type: 'integer', minimum: 0 },
            tree_size: { type: 'integer', minimum: 1 },
            path: { type: 'array', items: hex64, description: 'RFC 9162 audit path from the leaf up' },
            record: { type: 'object', description: 'The proven record version' },
          },
        },
      },
      missing: { type: 'array', items: { type: 'object', required: ['record_id', 'reason'], properties: { record_id: { type: 'string' }, version: { type: 'integer' }, reason: { type: 'string' } } } },
    },
  };
  return {
    '/v1/ledger/keys': {
      get: {
        summary: 'Public keys of the ledger checkpoint signatures (JWKS), for `auditmesh verify --jwks`; no token needed (public key material)',
        security: [],
        responses: {
          '200': { description: 'The JWKS (Cache-Control: public, max-age=300)', content: { 'application/jwk-set+json': { schema: jwks } } },
          '400': errors['400'],
          '404': notEnabled,
          '429': error,
        },
      },
    },
    '/v1/ledger/verify': {
      get: secured(['auditor', 'admin'], {
        summary: 'Verify the stored ledger: entry hashes and chain links, stored versions, current records, checkpoint signatures, Merkle roots and the exported copies',
        parameters: [
          { name: 'from', in: 'query', description: 'Start: a ledger seq (inclusive) or an ISO 8601 date-time (inclusive). Both bounds must be of one kind. None = from the first entry.', schema: seqOrTimeSchema('1') },
          { name: 'to', in: 'query', description: 'End: a ledger seq (inclusive) or an ISO 8601 date-time (exclusive). None = to the last entry.', schema: seqOrTimeSchema('5000') },
        ],
        responses: { '200': json(verifyResult, 'The verdict (200 whether or not the ledger is intact: see ok)'), '404': notEnabled },
      }),
    },
    '/v1/ledger/proof/{recordId}': {
      get: secured(['auditor', 'investigator', 'admin'], {
        summary: "Inclusion proof of the record's current version: entry, Merkle audit path, signed checkpoint and keys, with the record (a file `auditmesh verify` reads)",
        parameters: [{ name: 'recordId', in: 'path', required: true, description: 'auditmesh.record_id', schema: { type: 'string', minLength: 1, maxLength: 512 } }],
        responses: { '200': json(evidence), '404': notEnabled },
      }),
    },
  };
}
