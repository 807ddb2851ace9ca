import type { IdentityClaim } from '../../model/events';
import { isSpiffe, underPrefix } from '../recordView';
import type { Match, RuleImpl } from './types';

const isHumanToken = (c: IdentityClaim) =>
  Boolean(c.subject) && !isSpiffe(c.subject) && ((c.method === 'jwt' && c.verdict === 'verified') || (c.method === 'jwt_payload' && c.verdict === 'trusted_upstream'));

/**
 * A human token presented by a workload. Two checks:
 * - peer: one mesh event carries both an mTLS peer (SPIFFE id) and a valid human token, and the peer
 *   is not one of `gatewayPrincipals` (the only workloads allowed to forward people's tokens);
 * - route: a verified human identity on a route under `workloadPathPrefixes` (workload-only APIs).
 */
export const humanTokenFromWorkload: RuleImpl<'human_token_from_workload'> = {
  type: 'human_token_from_workload',
  evaluate(rule, ctx) {
    const v = ctx.view;
    const p = rule.params;
    const out: Match[] = [];
    const humans = v.claims.filter(isHumanToken);
    if (!humans.length) return out;
    const gateways = new Set(p.gatewayPrincipals);
    for (const peer of v.claims) {
      if (peer.method !== 'spiffe' || gateways.has(peer.subject) || !peer.eventId) continue;
      const h = humans.find((c) => c.eventId === peer.eventId);
      if (!h) continue;
      out.push({
        groupKey: `workload:${peer.subject}`,
        identity: peer.subject,
        ...(v.sourceIp ? { sourceIp: v.sourceIp } : {}),
        reason: `workload ${peer.subject} presented the human token of '${h.subject}' (${h.method}) over mTLS on ${v.method ?? ''} ${v.path ?? ''}; only ${p.gatewayPrincipals.length ? p.gatewayPrincipals.join(', ') : 'no workload'} may forward human tokens`.replace(/\s+/g, ' '),
        details: { workload: peer.subject, human: h.subject, check: 'peer' },
      });
    }
    if (p.workloadPathPrefixes.length && v.path && v.verified && v.subject && !v.workload) {
      const prefix = p.workloadPathPrefixes.find((x) => underPrefix(v.path!, x));
      if (prefix) {
        out.push({
          groupKey: `identity:${v.subject}`,
          identity: v.subject,
          ...(v.sourceIp ? { sourceIp: v.sourceIp } : {}),
          reason: `human identity '${v.subject}' called the workload-only route ${v.method ?? ''} ${v.path} (prefix ${prefix})`.replace(/\s+/g, ' '),
          details: { human: v.subject, path: v.path, prefix, check: 'route' },
        });
      }
    }
    return out;
  },
};
