import type { IdentityClaim } from '../../model/events';
import type { RecordView } from '../recordView';
import { addToWindow, windowKey } from '../window';
import type { RuleOf } from './schema';
import type { Match, RuleImpl } from './types';

type Rule = RuleOf<'invalid_tokens'>;

function badClaims(rule: Rule, v: RecordView): IdentityClaim[] {
  return v.claims.filter((c) => c.method === 'jwt' && c.verdict !== undefined && (rule.params.verdicts as string[]).includes(c.verdict));
}

function group(rule: Rule, v: RecordView, bad: IdentityClaim[]): Pick<Match, 'groupKey' | 'identity' | 'sourceIp'> | undefined {
  if (rule.params.groupBy === 'source_ip') {
    if (!v.sourceIp) return undefined;
    return { groupKey: `source_ip:${v.sourceIp}`, sourceIp: v.sourceIp };
  }
  // The subject the (unverified) token claims: who the attacker pretends to be.
  const claimed = bad.find((c) => c.subject)?.subject;
  if (!claimed) return undefined;
  return { groupKey: `identity:${claimed}`, identity: claimed, ...(v.sourceIp ? { sourceIp: v.sourceIp } : {}) };
}

/** Repeated invalid or forged bearer tokens from one source address, or claiming one identity, within a window. */
export const invalidTokens: RuleImpl<'invalid_tokens'> = {
  type: 'invalid_tokens',
  windowKeys(rule, v) {
    const bad = badClaims(rule, v);
    const g = bad.length ? group(rule, v, bad) : undefined;
    return g ? [windowKey(rule.id, g.groupKey)] : [];
  },
  evaluate(rule, ctx) {
    const v = ctx.view;
    const bad = badClaims(rule, v);
    if (!bad.length) return [];
    const g = group(rule, v, bad);
    if (!g) return [];
    const key = windowKey(rule.id, g.groupKey);
    const { threshold, windowSeconds } = rule.params;
    const { inWindow, changed } = addToWindow(ctx.window(key), v.t, v.recordId, windowSeconds * 1000, Math.max(threshold * 4, 100));
    if (changed) ctx.markDirty(key);
    if (inWindow.length < threshold || !inWindow.some((e) => e[1] === v.recordId)) return [];
    const verdicts = [...new Set(bad.map((c) => c.verdict!))].join(', ');
    const who = rule.params.groupBy === 'source_ip' ? `from ${v.sourceIp}` : `claiming to be '${g.identity}'`;
    return [
      {
        ...g,
        records: inWindow.map(([t, id]) => ({ id, t })),
        reason: `${inWindow.length} requests with an invalid bearer token (${verdicts}) ${who} within ${windowSeconds}s (threshold ${threshold})`,
        details: { verdicts: [...new Set(bad.map((c) => c.verdict))], claimed_subjects: [...new Set(bad.map((c) => c.subject).filter(Boolean))], in_window: inWindow.length },
      },
    ];
  },
};
