import { createHash, createHmac } from 'node:crypto';
import type { Logger } from '../../instrumentation/logger';
import type { Metrics } from '../../instrumentation/metrics';
import { publicAlert, type Alert } from '../alert';
import type { DetectMetrics } from '../metrics';
import type { AlertStore, WebhookDeadLetter } from '../store/alertStore';
import type { AlertOutput } from './output';

/**
 * Webhook notifications of new alerts: `POST <url>` with a JSON body
 * `{ "type": "alert.created", "alert": {...} }` and
 * - `X-Auditmesh-Timestamp: <unix seconds>`,
 * - `X-Auditmesh-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>` (the
 *   timestamp is inside the MAC, so a receiver can reject replays older than a few minutes),
 * - `X-Auditmesh-Delivery: <id>` (stable across retries: receivers can deduplicate),
 * - `X-Auditmesh-Event: alert.created`.
 * 2xx = delivered. 408/425/429/5xx, timeouts and connection errors are retried with capped
 * exponential backoff and jitter, `maxRetries` times; any other status is permanent. A delivery that
 * fails for good becomes a dead letter in the alert store with the reason and the exact body.
 * Deliveries run in the background (the pipeline never waits for a webhook), bounded by `maxPending`.
 */
export interface WebhookTarget {
  url: string;
  /** HMAC key (resolved from the environment by the caller). */
  secret: string;
  /** Retries after the first attempt (0 = one attempt). */
  maxRetries: number;
  /** Delay before the first retry, in ms; doubles per retry. */
  initialBackoffMs: number;
  /** Upper bound of one delay, in ms. */
  maxBackoffMs: number;
  /** Timeout of one attempt, in ms. */
  timeoutMs: number;
}

export interface WebhookOptions {
  targets: WebhookTarget[];
  store: AlertStore;
  log: Logger;
  metrics: Metrics;
  detectMetrics: DetectMetrics;
  /** Deliveries in flight or waiting; beyond it a new delivery is dead-lettered at once. */
  maxPending?: number;
  /** Backoff sleeps (tests inject one that records the delays). Resolves early when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
  now?: () => Date;
}

export const SIGNATURE_HEADER = 'X-Auditmesh-Signature';
export const TIMESTAMP_HEADER = 'X-Auditmesh-Timestamp';

/** `sha256=<hex>` of `<timestamp>.<body>`: what the receiver recomputes. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Retry decision for one attempt, made here once. */
export function classifyAttempt(r: { status?: number; error?: Error }): { ok: boolean; retriable: boolean; reason: string } {
  if (r.status !== undefined) {
    if (r.status >= 200 && r.status < 300) return { ok: true, retriable: false, reason: `HTTP ${r.status}` };
    const retriable = r.status === 408 || r.status === 425 || r.status === 429 || r.status >= 500;
    return { ok: false, retriable, reason: `HTTP ${r.status}${retriable ? '' : ' (client error, not retried)'}` };
  }
  const e = r.error;
  const cause = (e as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  const what = e?.name === 'TimeoutError' ? 'timed out' : (cause?.code ?? cause?.message ?? e?.message ?? 'failed');
  return { ok: false, retriable: true, reason: `request ${what}` };
}

export function backoffDelay(retry: number, t: WebhookTarget, random: () => number): number {
  const d = Math.min(t.maxBackoffMs, t.initialBackoffMs * 2 ** Math.max(0, retry - 1));
  return Math.round(d / 2 + (random() * d) / 2);
}

const defaultSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });

const originOf = (url: string) => {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid url)';
  }
};

export class WebhookOutput implements AlertOutput {
  readonly name = 'webhook';
  private readonly pending = new Set<Promise<void>>();
  private readonly shutdown = new AbortController();
  private readonly maxPending: number;
  private readonly sleep: NonNullable<WebhookOptions['sleep']>;
  private readonly random: () => number;
  private readonly now: () => Date;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: WebhookOptions) {
    this.maxPending = opts.maxPending ?? 1_000;
    this.sleep = opts.sleep ?? defaultSleep;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? (() => new Date());
  }

  async publish(ev: { created: Alert[]; updated: Alert[] }): Promise<void> {
    for (const a of ev.created) {
      this.opts.targets.forEach((t, i) => {
        const p = this.deliver(a, t, i).finally(() => this.pending.delete(p));
        this.pending.add(p);
      });
    }
  }

  /** Resolves when every delivery started so far has finished (delivered or dead-lettered). */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  private async deliver(a: Alert, t: WebhookTarget, index: number): Promise<void> {
    const body = JSON.stringify({ type: 'alert.created', alert: publicAlert(a) });
    const deliveryId = createHash('sha256').update(`${a.id}|${index}|${t.url}`).digest('base64url').slice(0, 22);
    if (this.shutdown.signal.aborted || this.pending.size > this.maxPending) {
      return this.deadLetter(a, t, index, deliveryId, body, 0, this.shutdown.signal.aborted ? 'not sent: shutting down' : `not sent: more than ${this.maxPending} deliveries pending`);
    }
    const attempts = 1 + t.maxRetries;
    let last = { ok: false, retriable: true, reason: 'not attempted' };
    let lastStatus: number | undefined;
    let made = 0;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      made = attempt;
      const ts = String(Math.floor(this.now().getTime() / 1000));
      try {
        const res = await fetch(t.url, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'User-Agent': 'auditmesh-alerts',
            [TIMESTAMP_HEADER]: ts,
            [SIGNATURE_HEADER]: signWebhook(t.secret, ts, body),
            'X-Auditmesh-Delivery': deliveryId,
            'X-Auditmesh-Event': 'alert.created',
          },
          body,
          signal: AbortSignal.any([AbortSignal.timeout(t.timeoutMs), this.shutdown.signal]),
        });
        await res.arrayBuffer().catch(() => undefined);
        lastStatus = res.status;
        last = classifyAttempt({ status: res.status });
      } catch (e) {
        last = classifyAttempt({ error: e as Error });
        if (this.shutdown.signal.aborted) last = { ok: false, retriable: false, reason: `aborted by shutdown (attempt ${attempt})` };
      }
      if (last.ok) {
        this.opts.detectMetrics.deliveries.add(1, { output: 'webhook', outcome: 'delivered' });
        return;
      }
      if (!last.retriable || attempt === attempts || this.shutdown.signal.aborted) break;
      this.opts.detectMetrics.deliveries.add(1, { output: 'webhook', outcome: 'retried' });
      await this.sleep(backoffDelay(attempt, t, this.random), this.shutdown.signal);
      if (this.shutdown.signal.aborted) {
        last = { ok: false, retriable: false, reason: `${last.reason}; retry abandoned at shutdown` };
        break;
      }
    }
    const why = last.retriable && !this.shutdown.signal.aborted ? `${last.reason} after ${made} attempt(s)` : last.reason;
    await this.deadLetter(a, t, index, deliveryId, body, made, why, lastStatus);
  }

  private async deadLetter(a: Alert, t: WebhookTarget, index: number, id: string, body: string, attempts: number, reason: string, lastStatus?: number): Promise<void> {
    const dl: WebhookDeadLetter = {
      id,
      timestamp: this.now().toISOString(),
      alert_id: a.id,
      rule_id: a.rule_id,
      webhook_index: index,
      webhook_origin: originOf(t.url),
      attempts,
      reason,
      payload: body,
    };
    if (lastStatus !== undefined) dl.last_status = lastStatus;
    this.opts.detectMetrics.deliveries.add(1, { output: 'webhook', outcome: 'dead_lettered' });
    this.opts.log.warn('webhook delivery dead-lettered', { alert: a.id, webhook: index, origin: dl.webhook_origin, reason });
    try {
      await this.opts.store.putDeadLetters([dl]);
    } catch (e) {
      this.opts.metrics.errors.add(1, { component_id: 'detect', error_code: 'webhook_dead_letter_failed', stage: 'sink' });
      this.opts.log.error('cannot store webhook dead letter', { alert: a.id, error: (e as Error).message });
    }
  }

  stop(deadlineMs: number): Promise<void> {
    this.stopping ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.idle(), new Promise<void>((r) => (timer = setTimeout(r, deadlineMs)))]);
      if (timer) clearTimeout(timer);
      this.shutdown.abort();
      await this.idle();
    })();
    return this.stopping;
  }
}
