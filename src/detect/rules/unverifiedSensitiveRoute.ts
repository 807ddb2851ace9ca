import { underPrefix } from '../recordView';
import type { RuleImpl } from './types';
import { identityOrSource } from './types';

/** A request without a verified identity reached a sensitive route (and was not denied there, unless includeDenied). */
export const unverifiedSensitiveRoute: RuleImpl<'unverified_sensitive_route'> = {
  type: 'unverified_sensitive_route',
  evaluate(rule, ctx) {
    const v = ctx.view;
    const p = rule.params;
    if (v.recordType !== 'request' || !v.path || v.verified) return [];
    const prefix = p.pathPrefixes.find((x) => underPrefix(v.path!, x));
    if (!prefix) return [];
    if (p.methods.length && (!v.method || !p.methods.includes(v.method))) return [];
    const denied = v.status !== undefined && p.deniedStatusCodes.includes(v.status);
    if (denied && !p.includeDenied) return [];
    const verdict = v.record.auditmesh.identity?.verdict ?? 'no_token';
    const who = v.subject ? `the unverified identity '${v.subject}' (verdict ${verdict})` : `no identity (verdict ${verdict})`;
    return [
      {
        ...identityOrSource(v),
        reason: `${v.method ?? ''} ${v.path} under the sensitive prefix ${prefix} was reached by ${who}, status ${v.status ?? 'unknown'}`.trim(),
        details: { path: v.path, prefix, status: v.status, verdict },
      },
    ];
  },
};
