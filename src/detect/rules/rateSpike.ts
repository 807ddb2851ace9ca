import { prospectiveCount } from '../baseline';
import { subjectSelected } from '../recordView';
import type { RuleImpl } from './types';

/** An identity's requests in the current hour far above its learned hourly rate (EWMA mean and variance, z-score). */
export const rateSpike: RuleImpl<'rate_spike'> = {
  type: 'rate_spike',
  evaluate(rule, ctx) {
    const v = ctx.view;
    const b = ctx.baseline;
    const p = rule.params;
    if (!v.subject || !v.verified || !subjectSelected(v, p.subjects) || !ctx.firstSighting || !b) return [];
    const r = b.rate;
    if (r.buckets < p.minBuckets) return [];
    const count = prospectiveCount(r, v.t);
    const std = Math.sqrt(Math.max(r.variance, 0));
    const limit = Math.max(p.minCount, r.mean + p.zScore * std);
    if (count < limit) return [];
    const z = std > 0 ? (count - r.mean) / std : Infinity;
    const hour = new Date(Math.floor(v.t / 3_600_000) * 3_600_000).toISOString().slice(0, 13);
    return [
      {
        groupKey: `identity:${v.subject}`,
        identity: v.subject,
        ...(v.sourceIp ? { sourceIp: v.sourceIp } : {}),
        reason: `${v.subject} made ${count} requests in the hour ${hour}:00Z; usual ${r.mean.toFixed(1)} ± ${std.toFixed(1)} per active hour (z ${Number.isFinite(z) ? z.toFixed(1) : '∞'}, limit ${limit.toFixed(0)})`,
        details: { count, mean: Number(r.mean.toFixed(3)), std: Number(std.toFixed(3)), z: Number.isFinite(z) ? Number(z.toFixed(2)) : null, active_hours: r.buckets },
      },
    ];
  },
};
