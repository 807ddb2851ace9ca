/**
 * The tamper-evident ledger on a real Elasticsearch: the shared tamper suite (direct update / index /
 * delete API calls on the record, version, ledger and checkpoint indices, bypassing auditmesh), the
 * single-writer head (recovery at start, roll back after a failed bulk, serialized writes), and an
 * export over HTTP verified offline by `auditmesh verify` alone.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Client } from '@elastic/elasticsearch';
import { configSchema } from '../../src/config/schema';
import { createLogger } from '../../src/instrumentation/logger';
import { noopMetrics } from '../../src/instrumentation/metrics';
import type { AuditRecord } from '../../src/model/record';
import { ElasticsearchStore } from '../../src/store/elasticsearch/elasticsearchStore';
import { attachLedger, type Ledger } from '../../src/ledger/ledger';
import { padSeq, type LedgerEntry } from '../../src/ledger/entry';
import { type Harness, ledgerTamperSuite, TRAIL, trailRecord, writeTrail } from '../../src/ledger/testing';
import { verifyOffline } from '../../src/ledger/offline';
import { createApp } from '../../src/api/app';
import { createAuthenticator, mintToken } from '../../src/api/auth';
import { ledgerRoutes } from '../../src/api/routes/ledger';
import { exportRoutes } from '../../src/api/routes/export';
import { SqliteStore } from '../../src/store/sqlite/sqliteStore';
import { verifyCheckpoint } from '../../src/ledger/signing';
import { createTopics, elasticsearchUrl, kafkaBrokers, newEsClient, newKafka, uniqueName } from './infra';

jest.setTimeout(120_000);

const quiet = createLogger('error');
let admin: Client;
beforeAll(() => {
  admin = newEsClient();
});
afterAll(async () => {
  await admin?.close();
});

async function dropPrefix(prefix: string): Promise<void> {
  const indices = await admin.indices.get({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true, expand_wildcards: ['open', 'closed'] });
  const names = Object.keys(indices);
  if (names.length) await admin.indices.delete({ index: names });
  const templates = await admin.indices.getIndexTemplate({ name: `${prefix}-*` }).catch(() => ({ index_templates: [] as { name: string }[] }));
  for (const t of templates.index_templates) await admin.indices.deleteIndexTemplate({ name: t.name });
}

interface EsHarness extends Harness {
  dir: string;
  prefix: string;
}

async function open(prefix: string, dir: string, url = elasticsearchUrl(), extra: Record<string, unknown> = {}): Promise<{ store: ElasticsearchStore; ledger: Ledger }> {
  const store = new ElasticsearchStore({ url, indexPrefix: prefix, retentionDays: 0, retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 50 }, ...extra });
  await store.init();
  const cfg = configSchema.parse({ dataDir: dir, ledger: { checkpointEveryEntries: 3, checkpointEverySeconds: 0, exportDir: path.join(dir, 'export') } });
  const ledger = (await attachLedger(cfg, store, { log: quiet }))!;
  return { store, ledger };
}

/** Direct Elasticsearch API calls, as a cluster administrator could make them. */
function esTamper(prefix: string): Harness['tamper'] {
  const refresh = () => admin.indices.refresh({ index: `${prefix}-*` });
  const findOne = async <T>(index: string, query: Record<string, unknown>) => {
    await refresh();
    const res = await admin.search<T>({ index, query, size: 1 });
    const hit = res.hits.hits[0];
    if (!hit) throw new Error(`tamper: nothing in ${index} matches ${JSON.stringify(query)}`);
    return { index: hit._index, id: hit._id!, doc: hit._source! };
  };
  const entry = (seq: number) => findOne<LedgerEntry>(`${prefix}-ledger`, { term: { seq } });
  return {
    async editRecord(id, mutate) {
      const h = await findOne<AuditRecord>(`${prefix}-records-*`, { term: { 'auditmesh.record_id': id } });
      mutate(h.doc);
      await admin.index({ index: h.index, id: h.id, document: h.doc, refresh: true });
    },
    async deleteRecord(id) {
      const h = await findOne<AuditRecord>(`${prefix}-records-*`, { term: { 'auditmesh.record_id': id } });
      await admin.delete({ index: h.index, id: h.id, refresh: true });
    },
    async editVersion(rid, version, mutate) {
      const h = await findOne<{ record: AuditRecord }>(`${prefix}-record-versions`, { bool: { filter: [{ term: { record_id: rid } }, { term: { version } }] } });
      mutate(h.doc.record);
      await admin.index({ index: h.index, id: h.id, document: h.doc, refresh: true });
    },
    async editEntry(seq, mutate) {
      const h = await entry(seq);
      mutate(h.doc);
      await admin.index({ index: h.index, id: h.id, document: h.doc, refresh: true });
    },
    async deleteEntry(seq) {
      const h = await entry(seq);
      await admin.delete({ index: h.index, id: h.id, refresh: true });
    },
    async swapSeq(a, b) {
      const [x, y] = [await entry(a), await entry(b)];
      await admin.update({ index: x.index, id: x.id, doc: { seq: b }, refresh: true });
      await admin.update({ index: y.index, id: y.id, doc: { seq: a }, refresh: true });
    },
    async replaceCheckpoint(seq, jws) {
      await admin.update({ index: `${prefix}-ledger-checkpoints`, id: padSeq(seq), doc: { jws }, refresh: true });
    },
    async deleteCheckpoint(seq) {
      await admin.delete({ index: `${prefix}-ledger-checkpoints`, id: padSeq(seq), refresh: true });
    },
    async checkpointJws(seq) {
      return (await admin.get<{ jws: string }>({ index: `${prefix}-ledger-checkpoints`, id: padSeq(seq) }))._source!.jws;
    },
  };
}

async function makeHarness(): Promise<EsHarness> {
  const prefix = uniqueName('amledger');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-ledger-es-'));
  const { store, ledger } = await open(prefix, dir);
  return { store, ledger, tamper: esTamper(prefix), exportDir: path.join(dir, 'export'), dir, prefix };
}

async function disposeHarness(h: Harness): Promise<void> {
  const x = h as EsHarness;
  await h.ledger.close();
  await h.store.close();
  await dropPrefix(x.prefix);
  fs.rmSync(x.dir, { recursive: true, force: true });
}

ledgerTamperSuite('elasticsearch', makeHarness, disposeHarness);

/** A loopback proxy in front of Elasticsearch; `onBulk` may fail a `_bulk` after forwarding it. */
async function bulkProxy(target: string, onBulk: (n: number) => 'forward' | 'forward-then-fail' | 'fail'): Promise<{ url: string; close(): Promise<void> }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const isBulk = req.method === 'POST' && (req.url ?? '').split('?')[0]!.endsWith('/_bulk');
        const mode = isBulk ? onBulk(++n) : 'forward';
        if (mode === 'fail') {
          res.writeHead(503, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
          res.end(JSON.stringify({ error: { type: 'unavailable', reason: 'injected' }, status: 503 }));
          return;
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'content-length', 'connection'].includes(k)) headers[k] = v;
        const up = await fetch(`${target}${req.url}`, { method: req.method!, headers, ...(body.length ? { body } : {}) });
        const out = Buffer.from(await up.arrayBuffer());
        if (mode === 'forward-then-fail') {
          // The bulk landed, but the client is told it did not (a timeout after the fact).
          res.writeHead(503, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' });
          res.end(JSON.stringify({ error: { type: 'unavailable', reason: 'injected after forwarding' }, status: 503 }));
          return;
        }
        const outHeaders: Record<string, string> = {};
        up.headers.forEach((v, k) => {
          if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(k)) outHeaders[k] = v;
        });
        res.writeHead(up.status, outHeaders);
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
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

describe('ledger/elasticsearch > single-writer head', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  const fresh = () => {
    const prefix = uniqueName('amledger');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-ledger-es-'));
    cleanup.push(async () => {
      await dropPrefix(prefix);
      fs.rmSync(dir, { recursive: true, force: true });
    });
    return { prefix, dir };
  };

  it('recovers the head from the indices at start: a restarted writer continues the chain', async () => {
    const { prefix, dir } = fresh();
    const a = await open(prefix, dir);
    await a.store.write(TRAIL.b1);
    await a.store.write(TRAIL.b2);
    await a.ledger.close();
    await a.store.close();
    const b = await open(prefix, dir);
    cleanup.push(async () => {
      await b.ledger.close();
      await b.store.close();
    });
    await b.store.write(TRAIL.b3);
    await b.store.write(TRAIL.b4);
    const res = await b.ledger.verify();
    expect(res).toMatchObject({ ok: true, checked: { entries: 7 } });
  });

  it('rolls the head back when a bulk fails, and re-reads it: a bulk that landed although the client was told otherwise is not ledgered twice', async () => {
    const { prefix, dir } = fresh();
    let failNext: 'forward-then-fail' | 'fail' | undefined;
    const proxy = await bulkProxy(elasticsearchUrl(), () => {
      const m = failNext ?? 'forward';
      failNext = undefined;
      return m;
    });
    cleanup.push(() => proxy.close());
    const { store, ledger } = await open(prefix, dir, proxy.url, { retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    cleanup.push(async () => {
      await ledger.close();
      await store.close();
    });
    await store.write(TRAIL.b1);
    failNext = 'fail'; // nothing lands
    await expect(store.write(TRAIL.b2)).rejects.toMatchObject({ retriable: true });
    failNext = 'forward-then-fail'; // everything lands, the client sees a 503
    await expect(store.write(TRAIL.b3)).rejects.toMatchObject({ retriable: true });
    // The runner retries the same batches.
    await store.write(TRAIL.b2);
    await store.write(TRAIL.b3);
    await store.write(TRAIL.b4);
    const res = await ledger.verify();
    expect(res.problems).toEqual([]);
    expect(res).toMatchObject({ ok: true, checked: { entries: 7 } });
  });

  it('a replayed batch whose entries landed but one version document did not re-sends that document only', async () => {
    const { prefix, dir } = fresh();
    const { store, ledger } = await open(prefix, dir);
    cleanup.push(async () => {
      await ledger.close();
      await store.close();
    });
    await store.write(TRAIL.b1);
    const versions = async () => {
      await admin.indices.refresh({ index: `${prefix}-record-versions` });
      return (await admin.search<{ record_id: string; version: number; seq: number }>({ index: `${prefix}-record-versions`, size: 100, sort: [{ seq: 'asc' }] })).hits.hits;
    };
    const before = await versions();
    expect(before.length).toBeGreaterThan(0);
    const lost = before[0]!;
    await admin.delete({ index: `${prefix}-record-versions`, id: lost._id!, refresh: true });
    expect((await ledger.verify()).ok).toBe(false);
    // The runner retries the same batch: no new entry, the missing version document is back.
    await store.write(TRAIL.b1);
    const after = await versions();
    expect(after.map((h) => [h._id, h._source])).toEqual(before.map((h) => [h._id, h._source]));
    const res = await ledger.verify();
    expect(res.problems).toEqual([]);
    expect(res).toMatchObject({ ok: true, checked: { entries: before.length } });
  });

  it('serializes concurrent writes that carry ledger operations (API audit records and pipeline batches)', async () => {
    const { prefix, dir } = fresh();
    const { store, ledger } = await open(prefix, dir);
    cleanup.push(async () => {
      await ledger.close();
      await store.close();
    });
    await Promise.all(Array.from({ length: 12 }, (_, i) => store.write({ events: [], records: [trailRecord(`r${i}`, 1)], keys: [], deletedRecords: [], deadLetters: [] })));
    const res = await ledger.verify();
    expect(res).toMatchObject({ ok: true, checked: { entries: 12, checkpoints: 4 } });
  });
});

describe('ledger/elasticsearch > retention', () => {
  it('counts a record whose daily index retention deleted as expired, not missing', async () => {
    const h = await makeHarness();
    try {
      await writeTrail(h.store);
      await h.tamper.deleteRecord('d'); // what deleting the 2026.03.01 index does to it
      const { verifyLedger } = await import('../../src/ledger/verify');
      const at = (iso: string) => verifyLedger(h.ledger.backend, h.store, h.ledger.keys(), {}, { retentionDays: 30, now: () => new Date(iso) });
      expect(await at('2027-01-01T00:00:00Z')).toMatchObject({ ok: true, expired_records: 1 });
      expect(await at('2026-03-15T00:00:00Z')).toMatchObject({ ok: false, first_broken: { seq: 5, record_id: 'd', reason: 'record_missing' } });
    } finally {
      await disposeHarness(h);
    }
  });
});

describe('ledger/elasticsearch > API and offline verification of a proof', () => {
  it('serves the JWKS without a token, verifies for auditors only, and a record proof verifies offline with those keys', async () => {
    const prefix = uniqueName('amledger');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-ledger-es-'));
    const { store, ledger } = await open(prefix, dir);
    const cfg = configSchema.parse({ dataDir: dir });
    const app = createApp({ store, authn: await createAuthenticator(cfg), log: quiet, metrics: noopMetrics, rateLimitPerMinute: 10_000, routes: [ledgerRoutes(), exportRoutes()] });
    const server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await writeTrail(store);
      const keys = await fetch(`${base}/v1/ledger/keys`);
      expect(keys.status).toBe(200);
      const jwks = (await keys.json()) as { keys: { kid: string; kty: string; d?: string }[] };
      expect(jwks.keys).toEqual([expect.objectContaining({ kty: 'OKP', kid: ledger.signer.kid })]);
      expect(jwks.keys[0]!.d).toBeUndefined();
      const tok = (role: 'auditor' | 'investigator') => mintToken(dir, { role, subject: role, ttlSeconds: 600, audience: 'auditmesh' });
      const auth = async (role: 'auditor' | 'investigator') => ({ authorization: `Bearer ${await tok(role)}` });
      expect((await fetch(`${base}/v1/ledger/verify`)).status).toBe(401);
      expect((await fetch(`${base}/v1/ledger/verify`, { headers: await auth('investigator') })).status).toBe(403);
      expect((await fetch(`${base}/v1/ledger/verify?from=abc`, { headers: await auth('auditor') })).status).toBe(400);
      const v = await fetch(`${base}/v1/ledger/verify?from=1&to=7`, { headers: await auth('auditor') });
      expect(await v.json()).toMatchObject({ ok: true, checked: { entries: 7 } });
      const pr = await fetch(`${base}/v1/ledger/proof/d`, { headers: await auth('investigator') });
      expect(pr.status).toBe(200);
      const f = path.join(dir, 'proof-d.json');
      fs.writeFileSync(f, await pr.text());
      fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(jwks));
      expect(await verifyOffline(f, { jwks: path.join(dir, 'jwks.json') })).toMatchObject({ ok: true });
      // Against the URL of the keys endpoint, too.
      expect(await verifyOffline(f, { jwks: `${base}/v1/ledger/keys` })).toMatchObject({ ok: true });

      // A whole export (records + evidence lines) verifies offline; an edited copy does not.
      await store.refresh();
      const ex = await fetch(`${base}/v1/export?format=ndjson`, { headers: await auth('auditor') });
      expect(ex.status).toBe(200);
      const body = await ex.text();
      expect(body.split('\n').filter((l) => l.includes('"ledger_proof"'))).toHaveLength(4);
      const exf = path.join(dir, 'export.ndjson');
      fs.writeFileSync(exf, body);
      expect(await verifyOffline(exf, { jwks: path.join(dir, 'jwks.json') })).toMatchObject({ ok: true, failures: [] });
      fs.writeFileSync(exf, body.replace('"/api/b"', '"/api/elsewhere"'));
      const bad = await verifyOffline(exf, { jwks: path.join(dir, 'jwks.json') });
      expect(bad.failures).toEqual([expect.stringMatching(/^record b .* is not what the ledger holds/)]);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      await ledger.close();
      await store.close();
      await dropPrefix(prefix);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ledger > checkpoints exported to a Kafka topic', () => {
  it('produces every checkpoint (key = seq, value = JWS) and, after a restart, none twice', async () => {
    const topic = uniqueName('ledger-checkpoints');
    await createTopics([topic]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'am-ledger-kafka-'));
    const cfg = configSchema.parse({ dataDir: dir, kafka: { brokers: kafkaBrokers().split(',') }, ledger: { checkpointEveryEntries: 3, checkpointEverySeconds: 0, kafkaTopic: topic } });
    const open = async () => {
      const store = new SqliteStore(dir);
      await store.init();
      return { store, ledger: (await attachLedger(cfg, store, { log: quiet }))! };
    };
    const a = await open();
    await writeTrail(a.store);
    await a.ledger.close(); // seals entry 7, produces 3, 6, 7
    await a.store.close();
    const b = await open(); // nothing new: nothing produced
    await b.ledger.close();
    await b.store.close();

    const consumer = newKafka('ledger-test').consumer({ groupId: uniqueName('ledger-test') });
    const got: { key: string; value: string }[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${got.length} checkpoint messages`)), 30_000);
        void consumer.run({
          eachMessage: async ({ message }) => {
            got.push({ key: message.key!.toString(), value: message.value!.toString() });
            if (got.length >= 3) {
              clearTimeout(timer);
              resolve();
            }
          },
        });
      });
      await new Promise((r) => setTimeout(r, 1000)); // a duplicate would arrive now
    } finally {
      await consumer.disconnect();
    }
    expect(got.map((m) => Number(m.key))).toEqual([3, 6, 7]);
    const keys = JSON.parse(fs.readFileSync(path.join(dir, 'ledger-signing-key.json'), 'utf8'));
    const { d: _d, ...pub } = keys;
    for (const m of got) expect(await verifyCheckpoint(m.value, { keys: [pub] })).toMatchObject({ ok: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
