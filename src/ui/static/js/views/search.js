import { api } from '../api.js';
import { h, route, loading } from '../dom.js';
import { VERDICTS, isoToLocal, localToIso } from '../format.js';
import { recordsTable } from './records.js';

const FILTERS = ['from', 'to', 'user.id', 'source.ip', 'trace.id', 'verdict', 'q'];
const SIZES = [25, 50, 100, 200];
const DEFAULT_SIZE = 50;
const PRESETS = [
  ['', 'Any time'],
  ['1h', 'Last hour'],
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
];
const PRESET_MS = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };

// Cursors of the pages before the current one, for "Newer": only for the current filter.
const pages = { key: '', stack: [] };

function filterKey(params) {
  return FILTERS.map((f) => `${f}=${params.get(f) ?? ''}`).join('&') + `&limit=${params.get('limit') ?? ''}`;
}

function go(params) {
  location.hash = route(['search'], params);
}

function currentFilters(params) {
  const out = {};
  for (const f of [...FILTERS, 'limit']) if (params.get(f)) out[f] = params.get(f);
  return out;
}

function filterForm(params) {
  const field = (name, label, input) => h('label', { class: 'field' }, h('span', {}, label), input);
  const text = (name, placeholder, extra = {}) => h('input', { name, type: 'text', value: params.get(name) ?? '', placeholder, autocomplete: 'off', spellcheck: 'false', ...extra });
  const from = h('input', { name: 'from', type: 'datetime-local', step: 1, value: isoToLocal(params.get('from')) });
  const to = h('input', { name: 'to', type: 'datetime-local', step: 1, value: isoToLocal(params.get('to')) });
  const preset = h('select', { name: 'preset', 'aria-label': 'time preset' }, PRESETS.map(([v, l]) => h('option', { value: v }, l)));
  preset.addEventListener('change', () => {
    const ms = PRESET_MS[preset.value];
    if (!ms) {
      from.value = '';
      to.value = '';
      return;
    }
    const now = Date.now();
    from.value = isoToLocal(new Date(now - ms).toISOString());
    to.value = '';
  });
  const verdict = h('select', { name: 'verdict' }, h('option', { value: '' }, 'any'), VERDICTS.map((v) => h('option', { value: v, selected: params.get('verdict') === v }, v)));
  const limit = h('select', { name: 'limit', 'aria-label': 'page size' }, SIZES.map((n) => h('option', { value: n, selected: Number(params.get('limit') ?? DEFAULT_SIZE) === n }, `${n} per page`)));
  const form = h(
    'form',
    {
      class: 'filters',
      'data-testid': 'filters',
      onsubmit: (ev) => {
        ev.preventDefault();
        const fd = new FormData(form);
        const next = {};
        for (const f of FILTERS) {
          const v = String(fd.get(f) ?? '').trim();
          if (!v) continue;
          next[f] = f === 'from' || f === 'to' ? localToIso(v) : v;
        }
        if (Number(fd.get('limit')) !== DEFAULT_SIZE) next.limit = fd.get('limit');
        go(next);
      },
    },
    h('div', { class: 'filter-row' }, field('from', 'From (UTC)', from), field('to', 'To (UTC)', to), field('preset', 'Range', preset), field('verdict', 'Verdict', verdict)),
    h(
      'div',
      { class: 'filter-row' },
      field('user.id', 'User', text('user.id', 'user.id, e.g. alice')),
      field('source.ip', 'Source IP', text('source.ip', '198.51.100.7')),
      field('trace.id', 'Trace ID', text('trace.id', '32 hex digits', { class: 'mono' })),
      field('q', 'Text', text('q', 'path or user agent contains…')),
    ),
    h(
      'div',
      { class: 'filter-row actions' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Search'),
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => go({}) }, 'Clear'),
      limit,
    ),
  );
  return form;
}

export async function renderSearch(view, { params, isCurrent }) {
  const key = filterKey(params);
  if (pages.key !== key) {
    pages.key = key;
    pages.stack = [];
  }
  const cursor = params.get('cursor') ?? '';
  const results = h('div', { class: 'results' }, loading('Searching…'));
  const status = h('p', { class: 'status', 'data-testid': 'search-status' });
  view.replaceChildren(h('section', { class: 'page' }, h('h1', {}, 'Audit records'), filterForm(params), status, results));

  const query = { limit: DEFAULT_SIZE, ...currentFilters(params) };
  if (cursor) query.cursor = cursor;
  const t0 = performance.now();
  // One page only, whatever the store holds: the cursor brings the next one on request.
  const page = await api('v1/records', query);
  if (!isCurrent()) return;
  const table = recordsTable(page.records);
  const ms = Math.round(performance.now() - t0);
  const base = currentFilters(params);
  const nav = h(
    'div',
    { class: 'pager' },
    h('button', { type: 'button', class: 'btn', disabled: !cursor, 'data-testid': 'first-page', onclick: () => ((pages.stack = []), go(base)) }, '⇤ Newest'),
    h(
      'button',
      {
        type: 'button',
        class: 'btn',
        disabled: !cursor,
        'data-testid': 'prev-page',
        onclick: () => {
          const prev = pages.stack.pop();
          go(prev ? { ...base, cursor: prev } : base);
        },
      },
      '← Newer',
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'btn',
        disabled: !page.next_cursor,
        'data-testid': 'next-page',
        onclick: () => {
          pages.stack.push(cursor);
          go({ ...base, cursor: page.next_cursor });
        },
      },
      'Older →',
    ),
  );
  results.replaceChildren(table, nav);
  status.textContent = `${page.count} record${page.count === 1 ? '' : 's'}${cursor ? (pages.stack.length ? ` (page ${pages.stack.length + 1})` : ' (older page)') : ''}${page.next_cursor ? ', more available' : ''} · ${ms} ms`;
  status.dataset.loadMs = String(ms);
  status.dataset.count = String(page.count);
  status.dataset.hash = location.hash;
}
