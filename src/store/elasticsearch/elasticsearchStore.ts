import { createHash } from 'node:crypto';
import net from 'node:net';
import { Client, errors, type estypes } from '@elastic/elasticsearch';
import type { DeadLetter, SourceRef } from '../../model/events';
import { isSelfKeyed, type AuditRecord, type AuditStore, type DeadLetterQuery, type RecordPage, type RecordQuery, type RecordsByIpsQuery, type StoredEvent, type WriteBatch } from '../../model/record';
import { ConfigError, PipelineError } from '../../errors';
import { decodeCursor, encodeCursor, matchesRecordsByIps, recordColumns, type RecordColumns } from '../query';
import { RECORD_SORT_ASC, RECORD_SORT_DESC, recordFilter, searchAfter, withoutApiRecords } from './searchQuery';
import type { IdentityActivityAggregates, IdentityActivityQuery, ReportAggregates, ReportQuery } from '../../model/analytics';
import { esIdentityActivity, esReportByIdentity, type RecordSearch } from './esAnalytics';
import { backoffMs, classifyItem, classifyRequestError, DEFAULT_RETRY, itemField, itemReason, sleep, transientCode, type BulkAction, type RetryPolicy } from './retry';
import { DEFAULT_TEMPLATES_DIR, loadTemplates } from './templates';

export interface ElasticsearchStoreOptions {
  /** Base URL of the cluster, e.g. `http://127.0.0.1:9200`. */
  url: string;
  username?: string;
  password?: string;
  /** Base64 API key (`id:key` encoded); takes precedence over username/password. */
  apiKey?: string;
  /** Prefix of every index and template name (lower case, e.g. `auditmesh`). */
  indexPrefix: string;
  /** Age in days after which daily record/event indices are deleted by `applyRetention`; 0 keeps everything. */
  retentionDays: number;
  /** A ready client (tests, shared pools). `close()` closes only a client the store created itself. */
  client?: Client;
  /** Retries of bulk writes on 429 / 5xx / connection errors (see retry.ts for the defaults). */
  retry?: Partial<RetryPolicy>;
  /** Timeout of one HTTP request, in ms. Default 30000 ms. */
  requestTimeoutMs?: number;
  /** Max bytes of one `_bulk` request body (its NDJSON; an operation bigger than this goes alone). Default 8 MiB. */
  maxBulkBytes?: number;
  /** Max operations of one `_bulk` request. Default 10,000. */
  maxBulkOps?: number;
  /**
   * Records written since the last refresh that findRecordsByIps matches in memory before it
   * refreshes instead (default 20,000; see ElasticsearchStore.unrefreshedRecords).
   */
  unrefreshedMaxRecords?: number;
  /** Directory of the index template JSON files. Default: `pipelines/elasticsearch` of the repository. */
  templatesDir?: string;
  /** Clock, for tests. */
  now?: () => Date;
}

/** Counters of what the store did on its own (exported as metrics by the caller). */
export interface ElasticsearchStoreStats {
  /** Records/events Elasticsearch refused permanently (mapping conflicts); each became a dead letter. */
  rejectedDocuments: number;
  /** Bulk operations sent again after a 429 / 5xx / connection error. */
  retriedOperations: number;
}

export interface RetentionResult {
  deletedIndices: string[];
  sweptLocators: number;
  sweptKeys: number;
  sweptDeadLetters: number;
}

/** Extra bulk operations a feature adds to each batch (see addWriteExtension). */
export interface ExtensionOp {
  action: 'create' | 'index';
  index: string;
  id: string;
  doc: unknown;
}
export type WriteExtension = (batch: WriteBatch) => Promise<ExtensionOp[]>;
/**
 * Told how a write whose bulk carried an extension's operations ended: `error` undefined when the
 * whole batch was acknowledged, else the error `write()` throws (e.g. the ledger rolls back its head).
 */
export type WriteSettled = (error?: unknown) => void;

/**
 * Records that end at or after `ms` (RecordsByIpsQuery.endFrom, store/query.ts RecordColumns.endTs):
 * `event.end` or any member's timestamp is that late, or, with neither, `@timestamp` is.
 */
function endsFrom(ms: number): estypes.QueryDslQueryContainer {
  const gte = (field: string): estypes.QueryDslQueryContainer => ({ range: { [field]: { gte: ms, format: 'epoch_millis' } } });
  return {
    bool: {
      should: [
        gte('event.end'),
        gte('auditmesh.members.timestamp'),
        { bool: { must_not: [{ exists: { field: 'event.end' } }, { exists: { field: 'auditmesh.members.timestamp' } }], filter: [gte('@timestamp')] } },
      ],
      minimum_should_match: 1,
    },
  };
}

/** See ElasticsearchStore.unrefreshedRecords. */
interface UnrefreshedRecord {
  seq: number;
  /** The record's columns findRecordsByIps filters on; undefined: the record was deleted. */
  cols?: RecordColumns;
  /** The record's JSON as written. */
  json?: string;
}
const UNREFRESHED_MAX_RECORDS = 20_000;
const UNREFRESHED_MAX_BYTES = 32 * 1024 * 1024;
/** Addresses per search of findRecordsByIps (a terms query takes up to 65,536 by default). */
const IPS_PER_SEARCH = 10_000;

/** Key prefixes a self-keyed record has none of (see RecordsByIpsQuery.selfKeyedOnly). */
const SHARED_KEY_PREFIXES = ['t:', 'r:', 'fw:'];

/** What a `_bulk` answer is asked to contain (`filter_path`): the client reads nothing else. */
const BULK_ANSWER = ['errors', 'items.*.status', 'items.*.error'];

/** One operation of a `_bulk` body as NDJSON: the action line, then the document unless it is a delete. */
function bulkLine(op: Op): string {
  const action = `{"${op.action}":{"_index":${JSON.stringify(op.index)},"_id":${JSON.stringify(op.id)}}}\n`;
  return op.action === 'delete' ? action : action + JSON.stringify(op.doc) + '\n';
}

/** The document's JSON of a `bulkLine` (its second line). */
function docJsonOf(line: string): string {
  return line.slice(line.indexOf('\n') + 1, -1);
}

interface Op {
  action: BulkAction;
  index: string;
  id: string;
  doc?: unknown;
  /** What the document is, for error messages and dead letters. */
  kind: 'record' | 'event' | 'key' | 'locator' | 'dead_letter' | 'extension';
  /** Original (un-hashed) id. */
  ref: string;
  /** The operation as `_bulk` NDJSON (set when it is sent). */
  line?: string;
}

interface Rejected {
  kind: 'record' | 'event';
  id: string;
  index: string;
  doc: AuditRecord | StoredEvent;
  reason: string;
  field?: string;
}

const PAGE = 1000;
/** Entries of the locator and key caches, each (about 100 bytes per entry). */
const LOCATOR_CACHE_MAX = 200_000;
/** Entries of the event cache (about 1-2 kB each: the event's JSON). */
const EVENT_CACHE_MAX = 50_000;
const MAX_ID_BYTES = 256;
const MAX_ORIGINAL_BYTES = 64 * 1024;

/**
 * Elasticsearch engine of the audit store; the same answers as `SqliteStore` for every method
 * (proved by `store/contract.ts`).
 *
 * Index layout (P = indexPrefix):
 * - `P-records-YYYY.MM.DD`: records, one index per UTC day; searched through `P-records-*`.
 * - `P-events-YYYY.MM.DD`: source events (evidence), likewise.
 * - `P-keys`: correlation key → record id (`_id` = key).
 * - `P-loc`: locator, `r:<record id>` / `e:<event id>` → the daily index holding the document, so reads
 *   by id are real-time `mget`s (search would only see refreshed data).
 * - `P-dead-letters`.
 *
 * A record or event stays in the index of the day it was FIRST written (its @timestamp / timestamp
 * then), even when an amendment moves its @timestamp (a late, earlier member): moving it would need a
 * delete in another index, and a bulk that fails half-way could then leave two copies. Searches go
 * through `P-records-*` and filter on @timestamp, so placement never changes an answer; it only
 * decides which retention run deletes the document.
 *
 * Writes: one `_bulk` per batch (after one real-time `mget` of the locators), deterministic `_id`s, so
 * replaying a batch is a no-op. Bulk items are classified one by one (retry.ts): 429 / 5xx items are
 * re-sent with capped exponential backoff and jitter; when they keep failing the write throws a
 * retriable `PipelineError` (`es_rejected` for 429, `es_unavailable` otherwise) and the runner retries
 * the whole (idempotent) batch. A record or event that Elasticsearch refuses permanently (4xx:
 * mapping conflict) does not block the pipeline: it becomes a dead letter (stage `sink`, code
 * `es_document_rejected`, the document as the original bytes, the reason and field from
 * Elasticsearch; a previous version of the record, if any, stays) and `stats.rejectedDocuments`
 * counts it. Any other permanent item failure (keys, locators, dead letters, deletes) throws a
 * non-retriable `PipelineError` naming the document.
 */
export class ElasticsearchStore implements AuditStore {
  readonly kind = 'elasticsearch' as const;
  readonly stats: ElasticsearchStoreStats = { rejectedDocuments: 0, retriedOperations: 0 };
  readonly prefix: string;
  private readonly client: Client;
  private readonly ownsClient: boolean;
  private readonly retry: RetryPolicy;
  private readonly requestTimeoutMs: number;
  /** Upper bounds of one `_bulk` request (Elasticsearch guidance: a few MB to tens of MB). */
  private readonly maxBulkBytes: number;
  private readonly maxBulkOps: number;
  private readonly unrefreshedMaxRecords: number;
  private readonly retentionDays: number;
  private readonly templatesDir: string;
  private readonly now: () => Date;
  private closed = false;
  private readonly extensions: WriteExtension[] = [];
  private readonly settledListeners = new Map<WriteExtension, WriteSettled>();
  /** Record indices written since this store last refreshed them (see findRecordsByIps). */
  private readonly unrefreshed = new Set<string>();
  /**
   * Records this store wrote or deleted since the last refresh it made of their index, as the write
   * left them (search does not see them yet): findRecordsByIps answers from these plus a search of
   * the refreshed index instead of refreshing before every search. Bounded: beyond
   * unrefreshedMaxRecords / UNREFRESHED_MAX_BYTES the next search refreshes first and they go.
   */
  private readonly unrefreshedRecords = new Map<string, UnrefreshedRecord>();
  private unrefreshedBytes = 0;
  /** Order of the entries above (an entry older than a refresh's start is visible after it). */
  private writeSeq = 0;
  /** A write failed part-way: what it wrote is unknown, so the next search refreshes first. */
  private unrefreshedUnknown = false;
  /**
   * Locator cache: locator id → daily index, for documents this process wrote or read (a Map in
   * recency order, the oldest evicted beyond LOCATOR_CACHE_MAX). A document never changes index
   * while it exists, so an entry stays true until the document is deleted, which this store does
   * itself (and then drops the entry). Saves the locator `mget` of the reads and writes of records
   * and events written recently — the common case of a late event amending its request.
   */
  private readonly locCache = new Map<string, string>();
  /** Key cache: correlation key → record id, for keys this process wrote or read (same reasoning). */
  private readonly keyCache = new Map<string, string>();
  /**
   * Event cache: event id → the event document this process last wrote (its JSON, as sent), the most
   * recent EVENT_CACHE_MAX. An event's content never changes under its id and only this store's
   * writes change its record id, so an entry stays true until retention deletes the event (which
   * clears the cache). Saves the reads of an amendment: the members of a record written recently.
   */
  private readonly eventCache = new Map<string, string>();

  constructor(opts: ElasticsearchStoreOptions) {
    const p = opts.indexPrefix;
    if (!/^[a-z0-9][a-z0-9_.-]{0,99}$/.test(p)) {
      throw new ConfigError(
        `elasticsearch.index_prefix: must be 1-100 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit (got ${JSON.stringify(p)})`,
      );
    }
    if (!Number.isInteger(opts.retentionDays) || opts.retentionDays < 0) {
      throw new ConfigError(`elasticsearch.retention_days: must be an integer >= 0, 0 keeps everything (got ${opts.retentionDays})`);
    }
    this.prefix = p;
    this.retentionDays = opts.retentionDays;
    this.retry = { ...DEFAULT_RETRY, ...(opts.retry ?? {}) };
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.maxBulkBytes = opts.maxBulkBytes ?? 8 * 1024 * 1024;
    this.maxBulkOps = opts.maxBulkOps ?? 10_000;
    this.unrefreshedMaxRecords = opts.unrefreshedMaxRecords ?? UNREFRESHED_MAX_RECORDS;
    this.templatesDir = opts.templatesDir ?? DEFAULT_TEMPLATES_DIR;
    this.now = opts.now ?? (() => new Date());
    if (opts.client) {
      this.client = opts.client;
      this.ownsClient = false;
    } else {
      const auth = opts.apiKey ? { apiKey: opts.apiKey } : opts.username ? { username: opts.username, password: opts.password ?? '' } : undefined;
      this.client = new Client({ node: opts.url, requestTimeout: this.requestTimeoutMs, maxRetries: 3, ...(auth ? { auth } : {}) });
      this.ownsClient = true;
    }
  }

  /** The client, for features that keep their own indices under the same prefix (alerts, ledger). */
  get esClient(): Client {
    return this.client;
  }

  /**
   * Add documents to every batch's bulk request (e.g. ledger entries). `create` operations that
   * answer 409 are replays of the same batch and count as written; any other failure is retried or
   * thrown like the batch's own documents.
   */
  addWriteExtension(ext: WriteExtension, onSettled?: WriteSettled): void {
    this.extensions.push(ext);
    if (onSettled) this.settledListeners.set(ext, onSettled);
  }

  // ---- index names -------------------------------------------------------------------------

  get recordsPattern(): string {
    return `${this.prefix}-records-*`;
  }
  get eventsPattern(): string {
    return `${this.prefix}-events-*`;
  }
  get keysIndex(): string {
    return `${this.prefix}-keys`;
  }
  get locIndex(): string {
    return `${this.prefix}-loc`;
  }
  get deadLettersIndex(): string {
    return `${this.prefix}-dead-letters`;
  }
  /** Daily index of `kind` for a time in ms (UTC day). */
  dayIndex(kind: 'records' | 'events', ms: number): string {
    const d = new Date(ms);
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    return `${this.prefix}-${kind}-${pad(d.getUTCFullYear(), 4)}.${pad(d.getUTCMonth() + 1)}.${pad(d.getUTCDate())}`;
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Install (or update) the index templates and create the fixed indices. Idempotent. */
  async init(): Promise<void> {
    const templates = loadTemplates(this.prefix, this.templatesDir);
    await Promise.all(
      templates.map((t) =>
        this.call(`install index template ${t.name}`, () => this.client.indices.putIndexTemplate({ name: t.name, ...t.body } as estypes.IndicesPutIndexTemplateRequest)),
      ),
    );
    // Fields added to the records template after daily indices may exist (template version 2:
    // panw.panos.action): existing indices get the mapping too. Documents indexed before keep the
    // field unindexed until they are written again.
    const added = (templates.find((t) => t.name === `${this.prefix}-records`)?.body.template as { mappings?: { properties?: Record<string, unknown> } } | undefined)?.mappings?.properties?.panw;
    if (added) {
      await this.call('update record index mappings', () =>
        this.client.indices.putMapping({ index: this.recordsPattern, allow_no_indices: true, ignore_unavailable: true, properties: { panw: added as estypes.MappingProperty } }),
      );
    }
    await Promise.all(
      [this.keysIndex, this.locIndex, this.deadLettersIndex].map(async (index) => {
        try {
          await this.client.indices.create({ index });
        } catch (e) {
          if (e instanceof errors.ResponseError && (e.meta.body as { error?: { type?: string } })?.error?.type === 'resource_already_exists_exception') return;
          throw classifyRequestError(e, `create index ${index}`);
        }
      }),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) await this.client.close();
  }

  /** True when the cluster answers and is not red (`GET /` is not used: some distributions lack it). */
  async ping(): Promise<boolean> {
    try {
      const h = await this.client.cluster.health({}, { maxRetries: 0, requestTimeout: Math.min(this.requestTimeoutMs, 5_000) });
      return h.status !== 'red';
    } catch {
      return false;
    }
  }

  async refresh(): Promise<void> {
    const upTo = this.writeSeq;
    const unknown = this.unrefreshedUnknown;
    this.unrefreshedUnknown = false;
    this.unrefreshed.clear();
    try {
      await this.call('refresh', () =>
        this.client.indices.refresh({
          index: [this.recordsPattern, this.eventsPattern, this.keysIndex, this.locIndex, this.deadLettersIndex],
          ignore_unavailable: true,
          allow_no_indices: true,
        }),
      );
    } catch (e) {
      if (unknown) this.unrefreshedUnknown = true;
      throw e;
    }
    this.refreshedUpTo(upTo);
  }

  // ---- reads by id (real-time mget) --------------------------------------------------------

  async lookupKeys(keys: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const missing: string[] = [];
    for (const k of new Set(keys)) {
      const cached = this.keyCache.get(k);
      if (cached) out.set(k, cached);
      else missing.push(k);
    }
    if (!missing.length) return out;
    const docs = await this.mget<{ record_id: string }>(missing.map((k) => ({ index: this.keysIndex, id: docId(k) })), 'look up keys');
    missing.forEach((k, i) => {
      const d = docs[i];
      if (d) {
        out.set(k, d.record_id);
        cacheBounded(this.keyCache, k, d.record_id);
      }
    });
    return out;
  }

  async getRecords(ids: string[]): Promise<Map<string, AuditRecord>> {
    return this.getById<AuditRecord>('r', ids, 'get records');
  }

  async getEvents(ids: string[]): Promise<Map<string, StoredEvent>> {
    const uniq = [...new Set(ids)];
    const missing = uniq.filter((id) => !this.eventCache.has(id));
    if (missing.length === uniq.length) return this.getById<StoredEvent>('e', uniq, 'get events');
    const read = missing.length ? await this.getById<StoredEvent>('e', missing, 'get events') : undefined;
    const out = new Map<string, StoredEvent>();
    for (const id of uniq) {
      // A fresh object per read: callers may change what they get.
      const cached = this.eventCache.get(id);
      const e = cached !== undefined ? (JSON.parse(cached) as StoredEvent) : read?.get(id);
      if (e) out.set(id, e);
    }
    return out;
  }

  private async getById<T>(kind: 'r' | 'e', ids: string[], what: string): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    const uniq = [...new Set(ids)];
    const locs = await this.readLocators(uniq.map((id) => locId(kind, id)));
    const placed = uniq.filter((id) => locs.has(locId(kind, id)));
    const docs = await this.mget<T>(placed.map((id) => ({ index: locs.get(locId(kind, id))!, id: docId(id) })), what);
    placed.forEach((id, i) => {
      const d = docs[i];
      if (d) out.set(id, d);
    });
    return out;
  }

  /** Locator doc id → daily index (cached ones without a request). */
  private async readLocators(ids: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const missing: string[] = [];
    for (const id of new Set(ids)) {
      const cached = this.locCache.get(id);
      if (cached) out.set(id, cached);
      else missing.push(id);
    }
    if (!missing.length) return out;
    const docs = await this.mget<{ index: string }>(missing.map((id) => ({ index: this.locIndex, id })), 'read locators');
    missing.forEach((id, i) => {
      const d = docs[i];
      if (d?.index) {
        out.set(id, d.index);
        this.cacheLocator(id, d.index);
      }
    });
    return out;
  }

  private cacheLocator(id: string, index: string): void {
    cacheBounded(this.locCache, id, index);
  }

  /** Real-time multi-get; a missing document or index yields undefined at its position. */
  private async mget<T>(refs: { index: string; id: string }[], what: string): Promise<(T | undefined)[]> {
    const out: (T | undefined)[] = [];
    for (let i = 0; i < refs.length; i += PAGE) {
      const chunk = refs.slice(i, i + PAGE);
      const res = await this.call(what, () => this.client.mget<T>({ docs: chunk.map((r) => ({ _index: r.index, _id: r.id })), realtime: true }));
      for (const d of res.docs) {
        if ('found' in d && d.found && d._source !== undefined) out.push(d._source);
        else if ('error' in d && d.error && d.error.type !== 'index_not_found_exception') {
          throw new PipelineError(`elasticsearch ${what}: ${d._index}/${d._id}: ${itemReason(d.error)}`, 'es_request_failed', false, 'sink');
        } else out.push(undefined);
      }
    }
    return out;
  }

  // ---- write -------------------------------------------------------------------------------

  async write(batch: WriteBatch): Promise<void> {
    // Extensions that were asked for operations learn how the write ended (always, exactly once).
    const invoked: WriteExtension[] = [];
    try {
      await this.writeBatch(batch, invoked);
    } catch (e) {
      for (const ext of invoked) this.settledListeners.get(ext)?.(e);
      throw e;
    }
    for (const ext of invoked) this.settledListeners.get(ext)?.();
  }

  private async writeBatch(batch: WriteBatch, invoked: WriteExtension[]): Promise<void> {
    // Within a batch the last write of an id wins (SQLite applies them in order); dead letters: first wins.
    const records = new Map<string, AuditRecord>();
    for (const r of batch.records) records.set(r.auditmesh.record_id, r);
    const events = new Map<string, StoredEvent>();
    for (const e of batch.events) events.set(e.id, e);
    const keys = new Map<string, string>(batch.keys);
    // Deletes apply before upserts (as in SQLite): a record deleted and written in one batch survives.
    const deleted = [...new Set(batch.deletedRecords)].filter((id) => !records.has(id));
    const deadLetters = new Map<string, DeadLetter>();
    for (const d of batch.deadLetters) if (!deadLetters.has(d.id)) deadLetters.set(d.id, d);
    if (!records.size && !events.size && !keys.size && !deleted.length && !deadLetters.size) return;

    const updatedAt = this.now().toISOString();
    // An event's content (and so its timestamp and day index) never changes under its id: only
    // records need their locator to stay in the index they were first written to.
    const locs = await this.readLocators([...deleted.map((id) => locId('r', id)), ...[...records.keys()].map((id) => locId('r', id))]);
    const rejected: Rejected[] = [];
    const ops: Op[] = [];
    for (const id of deleted) {
      const index = locs.get(locId('r', id));
      if (index) ops.push({ action: 'delete', index, id: docId(id), kind: 'record', ref: id });
      ops.push({ action: 'delete', index: this.locIndex, id: locId('r', id), kind: 'locator', ref: id });
    }
    const place = (kind: 'record' | 'event', id: string, ts: string, doc: AuditRecord | StoredEvent) => {
      const lid = locId(kind === 'record' ? 'r' : 'e', id);
      const ms = Date.parse(ts);
      const index = locs.get(lid) ?? (Number.isFinite(ms) ? this.dayIndex(kind === 'record' ? 'records' : 'events', ms) : undefined);
      if (!index) {
        rejected.push({ kind, id, index: '-', doc, reason: `${kind === 'record' ? '@timestamp' : 'timestamp'} ${JSON.stringify(ts)} is not a date`, field: kind === 'record' ? '@timestamp' : 'timestamp' });
        return;
      }
      ops.push({ action: 'index', index, id: docId(id), doc, kind, ref: id });
      // The locator of a document that stays where it is need not be written again (amendments).
      if (locs.get(lid) !== index && this.locCache.get(lid) !== index) {
        ops.push({ action: 'index', index: this.locIndex, id: lid, doc: { kind, id, index, updated_at: updatedAt }, kind: 'locator', ref: id });
      }
    };
    for (const [id, r] of records) place('record', id, r['@timestamp'], r);
    for (const [id, e] of events) place('event', id, e.timestamp, e);
    for (const [key, recordId] of keys) {
      ops.push({ action: 'index', index: this.keysIndex, id: docId(key), doc: { key, record_id: recordId, updated_at: updatedAt }, kind: 'key', ref: key });
    }
    for (const [id, d] of deadLetters) ops.push({ action: 'create', index: this.deadLettersIndex, id: docId(id), doc: d, kind: 'dead_letter', ref: id });

    for (const ext of this.extensions) {
      invoked.push(ext);
      for (const x of await ext(batch)) ops.push({ action: x.action, index: x.index, id: x.id, doc: x.doc, kind: 'extension', ref: x.id });
    }
    const recordIndices = new Set(ops.filter((op) => op.kind === 'record').map((op) => op.index));
    for (const i of recordIndices) this.unrefreshed.add(i);
    // Deleted documents leave the cache before the bulk (whatever its outcome, the cache never
    // names an index a document may have left); written ones enter it after their item succeeded.
    for (const id of deleted) this.locCache.delete(locId('r', id));
    // Likewise events being rewritten (a new record id): a bulk that fails part-way may leave either.
    for (const id of events.keys()) this.eventCache.delete(id);
    let bulkResult: { op: Op; status: number; error: unknown }[];
    try {
      bulkResult = await this.bulk(ops, 'write batch');
    } catch (e) {
      // Some of its records may be in the index, unseen by search: the next search refreshes first.
      if (recordIndices.size || deleted.length) this.unrefreshedUnknown = true;
      throw e;
    } finally {
      // A refresh that ran while the bulk was in flight (a search of the next batch's correlation)
      // may have missed its documents: they stay "written since the last refresh".
      for (const i of recordIndices) this.unrefreshed.add(i);
    }
    const failed = bulkResult.filter((f) => !(f.op.kind === 'extension' && f.op.action === 'create' && f.status === 409));
    const refused = new Set(failed.map((f) => f.op));
    for (const op of ops) {
      if (op.action !== 'index' || refused.has(op) || !op.doc) continue;
      if (op.kind === 'locator') this.cacheLocator(op.id, (op.doc as { index: string }).index);
      else if (op.kind === 'key') cacheBounded(this.keyCache, op.ref, (op.doc as { record_id: string }).record_id);
      else if (op.kind === 'event' && op.line) cacheBounded(this.eventCache, op.ref, docJsonOf(op.line), EVENT_CACHE_MAX);
      else if (op.kind === 'record' && op.line) {
        const r = op.doc as AuditRecord;
        this.setUnrefreshed(op.ref, { seq: ++this.writeSeq, cols: recordColumns(r), json: docJsonOf(op.line) });
      }
    }
    const undeleted = new Set(failed.filter((f) => f.op.action === 'delete' && f.op.kind === 'record').map((f) => f.op.ref));
    for (const id of deleted) if (!undeleted.has(id)) this.setUnrefreshed(id, { seq: ++this.writeSeq });
    for (const f of failed) {
      if (f.op.action === 'delete' || (f.op.kind !== 'record' && f.op.kind !== 'event')) {
        throw new PipelineError(
          `elasticsearch refused ${f.op.kind} ${JSON.stringify(f.op.ref)} in ${f.op.index} (HTTP ${f.status}): ${itemReason(f.error)}; check the index templates in pipelines/elasticsearch`,
          'es_document_rejected',
          false,
          'sink',
        );
      }
      const r: Rejected = { kind: f.op.kind, id: f.op.ref, index: f.op.index, doc: f.op.doc as AuditRecord | StoredEvent, reason: `HTTP ${f.status} ${itemReason(f.error)}` };
      const field = itemField(f.error);
      if (field) r.field = field;
      rejected.push(r);
    }
    if (!rejected.length) return;
    const now = this.now().toISOString();
    const dlOps: Op[] = rejected.map((r) => {
      const dl = rejectedToDeadLetter(r, now);
      return { action: 'create', index: this.deadLettersIndex, id: docId(dl.id), doc: dl, kind: 'dead_letter', ref: dl.id };
    });
    const dlFailed = await this.bulk(dlOps, 'write dead letters of rejected documents');
    if (dlFailed.length) {
      const f = dlFailed[0]!;
      throw new PipelineError(`elasticsearch refused dead letter ${f.op.ref} (HTTP ${f.status}): ${itemReason(f.error)}`, 'es_document_rejected', false, 'sink');
    }
    this.stats.rejectedDocuments += rejected.length;
  }

  /**
   * One `_bulk` request for `ops`, then the items that failed transiently again, with backoff.
   * Resolves with the permanently refused items; throws a retriable PipelineError when transient
   * failures outlast `retry.maxAttempts`.
   */
  /**
   * Bulk in requests of at most `maxBulkBytes` / `maxBulkOps`: one oversized request is refused by
   * Elasticsearch's indexing pressure (429, "rejected execution of coordinating operation") no
   * matter how often it is retried. Requests go one after another, so memory stays bounded.
   */
  private async bulk(ops: Op[], what: string): Promise<{ op: Op; status: number; error: unknown }[]> {
    const refused: { op: Op; status: number; error: unknown }[] = [];
    // Each operation is serialized once, here: its size decides the request it goes into, and the
    // same text is the request body (and the body of a retry).
    let chunk: Op[] = [];
    let lines: string[] = [];
    let bytes = 0;
    for (const op of ops) {
      const line = (op.line = bulkLine(op));
      const size = Buffer.byteLength(line);
      if (chunk.length && (bytes + size > this.maxBulkBytes || chunk.length >= this.maxBulkOps)) {
        refused.push(...(await this.bulkOnce(chunk, lines, what)));
        chunk = [];
        lines = [];
        bytes = 0;
      }
      chunk.push(op);
      lines.push(line);
      bytes += size;
    }
    if (chunk.length) refused.push(...(await this.bulkOnce(chunk, lines, what)));
    return refused;
  }

  private async bulkOnce(ops: Op[], lines: string[], what: string): Promise<{ op: Op; status: number; error: unknown }[]> {
    const refused: { op: Op; status: number; error: unknown }[] = [];
    let pending = ops;
    let body = lines;
    for (let attempt = 1; pending.length; attempt++) {
      let retry: Op[] = [];
      let retryLines: string[] = [];
      let last: { status?: number; reason: string; cause?: unknown };
      try {
        // The body as prepared NDJSON text (the client sends a string as it is); the answer only
        // with what is read of it: `errors`, and each item's status and error.
        const operations = body.join('') as unknown as estypes.BulkRequest['operations'];
        const res = await this.client.bulk({ operations, refresh: false, filter_path: BULK_ANSWER }, { maxRetries: 0, requestTimeout: this.requestTimeoutMs });
        if (res.items.length !== pending.length) {
          throw new PipelineError(`elasticsearch ${what}: bulk answered ${res.items.length} items for ${pending.length} operations`, 'es_request_failed', false, 'sink');
        }
        let lastItem: { status: number; error: unknown } | undefined;
        res.items.forEach((item, i) => {
          const op = pending[i]!;
          const r = item[op.action];
          const status = r?.status ?? 0;
          const outcome = classifyItem(op.action, status);
          if (outcome === 'retry') {
            retry.push(op);
            retryLines.push(body[i]!);
            lastItem = { status, error: r?.error };
          } else if (outcome === 'reject') refused.push({ op, status, error: r?.error });
        });
        if (!retry.length) break;
        last = { status: lastItem?.status, reason: itemReason(lastItem?.error) };
      } catch (e) {
        const pe = classifyRequestError(e, what);
        if (!pe.retriable) throw pe;
        retry = pending;
        retryLines = body;
        last = { status: ((e as { meta?: { statusCode?: number } }).meta?.statusCode), reason: pe.message, cause: e };
      }
      if (attempt >= this.retry.maxAttempts) {
        throw new PipelineError(
          `elasticsearch ${what}: ${retry.length} of ${ops.length} operations still failing after ${attempt} attempts ` +
            `(last: ${last.status ? `HTTP ${last.status} ` : ''}${last.reason}); the batch is safe to retry`,
          transientCode(last.status),
          true,
          'sink',
          last.cause === undefined ? undefined : { cause: last.cause },
        );
      }
      this.stats.retriedOperations += retry.length;
      await sleep(backoffMs(attempt, this.retry));
      pending = retry;
      body = retryLines;
    }
    return refused;
  }

  // ---- search ------------------------------------------------------------------------------

  async searchRecords(q: RecordQuery): Promise<RecordPage> {
    const cursor = q.cursor ? decodeCursor(q.cursor) : undefined;
    if (q.cursor && !cursor) throw new PipelineError('invalid cursor', 'invalid_cursor', false, 'api');
    const res = await this.call('search records', () =>
      this.client.search<AuditRecord>({
        index: this.recordsPattern,
        ignore_unavailable: true,
        allow_no_indices: true,
        query: withoutApiRecords(recordFilter(q), q),
        sort: RECORD_SORT_DESC,
        size: q.limit + 1,
        track_total_hits: false,
        ...(cursor ? { search_after: searchAfter(cursor) } : {}),
      }),
    );
    const hits = res.hits.hits;
    const more = hits.length > q.limit;
    const page = more ? hits.slice(0, q.limit) : hits;
    const out: RecordPage = { records: page.map((h) => h._source!) };
    const last = page[page.length - 1];
    if (more && last?.sort) out.nextCursor = encodeCursor({ ts: Number(last.sort[0]), id: String(last.sort[1]) });
    return out;
  }

  /**
   * Correlation support: records of one type whose source.ip is any of `ips`, @timestamp in [from, to),
   * at most `limit`, in no particular order. It must see every acknowledged write, and search only
   * sees refreshed data: the records this store wrote or deleted since it last refreshed their index
   * (unrefreshedRecords) are matched in memory and replace what the search returns for them. Only
   * when those grow past their bounds, or a write failed part-way (what it left is unknown), is the
   * index refreshed first: a refresh per batch, written while the next bulk is indexing, cost about
   * as much as the search. Records another process wrote are seen once Elasticsearch refreshed them
   * (refresh_interval), as before.
   */
  async findRecordsByIps(q: RecordsByIpsQuery): Promise<AuditRecord[]> {
    // The ip field compares addresses; a string that is not one cannot match a stored address.
    const ips = [...new Set(q.ips)].filter((ip) => net.isIP(ip) !== 0);
    const from = Date.parse(q.from);
    const to = Date.parse(q.to);
    const endFrom = q.endFrom === undefined ? undefined : Date.parse(q.endFrom);
    if (!ips.length || !Number.isFinite(from) || !Number.isFinite(to) || (endFrom !== undefined && !Number.isFinite(endFrom)) || q.limit <= 0) return [];
    if (this.unrefreshedUnknown || this.unrefreshedRecords.size > this.unrefreshedMaxRecords || this.unrefreshedBytes > UNREFRESHED_MAX_BYTES) await this.refreshWritten();
    // Taken before the search: a refresh that completes meanwhile drops entries the search may
    // have started too early to see.
    const recent = new Map(this.unrefreshedRecords);
    const wanted = new Set(ips);
    const out = new Map<string, AuditRecord>();
    for (let i = 0; i < ips.length && out.size < q.limit; i += IPS_PER_SEARCH) {
      const query: estypes.QueryDslQueryContainer = {
        bool: {
          filter: [
            // NAT aware: the client address before or after source NAT.
            { bool: { should: [{ terms: { 'source.ip': ips.slice(i, i + IPS_PER_SEARCH) } }, { terms: { 'source.nat.ip': ips.slice(i, i + IPS_PER_SEARCH) } }], minimum_should_match: 1 } },
            { term: { 'auditmesh.record_type': { value: q.recordType } } },
            { range: { '@timestamp': { gte: from, lt: to, format: 'epoch_millis' } } },
            ...(endFrom !== undefined ? [endsFrom(endFrom)] : []),
          ],
          // Records with a trace, request or firewall-session key are left in the index, not sent
          // back to be dropped here (isSelfKeyed below keeps the answer exact for any other key).
          ...(q.selfKeyedOnly ? { must_not: SHARED_KEY_PREFIXES.map((p) => ({ prefix: { 'auditmesh.keys': { value: p } } })) } : {}),
        },
      };
      for (const r of await this.searchAll<AuditRecord>(this.recordsPattern, query, RECORD_SORT_ASC, 'find records by ip', q.limit - out.size)) {
        // What this store wrote since (a newer version, or a deletion) replaces what search saw.
        if (!recent.has(r.auditmesh.record_id) && (!q.selfKeyedOnly || isSelfKeyed(r))) out.set(r.auditmesh.record_id, r);
      }
    }
    for (const [id, u] of recent) {
      if (out.size >= q.limit) break;
      if (u.cols && matchesRecordsByIps(u.cols, q, wanted, from, to)) out.set(id, JSON.parse(u.json!) as AuditRecord);
    }
    return [...out.values()].slice(0, q.limit);
  }

  private setUnrefreshed(id: string, u: UnrefreshedRecord): void {
    const old = this.unrefreshedRecords.get(id);
    if (old?.json) this.unrefreshedBytes -= old.json.length;
    this.unrefreshedRecords.delete(id);
    this.unrefreshedRecords.set(id, u);
    if (u.json) this.unrefreshedBytes += u.json.length;
  }

  /** A refresh that started when `writeSeq` was `upTo` completed: entries up to it are searchable. */
  private refreshedUpTo(upTo: number): void {
    for (const [id, u] of this.unrefreshedRecords) {
      if (u.seq > upTo) continue;
      if (u.json) this.unrefreshedBytes -= u.json.length;
      this.unrefreshedRecords.delete(id);
    }
  }

  private async refreshWritten(): Promise<void> {
    const upTo = this.writeSeq;
    const unknown = this.unrefreshedUnknown;
    this.unrefreshedUnknown = false;
    const index = [...this.unrefreshed];
    this.unrefreshed.clear();
    try {
      if (index.length) await this.call('refresh written record indices', () => this.client.indices.refresh({ index, ignore_unavailable: true, allow_no_indices: true }));
    } catch (e) {
      for (const i of index) this.unrefreshed.add(i);
      if (unknown) this.unrefreshedUnknown = true;
      throw e;
    }
    this.refreshedUpTo(upTo);
  }

  async getTrace(traceId: string): Promise<{ records: AuditRecord[]; events: StoredEvent[] }> {
    if (!traceId) return { records: [], events: [] };
    const records = await this.searchAll<AuditRecord>(this.recordsPattern, { term: { 'trace.id': { value: traceId } } }, RECORD_SORT_ASC, 'get trace records');
    const events: StoredEvent[] = [];
    const ids = records.map((r) => r.auditmesh.record_id);
    for (let i = 0; i < ids.length; i += PAGE) {
      events.push(
        ...(await this.searchAll<StoredEvent>(
          this.eventsPattern,
          { terms: { recordId: ids.slice(i, i + PAGE) } },
          [{ timestamp: { order: 'asc', unmapped_type: 'date' } }, { id: { order: 'asc', unmapped_type: 'keyword' } }],
          'get trace events',
        )),
      );
    }
    // The same final order as SqliteStore: time, then id.
    events.sort((a, b) => (Date.parse(a.timestamp) || 0) - (Date.parse(b.timestamp) || 0) || a.id.localeCompare(b.id));
    return { records, events };
  }

  async identityActivity(q: IdentityActivityQuery): Promise<IdentityActivityAggregates> {
    return esIdentityActivity(this.recordSearch, q);
  }

  async reportByIdentity(q: ReportQuery): Promise<ReportAggregates> {
    return esReportByIdentity(this.recordSearch, q);
  }

  /**
   * A search over every daily records index, for the aggregations (esAnalytics.ts). The can-match
   * pre-filter (pre_filter_shard_size 1) skips the daily indices outside the time range before the
   * query phase; without a sort Elasticsearch would otherwise run it on every index.
   */
  private readonly recordSearch: RecordSearch = (what, req) =>
    this.call(what, () => this.client.search({ index: this.recordsPattern, ignore_unavailable: true, allow_no_indices: true, pre_filter_shard_size: 1, ...req }));

  /** Every hit of a query (at most `max`), paged with search_after over a total sort. */
  private async searchAll<T>(index: string, query: estypes.QueryDslQueryContainer, sort: estypes.SortCombinations[], what: string, max = Infinity): Promise<T[]> {
    const out: T[] = [];
    let after: estypes.SortResults | undefined;
    while (out.length < max) {
      const size = Math.min(PAGE, max - out.length);
      const res = await this.call(what, () =>
        this.client.search<T>({ index, ignore_unavailable: true, allow_no_indices: true, query, sort, size, track_total_hits: false, ...(after ? { search_after: after } : {}) }),
      );
      const hits = res.hits.hits;
      for (const h of hits) out.push(h._source!);
      if (hits.length < size) break;
      after = hits[hits.length - 1]!.sort;
    }
    return out;
  }

  async listDeadLetters(q: DeadLetterQuery): Promise<{ deadLetters: DeadLetter[]; nextCursor?: string }> {
    const cursor = q.cursor ? decodeCursor(q.cursor) : undefined;
    if (q.cursor && !cursor) throw new PipelineError('invalid cursor', 'invalid_cursor', false, 'api');
    const res = await this.call('list dead letters', () =>
      this.client.search<DeadLetter>({
        index: this.deadLettersIndex,
        ignore_unavailable: true,
        allow_no_indices: true,
        query: { match_all: {} },
        sort: [{ timestamp: { order: 'desc', unmapped_type: 'date' } }, { id: { order: 'desc', unmapped_type: 'keyword' } }],
        size: q.limit + 1,
        track_total_hits: false,
        ...(cursor ? { search_after: searchAfter(cursor) } : {}),
      }),
    );
    const hits = res.hits.hits;
    const more = hits.length > q.limit;
    const page = more ? hits.slice(0, q.limit) : hits;
    const out: { deadLetters: DeadLetter[]; nextCursor?: string } = { deadLetters: page.map((h) => h._source!) };
    const last = page[page.length - 1];
    if (more && last?.sort) out.nextCursor = encodeCursor({ ts: Number(last.sort[0]), id: String(last.sort[1]) });
    return out;
  }

  // ---- retention ---------------------------------------------------------------------------

  /**
   * Delete the daily record and event indices whose whole UTC day is more than `retentionDays` before
   * `now` (retentionDays 30 on 2024-03-31 deletes 2024-02-29 and older), then sweep the state that
   * pointed into them: locators of deleted indices, correlation keys and dead letters last written
   * before that cut-off. A no-op when retentionDays is 0. Meant to run once a day; safe to run
   * concurrently with writes (a late write into a deleted day just recreates that day's index, which
   * the next run deletes). Uses search + bulk delete rather than `_delete_by_query`, which some
   * distributions (the reindex module) lack.
   */
  async applyRetention(now: Date = this.now()): Promise<RetentionResult> {
    const result: RetentionResult = { deletedIndices: [], sweptLocators: 0, sweptKeys: 0, sweptDeadLetters: 0 };
    if (this.retentionDays <= 0) return result;
    // Expired indices, their locators and keys go away: the caches may name them.
    this.locCache.clear();
    this.keyCache.clear();
    this.eventCache.clear();
    const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
    const cutoffMs = today - this.retentionDays * 86_400_000;
    const res = await this.call('list daily indices', () =>
      this.client.indices.get({ index: [this.recordsPattern, this.eventsPattern], ignore_unavailable: true, allow_no_indices: true, expand_wildcards: ['open', 'closed'] }),
    );
    const re = new RegExp(`^${escapeRegExp(this.prefix)}-(records|events)-(\\d{4})\\.(\\d{2})\\.(\\d{2})$`);
    for (const name of Object.keys(res)) {
      const m = re.exec(name);
      if (m && Date.UTC(Number(m[2]), Number(m[3]) - 1, Number(m[4])) < cutoffMs) result.deletedIndices.push(name);
    }
    result.deletedIndices.sort();
    for (let i = 0; i < result.deletedIndices.length; i += 50) {
      const chunk = result.deletedIndices.slice(i, i + 50);
      await this.call('delete expired indices', () => this.client.indices.delete({ index: chunk, ignore_unavailable: true }));
    }
    for (let i = 0; i < result.deletedIndices.length; i += PAGE) {
      result.sweptLocators += await this.sweep(this.locIndex, { terms: { index: result.deletedIndices.slice(i, i + PAGE) } });
    }
    result.sweptKeys = await this.sweep(this.keysIndex, { range: { updated_at: { lt: cutoffMs, format: 'epoch_millis' } } });
    result.sweptDeadLetters = await this.sweep(this.deadLettersIndex, { range: { timestamp: { lt: cutoffMs, format: 'epoch_millis' } } });
    return result;
  }

  /** Delete every document of `index` matching `query`; returns how many. */
  private async sweep(index: string, query: estypes.QueryDslQueryContainer): Promise<number> {
    const kind: Op['kind'] = index === this.keysIndex ? 'key' : index === this.deadLettersIndex ? 'dead_letter' : 'locator';
    let n = 0;
    for (;;) {
      await this.call(`refresh ${index}`, () => this.client.indices.refresh({ index, ignore_unavailable: true }));
      const res = await this.call(`find expired documents in ${index}`, () =>
        this.client.search({ index, ignore_unavailable: true, query, size: PAGE, _source: false, track_total_hits: false }),
      );
      const hits = res.hits.hits;
      if (!hits.length) return n;
      const refused = await this.bulk(
        hits.map((h) => ({ action: 'delete' as const, index: h._index, id: h._id!, kind, ref: h._id! })),
        `delete expired documents in ${index}`,
      );
      if (refused.length) throw new PipelineError(`elasticsearch refused deleting ${refused[0]!.op.ref} from ${index}: ${itemReason(refused[0]!.error)}`, 'es_request_failed', false, 'sink');
      n += hits.length;
      if (hits.length < PAGE) return n;
    }
  }

  /** Run one request, classifying its failure (the client itself retries connection errors). */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw classifyRequestError(e, what);
    }
  }
}

/** Set `k` in a recency-ordered Map, evicting the oldest entry beyond `max`. */
function cacheBounded(m: Map<string, string>, k: string, v: string, max = LOCATOR_CACHE_MAX): void {
  m.delete(k);
  m.set(k, v);
  if (m.size > max) m.delete(m.keys().next().value!);
}

/** A valid `_id` for any string: itself up to 256 bytes, else `#` + SHA-256 (ES limits `_id` to 512 bytes). */
export function docId(s: string): string {
  return Buffer.byteLength(s, 'utf8') <= MAX_ID_BYTES && !s.startsWith('#') ? s : `#${createHash('sha256').update(s, 'utf8').digest('base64url')}`;
}

function locId(kind: 'r' | 'e', id: string): string {
  return docId(`${kind}:${id}`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A record/event Elasticsearch refused, kept as a dead letter with the document as its original bytes. */
function rejectedToDeadLetter(r: Rejected, now: string): DeadLetter {
  const bytes = Buffer.from(JSON.stringify(r.doc), 'utf8');
  const id = createHash('sha256').update(`es_document_rejected|${r.kind}|${r.id}|`).update(bytes).digest('base64url').slice(0, 22);
  let ref: SourceRef;
  if (r.kind === 'event') ref = (r.doc as StoredEvent).ref;
  else {
    const rec = r.doc as AuditRecord;
    ref = rec.auditmesh?.members?.[0]?.ref ?? ({ source: rec.auditmesh?.sources?.[0] ?? 'otlp' } as SourceRef);
  }
  const truncated = bytes.length > MAX_ORIGINAL_BYTES;
  const dl: DeadLetter = {
    id,
    timestamp: now,
    ref,
    code: 'es_document_rejected',
    reason: `elasticsearch refused ${r.kind} ${r.id}${r.index === '-' ? '' : ` in ${r.index}`}: ${r.reason}`,
    stage: 'sink',
    originalBase64: (truncated ? bytes.subarray(0, MAX_ORIGINAL_BYTES) : bytes).toString('base64'),
    originalBytes: bytes.length,
  };
  if (r.field !== undefined) dl.field = r.field;
  if (truncated) dl.originalTruncated = true;
  return dl;
}
