/**
 * Alerting on the real backends: labeled gateway traffic (forged tokens, an expired token) through a
 * real Kafka topic into the service with the Elasticsearch store. The alerts land in
 * `<prefix>-alerts` (state in `<prefix>-baselines`) and on the Kafka alert topic, and producing the
 * same messages again changes no alert.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSchema } from '../../src/config/schema';
import { startService, type Service } from '../../src/main';
import { mintToken } from '../../src/api/auth';
import type { PublicAlert } from '../../src/detect/alert';
import type { Alert } from '../../src/detect/alert';
import { SHIPPED_RULES_DIR } from '../../src/detect/eval';
import { generateTraffic, type Traffic } from '../../src/testing/traffic';
import { createTopics, elasticsearchUrl, kafkaBrokers, newEsClient, newKafka, uniqueName } from './infra';

jest.setTimeout(180_000);

const LABELS = ['forged-source-1', 'expired-1', 'mismatch-1'];

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe('integration > alerts in Elasticsearch and on the Kafka alert topic', () => {
  const topics = { tyk: uniqueName('alerts-tyk'), otlp: uniqueName('alerts-otlp') };
  const alertTopic = uniqueName('alerts-out');
  const prefix = uniqueName('am-alerts');
  let dir: string;
  let svc: Service | undefined;
  let traffic: Traffic;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alerts-int-'));
    fs.mkdirSync(path.join(dir, 'pipelines'));
    for (const [type, topic] of Object.entries(topics)) fs.writeFileSync(path.join(dir, 'pipelines', `${type}.yaml`), `id: ${type}\ntype: kafka\ntopics: [${topic}]\nparser: ${type}\n`);
    traffic = await generateTraffic({ seed: 5, users: 12, days: 8, learningDays: 5 });
    fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(traffic.issuer.jwks));
    await createTopics([...Object.values(topics), alertTopic]);
  });
  afterAll(async () => {
    await svc?.stop();
    const es = newEsClient();
    await es.indices.delete({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true }).catch(() => undefined);
    await es.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stores the alerts in Elasticsearch, publishes them on the alert topic, and does not count redelivered messages', async () => {
    const cfg = configSchema.parse({
      server: { port: 0, host: '127.0.0.1' },
      dataDir: path.join(dir, 'data'),
      pipelinesDir: path.join(dir, 'pipelines'),
      kafka: { brokers: kafkaBrokers().split(','), groupPrefix: uniqueName('grp'), deadLetterTopic: uniqueName('dlq') },
      elasticsearch: { url: elasticsearchUrl(), indexPrefix: prefix },
      identity: { issuers: [{ issuer: traffic.issuer.issuer, jwksFile: path.join(dir, 'jwks.json'), audiences: [traffic.issuer.audience], algorithms: ['ES256'], clockSkewSeconds: 60 }] },
      detect: { rulesDir: SHIPPED_RULES_DIR, kafkaTopic: alertTopic },
      log: { level: 'error' },
    });
    svc = await startService(cfg);
    expect(svc.detection?.store.kind).toBe('elasticsearch');

    const lines = traffic.inputs.filter((i) => LABELS.includes(i.label) && (i.source === 'tyk' || i.source === 'otlp'));
    const producer = newKafka('alerts-producer').producer();
    await producer.connect();
    const send = async () => {
      // The gateway's records first, then the app's spans that amend them (another batch, another version).
      await producer.send({ topic: topics.tyk, messages: lines.filter((l) => l.source === 'tyk').map((l) => ({ value: l.line })) });
      await new Promise((r) => setTimeout(r, 1500));
      await producer.send({ topic: topics.otlp, messages: lines.filter((l) => l.source === 'otlp').map((l) => ({ value: l.line })) });
    };
    await send();

    const store = svc.detection!.store;
    const byRule = async (): Promise<Map<string, Alert> | undefined> => {
      await store.refresh();
      const { alerts } = await store.searchAlerts({ limit: 100 });
      const m = new Map(alerts.map((a) => [a.rule_id, a]));
      return ['invalid-tokens-per-source', 'expired-token', 'identity-mismatch'].every((r) => m.has(r)) ? m : undefined;
    };
    const first = await until('three alerts in Elasticsearch', byRule);
    expect(first.get('invalid-tokens-per-source')).toMatchObject({ count: 8, source_ip: '203.0.113.50', severity: 'high' });
    expect(first.get('expired-token')).toMatchObject({ count: 2 });
    expect(first.get('identity-mismatch')).toMatchObject({ count: 1 });

    // The documents themselves, read with a plain client.
    const es = newEsClient();
    try {
      await es.indices.refresh({ index: `${prefix}-alerts,${prefix}-baselines` });
      const docs = await es.search<Alert>({ index: `${prefix}-alerts`, size: 100 });
      expect(docs.hits.hits.map((h) => h._id).sort()).toEqual([...first.values()].map((a) => a.id).sort());
      const state = await es.count({ index: `${prefix}-baselines` });
      expect(state.count).toBeGreaterThan(0);
    } finally {
      await es.close();
    }

    // The alert topic, read back from the beginning.
    const got: { event: string; alert: PublicAlert }[] = [];
    const consumer = newKafka('alerts-reader').consumer({ groupId: uniqueName('alerts-reader') });
    await consumer.connect();
    await consumer.subscribe({ topic: alertTopic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${got.length} alert messages after 60 s`)), 60_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const body = JSON.parse(message.value!.toString()) as { type: string; alert: PublicAlert };
          expect(message.key?.toString()).toBe(body.alert.id);
          expect(message.headers?.['auditmesh.event']?.toString()).toBe(body.type);
          got.push({ event: body.type, alert: body.alert });
          if (new Set(got.filter((g) => g.event === 'alert.created').map((g) => g.alert.rule_id)).size >= 3) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    const created = got.filter((g) => g.event === 'alert.created');
    expect(created.map((g) => g.alert.id).sort()).toEqual([...first.values()].map((a) => a.id).sort());
    expect(created.find((g) => g.alert.rule_id === 'invalid-tokens-per-source')!.alert.records.count).toBeGreaterThanOrEqual(5);

    // At-least-once: the same messages again. Nothing is counted twice.
    await send();
    const admin = newKafka('alerts-admin').admin();
    await admin.connect();
    try {
      for (const [type, topic] of Object.entries(topics)) {
        const sent = 2 * lines.filter((l) => l.source === type).length;
        await until(`${type} consumer to commit the redelivered messages`, async () => {
          const [o] = await admin.fetchOffsets({ groupId: `${cfg.kafka.groupPrefix}-${type}`, topics: [topic] });
          return Number(o?.partitions[0]?.offset ?? -1) >= sent ? true : undefined;
        });
      }
    } finally {
      await admin.disconnect();
    }
    const again = await until('alerts after redelivery', byRule);
    expect([...again.values()].map((a) => [a.id, a.count]).sort()).toEqual([...first.values()].map((a) => [a.id, a.count]).sort());
  });

  it('serves the Elasticsearch alerts over the API, pages them, and keeps the analyst status when the engine writes', async () => {
    const store = svc!.detection!.store;
    const token = await mintToken(path.join(dir, 'data'), { role: 'investigator', subject: 'ines', ttlSeconds: 600, audience: 'auditmesh' });
    const api = async (p: string, init: RequestInit = {}) => {
      const r = await fetch(`http://127.0.0.1:${svc!.port}${p}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
      return { status: r.status, body: (await r.json()) as any };
    };
    const page1 = await api('/v1/alerts?limit=2');
    expect(page1.status).toBe(200);
    expect(page1.body.alerts).toHaveLength(2);
    const page2 = await api(`/v1/alerts?limit=2&cursor=${page1.body.next_cursor}`);
    const ids = [...page1.body.alerts, ...page2.body.alerts].map((a: PublicAlert) => a.id);
    expect(new Set(ids).size).toBe(3);
    expect(page2.body.next_cursor).toBeNull();
    const id = ids[0]!;
    expect(await api(`/v1/alerts/${id}`, { method: 'PATCH', body: JSON.stringify({ status: 'acknowledged' }) })).toMatchObject({ status: 200, body: { status: 'acknowledged', status_updated_by: 'ines' } });
    // The engine's upsert of the same alert (count grew) leaves the status alone.
    const a = (await store.getAlerts([id])).get(id)!;
    await store.commit([{ ...a, status: 'open', count: a.count + 1 }], []);
    expect((await store.getAlerts([id])).get(id)).toMatchObject({ status: 'acknowledged', count: a.count + 1 });
    await store.refresh();
    expect((await api('/v1/alerts?status=acknowledged')).body.alerts.map((x: PublicAlert) => x.id)).toEqual([id]);
    await store.putDeadLetters([{ id: 'dl1', timestamp: new Date().toISOString(), alert_id: id, rule_id: a.rule_id, webhook_index: 0, webhook_origin: 'https://hooks.example', attempts: 6, reason: 'HTTP 500 after 6 attempt(s)', last_status: 500, payload: '{}' }]);
    expect((await api('/v1/alerts/dead-letters')).body.dead_letters).toEqual([expect.objectContaining({ id: 'dl1', reason: 'HTTP 500 after 6 attempt(s)' })]);
  });
});
