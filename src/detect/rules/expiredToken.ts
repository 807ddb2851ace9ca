import type { Match, RuleImpl } from './types';

function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}min`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86_400).toFixed(1)} days`;
}

/** A bearer token presented after it expired (verdict `expired` at the time of the request). */
export const expiredToken: RuleImpl<'expired_token'> = {
  type: 'expired_token',
  evaluate(rule, ctx) {
    const v = ctx.view;
    const out: Match[] = [];
    const seen = new Set<string>();
    for (const c of v.claims) {
      if (c.method !== 'jwt' || c.verdict !== 'expired') continue;
      const exp = c.expiresAt ? Date.parse(c.expiresAt) : NaN;
      if (Number.isFinite(exp) && v.t - exp <= rule.params.graceSeconds * 1000) continue;
      const key = c.subject ? `identity:${c.subject}` : v.sourceIp ? `source_ip:${v.sourceIp}` : 'unknown';
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({
        groupKey: key,
        ...(c.subject ? { identity: c.subject } : {}),
        ...(v.sourceIp ? { sourceIp: v.sourceIp } : {}),
        reason: `${c.subject ? `the token of '${c.subject}'` : 'a token'} was used ${Number.isFinite(exp) ? `${ago(v.t - exp)} after it expired (${c.expiresAt})` : 'after it expired'}${v.sourceIp ? ` from ${v.sourceIp}` : ''} on ${v.method ?? ''} ${v.path ?? ''}`.replace(/\s+/g, ' ').trim(),
        details: { expires_at: c.expiresAt, token_sha256: c.tokenSha256, layer: c.source },
      });
    }
    return out;
  },
};
