import type { StoredEvent } from '../../model/record';
import type { IdentityBaseline } from '../baseline';
import type { RecordView } from '../recordView';
import type { RevocationList } from '../revocations';
import type { WindowState } from '../window';
import type { RuleOf, RuleType } from './schema';

/** One rule firing on one record. */
export interface Match {
  /** Incident key: rule + this key = one alert (`identity:alice`, `source_ip:192.0.2.1`, ...). */
  groupKey: string;
  identity?: string;
  sourceIp?: string;
  /** Records that make up the match (threshold rules: every record in the window). Default: this record. */
  records?: { id: string; t: number }[];
  /** Analyst-readable explanation of this match. */
  reason: string;
  details?: Record<string, unknown>;
}

/** What a rule sees when it evaluates one record. Everything is event time. */
export interface EvalContext {
  view: RecordView;
  /**
   * Baseline of the record's identity before this record is applied; undefined when the record has
   * no identity. Baseline rules must only fire when `firstSighting` (not on a replay or a new version).
   */
  baseline?: IdentityBaseline;
  firstSighting: boolean;
  /** Window state of `key` (loaded before evaluation; changes are persisted). */
  window(key: string): WindowState;
  markDirty(key: string): void;
  /** Stored events the rule asked for (eventIds). */
  events: Map<string, StoredEvent>;
  revocations: RevocationList;
}

export interface RuleImpl<T extends RuleType = RuleType> {
  type: T;
  /** Window state keys needed for this record (loaded in one round trip per batch). */
  windowKeys?(rule: RuleOf<T>, view: RecordView): string[];
  /** Source events needed for this record (fetched in one round trip per batch). */
  eventIds?(rule: RuleOf<T>, view: RecordView): string[];
  /** First-seen dimensions the baseline must learn for this rule (name and the record's value). */
  dims?(rule: RuleOf<T>, view: RecordView): { name: string; value: string | undefined }[];
  evaluate(rule: RuleOf<T>, ctx: EvalContext): Match[];
}

/** `identity:<subject>` or `source_ip:<ip>` (or `unknown`). */
export function identityOrSource(v: RecordView, preferIdentity = true): Pick<Match, 'groupKey' | 'identity' | 'sourceIp'> {
  const out: Pick<Match, 'groupKey' | 'identity' | 'sourceIp'> = { groupKey: 'unknown' };
  if (v.subject) out.identity = v.subject;
  if (v.sourceIp) out.sourceIp = v.sourceIp;
  if (preferIdentity && v.subject) out.groupKey = `identity:${v.subject}`;
  else if (v.sourceIp) out.groupKey = `source_ip:${v.sourceIp}`;
  else if (v.subject) out.groupKey = `identity:${v.subject}`;
  return out;
}
