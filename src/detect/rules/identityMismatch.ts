import type { RuleImpl } from './types';
import { identityOrSource } from './types';

/** Layers named different principals for the same request (auditmesh.identity.mismatch). */
export const identityMismatch: RuleImpl<'identity_mismatch'> = {
  type: 'identity_mismatch',
  evaluate(rule, ctx) {
    const v = ctx.view;
    const id = v.record.auditmesh.identity;
    if (!id?.mismatch) return [];
    const all = id.mismatches ?? [];
    const ms = all.filter((m) => !m.methods.some((x) => rule.params.ignoreMethods.includes(x)));
    if (all.length && !ms.length) return [];
    const pairs = ms.map((m) => `'${m.a}' (${m.methods[0]}) vs '${m.b}' (${m.methods[1]})`).join('; ');
    return [
      {
        ...identityOrSource(v),
        reason: `layers disagree about who made ${v.method ?? ''} ${v.path ?? 'the request'}: ${pairs || 'mismatch flagged'}`.replace(/\s+/g, ' '),
        details: { mismatches: ms },
      },
    ];
  },
};
