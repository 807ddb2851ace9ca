import { createHash } from 'node:crypto';
import type { RuleType, Severity } from './rules/schema';
import { recordHash } from './baseline';

/**
 * An alert is one incident: rule + key (identity or source address). Matches within the rule's
 * suppression window (event time, after the last match) join it: `count` grows, `last_seen` moves,
 * record ids are appended (capped). Its id is deterministic (rule, key, event time of the first
 * match), and `seen` holds a hash of every record counted, so processing a batch again (at-least-once
 * redelivery, a restart, a new version of a record) never counts a record twice.
 */
export type AlertStatus = 'open' | 'acknowledged' | 'resolved';
export const ALERT_STATUSES: readonly AlertStatus[] = ['open', 'acknowledged', 'resolved'];

export interface Alert {
  id: string;
  rule_id: string;
  rule_type: RuleType;
  severity: Severity;
  /** The rule's description (what it means, for the analyst). */
  description: string;
  status: AlertStatus;
  /** What the incident is about: `identity:<subject>`, `source_ip:<ip>`, `workload:<spiffe id>`, ... */
  group_key: string;
  identity?: string;
  source_ip?: string;
  /** Event time of the first and last matching record (ISO 8601). */
  first_seen: string;
  last_seen: string;
  /** Matching records counted (distinct). */
  count: number;
  /** The first MAX_RECORD_IDS matching record ids; `count` is the total. */
  record_ids: string[];
  record_ids_truncated: boolean;
  /** Why it fired: the first match's explanation. */
  reason: string;
  /** The latest match's explanation. */
  last_reason: string;
  details?: Record<string, unknown>;
  /** Wall-clock times of the alert document. */
  created_at: string;
  updated_at: string;
  status_updated_at?: string;
  status_updated_by?: string;
  /** Hashes of counted records (dedupe, internal: never served by the API). */
  seen: string[];
}

/** An alert as the API and the outputs show it (without the internal dedupe set). */
export type PublicAlert = Omit<Alert, 'seen'> & { records: { ids: string[]; count: number; truncated: boolean } };

export const MAX_RECORD_IDS = 100;
/** Beyond this many counted records an incident rolls over into a new alert (keeps dedupe exact). */
export const MAX_SEEN = 5_000;

/** Deterministic: the same first match (rule, key, event time, first record) always gets the same id. */
export function alertId(ruleId: string, groupKey: string, firstSeenMs: number, firstRecordId: string): string {
  return createHash('sha256').update(`alert|${ruleId}|${groupKey}|${firstSeenMs}|${firstRecordId}`).digest('base64url').slice(0, 22);
}

export const incidentKey = (ruleId: string, groupKey: string) => `i:${ruleId}|${groupKey}`;

export function publicAlert(a: Alert): PublicAlert {
  const { seen: _s, ...rest } = a;
  return { ...rest, records: { ids: a.record_ids, count: a.count, truncated: a.record_ids_truncated } };
}

/** Whether a match at event time `t` belongs to `a` (not resolved, within the suppression window). */
export function withinSuppression(a: Alert, t: number, suppressionMs: number): boolean {
  if (a.status === 'resolved' || a.seen.length >= MAX_SEEN) return false;
  return t <= Date.parse(a.last_seen) + suppressionMs && t >= Date.parse(a.first_seen) - suppressionMs;
}

/** Add records to an alert; returns how many were new (0 = a replay, nothing changed). */
export function addRecords(a: Alert, records: { id: string; t: number }[], reason: string, nowIso: string): number {
  const seen = new Set(a.seen);
  let added = 0;
  for (const r of records) {
    const h = recordHash(r.id);
    if (seen.has(h)) continue;
    seen.add(h);
    a.seen.push(h);
    added++;
    if (a.record_ids.length < MAX_RECORD_IDS) a.record_ids.push(r.id);
    else a.record_ids_truncated = true;
    if (r.t > Date.parse(a.last_seen)) a.last_seen = new Date(r.t).toISOString();
    if (r.t < Date.parse(a.first_seen)) a.first_seen = new Date(r.t).toISOString();
  }
  if (added) {
    a.count += added;
    a.last_reason = reason;
    a.updated_at = nowIso;
  }
  return added;
}

/** Whether any of these records was already counted by `a`. */
export function hasSeen(a: Alert, recordId: string): boolean {
  return a.seen.includes(recordHash(recordId));
}
