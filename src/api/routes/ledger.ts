import type { Response } from 'express';
import { z } from 'zod';
import type { RouteModule } from '../app';
import { ledgerOf } from '../../ledger/ledger';
import type { VerifyRange } from '../../ledger/verify';

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
 */

const seqOrTime = z
  .string()
  .max(64)
  .refine((s) => /^\d{1,15}$/.test(s) || (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) && !Number.isNaN(Date.parse(s))), 'must be a ledger seq (digits) or an ISO 8601 date-time');
const verifyQuery = z.object({ from: seqOrTime.optional(), to: seqOrTime.optional() }).strict();
const recordId = z.string().min(1).max(512).refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

function bad(res: Response, message: string): void {
  res.status(400).json({ error: 'bad_request', message });
}

export function ledgerRoutes(): RouteModule {
  return (app, { requireRole, limiter, deps }) => {
    const notEnabled = (res: Response) => res.status(404).json({ error: 'not_found', message: 'the ledger is not enabled (ledger.enabled: false)' });

    app.get('/v1/ledger/keys', limiter, (_req, res) => {
      const ledger = ledgerOf(deps.store);
      if (!ledger) return notEnabled(res);
      res.setHeader('Cache-Control', 'public, max-age=300');
      res.type('application/jwk-set+json').send(JSON.stringify(ledger.keys()));
    });

    app.get('/v1/ledger/verify', requireRole('auditor', 'admin'), limiter, async (req, res, next) => {
      const p = verifyQuery.safeParse(req.query);
      if (!p.success) return bad(res, p.error.issues.map((i) => (i.code === 'unrecognized_keys' ? `unknown parameter(s): ${i.keys.join(', ')}` : `${i.path.join('.')}: ${i.message}`)).join('; '));
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
