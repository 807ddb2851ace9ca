/**
 * ElasticsearchStore against the real Elasticsearch of the integration harness: the shared store
 * contract (same answers as SqliteStore), plus what only this engine has: index templates, bulk item
 * failures, retries on 429 and retention of daily indices.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@elastic/elasticsearch';
import { docId, ElasticsearchStore, type ElasticsearchStoreOptions } from '../../src/store/elasticsearch/elasticsearchStore';
import { batchOf, CORPUS, makeEvent, makeRecord, storeContract } from '../../src/store/contract';
import { PipelineError } from '../../src/errors';
import type { AuditRecord } from '../../src/model/record';
import { elasticsearchUrl, newEsClient, uniqueName } from './infra';

jest.setTimeout(120_000);

const FAST_RETRY = { maxAttempts: 4, baseDelayMs: 20, maxDelayMs: 200 };

let admin: Client;
beforeAll(() => {
  admin = newEsClient();
});
afterAll(async () => {
  await admin?.close();
});

/** Delete every index and template of a prefix (by name: wildcard deletes may be disabled). */
async function dropPrefix(prefix: string): Promise<void> {
  const indices = await admin.indices.get({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true, expand_wildcards: ['open', 'closed'] });
  const names = Object.keys(indices);
  if (names.length) await admin.indices.delete({ index: names });
  const templates = await admin.indices.getIndexTemplate({ name: `${prefix}-*` }).catch(() => ({ index_templates: [] as { name: string }[] }));
  for (const t of templates.index_templates) await admin.indices.deleteIndexTemplate({ name: t.name });
}

const stores: ElasticsearchStore[] = [];
function newStore(extra: Partial<ElasticsearchStoreOptions> = {}): ElasticsearchStore {
  const s = new ElasticsearchStore({ url: elasticsearchUrl(), indexPrefix: uniqueName('amtest'), retentionDays: 30, retry: FAST_RETRY, ...extra });
  stores.push(s);
  return s;
}
async function disposeStores(): Promise<void> {
  for (const s of stores.splice(0)) {
    await s.close();
    await dropPrefix(s.prefix);
  }
}

storeContract('elasticsearch', async () => newStore(), async (s) => {
  await s.close();
  await dropPrefix((s as ElasticsearchStore).prefix);
  const i = stores.indexOf(s as ElasticsearchStore);
  if (i >= 0) stores.splice(i, 1);
});

/**
 * A loopback HTTP proxy in front of the real cluster that can answer a `_bulk` itself (fault
 * injection) or rewrite its reply; everything else is forwarded untouched.
 */
interface Proxy {
  url: string;
  bulkBodies: string[];
  /** Bodies of the `_mget` requests that went through. */
  mgetBodies: string[];
  /** Every request, as `METHOD /path` (no query string). */
  requests: string[];
  /** The most `_bulk` requests that were in flight at once. */
  maxBulksInFlight(): number;
  close(): Promise<void>;
}
type BulkHook = (n: number, body: string) => { status: number; body: unknown } | 'forward' | { rewrite: (reply: { errors: boolean; items: Record<string, { _index?: string; _id?: string; status: number; error?: unknown }>[] }) => void };

async function startProxy(target: string, onBulk: BulkHook, opts: { bulkDelayMs?: number } = {}): Promise<Proxy> {
  const bulkBodies: string[] = [];
  const mgetBodies: string[] = [];
  const requests: string[] = [];
  let bulksInFlight = 0;
  let maxBulksInFlight = 0;
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${(req.url ?? '').split('?')[0]}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const isBulk = req.method === 'POST' && (req.url ?? '').split('?')[0]!.endsWith('/_bulk');
        let hook: ReturnType<BulkHook> = 'forward';
        if ((req.url ?? '').split('?')[0]!.endsWith('/_mget')) mgetBodies.push(body.toString('utf8'));
        if (isBulk) {
          bulkBodies.push(body.toString('utf8'));
          hook = onBulk(bulkBodies.length, body.toString('utf8'));
          maxBulksInFlight = Math.max(maxBulksInFlight, ++bulksInFlight);
          res.once('close', () => bulksInFlight--);
          if (opts.bulkDelayMs) await new Promise((r) => setTimeout(r, opts.bulkDelayMs));
        }
        if (typeof hook === 'object' && 'status' in hook) {
          res.writeHead(hook.status, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
          res.end(JSON.stringify(hook.body));
          return;
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'content-length', 'connection'].includes(k)) headers[k] = v;
        const upstream = await fetch(`${target}${req.url}`, { method: req.method!, headers, ...(body.length ? { body } : {}) });
        let out = Buffer.from(await upstream.arrayBuffer());
        if (typeof hook === 'object' && 'rewrite' in hook) {
          const reply = JSON.parse(out.toString('utf8'));
          hook.rewrite(reply);
          out = Buffer.from(JSON.stringify(reply));
        }
        const outHeaders: Record<string, string> = {};
        upstream.headers.forEach((v, k) => {
          if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(k)) outHeaders[k] = v;
        });
        res.writeHead(upstream.status, outHeaders);
        res.end(out);
      })().catch((e: unknown) => {
        res.writeHead(502);
        res.end(String(e));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bulkBodies,
    mgetBodies,
    requests,
    maxBulksInFlight: () => maxBulksInFlight,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const rejected429 = { error: { type: 'es_rejected_execution_exception', reason: 'rejected execution (injected by the test proxy)' }, status: 429 };

describe('store/elasticsearch > Elasticsearch specifics', () => {
  afterEach(disposeStores);

  it('installs composable templates whose mappings type the searched fields (ip, keyword, long, date, text)', async () => {
    const store = newStore();
    await store.init();
    await store.init(); // idempotent
    const { index_templates } = await admin.indices.getIndexTemplate({ name: `${store.prefix}-*` });
    expect(index_templates.map((t) => t.name).sort()).toEqual(['dead-letters', 'events', 'keys', 'records'].map((k) => `${store.prefix}-${k}`));
    const rec = index_templates.find((t) => t.name === `${store.prefix}-records`)!;
    expect(rec.index_template.index_patterns).toEqual([`${store.prefix}-records-*`]);
    expect(rec.index_template._meta).toMatchObject({ managed_by: 'auditmesh', auditmesh_template_version: 1 });

    const record = { ...makeRecord(CORPUS[0]!), panw: { vendor_field: 'x', nested: { deep: 1 } }, labels: { team: 'a' } } as AuditRecord;
    await store.write(batchOf({ records: [record] }));
    const index = store.dayIndex('records', Date.parse(record['@timestamp']));
    expect(index).toBe(`${store.prefix}-records-2024.05.10`);
    const mapping = (await admin.indices.getMapping({ index }))[index]!.mappings;
    const props = mapping.properties as Record<string, { type?: string; properties?: Record<string, unknown>; fields?: Record<string, { type: string }> }>;
    const field = (p: string) => p.split('.').reduce<Record<string, unknown> | undefined>((o, k) => (o?.properties as Record<string, Record<string, unknown>> | undefined)?.[k], { properties: props }) as { type?: string; fields?: Record<string, { type: string }> } | undefined;
    expect(mapping.dynamic).toBe('false');
    expect(mapping._meta).toMatchObject({ auditmesh_template_version: 1 });
    expect(field('@timestamp')?.type).toBe('date');
    expect(field('source.ip')?.type).toBe('ip');
    expect(field('related.ip')?.type).toBe('ip');
    expect(field('source.nat.ip')?.type).toBe('ip');
    expect(field('user.id')?.type).toBe('keyword');
    expect(field('trace.id')?.type).toBe('keyword');
    expect(field('http.request.method')?.type).toBe('keyword');
    expect(field('http.response.status_code')?.type).toBe('long');
    expect(field('source.port')?.type).toBe('long');
    expect(field('auditmesh.identity.verdict')?.type).toBe('keyword');
    expect(field('auditmesh.sources')?.type).toBe('keyword');
    expect(field('url.path')?.type).toBe('keyword');
    expect(field('url.path')?.fields?.text?.type).toBe('text');
    expect(field('user_agent.original')?.fields?.text?.type).toBe('text');
    // Vendor payloads are kept in _source, never mapped, except the one field searched (firewall action).
    expect(props.panw).toEqual({ properties: { panos: { properties: { action: { type: 'keyword', ignore_above: 1024 } } } } });
    expect(props.labels).toBeUndefined();
    expect((await store.getRecords(['r01'])).get('r01')).toEqual(record);

    const settings = (await admin.indices.getSettings({ index }))[index]!.settings!.index!;
    expect(settings.number_of_shards).toBe('1');
    expect(settings.number_of_replicas).toBe('0');
  });

  it('keeps a record whose ip or number is malformed, without indexing the bad value', async () => {
    const store = newStore();
    await store.init();
    const odd = makeRecord({ ...CORPUS[0]!, id: 'odd' });
    (odd.source as Record<string, unknown>).ip = 'not-an-ip';
    (odd.http as { response: Record<string, unknown> }).response.status_code = 'two hundred';
    await store.write(batchOf({ records: [odd] }));
    await store.refresh();
    expect((await store.getRecords(['odd'])).get('odd')).toEqual(odd);
    expect((await store.searchRecords({ limit: 10, userId: 'alice' })).records.map((r) => r.auditmesh.record_id)).toEqual(['odd']);
    expect((await store.searchRecords({ limit: 10, sourceIp: '10.0.0.1' })).records).toEqual([]);
    expect((await store.searchRecords({ limit: 10, status: 200 })).records).toEqual([]);
    expect((await store.listDeadLetters({ limit: 10 })).deadLetters).toEqual([]);
  });

  it('turns a record Elasticsearch refuses (mapping conflict) into a dead letter and stores the rest of the batch', async () => {
    const store = newStore();
    await store.init();
    const good = makeRecord(CORPUS[1]!);
    const bad = makeRecord({ ...CORPUS[0]!, id: 'bad' });
    (bad as Record<string, unknown>).url = { path: { not: 'a string' } };
    const ev = makeEvent('ev-bad', 'bad', CORPUS[0]!.ts);
    const batch = batchOf({ records: [good, bad], events: [ev], keys: [['t:bad', 'bad']] });
    await store.write(batch);
    await store.write(batch); // replay: still one dead letter
    await store.refresh();

    expect([...(await store.getRecords(['r02', 'bad'])).keys()]).toEqual(['r02']);
    expect((await store.getEvents(['ev-bad'])).get('ev-bad')).toEqual(ev);
    const { deadLetters } = await store.listDeadLetters({ limit: 10 });
    expect(deadLetters).toHaveLength(1);
    const dl = deadLetters[0]!;
    expect(dl).toMatchObject({ code: 'es_document_rejected', stage: 'sink', field: 'url.path', ref: bad.auditmesh.members[0]!.ref });
    expect(dl.reason).toContain('record bad');
    expect(dl.reason).toContain('url.path');
    expect(JSON.parse(Buffer.from(dl.originalBase64, 'base64').toString('utf8'))).toEqual(bad);
    expect(store.stats.rejectedDocuments).toBe(2);
  });

  it('retries a bulk request answered with 429 and the batch lands in the cluster', async () => {
    const proxy = await startProxy(elasticsearchUrl(), (n) => (n === 1 ? { status: 429, body: rejected429 } : 'forward'));
    try {
      const store = newStore({ url: proxy.url });
      await store.init();
      const records = CORPUS.slice(0, 5).map(makeRecord);
      await store.write(batchOf({ records, keys: [['t:x', 'r01']] }));
      expect(proxy.bulkBodies).toHaveLength(2);
      expect(proxy.bulkBodies[1]).toBe(proxy.bulkBodies[0]);
      expect(store.stats.retriedOperations).toBe(11);
      // Read straight from the cluster, not through the proxy.
      const direct = new ElasticsearchStore({ url: elasticsearchUrl(), indexPrefix: store.prefix, retentionDays: 30 });
      try {
        expect([...(await direct.getRecords(records.map((r) => r.auditmesh.record_id))).keys()].sort()).toEqual(['r01', 'r02', 'r03', 'r04', 'r05']);
        expect((await direct.lookupKeys(['t:x'])).get('t:x')).toBe('r01');
      } finally {
        await direct.close();
      }
    } finally {
      await proxy.close();
    }
  });

  it('splits a large batch into bulk requests under the size limit, sent one at a time and in order, and all of it lands', async () => {
    // Each bulk answer is delayed, so a request sent before the previous one was answered would show.
    const proxy = await startProxy(elasticsearchUrl(), () => 'forward', { bulkDelayMs: 40 });
    try {
      const store = newStore({ url: proxy.url, maxBulkBytes: 6_000 });
      await store.init();
      const records = CORPUS.map(makeRecord);
      await store.write(batchOf({ records }));
      expect(proxy.bulkBodies.length).toBeGreaterThan(2);
      for (const body of proxy.bulkBodies) expect(Buffer.byteLength(body)).toBeLessThan(6_000 + 4_000);
      expect(proxy.maxBulksInFlight()).toBe(1);
      // In order: the records' ids appear across the requests in the order they were written.
      const sent = proxy.bulkBodies.flatMap((b) => [...b.matchAll(/"index":\{"_index":"[^"]*records[^"]*","_id":"([^"]+)"/g)].map((m) => m[1]));
      expect(sent).toEqual([...new Set(records.map((r) => r.auditmesh.record_id))].map(docId));
      const direct = new ElasticsearchStore({ url: elasticsearchUrl(), indexPrefix: store.prefix, retentionDays: 30 });
      try {
        expect((await direct.getRecords(records.map((r) => r.auditmesh.record_id))).size).toBe(records.length);
      } finally {
        await direct.close();
      }
    } finally {
      await proxy.close();
    }
  });

  it('sends no bulk request of a write after one that failed', async () => {
    const proxy = await startProxy(elasticsearchUrl(), () => ({ status: 400, body: { error: { type: 'illegal_argument_exception', reason: 'injected by the test proxy' }, status: 400 } }), { bulkDelayMs: 40 });
    try {
      const store = newStore({ url: proxy.url, maxBulkBytes: 6_000 });
      await store.init();
      await expect(store.write(batchOf({ records: CORPUS.map(makeRecord) }))).rejects.toThrow(/injected by the test proxy/);
      expect(proxy.bulkBodies.length).toBe(1);
    } finally {
      await proxy.close();
    }
  });

  it('finds records by address right after writing them without a refresh; refreshes first beyond the in-memory bound or after a failed write', async () => {
    let failBulk = false;
    const proxy = await startProxy(elasticsearchUrl(), () => (failBulk ? { status: 500, body: { error: 'injected by the test proxy' } } : 'forward'));
    try {
      const store = newStore({ url: proxy.url, unrefreshedMaxRecords: 2, retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
      await store.init();
      const T = '2024-05-12T08:00:00.000Z';
      const rec = (id: string, ms: number, sourceIp = '10.3.0.1') => makeRecord({ id, ts: new Date(Date.parse(T) + ms).toISOString(), sourceIp });
      const find = async () => (await store.findRecordsByIps({ ips: ['10.3.0.1'], from: T, to: '2024-05-12T09:00:00.000Z', recordType: 'request', limit: 100 })).map((r) => r.auditmesh.record_id).sort();
      const refreshes = () => proxy.requests.filter((r) => r.endsWith('/_refresh')).length;

      await store.write(batchOf({ records: [rec('ov-a', 0), rec('ov-b', 1000)] }));
      const before = refreshes();
      expect(await find()).toEqual(['ov-a', 'ov-b']);
      // An amendment that moves a record off the address, and a deletion: seen at once, still no refresh.
      await store.write(batchOf({ records: [rec('ov-a', 0, '10.3.0.9')] }));
      expect(await find()).toEqual(['ov-b']);
      await store.write(batchOf({ deletedRecords: ['ov-b'] }));
      expect(await find()).toEqual([]);
      expect(refreshes()).toBe(before);

      // Three records written since the last refresh: beyond the bound of 2, the search refreshes first.
      await store.write(batchOf({ records: [rec('ov-c', 2000), rec('ov-d', 3000), rec('ov-e', 4000)] }));
      expect(await find()).toEqual(['ov-c', 'ov-d', 'ov-e']);
      expect(refreshes()).toBe(before + 1);
      // Now searchable, they are no longer held; the answer is the same without another refresh.
      expect(await find()).toEqual(['ov-c', 'ov-d', 'ov-e']);
      expect(refreshes()).toBe(before + 1);

      // A write that fails leaves the index unknown: the next search refreshes first.
      failBulk = true;
      await expect(store.write(batchOf({ records: [rec('ov-f', 5000)] }))).rejects.toThrow();
      failBulk = false;
      await find();
      expect(refreshes()).toBe(before + 2);
    } finally {
      await proxy.close();
    }
  });

  it('remembers where it wrote records, the events and keys it wrote: reads and amendments of them send no locator, event or key lookups', async () => {
    const proxy = await startProxy(elasticsearchUrl(), () => 'forward');
    try {
      const store = newStore({ url: proxy.url });
      await store.init();
      const rec = makeRecord(CORPUS[0]!);
      const id = rec.auditmesh.record_id;
      const ev = makeEvent('ev-cache-1', id, rec['@timestamp']);
      const lookups = () => proxy.mgetBodies.flatMap((b) => (JSON.parse(b) as { docs: { _index: string; _id: string }[] }).docs);
      await store.write(batchOf({ records: [rec], events: [ev], keys: [['t:cache-1', id]] }));
      // An event's index follows from its timestamp: the write asked for the record's locator only.
      expect(lookups().map((d) => [d._index, d._id])).toEqual([[`${store.prefix}-loc`, `r:${id}`]]);
      proxy.mgetBodies.length = 0;
      expect((await store.getRecords([id])).get(id)).toEqual(rec);
      // The event it wrote comes from the event cache (as written; a fresh object each time).
      const got = (await store.getEvents([ev.id])).get(ev.id)!;
      expect(got).toEqual(ev);
      got.recordId = 'changed-by-caller';
      expect((await store.getEvents([ev.id, 'ev-unknown'])).get(ev.id)?.recordId).toBe(id);
      expect(Object.fromEntries(await store.lookupKeys(['t:cache-1', 't:unknown']))).toEqual({ 't:cache-1': id });
      // The record fetched from its daily index; the unknown event's locator and the unknown key
      // were looked up; the event it wrote was not.
      const after = lookups();
      expect(after.filter((d) => d._index === `${store.prefix}-loc`).map((d) => d._id)).toEqual(['e:ev-unknown']);
      expect(after.filter((d) => d._index === `${store.prefix}-keys`).map((d) => d._id)).toEqual(['t:unknown']);
      expect(after.map((d) => d._index).sort()).toEqual([store.dayIndex('records', Date.parse(rec['@timestamp'])), `${store.prefix}-loc`, `${store.prefix}-keys`].sort());

      // An amendment rewrites the record where it is, without rewriting its locator.
      proxy.bulkBodies.length = 0;
      await store.write(batchOf({ records: [{ ...rec, auditmesh: { ...rec.auditmesh, version: 2 } }] }));
      const actions = proxy.bulkBodies.flatMap((b) => b.split('\n').filter((l) => /^\{"(index|create|delete)"/.test(l)).map((l) => Object.values(JSON.parse(l) as Record<string, { _index: string }>)[0]!._index));
      expect(actions.filter((i) => !i.includes('ledger') && !i.includes('record-versions'))).toEqual([store.dayIndex('records', Date.parse(rec['@timestamp']))]);
      expect((await store.getRecords([id])).get(id)?.auditmesh.version).toBe(2);

      // A delete and a key rewrite by this store are seen by its next reads, and by a new store (another process).
      await store.write(batchOf({ deletedRecords: [id], keys: [['t:cache-1', 'rec-other']] }));
      expect((await store.getRecords([id])).size).toBe(0);
      expect(Object.fromEntries(await store.lookupKeys(['t:cache-1']))).toEqual({ 't:cache-1': 'rec-other' });
      const fresh = new ElasticsearchStore({ url: elasticsearchUrl(), indexPrefix: store.prefix, retentionDays: 30 });
      try {
        expect((await fresh.getRecords([id])).size).toBe(0);
        expect((await fresh.getEvents([ev.id])).get(ev.id)?.recordId).toBe(id);
        expect(Object.fromEntries(await fresh.lookupKeys(['t:cache-1']))).toEqual({ 't:cache-1': 'rec-other' });
      } finally {
        await fresh.close();
      }
    } finally {
      await proxy.close();
    }
  });

  it('re-sends only the bulk items that failed with 429', async () => {
    const proxy = await startProxy(elasticsearchUrl(), (n) =>
      n === 1
        ? {
            rewrite: (reply) => {
              // Pretend the first item (a record) was rejected; Elasticsearch did store it, so the re-send must be harmless.
              reply.errors = true;
              reply.items[0] = { index: { _index: Object.values(reply.items[0]!)[0]!._index, _id: 'r01', ...rejected429 } };
            },
          }
        : 'forward',
    );
    try {
      const store = newStore({ url: proxy.url });
      await store.init();
      const records = CORPUS.slice(0, 3).map(makeRecord);
      await store.write(batchOf({ records }));
      expect(proxy.bulkBodies).toHaveLength(2);
      const resent = proxy.bulkBodies[1]!.trim().split('\n');
      expect(resent).toHaveLength(2);
      expect(JSON.parse(resent[0]!)).toEqual({ index: { _index: `${store.prefix}-records-2024.05.10`, _id: 'r01' } });
      expect(JSON.parse(resent[1]!)).toEqual(records[0]);
      expect(store.stats.retriedOperations).toBe(1);
      await store.refresh();
      expect((await store.searchRecords({ limit: 10 })).records).toEqual([...records].reverse());
    } finally {
      await proxy.close();
    }
  });

  it('gives up with a retriable es_rejected error when Elasticsearch keeps answering 429', async () => {
    const proxy = await startProxy(elasticsearchUrl(), () => ({ status: 429, body: rejected429 }));
    try {
      const store = newStore({ url: proxy.url });
      await store.init();
      const err = await store.write(batchOf({ records: [makeRecord(CORPUS[0]!)] })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PipelineError);
      expect(err).toMatchObject({ code: 'es_rejected', retriable: true, stage: 'sink' });
      expect((err as Error).message).toMatch(/after 4 attempts/);
      expect(proxy.bulkBodies).toHaveLength(FAST_RETRY.maxAttempts);
    } finally {
      await proxy.close();
    }
  });

  it('reports an unreachable cluster as a retriable es_unavailable error, and ping() as false', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    // A client without its own read retries (the default client retries reads 3 times, with backoff).
    const client = new Client({ node: `http://127.0.0.1:${port}`, maxRetries: 0 });
    const store = new ElasticsearchStore({ url: `http://127.0.0.1:${port}`, client, indexPrefix: 'amtest-unreachable', retentionDays: 30, retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 } });
    try {
      expect(await store.ping()).toBe(false);
      await expect(store.write(batchOf({ records: [makeRecord(CORPUS[0]!)] }))).rejects.toMatchObject({ code: 'es_unavailable', retriable: true });
      await expect(store.getRecords(['r01'])).rejects.toMatchObject({ code: 'es_unavailable', retriable: true });
      await expect(store.init()).rejects.toMatchObject({ code: 'es_unavailable', retriable: true });
    } finally {
      await store.close();
      await client.close();
    }
  });

  it('applyRetention deletes daily indices older than retentionDays and the state that pointed into them', async () => {
    const now = new Date('2024-06-20T12:00:00.000Z');
    let clock = new Date('2024-06-05T09:00:00.000Z');
    const store = newStore({ retentionDays: 7, now: () => clock });
    await store.init();
    const old = makeRecord({ id: 'old', ts: '2024-06-05T09:00:00.000Z', traceId: 'ee000000000000000000000000000001' });
    await store.write(batchOf({ records: [old], events: [makeEvent('ev-old', 'old', old['@timestamp'])], keys: [['t:old', 'old']] }));
    clock = new Date('2024-06-19T09:00:00.000Z');
    const edge = makeRecord({ id: 'edge', ts: '2024-06-13T00:00:00.000Z' }); // exactly 7 days before today: kept
    const fresh = makeRecord({ id: 'fresh', ts: '2024-06-19T09:00:00.000Z' });
    await store.write(batchOf({ records: [edge, fresh], events: [makeEvent('ev-fresh', 'fresh', fresh['@timestamp'])], keys: [['t:fresh', 'fresh']] }));

    const res = await store.applyRetention(now);
    expect(res.deletedIndices).toEqual([`${store.prefix}-events-2024.06.05`, `${store.prefix}-records-2024.06.05`]);
    expect(res).toMatchObject({ sweptLocators: 2, sweptKeys: 1, sweptDeadLetters: 0 });
    await store.refresh();
    expect([...(await store.getRecords(['old', 'edge', 'fresh'])).keys()].sort()).toEqual(['edge', 'fresh']);
    expect([...(await store.getEvents(['ev-old', 'ev-fresh'])).keys()]).toEqual(['ev-fresh']);
    expect(Object.fromEntries(await store.lookupKeys(['t:old', 't:fresh']))).toEqual({ 't:fresh': 'fresh' });
    expect((await store.searchRecords({ limit: 10 })).records.map((r) => r.auditmesh.record_id)).toEqual(['fresh', 'edge']);
    // A second run finds nothing left to do.
    expect(await store.applyRetention(now)).toEqual({ deletedIndices: [], sweptLocators: 0, sweptKeys: 0, sweptDeadLetters: 0 });
  });
});
