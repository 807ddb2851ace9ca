import { createHash, randomBytes } from 'node:crypto';
import type { Response } from 'express';
import { z } from 'zod';
import type { RouteModule } from '../app';
import type { ApiAuditNote, ApiAuditReady } from '../apiAudit';
import { CONTENT_TYPES, csvHeader, csvRow, EXPORT_FORMATS, ndjsonLine } from '../exportFormat';
import { badRequest, rangeProblem, recordFilterShape, toRecordQuery } from '../validation';
import type { AuditStore } from '../../model/record';
import { ledgerOf } from '../../ledger/ledger';
import { evidenceLines } from '../../ledger/evidence';

/**
 * `GET /v1/export?format=ndjson|csv&<the filters of /v1/records>[&limit]` (auditor, admin).
 *
 * Design: the body is exactly the records (NDJSON lines or CSV rows), streamed page by page with the
 * search cursor (chunked transfer, 1000 records per page, backpressure honoured: nothing is buffered
 * beyond one page). The response carries `X-Auditmesh-Export-Id`; the manifest — the query, when,
 * who (principal subject, issuer, roles), the record count, the byte count and the SHA-256 of the
 * exact bytes sent — is at `GET /v1/export/:id/manifest` as soon as the body has ended. It is kept in
 * memory (the last 1000 exports) and in the export's own `api` audit record (record id
 * `export-<id>`, `auditmesh.api.export`), so it survives a restart. Nothing is appended to the
 * content: what the client hashes is what the manifest names.
 *
 * Ledger evidence (src/ledger, when the ledger is enabled; NDJSON only, on by default, `ledger=false`
 * turns it off): after each page of records come lines that are not records — `{"ledger_keys":…}`
 * once, `{"ledger_checkpoint":…}` per signed checkpoint covering the page, `{"ledger_proof":…}` per
 * record (its ledger entry and Merkle audit path), `{"ledger_missing":…}` for a record without one.
 * `auditmesh verify <file>` checks the file with them, offline; a consumer of the records skips every
 * line without `auditmesh`. The manifest's SHA-256 covers them too, and `manifest.ledger` counts them.
 * CSV rows are not the full records, so they cannot be re-hashed: CSV exports carry no evidence
 * (`ledger=true` with `format=csv` is a 400; `GET /v1/ledger/proof/:recordId` gives one record's).
 *
 * If the store fails before the first byte the answer is a 503; after it, the connection is reset
 * (the chunked body never ends properly, so no client takes it as complete) and the manifest says
 * `complete: false`. A client that disconnects stops the export; its manifest says so too.
 */

export const EXPORT_PAGE = 1000;
/** Most records one export may carry. */
export const MAX_EXPORT_RECORDS = 10_000_000;

export interface ExportManifest {
  export_id: string;
  format: 'ndjson' | 'csv';
  /** The query parameters as given. */
  query: Record<string, string>;
  exported_at: string;
  completed_at: string;
  exported_by: { subject: string; issuer: string; roles: string[] };
  record_count: number;
  bytes: number;
  /** SHA-256 (hex) of the exact response body bytes. */
  sha256: string;
  /** False when the export stopped early (client gone, store error). */
  complete: boolean;
  /** Ledger evidence in the body (NDJSON with the ledger enabled): lines written per kind. */
  ledger?: { proofs: number; checkpoints: number; missing: number };
  error?: string;
}

/** The manifests of recent exports (LRU, bounded). */
export class ExportManifests {
  private readonly map = new Map<string, ExportManifest>();
  constructor(private readonly max = 1000) {}
  set(m: ExportManifest): void {
    this.map.delete(m.export_id);
    this.map.set(m.export_id, m);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
  get(id: string): ExportManifest | undefined {
    return this.map.get(id);
  }
}

export const exportRecordId = (exportId: string) => `export-${exportId}`;

const query = z
  .object({
    ...recordFilterShape,
    format: z.enum(EXPORT_FORMATS).optional(),
    limit: z.coerce.number().int().min(1, `must be between 1 and ${MAX_EXPORT_RECORDS}`).max(MAX_EXPORT_RECORDS, `must be between 1 and ${MAX_EXPORT_RECORDS}`).optional(),
    /** Ledger evidence after the records (NDJSON only); default true when the ledger is enabled. */
    ledger: z.enum(['true', 'false']).optional(),
  })
  .strict();
const idParam = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'must be an export id (22 characters, from X-Auditmesh-Export-Id)');

/** Resolves once `res` can take more data (or is gone). */
function drained(res: Response): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function manifestFromStore(store: AuditStore, id: string): Promise<ExportManifest | undefined> {
  const rec = (await store.getRecords([exportRecordId(id)])).get(exportRecordId(id));
  return rec?.auditmesh.record_type === 'api' ? (rec.auditmesh.api?.export as ExportManifest | undefined) : undefined;
}

export function exportRoutes(opts: { manifests?: ExportManifests; now?: () => Date } = {}): RouteModule {
  const manifests = opts.manifests ?? new ExportManifests();
  const now = opts.now ?? (() => new Date());
  return (app, { requireRole, limiter, deps }) => {
    const { store } = deps;
    app.get('/v1/export', requireRole('auditor', 'admin'), limiter, async (req, res, next) => {
      const p = query.safeParse(req.query);
      if (!p.success) return badRequest(res, p.error);
      const v = p.data;
      const problem = rangeProblem(v.from, v.to);
      if (problem) return badRequest(res, problem);
      if (v.type === 'api' && !req.principal?.roles.includes('admin')) {
        res.status(403).json({ error: 'forbidden', message: 'type=api (the API audit trail) requires the role: admin' });
        return;
      }
      const format = v.format ?? 'ndjson';
      if (format === 'csv' && v.ledger === 'true') {
        return badRequest(res, 'ledger: evidence needs format=ndjson (CSV rows are not the full records and cannot be re-hashed); GET /v1/ledger/proof/{recordId} gives the proof of one record');
      }
      // Ledger evidence: NDJSON, ledger enabled, not turned off.
      const ledger = format === 'ndjson' && v.ledger !== 'false' ? ledgerOf(store) : undefined;
      const ledgerCounts = { proofs: 0, checkpoints: 0, missing: 0 };
      const sentCheckpoints = new Set<number>();
      const max = v.limit ?? MAX_EXPORT_RECORDS;
      const exportId = randomBytes(16).toString('base64url');
      const exportedAt = now();
      const principal = req.principal!;
      const hash = createHash('sha256');
      // The audit record of this request waits for the manifest (see finish).
      let noted!: () => void;
      const ready: ApiAuditReady = new Promise<void>((r) => (noted = r));
      res.locals.apiAuditReady = ready;
      let bytes = 0;
      let count = 0;
      let gone = false;
      res.on('close', () => {
        if (!res.writableFinished) gone = true;
      });
      const finish = (complete: boolean, error?: string): ExportManifest => {
        const m: ExportManifest = {
          export_id: exportId,
          format,
          query: { ...(req.query as Record<string, string>) },
          exported_at: exportedAt.toISOString(),
          completed_at: now().toISOString(),
          exported_by: { subject: principal.subject, issuer: principal.issuer, roles: [...principal.roles] },
          record_count: count,
          bytes,
          sha256: hash.copy().digest('hex'),
          complete,
          ...(error ? { error } : {}),
          ...(ledger ? { ledger: ledgerCounts } : {}),
        };
        manifests.set(m);
        const note: ApiAuditNote = { recordId: exportRecordId(exportId), export: m as unknown as Record<string, unknown>, bytes };
        res.locals.apiAudit = note;
        noted();
        return m;
      };
      const send = async (s: string) => {
        if (gone || res.destroyed) return;
        const buf = Buffer.from(s, 'utf8');
        hash.update(buf);
        bytes += buf.length;
        if (!res.write(buf)) await drained(res);
      };

      const base = toRecordQuery(v, Math.min(EXPORT_PAGE, max));
      // The first page before any byte: a store failure here is still a clean 503.
      let page;
      try {
        page = await store.searchRecords(base);
      } catch (e) {
        noted();
        return next(e);
      }
      res.status(200);
      res.setHeader('Content-Type', CONTENT_TYPES[format]);
      res.setHeader('Content-Disposition', `attachment; filename="auditmesh-export-${exportId}.${format}"`);
      res.setHeader('X-Auditmesh-Export-Id', exportId);
      res.setHeader('Link', `</v1/export/${exportId}/manifest>; rel="describedby"`);
      try {
        if (format === 'csv') await send(csvHeader());
        for (;;) {
          if (gone) break;
          const rows = page.records.slice(0, max - count);
          if (rows.length) {
            await send(rows.map(format === 'csv' ? csvRow : ndjsonLine).join(''));
            count += rows.length;
            if (ledger) {
              const ev = await ledger.evidenceFor(rows);
              const before = sentCheckpoints.size;
              await send(evidenceLines(ev, { keys: count === rows.length, skipCheckpoints: sentCheckpoints }));
              ledgerCounts.proofs += ev.proofs.length;
              ledgerCounts.checkpoints += sentCheckpoints.size - before;
              ledgerCounts.missing += ev.missing.length;
            }
          }
          if (gone || count >= max || !page.nextCursor) break;
          page = await store.searchRecords({ ...base, limit: Math.min(EXPORT_PAGE, max - count), cursor: page.nextCursor });
        }
      } catch (e) {
        finish(false, `store failed after ${count} records: ${(e as Error).message}`);
        deps.log.error('export failed mid-stream', { export_id: exportId, records: count, error: (e as Error).message });
        res.destroy(e as Error);
        return;
      }
      finish(!gone, gone ? 'the client closed the connection' : undefined);
      if (!gone) res.end();
    });

    app.get('/v1/export/:id/manifest', requireRole('auditor', 'admin'), limiter, async (req, res, next) => {
      const p = idParam.safeParse(req.params.id);
      if (!p.success) return badRequest(res, p.error);
      const none = z.object({}).strict().safeParse(req.query);
      if (!none.success) return badRequest(res, none.error);
      try {
        const m = manifests.get(p.data) ?? (await manifestFromStore(store, p.data));
        if (!m) {
          res.status(404).json({ error: 'not_found', message: `no export ${p.data}` });
          return;
        }
        res.json(m);
      } catch (e) {
        next(e);
      }
    });
  };
}
