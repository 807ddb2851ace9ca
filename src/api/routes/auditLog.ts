import { z } from 'zod';
import type { RouteModule } from '../app';
import { badRequest, iso, MAX_PAGE, OUTCOMES, rangeProblem } from '../validation';
import type { RecordQuery } from '../../model/record';

const query = z
  .object({
    from: iso.optional(),
    to: iso.optional(),
    'user.id': z.string().min(1).max(256).optional(),
    'event.outcome': z.enum(OUTCOMES).optional(),
    limit: z.coerce.number().int().min(1, `must be between 1 and ${MAX_PAGE}`).max(MAX_PAGE, `must be between 1 and ${MAX_PAGE}`).optional(),
    cursor: z.string().max(512).optional(),
  })
  .strict();

/** `GET /v1/audit-log` (admin): the API's own audit trail (`api` records), newest first, with a cursor. */
export function auditLogRoutes(): RouteModule {
  return (app, { requireRole, limiter, deps }) => {
    app.get('/v1/audit-log', requireRole('admin'), limiter, async (req, res, next) => {
      const p = query.safeParse(req.query);
      if (!p.success) return badRequest(res, p.error);
      const v = p.data;
      const range = rangeProblem(v.from, v.to);
      if (range) return badRequest(res, range);
      const q: RecordQuery = { recordType: 'api', limit: v.limit ?? 100 };
      if (v.from) q.from = new Date(v.from).toISOString();
      if (v.to) q.to = new Date(v.to).toISOString();
      if (v['user.id']) q.userId = v['user.id'];
      if (v['event.outcome']) q.outcome = v['event.outcome'];
      if (v.cursor) q.cursor = v.cursor;
      try {
        const page = await deps.store.searchRecords(q);
        res.json({ records: page.records, count: page.records.length, next_cursor: page.nextCursor ?? null });
      } catch (e) {
        next(e);
      }
    });
  };
}
