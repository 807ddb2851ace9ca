/**
 * The query API of issue 5 on the Elasticsearch engine (real cluster): identity activity, reports,
 * export with its manifest, and the API audit trail written into and read back from Elasticsearch.
 * (The store-level equivalence with SQLite is the contract suite in esStore.int.test.ts.)
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Client } from '@elastic/elasticsearch';
import { ElasticsearchStore } from '../../src/store/elasticsearch/elasticsearchStore';
import { ANALYTICS_CORPUS, batchOf, makeRecord, REPORTS_CONFIG } from '../../src/store/contract';
import { createApp } from '../../src/api/app';
import { createAuthenticator, mintToken } from '../../src/api/auth';
import { ApiAuditTrail } from '../../src/api/apiAudit';
import { queryApiRoutes } from '../../src/api/routes/queryApi';
import { configSchema } from '../../src/config/schema';
import { silentLogger } from '../../src/instrumentation/logger';
import { noopMetrics } from '../../src/instrumentation/metrics';
import type { AuditRecord } from '../../src/model/record';
import { elasticsearchUrl, newEsClient, uniqueName } from './infra';
import { esIdentityActivity, esReportByIdentity, type RecordSearch } from '../../src/store/elasticsearch/esAnalytics';
import { REPORT_NAMES, reportPredicate } from '../../src/store/reports';

jest.setTimeout(120_000);

const ids = (rs: AuditRecord[]) => rs.map((r) => r.auditmesh.record_id);

describe('api on elasticsearch > activity, reports, export and the audit trail', () => {
  let admin: Client;
  let store: ElasticsearchStore;
  let dir: string;
  let server: http.Server;
  let base: string;
  let audit: ApiAuditTrail;
  let auditorTok: string;
  let adminTok: string;

  beforeAll(async () => {
    admin = newEsClient();
    store = new ElasticsearchStore({ url: elasticsearchUrl(), indexPrefix: uniqueName('amapi'), retentionDays: 0 });
    await store.init();
    await store.write(batchOf({ records: ANALYTICS_CORPUS.map(makeRecord) }));
    await store.refresh();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditmesh-api-es-'));
    const cfg = configSchema.parse({ dataDir: dir });
    audit = new ApiAuditTrail({ store, log: silentLogger });
    const app = createApp({ store, authn: await createAuthenticator(cfg), log: silentLogger, metrics: noopMetrics, rateLimitPerMinute: 10_000, routes: queryApiRoutes({ reports: REPORTS_CONFIG }), middleware: [audit.middleware()] });
    server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    auditorTok = await mintToken(dir, { role: 'auditor', subject: 'es-auditor', ttlSeconds: 600, audience: 'auditmesh' });
    adminTok = await mintToken(dir, { role: 'admin', subject: 'es-admin', ttlSeconds: 600, audience: 'auditmesh' });
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await audit?.flush();
    await store?.close();
    const indices = await admin.indices.get({ index: `${store.prefix}-*`, ignore_unavailable: true, allow_no_indices: true });
    if (Object.keys(indices).length) await admin.indices.delete({ index: Object.keys(indices) });
    const templates = await admin.indices.getIndexTemplate({ name: `${store.prefix}-*` }).catch(() => ({ index_templates: [] as { name: string }[] }));
    for (const t of templates.index_templates) await admin.indices.deleteIndexTemplate({ name: t.name });
    await admin.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const get = (p: string, tok: string) => fetch(`${base}${p}`, { headers: { authorization: `Bearer ${tok}` } });

  it('answers identity activity and reports from Elasticsearch aggregations', async () => {
    const a = (await (await get('/v1/identities/alice/activity?from=2024-06-03T00:00:00Z&to=2024-06-05T00:00:00Z', auditorTok)).json()) as any;
    expect(a.summary).toMatchObject({ records: 6, outcomes: { success: 4, failure: 2, unknown: 0 }, source_ips: [{ ip: '10.0.0.1', count: 5 }, { ip: '10.0.0.2', count: 1 }] });
    expect(ids(a.records)).toEqual(['a13', 'a12', 'a11', 'a03', 'a02', 'a01']);
    const r = (await (await get('/v1/reports/denied-access?from=2024-06-03T00:00:00Z&to=2024-06-06T00:00:00Z', auditorTok)).json()) as any;
    expect(r.groups.map((g: { identity: string; count: number; examples: string[] }) => [g.identity, g.count, g.examples])).toEqual([
      ['(unidentified)', 2, ['a10', 'a09']],
      ['alice', 1, ['a03']],
      ['bob', 1, ['a05']],
    ]);
  });

  it('exports with a manifest whose SHA-256 matches the body, and writes the api records into Elasticsearch', async () => {
    const res = await get('/v1/export?format=csv&path_prefix=%2Fapi%2Fadmin', auditorTok);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.toString('utf8').split('\r\n').filter(Boolean)).toHaveLength(7); // header + 6
    const id = res.headers.get('x-auditmesh-export-id')!;
    const m = (await (await get(`/v1/export/${id}/manifest`, auditorTok)).json()) as any;
    expect(m).toMatchObject({ record_count: 6, sha256: createHash('sha256').update(body).digest('hex'), complete: true });

    await audit.flush();
    // The export's api record is readable by id right away (real-time get) ...
    const rec = (await store.getRecords([`export-${id}`])).get(`export-${id}`)!;
    expect(rec.auditmesh.api?.export).toMatchObject({ sha256: m.sha256 });
    await store.refresh();
    // ... and the audit log lists the calls; searches and reports leave them out.
    const log = (await (await get('/v1/audit-log?user.id=es-auditor', adminTok)).json()) as any;
    expect(log.records.map((r: AuditRecord) => (r.event as { action: string }).action).sort()).toEqual(['export', 'export-manifest', 'identity-activity', 'report']);
    const recs = (await (await get('/v1/records?user.id=es-auditor', auditorTok)).json()) as any;
    expect(recs.records).toEqual([]);
  });

  it('pages composite aggregations to the end: a page size of 2 gives the same answers', async () => {
    const search: RecordSearch = (_what, req) => admin.search({ index: store.recordsPattern, ignore_unavailable: true, allow_no_indices: true, ...req });
    const q = { userId: 'alice', from: '2024-06-01T00:00:00.000Z', to: '2024-06-08T00:00:00.000Z', bucket: 'day' as const };
    expect(await esIdentityActivity(search, q, 2)).toEqual(await store.identityActivity(q));
    expect((await esIdentityActivity(search, q, 2)).resources).toHaveLength(6);
    for (const name of REPORT_NAMES) {
      const rq = { where: reportPredicate(name, REPORTS_CONFIG), from: '2024-06-01T00:00:00.000Z', to: '2024-06-08T00:00:00.000Z', limit: 100, examples: 5 };
      expect(await esReportByIdentity(search, rq, 2)).toEqual(await store.reportByIdentity(rq));
    }
  });

  it('adds the firewall action mapping to record indices created before it (template version 2)', async () => {
    const prefix = uniqueName('amold');
    const index = `${prefix}-records-2024.01.01`;
    await admin.indices.create({ index, mappings: { dynamic: false, properties: { '@timestamp': { type: 'date' } } } });
    const s = new ElasticsearchStore({ url: elasticsearchUrl(), indexPrefix: prefix, retentionDays: 0 });
    try {
      await s.init();
      const mapping = (await admin.indices.getMapping({ index }))[index]!.mappings;
      expect((mapping.properties as Record<string, unknown>).panw).toEqual({ properties: { panos: { properties: { action: { type: 'keyword', ignore_above: 1024 } } } } });
    } finally {
      await s.close();
      const all = await admin.indices.get({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true });
      if (Object.keys(all).length) await admin.indices.delete({ index: Object.keys(all) });
      const templates = await admin.indices.getIndexTemplate({ name: `${prefix}-*` }).catch(() => ({ index_templates: [] as { name: string }[] }));
      for (const t of templates.index_templates) await admin.indices.deleteIndexTemplate({ name: t.name });
    }
  });
});
