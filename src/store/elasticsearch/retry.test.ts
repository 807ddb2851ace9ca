import { errors } from '@elastic/elasticsearch';
import { backoffMs, classifyItem, classifyRequestError, DEFAULT_RETRY, itemField, itemReason } from './retry';
import { PipelineError } from '../../errors';

describe('store/elasticsearch > retry', () => {
  it.each<[Parameters<typeof classifyItem>[0], number, string]>([
    ['index', 201, 'ok'],
    ['index', 200, 'ok'],
    ['delete', 404, 'ok'],
    ['create', 409, 'ok'],
    ['index', 409, 'reject'],
    ['index', 429, 'retry'],
    ['index', 503, 'retry'],
    ['delete', 500, 'retry'],
    ['index', 400, 'reject'],
    ['create', 400, 'reject'],
  ])('classifies a %s item answered %i as %s', (action, status, outcome) => {
    expect(classifyItem(action, status)).toBe(outcome);
  });

  it('backs off exponentially with jitter, capped', () => {
    const p = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffMs(1, p, () => 0)).toBe(50);
    expect(backoffMs(1, p, () => 1)).toBe(100);
    expect(backoffMs(3, p, () => 1)).toBe(400);
    expect(backoffMs(10, p, () => 1)).toBe(1000);
    expect(backoffMs(10, p, () => 0)).toBe(500);
  });

  const responseError = (statusCode: number) =>
    new errors.ResponseError({ statusCode, body: { error: { type: 't', reason: 'r' } }, headers: {}, warnings: null, meta: {} as never });

  it.each<[string, unknown, string, boolean]>([
    ['429', responseError(429), 'es_rejected', true],
    ['503', responseError(503), 'es_unavailable', true],
    ['400', responseError(400), 'es_request_failed', false],
    ['401', responseError(401), 'es_auth_failed', false],
    ['413', responseError(413), 'es_request_too_large', false],
    ['connection refused', new errors.ConnectionError('connect ECONNREFUSED'), 'es_unavailable', true],
    ['timeout', new errors.TimeoutError('Request timed out'), 'es_unavailable', true],
    ['a TypeError', new TypeError('boom'), 'es_request_failed', false],
  ])('classifies %s', (_label, e, code, retriable) => {
    const pe = classifyRequestError(e, 'write batch');
    expect(pe).toBeInstanceOf(PipelineError);
    expect(pe).toMatchObject({ code, retriable, stage: 'sink' });
    expect(pe.message).toContain('write batch');
  });

  it('names the reason and the field of a mapping error', () => {
    const err = {
      type: 'document_parsing_exception',
      reason: "[1:12] failed to parse field [url.path] of type [keyword] in document with id 'bad'",
      caused_by: { type: 'illegal_argument_exception', reason: 'Expected text at 1:6 but found START_OBJECT' },
    };
    expect(itemField(err)).toBe('url.path');
    expect(itemReason(err)).toBe(
      "document_parsing_exception: [1:12] failed to parse field [url.path] of type [keyword] in document with id 'bad' (caused by illegal_argument_exception: Expected text at 1:6 but found START_OBJECT)",
    );
  });
});
