import { z } from 'zod';
import type { RouteModule } from '../app';
import { aggregationRange, badRequest, iso } from '../validation';
import { REPORT_NAMES, reportPredicate, type ReportsConfig } from '../../store/reports';

/** Label of the group of records without user.id. */
export const UNIDENTIFIED = '(unidentified)';
/** Range when `from` is not given: the 30 days before `to`. */
export const REPORT_DEFAULT_DAYS = 30;
/** Example record ids per identity. */
export const REPORT_EXAMPLES = 5;

const params = z.object({ name: z.enum(REPORT_NAMES) });
const query = z
  .object({
    from: iso.optional(),
    to: iso.optional(),
    limit: z.coerce.number().int().min(1, 'must be between 1 and 1000').max(1000, 'must be between 1 and 1000').optional(),
  })
  .strict();

/**
 * `GET /v1/reports/:name?from&to&limit`: SOC 2 evidence, grouped by identity (biggest first, at most
 * `limit` groups, default 100; `total` counts every matching record). `api` records are never part
 * of a report. The predicates are in store/reports.ts; the configuration is `reports` (config/schema.ts).
 */
export function reportRoutes(opts: { reports: ReportsConfig; now?: () => Date }): RouteModule {
  const now = opts.now ?? (() => new Date());
  return (app, { requireRole, limiter, deps }) => {
    app.get('/v1/reports/:name', requireRole('auditor', 'admin'), limiter, async (req, res, next) => {
      const p = params.safeParse(req.params);
      if (!p.success) return badRequest(res, `name: unknown report '${String(req.params.name).slice(0, 64)}'; use one of ${REPORT_NAMES.join(', ')}`);
      const q = query.safeParse(req.query);
      if (!q.success) return badRequest(res, q.error);
      const generatedAt = now();
      const range = aggregationRange(q.data.from, q.data.to, REPORT_DEFAULT_DAYS, generatedAt);
      if (typeof range === 'string') return badRequest(res, range);
      try {
        const r = await deps.store.reportByIdentity({ where: reportPredicate(p.data.name, opts.reports), from: range.from, to: range.to, limit: q.data.limit ?? 100, examples: REPORT_EXAMPLES });
        res.json({
          report: p.data.name,
          from: range.from,
          to: range.to,
          generated_at: generatedAt.toISOString(),
          groups: r.groups.map((g) => ({
            identity: g.identity ?? UNIDENTIFIED,
            count: g.count,
            failures: g.failures,
            first_seen: new Date(g.firstSeenMs).toISOString(),
            last_seen: new Date(g.lastSeenMs).toISOString(),
            examples: g.examples,
          })),
          total: r.total,
          identities: r.identities,
        });
      } catch (e) {
        next(e);
      }
    });
  };
}
