import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';
import { configSchema } from '../../config/schema';
import { silentLogger } from '../../instrumentation/logger';
import { noopMetrics } from '../../instrumentation/metrics';
import { SqliteStore } from '../../store/sqlite/sqliteStore';
import type { Alert } from '../alert';
import { createDetection } from '../index';
import { createDetectMetrics } from '../metrics';
import { SqliteAlertStore } from '../store/sqliteAlertStore';
import { rec } from '../testdata/records';
import { backoffDelay, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookOutput, type WebhookTarget } from './webhook';

const SECRET = 'test-webhook-secret-0123456789';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A local receiver on 127.0.0.1:0 that answers `statuses` in turn (the last one forever). */
async function receiver(statuses: number[]): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = statuses[Math.min(got.length - 1, statuses.length - 1)]!;
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks/alerts?token=secret-in-url`, got, close: () => new Promise((r) => server.close(() => r())) };
}

/** What a receiver does: recompute the MAC over "<timestamp>.<raw body>" and compare. */
function verify(r: Received): boolean {
  const ts = r.headers[TIMESTAMP_HEADER.toLowerCase()] as string;
  const sig = r.headers[SIGNATURE_HEADER.toLowerCase()] as string;
  const expected = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${r.body}`).digest('hex')}`;
  return /^\d{10}$/.test(ts) && sig === expected;
}

const alert = (id = 'AAAAAAAAAAAAAAAAAAAAAA'): Alert => ({
  id, rule_id: 'identity-mismatch', rule_type: 'identity_mismatch', severity: 'high', description: 'layers disagree', status: 'open', group_key: 'identity:alice',
  identity: 'alice', first_seen: '2026-03-10T10:00:00.000Z', last_seen: '2026-03-10T10:00:00.000Z', count: 1, record_ids: ['r1'], record_ids_truncated: false,
  reason: 'x', last_reason: 'x', created_at: '2026-03-10T10:00:01.000Z', updated_at: '2026-03-10T10:00:01.000Z', seen: ['abc'],
});

const target = (url: string, over: Partial<WebhookTarget> = {}): WebhookTarget => ({ url, secret: SECRET, maxRetries: 3, initialBackoffMs: 100, maxBackoffMs: 1_000, timeoutMs: 2_000, ...over });

describe('detect/outputs > webhook', () => {
  let store: SqliteAlertStore;
  let delays: number[];
  const output = (targets: WebhookTarget[]) =>
    new WebhookOutput({ targets, store, log: silentLogger, metrics: noopMetrics, detectMetrics: createDetectMetrics(), sleep: async (ms) => void delays.push(ms) });

  beforeEach(async () => {
    store = new SqliteAlertStore(new Database(':memory:'));
    await store.init();
    delays = [];
  });

  it('retries with exponential backoff and jitter until the receiver accepts, every attempt signed', async () => {
    const rx = await receiver([503, 500, 204]);
    try {
      const out = output([target(rx.url)]);
      await out.publish({ created: [alert()], updated: [] });
      await out.idle();
      expect(rx.got).toHaveLength(3);
      expect(rx.got.every(verify)).toBe(true);
      expect(new Set(rx.got.map((g) => g.headers['x-auditmesh-delivery'])).size).toBe(1);
      const body = JSON.parse(rx.got[2]!.body) as { type: string; alert: Record<string, unknown> };
      expect(body).toMatchObject({ type: 'alert.created', alert: { id: 'AAAAAAAAAAAAAAAAAAAAAA', records: { ids: ['r1'], count: 1 } } });
      expect(body.alert.seen).toBeUndefined();
      expect(delays).toHaveLength(2);
      expect(delays[0]).toBeGreaterThanOrEqual(50);
      expect(delays[0]).toBeLessThanOrEqual(100);
      expect(delays[1]).toBeGreaterThanOrEqual(100);
      expect(delays[1]).toBeLessThanOrEqual(200);
      expect(await store.listDeadLetters(10)).toEqual([]);
    } finally {
      await rx.close();
    }
  });

  it('a tampered body or another secret does not verify', async () => {
    const rx = await receiver([200]);
    try {
      const out = output([target(rx.url, { secret: 'another-secret-0123456789' })]);
      await out.publish({ created: [alert()], updated: [] });
      await out.idle();
      expect(verify(rx.got[0]!)).toBe(false);
      expect(verify({ ...rx.got[0]!, body: rx.got[0]!.body.replace('alice', 'bob') })).toBe(false);
    } finally {
      await rx.close();
    }
  });

  it('dead-letters a delivery that keeps failing, with the reason, attempts and the exact body', async () => {
    const rx = await receiver([500]);
    try {
      const out = output([target(rx.url, { maxRetries: 2 })]);
      await out.publish({ created: [alert()], updated: [] });
      await out.idle();
      expect(rx.got).toHaveLength(3);
      const [dl] = await store.listDeadLetters(10);
      expect(dl).toMatchObject({ alert_id: 'AAAAAAAAAAAAAAAAAAAAAA', rule_id: 'identity-mismatch', attempts: 3, last_status: 500, reason: 'HTTP 500 after 3 attempt(s)', webhook_index: 0 });
      expect(dl!.webhook_origin).toBe(new URL(rx.url).origin);
      expect(dl!.payload).toBe(rx.got[2]!.body);
    } finally {
      await rx.close();
    }
  });

  it('does not retry a client error, and retries connection failures', async () => {
    const rx = await receiver([400]);
    const closed = await receiver([200]);
    await closed.close();
    try {
      const out = output([target(rx.url), target(closed.url, { maxRetries: 1 })]);
      await out.publish({ created: [alert()], updated: [] });
      await out.idle();
      expect(rx.got).toHaveLength(1);
      const dls = (await store.listDeadLetters(10)).sort((a, b) => a.webhook_index - b.webhook_index);
      expect(dls.map((d) => [d.webhook_index, d.attempts, d.reason])).toEqual([
        [0, 1, 'HTTP 400 (client error, not retried)'],
        [1, 2, 'request ECONNREFUSED after 2 attempt(s)'],
      ]);
    } finally {
      await rx.close();
    }
  });

  it('gives up pending retries at stop (after the deadline) and dead-letters them', async () => {
    const rx = await receiver([503]);
    try {
      const out = new WebhookOutput({ targets: [target(rx.url, { initialBackoffMs: 60_000, maxBackoffMs: 60_000 })], store, log: silentLogger, metrics: noopMetrics, detectMetrics: createDetectMetrics() });
      await out.publish({ created: [alert()], updated: [] });
      while (rx.got.length === 0) await new Promise((r) => setTimeout(r, 5));
      await out.stop(20);
      const [dl] = await store.listDeadLetters(10);
      expect(dl?.reason).toBe('HTTP 503; retry abandoned at shutdown');
      await out.publish({ created: [alert('BBBBBBBBBBBBBBBBBBBBBB')], updated: [] });
      await out.idle();
      expect((await store.listDeadLetters(10)).map((d) => d.reason)).toContain('not sent: shutting down');
    } finally {
      await rx.close();
    }
  });

  it('caps the delay', () => {
    expect(backoffDelay(10, target('http://x'), () => 1)).toBe(1_000);
  });

  it('notifies new alerts end to end (config secretEnv → engine → signed POST), once per alert', async () => {
    const rx = await receiver([200]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wh-'));
    try {
      fs.mkdirSync(path.join(dir, 'rules'));
      fs.writeFileSync(path.join(dir, 'rules', 'r.yaml'), 'id: mm\ntype: identity_mismatch\nseverity: high\nsuppressionWindowSeconds: 600\ndescription: layers disagree on the user\n');
      const cfg = configSchema.parse({ dataDir: dir, detect: { rulesDir: path.join(dir, 'rules'), webhooks: [{ url: rx.url, secretEnv: 'HOOK_SECRET', initialBackoffMs: 1 }] } });
      await expect(createDetection(cfg, {} as never, { log: silentLogger, metrics: noopMetrics, env: {} })).rejects.toThrow('detect.webhooks[0].secretEnv: environment variable HOOK_SECRET is not set');
      const auditStore = new SqliteStore(dir);
      await auditStore.init();
      const d = await createDetection(cfg, auditStore, { log: silentLogger, metrics: noopMetrics, env: { HOOK_SECRET: SECRET } });
      const r1 = rec({ subject: 'alice', mismatches: [{ a: 'alice', b: 'mallory', methods: ['jwt', 'otel_enduser'] }] });
      await d.engine.processRecords([r1]);
      await d.engine.processRecords([r1, rec({ subject: 'alice', mismatches: [{ a: 'alice', b: 'eve', methods: ['jwt', 'otel_enduser'] }] })]);
      await d.stop();
      await auditStore.close();
      expect(rx.got).toHaveLength(1);
      expect(verify(rx.got[0]!)).toBe(true);
      expect(JSON.parse(rx.got[0]!.body).alert).toMatchObject({ rule_id: 'mm', count: 1 });
    } finally {
      await rx.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
