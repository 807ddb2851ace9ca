import { hourProbability } from '../baseline';
import { subjectSelected } from '../recordView';
import type { RuleImpl } from './types';

/** Activity at an hour of the day (UTC) this identity is rarely active, from its learned histogram. */
export const unusualHour: RuleImpl<'unusual_hour'> = {
  type: 'unusual_hour',
  evaluate(rule, ctx) {
    const v = ctx.view;
    const b = ctx.baseline;
    const p = rule.params;
    if (!v.subject || !v.verified || !subjectSelected(v, p.subjects) || !ctx.firstSighting || !b) return [];
    if (b.records < p.minObservations) return [];
    const prob = hourProbability(b, v.t, p.smoothingHours);
    if (prob >= p.minProbability) return [];
    const day = new Array<number>(24).fill(0);
    b.hours.forEach((c, h) => (day[h % 24]! += c));
    const usual = day
      .map((c, h) => [h, c] as const)
      .filter(([, c]) => c > 0)
      .sort((a, b2) => b2[1] - a[1])
      .slice(0, 6)
      .map(([h]) => `${String(h).padStart(2, '0')}h`)
      .sort();
    const hour = new Date(v.t).getUTCHours();
    return [
      {
        groupKey: `identity:${v.subject}`,
        identity: v.subject,
        ...(v.sourceIp ? { sourceIp: v.sourceIp } : {}),
        reason: `${v.subject} was active at ${String(hour).padStart(2, '0')}:00 UTC, an hour with probability ${prob.toFixed(4)} in their history of ${b.records} records (most active: ${usual.join(', ')} UTC)`,
        details: { hour_utc: hour, probability: Number(prob.toFixed(6)), observations: b.records, usual_hours_utc: usual },
      },
    ];
  },
};
