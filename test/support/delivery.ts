/**
 * Delivery and read-back helpers shared by the scenario and crash integration tests: produce
 * messages out of order across topics, wait until every consumer group has committed everything
 * (commit happens only after the store acknowledged), read the records back from Elasticsearch.
 */
import type { Admin, Producer } from 'kafkajs';
import type { Client } from '@elastic/elasticsearch';
import type { SourceType } from '../../src/model/events';
import type { AuditRecord } from '../../src/model/record';
import { shuffle, type Message, type Rng } from './scenario';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Produce `messages` to their source's topic, shuffled within each topic and interleaved across topics
 * in random chunks (each chunk acknowledged before the next), so both the order within a topic and the
 * order between topics differ from event-time order. Returns how many messages went to each topic.
 */
export async function produceOutOfOrder(
  producer: Producer,
  rng: Rng,
  topics: Record<SourceType, string>,
  messages: Message[],
  opts: { maxChunk?: number; pauseMs?: number } = {},
): Promise<Record<string, number>> {
  const queues = new Map<SourceType, Message[]>();
  for (const m of messages) (queues.get(m.source) ?? queues.set(m.source, []).get(m.source)!).push(m);
  for (const [s, q] of queues) queues.set(s, shuffle(rng, q));
  const sent: Record<string, number> = {};
  const maxChunk = opts.maxChunk ?? 3;
  while ([...queues.values()].some((q) => q.length)) {
    const live = [...queues.entries()].filter(([, q]) => q.length);
    const [source, q] = live[Math.floor(rng() * live.length)]!;
    const chunk = q.splice(0, 1 + Math.floor(rng() * maxChunk));
    await producer.send({ topic: topics[source], acks: -1, messages: chunk.map((m) => ({ value: m.value })) });
    sent[source] = (sent[source] ?? 0) + chunk.length;
    if (opts.pauseMs) await sleep(Math.floor(rng() * opts.pauseMs));
  }
  return sent;
}

/** Messages not yet committed by `groupId` on `topic` (all partitions). */
export async function consumerLag(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  const done = new Map<number, bigint>();
  for (const t of committed) for (const p of t.partitions) done.set(p.partition, BigInt(p.offset));
  let lag = 0n;
  for (const p of ends) {
    const high = BigInt(p.high);
    const low = BigInt(p.low);
    const c = done.get(p.partition) ?? -1n;
    lag += high - (c < low ? low : c);
  }
  return Number(lag);
}

/** Total lag of several (group, topic) pairs. */
export async function totalLag(admin: Admin, pairs: { groupId: string; topic: string }[]): Promise<number> {
  let sum = 0;
  for (const p of pairs) sum += await consumerLag(admin, p.groupId, p.topic);
  return sum;
}

/** Wait until every (group, topic) pair has lag 0, i.e. every message was stored and committed. */
export async function waitForDrain(admin: Admin, pairs: { groupId: string; topic: string }[], timeoutMs: number, what = 'consumers to drain'): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = -1;
  while (Date.now() < end) {
    last = await totalLag(admin, pairs).catch(() => -1);
    if (last === 0) return;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (lag ${last})`);
}

/** Every record of the prefix, read straight from Elasticsearch (after a refresh). */
export async function allRecords(es: Client, prefix: string): Promise<AuditRecord[]> {
  await es.indices.refresh({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true });
  const out: AuditRecord[] = [];
  let after: (string | number)[] | undefined;
  for (;;) {
    const res = await es.search<AuditRecord>({
      index: `${prefix}-records-*`,
      ignore_unavailable: true,
      allow_no_indices: true,
      size: 1000,
      query: { match_all: {} },
      sort: [{ 'auditmesh.record_id': { order: 'asc' } }],
      ...(after ? { search_after: after } : {}),
    });
    const hits = res.hits.hits;
    for (const h of hits) out.push(h._source!);
    if (hits.length < 1000) return out;
    after = hits[hits.length - 1]!.sort as (string | number)[];
  }
}

/** Number of documents in the indices matching `pattern`. */
export async function countDocs(es: Client, pattern: string): Promise<number> {
  await es.indices.refresh({ index: pattern, ignore_unavailable: true, allow_no_indices: true });
  const r = await es.count({ index: pattern, ignore_unavailable: true, allow_no_indices: true });
  return r.count;
}

/**
 * Shuffle messages within consecutive event-time windows of `windowMs` (each topic's order is then
 * wrong by up to one window, which must stay below the allowed lateness).
 */
export function shuffleWithin(rng: Rng, messages: Message[], windowMs: number): Message[] {
  const buckets = new Map<number, Message[]>();
  for (const m of messages) {
    const b = Math.floor(m.t / windowMs);
    (buckets.get(b) ?? buckets.set(b, []).get(b)!).push(m);
  }
  return [...buckets.keys()].sort((a, b) => a - b).flatMap((b) => shuffle(rng, buckets.get(b)!));
}
