import type { Client, estypes } from '@elastic/elasticsearch';
import { PipelineError } from '../../errors';
import { decodeCursor, encodeCursor } from '../../store/query';
import { docId } from '../../store/elasticsearch/elasticsearchStore';
import { backoffMs, classifyItem, classifyRequestError, DEFAULT_RETRY, sleep, transientCode, type RetryPolicy } from '../../store/elasticsearch/retry';
import type { Alert, AlertStatus } from '../alert';
import type { AlertPage, AlertQuery, AlertStore, StateDoc, WebhookDeadLetter } from './alertStore';

/**
 * Alerts next to the Elasticsearch store's indices, under its prefix P:
 * - `P-alerts`: one document per alert (`_id` = alert id); searched by the API;
 * - `P-baselines`: detection state (baselines, windows, incident pointers), `_id` = state key, read
 *   with real-time `mget` (no refresh needed between batches), the state itself not indexed;
 * - `P-alert-dead-letters`: webhook deliveries given up.
 * Alert writes are `update` + `upsert` without the status fields, so the engine never overwrites an
 * analyst's status change. Items answering 429/5xx are retried with backoff (retry.ts policy).
 */
const ALERT_MAPPINGS: estypes.MappingTypeMapping = {
  dynamic: false,
  properties: {
    id: { type: 'keyword' },
    rule_id: { type: 'keyword' },
    rule_type: { type: 'keyword' },
    severity: { type: 'keyword' },
    status: { type: 'keyword' },
    group_key: { type: 'keyword' },
    identity: { type: 'keyword' },
    source_ip: { type: 'keyword' },
    first_seen: { type: 'date' },
    last_seen: { type: 'date' },
    count: { type: 'long' },
    record_ids: { type: 'keyword' },
    record_ids_truncated: { type: 'boolean' },
    description: { type: 'text' },
    reason: { type: 'text' },
    last_reason: { type: 'text' },
    details: { type: 'object', enabled: false },
    created_at: { type: 'date' },
    updated_at: { type: 'date' },
    status_updated_at: { type: 'date' },
    status_updated_by: { type: 'keyword' },
    seen: { type: 'keyword', index: false, doc_values: false },
  },
};
const STATE_MAPPINGS: estypes.MappingTypeMapping = {
  dynamic: false,
  properties: { key: { type: 'keyword' }, kind: { type: 'keyword' }, updated_at: { type: 'date' }, doc: { type: 'object', enabled: false } },
};
const DEAD_MAPPINGS: estypes.MappingTypeMapping = {
  dynamic: false,
  properties: { id: { type: 'keyword' }, timestamp: { type: 'date' }, alert_id: { type: 'keyword' }, rule_id: { type: 'keyword' }, reason: { type: 'text' }, payload: { type: 'text', index: false } },
};

type BulkOp = { head: Record<string, unknown>; body: unknown; what: string };

export class ElasticsearchAlertStore implements AlertStore {
  readonly kind = 'elasticsearch' as const;
  readonly alertsIndex: string;
  readonly stateIndex: string;
  readonly deadIndex: string;
  private readonly retry: RetryPolicy;

  constructor(private readonly client: Client, prefix: string, retry: Partial<RetryPolicy> = {}) {
    this.alertsIndex = `${prefix}-alerts`;
    this.stateIndex = `${prefix}-baselines`;
    this.deadIndex = `${prefix}-alert-dead-letters`;
    this.retry = { ...DEFAULT_RETRY, ...retry };
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw classifyRequestError(e, what);
    }
  }

  async init(): Promise<void> {
    for (const [index, mappings] of [
      [this.alertsIndex, ALERT_MAPPINGS],
      [this.stateIndex, STATE_MAPPINGS],
      [this.deadIndex, DEAD_MAPPINGS],
    ] as const) {
      const exists = await this.call(`check index ${index}`, () => this.client.indices.exists({ index }));
      if (exists) continue;
      try {
        await this.client.indices.create({ index, mappings });
      } catch (e) {
        // Another instance created it first.
        if ((e as { meta?: { body?: { error?: { type?: string } } } }).meta?.body?.error?.type !== 'resource_already_exists_exception') throw classifyRequestError(e, `create index ${index}`);
      }
    }
  }

  async loadState(keys: string[]): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>();
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      const res = await this.call('load detection state', () =>
        this.client.mget<{ key: string; doc: unknown }>({ index: this.stateIndex, ids: chunk.map(docId), realtime: true }),
      );
      for (const d of res.docs) if ('found' in d && d.found && d._source) out.set(d._source.key, d._source.doc);
    }
    return out;
  }

  /** One `_bulk`, items retried on 429/5xx; a permanent item failure throws (non-retriable). */
  private async bulk(ops: BulkOp[], what: string): Promise<void> {
    let pending = ops;
    for (let attempt = 1; pending.length; attempt++) {
      const operations: unknown[] = [];
      for (const op of pending) operations.push(op.head, op.body);
      const res = await this.call(what, () => this.client.bulk({ operations }));
      if (!res.errors) return;
      const retry: BulkOp[] = [];
      let lastStatus = 0;
      for (let i = 0; i < res.items.length; i++) {
        const item = Object.values(res.items[i]!)[0]!;
        const action = Object.keys(res.items[i]!)[0]!;
        const outcome = classifyItem(action === 'delete' ? 'delete' : action === 'create' ? 'create' : 'index', item.status);
        if (outcome === 'ok') continue;
        if (outcome === 'retry') {
          retry.push(pending[i]!);
          lastStatus = item.status;
          continue;
        }
        throw new PipelineError(`elasticsearch ${what}: ${pending[i]!.what} rejected: HTTP ${item.status} ${item.error?.type ?? ''} ${item.error?.reason ?? ''}`.trim(), 'es_document_rejected', false, 'sink');
      }
      if (attempt >= this.retry.maxAttempts) {
        throw new PipelineError(`elasticsearch ${what}: ${retry.length} item(s) still failing after ${attempt} attempts (HTTP ${lastStatus})`, transientCode(lastStatus), true, 'sink');
      }
      await sleep(backoffMs(attempt, this.retry));
      pending = retry;
    }
  }

  async commit(alerts: Alert[], state: StateDoc[]): Promise<void> {
    const now = new Date().toISOString();
    if (alerts.length) {
      const ops: BulkOp[] = alerts.map((a) => {
        const { status: _s, status_updated_at: _a, status_updated_by: _b, ...rest } = a;
        return { head: { update: { _index: this.alertsIndex, _id: a.id } }, body: { doc: rest, upsert: a }, what: `alert ${a.id}` };
      });
      await this.bulk(ops, 'write alerts');
    }
    if (state.length) {
      const ops: BulkOp[] = state.map((s) => ({
        head: { index: { _index: this.stateIndex, _id: docId(s.key) } },
        body: { key: s.key, kind: s.kind, updated_at: now, doc: s.doc },
        what: `state ${s.key}`,
      }));
      await this.bulk(ops, 'write detection state');
    }
  }

  async getAlerts(ids: string[]): Promise<Map<string, Alert>> {
    const out = new Map<string, Alert>();
    if (!ids.length) return out;
    const res = await this.call('get alerts', () => this.client.mget<Alert>({ index: this.alertsIndex, ids, realtime: true }));
    for (const d of res.docs) if ('found' in d && d.found && d._source) out.set(d._id, d._source);
    return out;
  }

  async searchAlerts(q: AlertQuery): Promise<AlertPage> {
    const filter: estypes.QueryDslQueryContainer[] = [];
    if (q.from) filter.push({ range: { last_seen: { gte: q.from } } });
    if (q.to) filter.push({ range: { first_seen: { lt: q.to } } });
    if (q.ruleId) filter.push({ term: { rule_id: q.ruleId } });
    if (q.severity) filter.push({ term: { severity: q.severity } });
    if (q.identity) filter.push({ term: { identity: q.identity } });
    if (q.status) filter.push({ term: { status: q.status } });
    let searchAfter: [number, string] | undefined;
    if (q.cursor) {
      const c = decodeCursor(q.cursor);
      if (!c) throw new PipelineError('invalid cursor', 'invalid_cursor', false, 'api');
      searchAfter = [c.ts, c.id];
    }
    const res = await this.call('search alerts', () =>
      this.client.search<Alert>({
        index: this.alertsIndex,
        size: q.limit + 1,
        query: { bool: { filter } },
        sort: [{ first_seen: { order: 'desc' } }, { id: { order: 'desc' } }],
        ...(searchAfter ? { search_after: searchAfter } : {}),
        track_total_hits: false,
      }),
    );
    const hits = res.hits.hits;
    const page = hits.slice(0, q.limit);
    const out: AlertPage = { alerts: page.map((h) => h._source!) };
    if (hits.length > q.limit) {
      const last = page[page.length - 1]!;
      out.nextCursor = encodeCursor({ ts: Date.parse(last._source!.first_seen), id: last._source!.id });
    }
    return out;
  }

  async setStatus(id: string, status: AlertStatus, by: string, atIso: string): Promise<Alert | undefined> {
    try {
      await this.client.update({ index: this.alertsIndex, id, doc: { status, status_updated_at: atIso, status_updated_by: by }, refresh: true });
    } catch (e) {
      if ((e as { meta?: { statusCode?: number } }).meta?.statusCode === 404) return undefined;
      throw classifyRequestError(e, 'set alert status');
    }
    return (await this.getAlerts([id])).get(id);
  }

  async putDeadLetters(dls: WebhookDeadLetter[]): Promise<void> {
    if (!dls.length) return;
    await this.bulk(
      dls.map((d) => ({ head: { index: { _index: this.deadIndex, _id: d.id } }, body: d, what: `webhook dead letter ${d.id}` })),
      'write webhook dead letters',
    );
  }

  async listDeadLetters(limit: number): Promise<WebhookDeadLetter[]> {
    await this.call('refresh webhook dead letters', () => this.client.indices.refresh({ index: this.deadIndex }));
    const res = await this.call('list webhook dead letters', () =>
      this.client.search<WebhookDeadLetter>({ index: this.deadIndex, size: limit, sort: [{ timestamp: { order: 'desc' } }, { id: { order: 'desc' } }] }),
    );
    return res.hits.hits.map((h) => h._source!);
  }

  async refresh(): Promise<void> {
    await this.call('refresh alerts', () => this.client.indices.refresh({ index: [this.alertsIndex, this.deadIndex].join(','), ignore_unavailable: true }));
  }
}
