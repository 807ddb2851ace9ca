import { api, ApiError } from '../api.js';
import { h, s, link, route, facts, loading, notAvailable, errorPanel } from '../dom.js';
import { fmtTime, isoToLocal, localToIso, layerOf, verdictBadge, sourceChips } from '../format.js';
import { recordsTable } from './records.js';
import { alertsTable } from './alerts.js';

const W = 1100;
const H = 240;
const PAD = { l: 44, r: 12, t: 14, b: 34 };

function bucketLabel(iso, spanMs) {
  const t = fmtTime(iso);
  if (spanMs <= 2 * 86400e3) return t.slice(11, 16); // HH:MM
  return t.slice(5, 10); // MM-DD
}

/** Activity over time: one bar per bucket, failures stacked on top in the warning colour. */
export function activityChart(timeline) {
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'requests per time bucket', 'data-testid': 'activity-chart' });
  if (!timeline.length) {
    svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'chart-empty' }, 'no activity in this range'));
    return svg;
  }
  const max = Math.max(1, ...timeline.map((b) => b.count ?? 0));
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const bw = iw / timeline.length;
  const gap = Math.min(4, bw * 0.2);
  const y = (v) => PAD.t + ih - (v / max) * ih;
  const first = Date.parse(timeline[0].bucket);
  const last = Date.parse(timeline[timeline.length - 1].bucket);
  const spanMs = Number.isFinite(first) && Number.isFinite(last) ? last - first : 0;

  for (const f of [0, 0.5, 1]) {
    const v = Math.round(max * f);
    svg.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: 'chart-grid' }), s('text', { x: PAD.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'chart-axis' }, String(v)));
  }
  timeline.forEach((b, i) => {
    const count = b.count ?? 0;
    const failures = Math.min(count, b.failures ?? 0);
    const x = PAD.l + i * bw + gap / 2;
    const w = Math.max(1, bw - gap);
    const g = s('g', { class: 'bar', 'data-bucket': b.bucket, 'data-count': count });
    g.append(s('title', {}, `${fmtTime(b.bucket)}: ${count} request${count === 1 ? '' : 's'}${failures ? `, ${failures} failed` : ''}`));
    if (count - failures > 0) g.append(s('rect', { class: 'bar-ok', x, y: y(count - failures), width: w, height: y(0) - y(count - failures) }));
    if (failures > 0) g.append(s('rect', { class: 'bar-fail', x, y: y(count), width: w, height: y(count - failures) - y(count) }));
    svg.append(g);
  });
  const labels = timeline.length <= 8 ? timeline.map((_, i) => i) : [0, Math.floor((timeline.length - 1) / 2), timeline.length - 1];
  for (const i of labels) svg.append(s('text', { x: PAD.l + i * bw + bw / 2, y: H - PAD.b + 18, 'text-anchor': 'middle', class: 'chart-axis' }, bucketLabel(timeline[i].bucket, spanMs)));
  svg.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y(0), y2: y(0), class: 'chart-base' }));
  return svg;
}

function countTable(title, cols, rows) {
  return h(
    'div',
    { class: 'panel' },
    h('h3', {}, title),
    rows.length
      ? h('table', { class: 'grid compact' }, h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c)))), h('tbody', {}, rows))
      : h('p', { class: 'muted' }, 'none'),
  );
}

const QUICK = [
  ['24 h', 86400e3],
  ['7 days', 7 * 86400e3],
  ['30 days', 30 * 86400e3],
];

function rangeForm(id, params, shown) {
  const from = h('input', { name: 'from', type: 'datetime-local', step: 1, value: isoToLocal(params.get('from') ?? shown?.from) });
  const to = h('input', { name: 'to', type: 'datetime-local', step: 1, value: isoToLocal(params.get('to') ?? shown?.to) });
  // Quick ranges end where the current range ends (an investigation is usually about the past).
  const end = Date.parse(params.get('to') ?? shown?.to ?? '') || Date.now();
  const quick = QUICK.map(([label, ms]) => h('a', { class: 'btn btn-small', href: route(['identity', id], { from: new Date(end - ms).toISOString(), to: new Date(end).toISOString() }) }, label));
  return h(
    'form',
    {
      class: 'filters inline',
      onsubmit: (ev) => {
        ev.preventDefault();
        location.hash = route(['identity', id], { from: localToIso(from.value), to: localToIso(to.value) });
      },
    },
    h('label', { class: 'field' }, h('span', {}, 'From (UTC)'), from),
    h('label', { class: 'field' }, h('span', {}, 'To (UTC)'), to),
    h('button', { type: 'submit', class: 'btn' }, 'Apply'),
    h('span', { class: 'quick' }, h('span', { class: 'muted small' }, 'or the last'), quick),
  );
}

async function anomalies(id, range) {
  try {
    const page = await api('v1/alerts', { identity: id, limit: 20, ...range });
    return h('div', { class: 'panel', 'data-testid': 'anomalies' }, h('h3', {}, 'Anomalies (alerts)'), alertsTable(page.alerts ?? [], { empty: 'No alert for this identity.' }));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) throw e;
    if (e instanceof ApiError && e.endpointMissing) return notAvailable('Anomalies not available', 'This server does not expose alerts (GET /v1/alerts answered 404).');
    return errorPanel(e);
  }
}

export async function renderIdentity(view, id, { params, isCurrent }) {
  const range = {};
  if (params.get('from')) range.from = params.get('from');
  if (params.get('to')) range.to = params.get('to');
  view.replaceChildren(loading('Loading identity…'));
  const head = (shown) => [h('p', { class: 'crumbs' }, link(['search'], null, '← Records')), h('h1', {}, 'Identity ', h('code', { 'data-testid': 'identity-name' }, id)), rangeForm(id, params, shown)];

  let activity = null;
  let missing = false;
  try {
    activity = await api(`v1/identities/${encodeURIComponent(id)}/activity`, range);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status === 401) throw e;
    if (e.endpointMissing) missing = true;
    else if (e.status === 404) activity = { summary: null, timeline: [], records: [], message: e.message };
    else throw e;
  }
  const alerts = await anomalies(id, range);
  if (!isCurrent()) return;

  if (missing) {
    // The activity summary is another component's endpoint; without it, show one page of records.
    const page = await api('v1/records', { 'user.id': id, limit: 50, ...range });
    if (!isCurrent()) return;
    view.replaceChildren(
      h(
        'section',
        { class: 'page identity' },
        head(),
        notAvailable('Activity summary not available', 'This server does not expose GET /v1/identities/:id/activity (404). Below: the latest records whose user.id is this identity.'),
        alerts,
        h('h2', {}, 'Latest records'),
        recordsTable(page.records, { empty: 'No record with this user.id.' }),
      ),
    );
    return;
  }

  const sum = activity.summary ?? {};
  const outcomes = sum.outcomes ?? {};
  const verdicts = Object.entries(sum.verdicts ?? {}).sort((a, b) => b[1] - a[1]);
  const cards = h(
    'div',
    { class: 'cards' },
    h('div', { class: 'card' }, h('span', { class: 'card-value' }, String(sum.records ?? 0)), h('span', { class: 'card-label' }, 'records')),
    h('div', { class: 'card' }, h('span', { class: 'card-value good' }, String(outcomes.success ?? 0)), h('span', { class: 'card-label' }, 'success')),
    h('div', { class: 'card' }, h('span', { class: 'card-value bad' }, String(outcomes.failure ?? 0)), h('span', { class: 'card-label' }, 'failure')),
    h('div', { class: 'card' }, h('span', { class: 'card-value' }, String(outcomes.unknown ?? 0)), h('span', { class: 'card-label' }, 'unknown outcome')),
    h('div', { class: 'card wide' }, facts([['First seen', sum.first_seen ? fmtTime(sum.first_seen) : '—'], ['Last seen', sum.last_seen ? fmtTime(sum.last_seen) : '—']])),
  );
  const verdictRow = h('p', { class: 'verdicts' }, verdicts.length ? verdicts.map(([v, n]) => h('span', { class: 'verdict-count' }, verdictBadge(v), ` ${n}`)) : h('span', { class: 'muted' }, 'no verdicts'));

  view.replaceChildren(
    h(
      'section',
      { class: 'page identity' },
      head(activity),
      activity.message ? h('p', { class: 'muted' }, activity.message) : null,
      cards,
      verdictRow,
      h('div', { class: 'panel' }, h('h3', {}, `Activity over time${activity.bucket ? ` (per ${activity.bucket})` : ''}`), activityChart(activity.timeline ?? []), h('p', { class: 'legend small' }, h('span', { class: 'swatch ok' }), ' requests ', h('span', { class: 'swatch fail' }), ' failures')),
      h(
        'div',
        { class: 'columns' },
        countTable('Resources', ['Path', 'Service', 'Count'], (sum.resources ?? []).map((r) => h('tr', {}, h('td', { class: 'mono wrap' }, r.path ?? ''), h('td', {}, r.service ?? ''), h('td', { class: 'num' }, String(r.count ?? ''))))),
        h(
          'div',
          { class: 'stack' },
          countTable('Sources', ['Layer', 'Count'], (sum.sources ?? []).map((r) => h('tr', {}, h('td', {}, sourceChips([r.source]), ' ', layerOf(r.source).label), h('td', { class: 'num' }, String(r.count ?? ''))))),
          countTable('Source IPs', ['IP', 'Count'], (sum.source_ips ?? []).map((r) => h('tr', {}, h('td', { class: 'mono' }, link(['search'], { 'source.ip': r.ip }, r.ip)), h('td', { class: 'num' }, String(r.count ?? ''))))),
        ),
      ),
      alerts,
      h('h2', {}, 'Records ', h('span', { class: 'small' }, link(['search'], { 'user.id': id, ...range }, 'search all'))),
      recordsTable(activity.records ?? [], { empty: 'No record in this range.' }),
    ),
  );
}
