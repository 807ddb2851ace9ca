import { z } from 'zod';
import type { RouteModule } from '../app';
import { aggregationRange, badRequest, iso } from '../validation';
import { bucketFor, finishActivity } from '../../store/analytics';

/** Records listed with an identity's activity (newest first). */
export const ACTIVITY_RECORDS = 100;
/** Range when `from` is not given: the 7 days before `to`. */
export const ACTIVITY_DEFAULT_DAYS = 7;

const params = z.object({ id: z.string().min(1).max(256).refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters') });
const query = z.object({ from: iso.optional(), to: iso.optional() }).strict();

/**
 * `GET /v1/identities/:id/activity?from&to`: what one identity (user.id: the record's verified or
 * strongest identity) did in [from, to): counts, resources, sources, outcomes, verdicts, source ips, a
 * timeline (hourly up to 3 days, daily beyond) and its newest records. Aggregated by the store.
 */
export function identityRoutes(opts: { now?: () => Date } = {}): RouteModule {
  const now = opts.now ?? (() => new Date());
  return (app, { requireRole, limiter, deps }) => {
    app.get('/v1/identities/:id/activity', requireRole('auditor', 'investigator', 'admin'), limiter, async (req, res, next) => {
      const p = params.safeParse(req.params);
      if (!p.success) return badRequest(res, p.error);
      const q = query.safeParse(req.query);
      if (!q.success) return badRequest(res, q.error);
      const range = aggregationRange(q.data.from, q.data.to, ACTIVITY_DEFAULT_DAYS, now());
      if (typeof range === 'string') return badRequest(res, range);
      const fromMs = Date.parse(range.from);
      const toMs = Date.parse(range.to);
      const bucket = bucketFor(fromMs, toMs);
      try {
        const [aggs, page] = await Promise.all([
          deps.store.identityActivity({ userId: p.data.id, from: range.from, to: range.to, bucket }),
          deps.store.searchRecords({ userId: p.data.id, from: range.from, to: range.to, limit: ACTIVITY_RECORDS }),
        ]);
        const { summary, timeline } = finishActivity(aggs, fromMs, toMs, bucket);
        res.json({ identity: p.data.id, from: range.from, to: range.to, bucket, summary, timeline, records: page.records });
      } catch (e) {
        next(e);
      }
    });
  };
}
