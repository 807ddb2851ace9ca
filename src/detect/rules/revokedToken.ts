import { subjectRevocation } from '../revocations';
import type { Match, RuleImpl } from './types';

const TRUSTED = new Set(['verified', 'trusted_upstream']);

/** A request, at or after the revocation time, by a revoked identity or with a revoked token (detect.revocationFile). */
export const revokedToken: RuleImpl<'revoked_token'> = {
  type: 'revoked_token',
  evaluate(rule, ctx) {
    const v = ctx.view;
    const list = ctx.revocations;
    const out: Match[] = [];
    const ip = v.sourceIp ? { sourceIp: v.sourceIp } : {};
    const at = new Date(v.t).toISOString();
    if (rule.params.checkSubjects && list.subjects.size) {
      // Identities vouched for by a layer we trust (a failed token names nobody).
      const subjects = new Set<string>();
      if (v.subject && v.verified) subjects.add(v.subject);
      for (const c of v.claims) if (c.subject && TRUSTED.has(c.verdict ?? '')) subjects.add(c.subject);
      for (const s of subjects) {
        const r = subjectRevocation(list, s);
        if (!r || v.t < r.revokedAtMs) continue;
        out.push({
          groupKey: `identity:${s}`,
          identity: s,
          ...ip,
          reason: `'${s}' was revoked at ${new Date(r.revokedAtMs).toISOString()}${r.reason ? ` (${r.reason})` : ''} and still made ${v.method ?? ''} ${v.path ?? 'a request'} at ${at}`.replace(/\s+/g, ' '),
          details: { revoked_at: new Date(r.revokedAtMs).toISOString(), revocation_reason: r.reason, kind: 'subject' },
        });
      }
    }
    if (rule.params.checkTokens && list.tokens.size) {
      const done = new Set<string>();
      for (const c of v.claims) {
        if (!c.tokenSha256 || done.has(c.tokenSha256)) continue;
        done.add(c.tokenSha256);
        const r = list.tokens.get(c.tokenSha256);
        if (!r || v.t < r.revokedAtMs) continue;
        out.push({
          groupKey: `token:${c.tokenSha256.slice(0, 16)}`,
          ...(c.subject ? { identity: c.subject } : {}),
          ...ip,
          reason: `a token revoked at ${new Date(r.revokedAtMs).toISOString()}${r.reason ? ` (${r.reason})` : ''} (sha256 ${c.tokenSha256.slice(0, 16)}…, subject '${c.subject || '?'}', verdict ${c.verdict ?? '?'}) was used at ${at}`,
          details: { revoked_at: new Date(r.revokedAtMs).toISOString(), token_sha256: c.tokenSha256, kind: 'token' },
        });
      }
    }
    return out;
  },
};
