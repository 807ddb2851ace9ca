import { networkOf } from '../cidr';
import { subjectSelected, type RecordView } from '../recordView';
import type { RuleOf } from './schema';
import type { RuleImpl } from './types';

type Rule = RuleOf<'new_source'>;

function dimName(rule: Rule): string {
  const p = rule.params;
  return p.scope === 'network' ? `net4/${p.ipv4PrefixLength}|net6/${p.ipv6PrefixLength}` : p.scope;
}

function valueOf(rule: Rule, v: RecordView): string | undefined {
  const p = rule.params;
  if (p.scope === 'country') return v.country;
  if (!v.sourceIp) return undefined;
  return p.scope === 'ip' ? v.sourceIp : networkOf(v.sourceIp, p.ipv4PrefixLength, p.ipv6PrefixLength);
}

const applies = (rule: Rule, v: RecordView) => Boolean(v.subject) && subjectSelected(v, rule.params.subjects) && (!rule.params.verifiedOnly || v.verified);

const SCOPE_TEXT = { ip: 'address', network: 'network', country: 'country' } as const;

/** An identity seen from an address, network or country not in its first-seen set (after its learning period). */
export const newSource: RuleImpl<'new_source'> = {
  type: 'new_source',
  dims(rule, v) {
    return applies(rule, v) ? [{ name: dimName(rule), value: valueOf(rule, v) }] : [];
  },
  evaluate(rule, ctx) {
    const v = ctx.view;
    if (!applies(rule, v) || !ctx.firstSighting || !ctx.baseline) return [];
    const value = valueOf(rule, v);
    if (value === undefined) return [];
    const set = ctx.baseline.seen[dimName(rule)];
    const n = set?.n ?? 0;
    if (n < rule.params.learningRecords || !set || set.values[value]) return [];
    const known = Object.entries(set.values)
      .sort((a, b) => b[1][1] - a[1][1])
      .slice(0, 5)
      .map(([k]) => k);
    const scope = SCOPE_TEXT[rule.params.scope];
    return [
      {
        groupKey: `identity:${v.subject}`,
        identity: v.subject!,
        ...(v.sourceIp ? { sourceIp: v.sourceIp } : {}),
        reason: `${v.subject} was seen from a new ${scope} ${value}${v.sourceIp && value !== v.sourceIp ? ` (${v.sourceIp})` : ''}; known: ${known.join(', ')}${Object.keys(set.values).length > known.length ? ', ...' : ''} (learned from ${n} records)`,
        details: { scope: rule.params.scope, value, known, learned_records: n },
      },
    ];
  },
};
