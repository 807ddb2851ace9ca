/**
 * Exact-truth check of stored records against a scenario (crash and fault-injection suites): one
 * record per request and per firewall session, each with exactly its expected members (and how each
 * was joined) and identity; no other record. Works on the records of either store.
 */
import type { Client } from '@elastic/elasticsearch';
import type { AuditRecord } from '../../src/model/record';
import type { Scenario } from './scenario';
import { allRecords, countDocs } from './delivery';

export interface TruthResult {
  /** Human-readable differences (empty when the store holds exactly the truth). */
  problems: string[];
  /** Records that match no expected record. */
  extra: number;
}

export function compareWithTruth(records: AuditRecord[], scenario: Pick<Scenario, 'records'>): TruthResult {
  const byMember = new Map<string, AuditRecord[]>();
  for (const r of records) for (const m of r.auditmesh.members) (byMember.get(m.event_id) ?? byMember.set(m.event_id, []).get(m.event_id)!).push(r);
  const problems: string[] = [];
  const matched = new Set<string>();
  for (const exp of scenario.records) {
    const anchor = exp.members.find((m) => exp.type === 'session' || m.source !== 'panos')!;
    const cands = (byMember.get(anchor.eventId) ?? []).filter((r) => r.auditmesh.record_type === exp.type);
    if (cands.length !== 1) {
      problems.push(`${exp.label}: ${cands.length} ${exp.type} records hold ${anchor.source} event ${anchor.eventId}`);
      continue;
    }
    const r = cands[0]!;
    matched.add(r.auditmesh.record_id);
    const got = r.auditmesh.members.map((m) => `${m.source}:${m.event_id}:${m.joined_by}`).sort();
    const want = exp.members.map((m) => `${m.source}:${m.eventId}:${m.joinedBy}`).sort();
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${exp.label}: members ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    if (exp.identity && (r.auditmesh.identity.verdict !== exp.identity.verdict || r.auditmesh.identity.subject !== exp.identity.subject)) {
      problems.push(`${exp.label}: identity ${r.auditmesh.identity.subject}/${r.auditmesh.identity.verdict}, expected ${exp.identity.subject}/${exp.identity.verdict}`);
    }
  }
  const extra = records.filter((r) => !matched.has(r.auditmesh.record_id));
  for (const r of extra.slice(0, 10)) problems.push(`unexpected ${r.auditmesh.record_type} record ${r.auditmesh.record_id}: ${r.auditmesh.members.map((m) => `${m.source}:${m.event_id}`).join(',')}`);
  return { problems, extra: extra.length };
}

/** Distinct event ids of the scenario's messages (what the events index/table must hold exactly). */
export function uniqueEventIds(scenario: Pick<Scenario, 'messages'>): number {
  return new Set(scenario.messages.flatMap((m) => m.eventIds)).size;
}

/** What Elasticsearch holds under `prefix`, compared with the scenario's truth. */
export async function esTruth(es: Client, prefix: string, scenario: Pick<Scenario, 'records' | 'messages'>): Promise<{ records: AuditRecord[]; problems: string[]; events: number; uniqueEvents: number; deadLetters: number }> {
  const records = await allRecords(es, prefix);
  const { problems } = compareWithTruth(records, scenario);
  return { records, problems, events: await countDocs(es, `${prefix}-events-*`), uniqueEvents: uniqueEventIds(scenario), deadLetters: await countDocs(es, `${prefix}-dead-letters*`) };
}
