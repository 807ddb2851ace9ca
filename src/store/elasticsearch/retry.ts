import { errors } from '@elastic/elasticsearch';
import { PipelineError } from '../../errors';

/**
 * How Elasticsearch replies map onto store outcomes. Classified here, once; the store passes the
 * result on as data (`PipelineError.code` / `retriable`).
 *
 * - 429 (rejected execution, circuit breaker) and 5xx: transient, retried with backoff;
 * - other 4xx on a document (mapping conflict, malformed value): permanent for that document;
 * - connection refused / reset / timeout: transient.
 */

/** Retry policy of one store call. */
export interface RetryPolicy {
  /** Attempts in total, including the first one (1 = no retry). Default 5. */
  maxAttempts: number;
  /** Delay before the first retry, in ms; doubles per attempt. Default 100 ms. */
  baseDelayMs: number;
  /** Upper bound of one delay, in ms. Default 5000 ms. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 5_000 };

/** Capped exponential backoff with jitter: a delay in [d/2, d] where d = min(max, base * 2^(attempt-1)). */
export function backoffMs(attempt: number, p: RetryPolicy, random: () => number = Math.random): number {
  const d = Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(d / 2 + (random() * d) / 2);
}

export type BulkAction = 'index' | 'create' | 'delete';
export type ItemOutcome = 'ok' | 'retry' | 'reject';

/** Outcome of one `_bulk` item from its HTTP status. */
export function classifyItem(action: BulkAction, status: number): ItemOutcome {
  if (status >= 200 && status < 300) return 'ok';
  // Deleting something already gone (document or whole index removed by retention) is done.
  if (action === 'delete' && status === 404) return 'ok';
  // `create` is used where the first write wins (dead letters): a conflict means it is already there.
  if (action === 'create' && status === 409) return 'ok';
  if (status === 429 || status >= 500) return 'retry';
  return 'reject';
}

/** Error code of a transient failure: `es_rejected` for 429 (back-pressure), `es_unavailable` otherwise. */
export function transientCode(status: number | undefined): 'es_rejected' | 'es_unavailable' {
  return status === 429 ? 'es_rejected' : 'es_unavailable';
}

/** Classify an exception thrown by the client for a whole request. */
export function classifyRequestError(e: unknown, what: string): PipelineError {
  if (e instanceof PipelineError) return e;
  if (e instanceof errors.ResponseError) {
    const status = e.meta.statusCode ?? 0;
    const reason = responseReason(e);
    if (status === 429 || status >= 500) {
      return new PipelineError(`elasticsearch ${what}: HTTP ${status} ${reason}`, transientCode(status), true, 'sink', { cause: e });
    }
    if (status === 401 || status === 403) {
      return new PipelineError(
        `elasticsearch ${what}: HTTP ${status} ${reason}; check elasticsearch.username/password or elasticsearch.api_key and the user's index privileges`,
        'es_auth_failed',
        false,
        'sink',
        { cause: e },
      );
    }
    if (status === 413) {
      return new PipelineError(`elasticsearch ${what}: HTTP 413 request too large; lower the batch size or raise http.max_content_length`, 'es_request_too_large', false, 'sink', { cause: e });
    }
    return new PipelineError(`elasticsearch ${what}: HTTP ${status} ${reason}`, 'es_request_failed', false, 'sink', { cause: e });
  }
  if (e instanceof errors.ConnectionError || e instanceof errors.TimeoutError || e instanceof errors.NoLivingConnectionsError) {
    return new PipelineError(`elasticsearch ${what}: ${e.name}: ${e.message}`, 'es_unavailable', true, 'sink', { cause: e });
  }
  if (e instanceof errors.ProductNotSupportedError) {
    return new PipelineError(`elasticsearch ${what}: the server at elasticsearch.url is not Elasticsearch (${e.message})`, 'es_not_elasticsearch', false, 'sink', { cause: e });
  }
  // TypeError, RangeError, serialization errors: bugs, never retried.
  return new PipelineError(`elasticsearch ${what}: ${(e as Error)?.message ?? String(e)}`, 'es_request_failed', false, 'sink', { cause: e });
}

function responseReason(e: InstanceType<typeof errors.ResponseError>): string {
  const body = e.meta.body as { error?: { type?: string; reason?: string } | string } | string | undefined;
  if (body && typeof body === 'object' && body.error) {
    if (typeof body.error === 'string') return body.error;
    return `${body.error.type ?? 'error'}: ${body.error.reason ?? ''}`.trim();
  }
  return typeof body === 'string' ? body.slice(0, 200) : e.message;
}

/** Human-readable reason of a failed `_bulk` / `mget` item. */
export function itemReason(err: unknown): string {
  if (!err || typeof err !== 'object') return String(err ?? 'unknown error');
  const o = err as { type?: string; reason?: string; caused_by?: { type?: string; reason?: string } };
  let s = `${o.type ?? 'error'}: ${o.reason ?? ''}`.trim();
  if (o.caused_by?.reason) s += ` (caused by ${o.caused_by.type ?? 'error'}: ${o.caused_by.reason})`;
  return s;
}

/** The field named by a mapping error (`failed to parse field [url.path] of type [keyword]`), if any. */
export function itemField(err: unknown): string | undefined {
  const reason = (err as { reason?: string } | undefined)?.reason;
  const m = typeof reason === 'string' ? /field \[([^\]]+)\]/.exec(reason) : null;
  return m?.[1];
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
