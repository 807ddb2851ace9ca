import express, { type Response } from 'express';
import { z } from 'zod';
import type { RouteModule } from '../app';
import { ALERT_STATUSES, publicAlert, type AlertStatus } from '../../detect/alert';
import { SEVERITIES, type Severity } from '../../detect/rules/schema';
import type { AlertQuery, AlertStore } from '../../detect/store/alertStore';

/**
 * Alerts of the detection engine (src/detect):
 * - `GET /v1/alerts`: filters `from`, `to` (ISO 8601; alerts active in [from, to): last_seen >= from,
 *   first_seen < to), `rule`, `severity`, `identity`, `status`; `limit` ≤ 1000 (default 100); `cursor`
 *   from `next_cursor`. Newest incident first (first_seen, then id). Roles: auditor, investigator, admin.
 * - `GET /v1/alerts/:id`: one alert, with the ids and count of the records that triggered it.
 * - `PATCH /v1/alerts/:id` `{ "status": "open" | "acknowledged" | "resolved" }`: investigator, admin
 *   (auditors read only). A resolved incident is closed: a new match raises a new alert.
 * - `GET /v1/alerts/dead-letters`: webhook deliveries given up, with the reason. investigator, admin.
 */
const iso = z
  .string()
  .refine((s) => /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) && !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z');
const alertIdParam = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'must be an alert id (22 characters)');

export const alertsQuery = z
  .object({
    from: iso.optional(),
    to: iso.optional(),
    rule: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be a rule id').optional(),
    severity: z.enum(SEVERITIES).optional(),
    identity: z.string().min(1).max(2048).optional(),
    status: z.enum(ALERT_STATUSES as [AlertStatus, ...AlertStatus[]]).optional(),
    limit: z.coerce.number().int().min(1, 'must be between 1 and 1000').max(1000, 'must be between 1 and 1000').default(100),
    cursor: z.string().max(512).optional(),
  })
  .strict();

const patchBody = z.object({ status: z.enum(ALERT_STATUSES as [AlertStatus, ...AlertStatus[]]) }).strict();

function badRequest(res: Response, err: z.ZodError): void {
  res.status(400).json({
    error: 'bad_request',
    message: err.issues.map((i) => (i.code === 'unrecognized_keys' ? `unknown parameter(s): ${i.keys.join(', ')}` : `${i.path.join('.') || 'body'}: ${i.message}`)).join('; '),
  });
}

export function alertRoutes(store: AlertStore): RouteModule {
  return (app, { requireRole, limiter }) => {
    const readers = requireRole('auditor', 'investigator', 'admin');
    const writers = requireRole('investigator', 'admin');

    app.get('/v1/alerts', readers, limiter, async (req, res, next) => {
      const p = alertsQuery.safeParse(req.query);
      if (!p.success) return badRequest(res, p.error);
      const v = p.data;
      if (v.from && v.to && Date.parse(v.from) >= Date.parse(v.to)) {
        res.status(400).json({ error: 'bad_request', message: 'from must be before to' });
        return;
      }
      const q: AlertQuery = { limit: v.limit };
      if (v.from) q.from = new Date(v.from).toISOString();
      if (v.to) q.to = new Date(v.to).toISOString();
      if (v.rule) q.ruleId = v.rule;
      if (v.severity) q.severity = v.severity as Severity;
      if (v.identity) q.identity = v.identity;
      if (v.status) q.status = v.status;
      if (v.cursor) q.cursor = v.cursor;
      try {
        const page = await store.searchAlerts(q);
        res.json({ alerts: page.alerts.map(publicAlert), count: page.alerts.length, next_cursor: page.nextCursor ?? null });
      } catch (e) {
        next(e);
      }
    });

    app.get('/v1/alerts/dead-letters', writers, limiter, async (req, res, next) => {
      const p = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }).strict().safeParse(req.query);
      if (!p.success) return badRequest(res, p.error);
      try {
        res.json({ dead_letters: await store.listDeadLetters(p.data.limit) });
      } catch (e) {
        next(e);
      }
    });

    app.get('/v1/alerts/:id', readers, limiter, async (req, res, next) => {
      const p = alertIdParam.safeParse(req.params.id);
      if (!p.success) return badRequest(res, p.error);
      try {
        const a = (await store.getAlerts([p.data])).get(p.data);
        if (!a) {
          res.status(404).json({ error: 'not_found', message: `no alert ${p.data}` });
          return;
        }
        res.json(publicAlert(a));
      } catch (e) {
        next(e);
      }
    });

    app.patch('/v1/alerts/:id', writers, limiter, express.json({ limit: '4kb' }), async (req, res, next) => {
      const id = alertIdParam.safeParse(req.params.id);
      if (!id.success) return badRequest(res, id.error);
      const body = patchBody.safeParse(req.body ?? {});
      if (!body.success) return badRequest(res, body.error);
      try {
        const a = await store.setStatus(id.data, body.data.status, req.principal?.subject || 'unknown', new Date().toISOString());
        if (!a) {
          res.status(404).json({ error: 'not_found', message: `no alert ${id.data}` });
          return;
        }
        res.json(publicAlert(a));
      } catch (e) {
        next(e);
      }
    });
  };
}

/** OpenAPI 3.1 path items of these routes (merged into /openapi.json by queryApiRoutes' openApiExtraPaths). */
export function alertsOpenApiPaths(): Record<string, unknown> {
  const q = (name: string, description: string, schema: Record<string, unknown>) => ({ name, in: 'query', description, schema });
  const idParam = { name: 'id', in: 'path', required: true, description: 'Alert id', schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{22}$' } };
  const json = (schema: Record<string, unknown>, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
  const error = json({ type: 'object', properties: { error: { type: 'string' }, message: { type: 'string' } } }, 'Error');
  const errors = { '400': error, '401': error, '403': error, '429': error, '503': error };
  const alert = {
    type: 'object',
    description: 'One incident: rule + key; count and record ids of the matching records (event time).',
    properties: {
      id: { type: 'string' }, rule_id: { type: 'string' }, rule_type: { type: 'string' }, severity: { type: 'string', enum: [...SEVERITIES] },
      description: { type: 'string' }, status: { type: 'string', enum: [...ALERT_STATUSES] }, group_key: { type: 'string' }, identity: { type: 'string' },
      source_ip: { type: 'string' }, first_seen: { type: 'string', format: 'date-time' }, last_seen: { type: 'string', format: 'date-time' },
      count: { type: 'integer' }, reason: { type: 'string' }, last_reason: { type: 'string' }, details: { type: 'object' },
      records: { type: 'object', properties: { ids: { type: 'array', items: { type: 'string' } }, count: { type: 'integer' }, truncated: { type: 'boolean' } } },
      created_at: { type: 'string', format: 'date-time' }, updated_at: { type: 'string', format: 'date-time' },
      status_updated_at: { type: 'string', format: 'date-time' }, status_updated_by: { type: 'string' },
    },
  };
  const secured = (roles: string[], op: Record<string, unknown>) => ({ security: [{ bearerAuth: [] }], 'x-roles': roles, ...op, responses: { ...(op.responses as object), ...errors } });
  return {
    '/v1/alerts': {
      get: secured(['auditor', 'investigator', 'admin'], {
        summary: 'Alerts (incidents) of the detection rules, newest first',
        parameters: [
          q('from', 'Alerts active at or after (last_seen >= from).', { type: 'string', format: 'date-time' }),
          q('to', 'Alerts that started before (first_seen < to).', { type: 'string', format: 'date-time' }),
          q('rule', 'Rule id.', { type: 'string' }),
          q('severity', 'Severity.', { type: 'string', enum: [...SEVERITIES] }),
          q('identity', 'Exact identity.', { type: 'string' }),
          q('status', 'Status.', { type: 'string', enum: [...ALERT_STATUSES] }),
          q('limit', 'Page size.', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }),
          q('cursor', 'From next_cursor.', { type: 'string', maxLength: 512 }),
        ],
        responses: { '200': json({ type: 'object', properties: { alerts: { type: 'array', items: alert }, count: { type: 'integer' }, next_cursor: { type: ['string', 'null'] } } }) },
      }),
    },
    '/v1/alerts/dead-letters': {
      get: secured(['investigator', 'admin'], {
        summary: 'Webhook deliveries given up, with the reason, attempts and body',
        parameters: [q('limit', 'Page size.', { type: 'integer', minimum: 1, maximum: 1000, default: 100 })],
        responses: { '200': json({ type: 'object', properties: { dead_letters: { type: 'array', items: { type: 'object' } } } }) },
      }),
    },
    '/v1/alerts/{id}': {
      get: secured(['auditor', 'investigator', 'admin'], { summary: 'One alert', parameters: [idParam], responses: { '200': json(alert), '404': error } }),
      patch: secured(['investigator', 'admin'], {
        summary: 'Set the status (a resolved incident is closed: a new match opens a new alert)',
        parameters: [idParam],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['status'], additionalProperties: false, properties: { status: { type: 'string', enum: [...ALERT_STATUSES] } } } } } },
        responses: { '200': json(alert), '404': error },
      }),
    },
  };
}
