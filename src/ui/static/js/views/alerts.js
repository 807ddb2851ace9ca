import { api, ApiError } from '../api.js';
import { h, link, route, facts, loading, notAvailable } from '../dom.js';
import { fmtTime, rangeAround, severityBadge } from '../format.js';
import { recordsTable } from './records.js';

const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
const STATUSES = ['open', 'acknowledged', 'resolved'];
const isIp = (v) => /^[0-9.]+$|^[0-9a-f:]+$/i.test(v ?? '');
/** The rule an alert came from (`rule_id` from the engine; `rule` in the API sketch). */
const ruleOf = (a) => a.rule_id ?? a.rule ?? a.rule_type ?? 'alert';
const spanOf = (a) => rangeAround(a.first_seen ?? a.last_seen, a.last_seen ?? a.first_seen);

export function alertsTable(alerts, { empty = 'No alerts.' } = {}) {
  if (!alerts.length) return h('p', { class: 'empty' }, empty);
  return h(
    'table',
    { class: 'grid alerts', 'data-testid': 'alerts' },
    h('thead', {}, h('tr', {}, ['Severity', 'Rule', 'Description', 'Identity', 'Source IP', 'First seen', 'Last seen', 'Count', 'Status'].map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      {},
      alerts.map((a) => {
        const href = route(['alerts', a.id]);
        const open = (ev) => {
          if (ev.target.closest('a')) return;
          if (ev.type === 'keydown' && ev.key !== 'Enter') return;
          location.hash = href;
        };
        return h(
          'tr',
          { class: 'alert-row', tabindex: 0, 'data-alert-id': a.id, onclick: open, onkeydown: open },
          h('td', {}, severityBadge(a.severity)),
          h('td', { class: 'mono nowrap' }, h('a', { href, class: 'plain' }, ruleOf(a))),
          h('td', { class: 'wrap' }, a.last_reason ?? a.reason ?? a.description ?? ''),
          h('td', { class: 'nowrap mono' }, a.identity ? link(['identity', a.identity], spanOf(a), a.identity) : ''),
          h('td', { class: 'mono' }, a.source_ip ?? ''),
          h('td', { class: 'nowrap mono' }, a.first_seen ? fmtTime(a.first_seen) : ''),
          h('td', { class: 'nowrap mono' }, a.last_seen ? fmtTime(a.last_seen) : ''),
          h('td', { class: 'num' }, String(a.count ?? '')),
          h('td', {}, a.status ?? ''),
        );
      }),
    ),
  );
}

const unavailable = () =>
  notAvailable('Alerts are not available on this server', 'GET /v1/alerts answered 404: the alerting engine is not part of this deployment (or not yet). Records, traces and identities still work.');

export async function renderAlerts(view, { params, isCurrent }) {
  view.replaceChildren(loading('Loading alerts…'));
  const q = { limit: 50 };
  for (const k of ['from', 'to', 'rule', 'severity', 'status', 'identity', 'cursor']) if (params.get(k)) q[k] = params.get(k);
  let page;
  try {
    page = await api('v1/alerts', q);
  } catch (e) {
    if (e instanceof ApiError && e.endpointMissing) {
      if (isCurrent()) view.replaceChildren(h('section', { class: 'page' }, h('h1', {}, 'Alerts'), unavailable()));
      return;
    }
    throw e;
  }
  if (!isCurrent()) return;
  const sev = h('select', { name: 'severity' }, h('option', { value: '' }, 'any'), SEVERITIES.map((s) => h('option', { value: s, selected: params.get('severity') === s }, s)));
  const status = h('select', { name: 'status' }, h('option', { value: '' }, 'any'), STATUSES.map((s) => h('option', { value: s, selected: params.get('status') === s }, s)));
  const rule = h('input', { name: 'rule', type: 'text', value: params.get('rule') ?? '', placeholder: 'rule id' });
  const identity = h('input', { name: 'identity', type: 'text', value: params.get('identity') ?? '', placeholder: 'identity' });
  const form = h(
    'form',
    {
      class: 'filters inline',
      onsubmit: (ev) => {
        ev.preventDefault();
        location.hash = route(['alerts'], { severity: sev.value, status: status.value, rule: rule.value.trim(), identity: identity.value.trim() });
      },
    },
    h('label', { class: 'field' }, h('span', {}, 'Severity'), sev),
    h('label', { class: 'field' }, h('span', {}, 'Status'), status),
    h('label', { class: 'field' }, h('span', {}, 'Rule'), rule),
    h('label', { class: 'field' }, h('span', {}, 'Identity'), identity),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Filter'),
  );
  const base = Object.fromEntries(Object.entries(q).filter(([k]) => k !== 'cursor' && k !== 'limit'));
  view.replaceChildren(
    h(
      'section',
      { class: 'page' },
      h('h1', {}, 'Alerts'),
      form,
      alertsTable(page.alerts ?? []),
      h(
        'div',
        { class: 'pager' },
        h('button', { type: 'button', class: 'btn', disabled: !params.get('cursor'), onclick: () => (location.hash = route(['alerts'], base)) }, '⇤ Newest'),
        h('button', { type: 'button', class: 'btn', disabled: !page.next_cursor, onclick: () => (location.hash = route(['alerts'], { ...base, cursor: page.next_cursor })) }, 'Older →'),
      ),
    ),
  );
}

/**
 * The evidence of an alert: its records. The API finds records by filters, not by id: ask for the
 * records of the alert's time span narrowed to the alert's identity (one small page: what the alert
 * counted is usually all there), then, while some are missing, to its source IP, then the whole span
 * (an alert's identity may be a token's subject while the record names a stronger one). At most
 * three pages, whatever the store holds; the span alone comes last because on a busy store it is
 * the biggest answer (1,000 records of everyone, ~1.2 MB, to find a handful).
 */
async function evidence(alert) {
  if (Array.isArray(alert.records) && alert.records.length && typeof alert.records[0] === 'object') return { records: alert.records, missing: [] };
  const ids = new Set(alert.record_ids ?? alert.records?.ids ?? []);
  if (!ids.size) return { records: [], missing: [] };
  const span = { limit: 1000 };
  if (alert.first_seen) span.from = alert.first_seen;
  if (alert.last_seen) span.to = new Date(Date.parse(alert.last_seen) + 1).toISOString();
  const narrowings = [];
  if (alert.identity) narrowings.push({ 'user.id': alert.identity });
  if (alert.source_ip && isIp(alert.source_ip)) narrowings.push({ 'source.ip': alert.source_ip });
  narrowings.push({});
  const found = new Map();
  for (const n of narrowings) {
    const page = await api('v1/records', { ...span, ...n });
    for (const r of page.records) if (ids.has(r.auditmesh?.record_id)) found.set(r.auditmesh.record_id, r);
    if (found.size === ids.size) break;
  }
  const records = [...found.values()].sort((a, b) => Date.parse(b['@timestamp']) - Date.parse(a['@timestamp']));
  return { records, missing: [...ids].filter((i) => !found.has(i)) };
}

export async function renderAlert(view, id, { isCurrent }) {
  view.replaceChildren(loading('Loading alert…'));
  let body;
  try {
    body = await api(`v1/alerts/${encodeURIComponent(id)}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      view.replaceChildren(h('section', { class: 'page' }, h('p', { class: 'crumbs' }, link(['alerts'], null, '← Alerts')), e.endpointMissing ? unavailable() : notAvailable('No such alert', e.message)));
      return;
    }
    throw e;
  }
  const alert = body.alert ?? body;
  const ev = await evidence(alert);
  if (!isCurrent()) return;
  view.replaceChildren(
    h(
      'section',
      { class: 'page alert' },
      h('p', { class: 'crumbs' }, link(['alerts'], null, '← Alerts')),
      h('h1', {}, severityBadge(alert.severity), ' ', h('span', { class: 'mono' }, ruleOf(alert))),
      // What happened in this incident (the engine's reason), then what the rule means in general.
      h('p', { class: 'lead' }, alert.last_reason ?? alert.reason ?? alert.description ?? ''),
      (alert.last_reason || alert.reason) && alert.description ? h('p', { class: 'muted' }, alert.description) : null,
      facts([
        ['Identity', alert.identity ? link(['identity', alert.identity], spanOf(alert), alert.identity) : ''],
        ['Source IP', alert.source_ip],
        ['First seen', alert.first_seen ? fmtTime(alert.first_seen) : ''],
        ['Last seen', alert.last_seen ? fmtTime(alert.last_seen) : ''],
        ['Count', alert.count !== undefined ? String(alert.count) : ''],
        ['Rule type', alert.rule_type && alert.rule_type !== alert.rule_id ? alert.rule_type : ''],
        ['Layer', alert.details?.layer],
        ['Status', alert.status],
        ['Alert id', h('code', {}, alert.id ?? id)],
      ]),
      h('h2', {}, 'Evidence'),
      h('div', { 'data-testid': 'evidence' }, recordsTable(ev.records, { empty: 'No evidence record found.' })),
      ev.missing.length ? h('p', { class: 'muted small' }, `${ev.missing.length} record id(s) of this alert were not found in its time span: `, ev.missing.map((m, i) => h('span', {}, i ? ', ' : '', h('code', {}, m)))) : null,
      alert.record_ids_truncated || alert.records?.truncated ? h('p', { class: 'muted small' }, `The alert keeps the first ${ev.records.length + ev.missing.length} of its ${alert.count} records.`) : null,
    ),
  );
}
