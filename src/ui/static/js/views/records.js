import { h, route } from '../dom.js';
import { fmtTime, get, identityCell, outcomeBadge, sourceChips } from '../format.js';
import { remember } from '../state.js';

/** Where a record opens: its trace (the cross-layer timeline) or, without a trace id, the record. */
export function recordHref(rec) {
  const t = get(rec, 'trace.id');
  const id = rec.auditmesh?.record_id;
  return t ? route(['trace', t], { record: id }) : route(['record', id]);
}

/** The records table (search results, identity activity, alert evidence). Rows open the trace view. */
export function recordsTable(records, { empty = 'No records match.' } = {}) {
  remember(records);
  if (!records.length) return h('p', { class: 'empty', 'data-testid': 'no-records' }, empty);
  const rows = records.map((r) => {
    const href = recordHref(r);
    const open = (ev) => {
      if (ev.target.closest('a')) return; // the identity link goes to the identity view
      if (ev.type === 'keydown' && ev.key !== 'Enter') return;
      location.hash = href;
    };
    const status = get(r, 'http.response.status_code');
    const path = get(r, 'url.path') ?? (r.auditmesh?.record_type === 'session' ? `${get(r, 'destination.ip') ?? ''}${get(r, 'destination.port') ? `:${get(r, 'destination.port')}` : ''}` : '');
    return h(
      'tr',
      { class: 'rec', tabindex: 0, 'data-record-id': r.auditmesh?.record_id, onclick: open, onkeydown: open },
      h('td', { class: 'nowrap mono' }, h('a', { href, class: 'plain' }, fmtTime(r['@timestamp']))),
      h('td', {}, identityCell(r)),
      h('td', { class: 'mono' }, get(r, 'http.request.method') ?? (r.auditmesh?.record_type === 'session' ? h('span', { class: 'muted' }, 'session') : '')),
      h('td', { class: 'path mono', title: path }, path),
      h('td', { class: `mono status status-${String(status ?? '').charAt(0) || 'none'}` }, status ?? ''),
      h('td', {}, outcomeBadge(get(r, 'event.outcome'))),
      h('td', {}, sourceChips(r.auditmesh?.sources)),
    );
  });
  return h(
    'table',
    { class: 'grid records', 'data-testid': 'records' },
    h('thead', {}, h('tr', {}, ['Time (UTC)', 'Identity', 'Method', 'Path', 'Status', 'Outcome', 'Sources'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows),
  );
}
