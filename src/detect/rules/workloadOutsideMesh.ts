import type { IdentityClaim } from '../../model/events';
import { inCidrs, parseCidr, type Cidr } from '../cidr';
import type { RecordView } from '../recordView';
import type { RuleOf } from './schema';
import type { Match, RuleImpl } from './types';

type Rule = RuleOf<'workload_outside_mesh'>;

const parsed = new WeakMap<object, Cidr[]>();
const cidrsOf = (rule: Rule) => {
  let c = parsed.get(rule.params);
  if (!c) parsed.set(rule.params, (c = rule.params.internalCidrs.map(parseCidr)));
  return c;
};

function spiffeClaims(rule: Rule, v: RecordView): IdentityClaim[] {
  const domains = rule.params.trustDomains;
  return v.claims.filter((c) => {
    if (c.method !== 'spiffe' || (c.verdict !== 'trusted_upstream' && c.verdict !== 'verified')) return false;
    if (!domains.length) return true;
    const domain = /^spiffe:\/\/([^/]+)/i.exec(c.subject)?.[1]?.toLowerCase();
    return domain !== undefined && domains.some((d) => d.toLowerCase() === domain);
  });
}

/**
 * The address of the connection that presented the SPIFFE certificate: the source of the event that
 * carried the claim (the mesh sidecar's downstream peer). A one-event record's source is that event's;
 * in a joined record the edge layer (gateway, firewall) owns `source`, so the event itself is read.
 */
function peerAddress(v: RecordView, c: IdentityClaim, events: Map<string, { ecs: Record<string, unknown> }>): string | undefined {
  if (v.record.auditmesh.member_count === 1) return v.sourceIp;
  const ev = c.eventId ? events.get(c.eventId) : undefined;
  const src = ev?.ecs.source as { ip?: unknown } | undefined;
  return typeof src?.ip === 'string' ? src.ip : undefined;
}

/** A workload (SPIFFE) identity presented from an address outside the mesh's internal networks. */
export const workloadOutsideMesh: RuleImpl<'workload_outside_mesh'> = {
  type: 'workload_outside_mesh',
  eventIds(rule, v) {
    if (v.record.auditmesh.member_count === 1) return [];
    return spiffeClaims(rule, v).flatMap((c) => (c.eventId ? [c.eventId] : []));
  },
  evaluate(rule, ctx) {
    const v = ctx.view;
    const out: Match[] = [];
    for (const c of spiffeClaims(rule, v)) {
      const addr = peerAddress(v, c, ctx.events);
      if (!addr || inCidrs(addr, cidrsOf(rule))) continue;
      out.push({
        groupKey: `workload:${c.subject}`,
        identity: c.subject,
        sourceIp: addr,
        reason: `workload ${c.subject} presented its mTLS identity from ${addr}, outside the mesh (${rule.params.internalCidrs.join(', ')}); ${v.method ?? ''} ${v.path ?? ''}`.trim(),
        details: { peer_address: addr, spiffe_id: c.subject },
      });
    }
    return out;
  },
};
