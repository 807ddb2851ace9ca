import type { RecordView } from '../recordView';
import { addToWindow, windowKey } from '../window';
import type { RuleOf } from './schema';
import type { Match, RuleImpl } from './types';

type Rule = RuleOf<'denied_burst'>;

const denied = (rule: Rule, v: RecordView) =>
  (v.status !== undefined && rule.params.statusCodes.includes(v.status)) || (rule.params.includeFirewallDenies && v.firewallDenied);

function group(rule: Rule, v: RecordView): Pick<Match, 'groupKey' | 'identity' | 'sourceIp'> | undefined {
  const ip = v.sourceIp ? { sourceIp: v.sourceIp } : {};
  switch (rule.params.groupBy) {
    case 'identity':
      return v.subject ? { groupKey: `identity:${v.subject}`, identity: v.subject, ...ip } : undefined;
    case 'source_ip':
      return v.sourceIp ? { groupKey: `source_ip:${v.sourceIp}`, ...ip, ...(v.subject ? { identity: v.subject } : {}) } : undefined;
    default:
      // A verified identity names the actor; otherwise the address does (an unverified name is anyone's to claim).
      if (v.subject && v.verified) return { groupKey: `identity:${v.subject}`, identity: v.subject, ...ip };
      return v.sourceIp ? { groupKey: `source_ip:${v.sourceIp}`, ...ip } : undefined;
  }
}

/** A burst of denied requests (401/403, firewall deny) per identity or source address within a window. */
export const deniedBurst: RuleImpl<'denied_burst'> = {
  type: 'denied_burst',
  windowKeys(rule, v) {
    const g = denied(rule, v) ? group(rule, v) : undefined;
    return g ? [windowKey(rule.id, g.groupKey)] : [];
  },
  evaluate(rule, ctx) {
    const v = ctx.view;
    if (!denied(rule, v)) return [];
    const g = group(rule, v);
    if (!g) return [];
    const key = windowKey(rule.id, g.groupKey);
    const { threshold, windowSeconds } = rule.params;
    const { inWindow, changed } = addToWindow(ctx.window(key), v.t, v.recordId, windowSeconds * 1000, Math.max(threshold * 4, 100));
    if (changed) ctx.markDirty(key);
    if (inWindow.length < threshold || !inWindow.some((e) => e[1] === v.recordId)) return [];
    const who = g.identity && g.groupKey.startsWith('identity:') ? `for ${g.identity}` : `from ${g.sourceIp}`;
    return [
      {
        ...g,
        records: inWindow.map(([t, id]) => ({ id, t })),
        reason: `${inWindow.length} denied requests (${rule.params.statusCodes.join('/')}${rule.params.includeFirewallDenies ? ', firewall deny' : ''}) ${who} within ${windowSeconds}s (threshold ${threshold}); latest ${v.firewallDenied ? 'firewall deny' : `${v.status} on ${v.method ?? ''} ${v.path ?? ''}`.trim()}`,
        details: { in_window: inWindow.length },
      },
    ];
  },
};
