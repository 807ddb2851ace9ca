import { api, ApiError } from '../api.js';
import { h, place, link, facts, loading, notAvailable } from '../dom.js';
import { LAYERS, layerOf, fmtTime, fmtDuration, fmtRef, get, verdictBadge, outcomeBadge, sourceChips, identityCell } from '../format.js';
import { recall } from '../state.js';

const STRENGTH = ['asserted', 'network', 'gateway', 'mtls', 'jwt'];
const strongestFirst = (claims) => [...claims].sort((a, b) => STRENGTH.indexOf(b.strength) - STRENGTH.indexOf(a.strength));

/** Start and end (ms) of a source event: join times, then ECS event.start/end/duration, then the timestamp. */
function timesOf(ev, fallbackIso) {
  const j = ev?.join ?? {};
  const e = ev?.ecs?.event ?? {};
  let start = Number.isFinite(j.startMs) ? j.startMs : Date.parse(e.start ?? ev?.timestamp ?? fallbackIso);
  let end = Number.isFinite(j.endMs) ? j.endMs : e.end ? Date.parse(e.end) : Number.isFinite(e.duration) ? start + e.duration / 1e6 : start;
  if (!Number.isFinite(start)) start = Date.parse(fallbackIso);
  if (!Number.isFinite(end) || end < start) end = start;
  return { start, end };
}

/**
 * A firewall event joined by address and time belongs to its session record, so the trace answer
 * does not carry it: find that session record (one small query) to show the session's extent.
 */
async function findSessionEvent(member, rec) {
  const ip = get(rec, 'source.ip');
  const at = Date.parse(member.timestamp);
  if (member.source !== 'panos' || !ip || !Number.isFinite(at)) return null;
  try {
    const page = await api('v1/records', { source: 'panos', type: 'session', 'source.ip': ip, from: new Date(at - 600_000).toISOString(), to: new Date(at + 1).toISOString(), limit: 50 });
    const session = page.records.find((r) => r.auditmesh?.members?.some((m) => m.event_id === member.event_id));
    if (!session) return null;
    const { auditmesh, ...ecs } = session;
    return {
      id: member.event_id,
      source: member.source,
      kind: member.kind,
      timestamp: member.timestamp,
      ecs,
      claims: (auditmesh.identity?.claims ?? []).filter((c) => c.eventId === member.event_id),
      ref: member.ref,
      recordId: auditmesh.record_id,
      viaSession: true,
    };
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) throw e;
    return null;
  }
}

/** The items of the timeline: one per member of the record, with its source event when known. */
async function timelineItems(rec, events) {
  const byId = new Map(events.map((e) => [e.id, e]));
  const members = rec.auditmesh?.members ?? [];
  const items = await Promise.all(
    members.map(async (m) => {
      let ev = byId.get(m.event_id) ?? null;
      if (!ev && m.joined_by === 'self' && (rec.auditmesh?.member_count ?? 0) === 1) {
        const { auditmesh, ...ecs } = rec;
        ev = { id: m.event_id, source: m.source, kind: m.kind, timestamp: m.timestamp, ecs, claims: auditmesh.identity?.claims ?? [], ref: m.ref, recordId: auditmesh.record_id };
      }
      if (!ev) ev = await findSessionEvent(m, rec);
      const claims = ev?.claims?.length ? ev.claims : (rec.auditmesh?.identity?.claims ?? []).filter((c) => c.eventId === m.event_id);
      return { member: m, event: ev, source: m.source, kind: m.kind, claims: strongestFirst(claims), ...timesOf(ev, m.timestamp) };
    }),
  );
  return items.sort((a, b) => a.start - b.start);
}

function claimsTable(claims, { withLayer = true } = {}) {
  if (!claims.length) return h('p', { class: 'muted' }, 'No identity claim.');
  return h(
    'table',
    { class: 'grid compact claims' },
    h('thead', {}, h('tr', {}, [withLayer ? 'Layer' : null, 'Method', 'Subject', 'Strength', 'Verdict', 'Reason'].filter(Boolean).map((c) => h('th', {}, c)))),
    h(
      'tbody',
      {},
      claims.map((c) =>
        h(
          'tr',
          {},
          withLayer ? h('td', {}, layerOf(c.source).label) : null,
          h('td', { class: 'mono' }, c.method),
          h('td', { class: 'mono wrap' }, c.subject),
          h('td', {}, c.strength),
          h('td', {}, verdictBadge(c.verdict)),
          h('td', { class: 'wrap' }, c.reason ?? ''),
        ),
      ),
    ),
  );
}

function claimList(claims) {
  if (!claims.length) return h('p', { class: 'muted' }, 'No identity claim at this layer.');
  return h(
    'ul',
    { class: 'claim-list' },
    claims.map((c) =>
      h(
        'li',
        {},
        h('div', {}, h('span', { class: 'mono strong wrap' }, c.subject), verdictBadge(c.verdict)),
        h('div', { class: 'muted small' }, `${c.method} · ${c.strength}${c.issuer ? ` · ${c.issuer}` : ''}`),
        c.reason ? h('div', { class: 'small' }, c.reason) : null,
        c.tokenSha256 ? h('div', { class: 'muted small mono wrap' }, `token sha256 ${c.tokenSha256}`) : null,
      ),
    ),
  );
}

function details(item, t0) {
  const ev = item.event;
  const l = layerOf(item.source);
  const m = item.member;
  return h(
    'div',
    { class: 'details-body', 'data-testid': 'event-details', 'data-event-id': m.event_id },
    h('h3', {}, `${l.label} · ${l.product}`, h('span', { class: 'muted' }, ` ${item.kind}`)),
    facts([
      ['Event time', fmtTime(new Date(item.start).toISOString())],
      ['Duration', item.end > item.start ? fmtDuration(item.end - item.start) : ''],
      ['Offset', `+${fmtDuration(item.start - t0)}`],
      ['Source reference', h('code', { 'data-testid': 'source-ref' }, fmtRef(m.ref ?? ev?.ref))],
      ['Joined by', m.joined_by],
      ['Event id', h('code', {}, m.event_id)],
      ['Belongs to record', ev?.viaSession ? h('span', {}, h('code', {}, ev.recordId), ' (firewall session)') : ''],
    ]),
    h('h4', {}, 'Identity this layer saw'),
    claimList(item.claims),
    h('h4', {}, 'Source event (ECS)'),
    ev ? h('pre', { class: 'json' }, JSON.stringify(ev.ecs, null, 2)) : h('p', { class: 'muted' }, 'The source event is not in this answer; the reference above points to the original.'),
  );
}

/** Time range of a set of items (ms), at least 1 ms wide. */
function extent(items) {
  const t0 = Math.min(...items.map((i) => i.start));
  const t1 = Math.max(...items.map((i) => i.end));
  return { t0, span: Math.max(1, t1 - t0) };
}

/**
 * The cross-layer timeline: one lane per layer (firewall → gateway → mesh → app), one bar per source
 * event positioned by its start and duration over `range`; bars outside the range are clipped.
 */
function timeline(items, range, onSelect) {
  const { t0, span } = range;
  const pct = (t) => ((t - t0) / span) * 100;
  const clamp = (v) => Math.min(100, Math.max(0, v));

  const axis = h('div', { class: 'tl-axis' }, h('div', { class: 'tl-label' }, h('span', { class: 'muted' }, fmtTime(new Date(t0).toISOString()).slice(11))));
  const ticks = h('div', { class: 'tl-track' });
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const tick = h('span', { class: `tl-tick${f === 1 ? ' last' : ''}` }, `+${fmtDuration(span * f)}`);
    ticks.append(place(tick, { left: `${f * 100}%` }));
  }
  axis.append(ticks);

  const lanes = [];
  const known = new Set(LAYERS.map((l) => l.source));
  const extra = [...new Set(items.map((i) => i.source).filter((x) => !known.has(x)))].map(layerOf);
  for (const l of [...LAYERS, ...extra]) {
    const mine = items.filter((i) => i.source === l.source);
    const track = h('div', { class: 'tl-track' });
    for (const f of [0.25, 0.5, 0.75]) track.append(place(h('span', { class: 'tl-grid' }), { left: `${f * 100}%` }));
    if (!mine.length) track.append(h('div', { class: 'tl-empty' }, 'not seen at this layer'));
    for (const it of mine) {
      const rawLeft = pct(it.start);
      const rawRight = pct(it.end);
      const left = clamp(rawLeft);
      const width = Math.max(0, clamp(rawRight) - left);
      const clipped = rawLeft < 0 || rawRight > 100;
      const top = it.claims[0];
      const bar = place(h('span', { class: `tl-bar layer-${l.layer}${it.end === it.start ? ' point' : ''}${clipped ? ' clipped' : ''}` }), { left: `${left}%`, width: `${width}%` });
      const label = h(
        'span',
        { class: 'tl-text' },
        top ? h('span', { class: 'tl-subject mono' }, top.subject) : h('span', { class: 'muted' }, 'no identity claim'),
        top ? verdictBadge(top.verdict) : null,
        it.claims.length > 1 ? h('span', { class: 'muted small' }, ` +${it.claims.length - 1} claim${it.claims.length > 2 ? 's' : ''}`) : null,
        h('span', { class: 'muted small' }, ` ${it.kind}${it.end > it.start ? ` · ${fmtDuration(it.end - it.start)}` : ''}`),
      );
      // Labels start at the bar, or end at it when the bar is near the right edge; never overflow.
      if (left > 55) place(label, { right: `${Math.max(0, 100 - left - width)}%`, 'max-width': `${left + width}%`, 'text-align': 'right' });
      else place(label, { left: `${left}%`, 'max-width': `${100 - left}%` });
      const row = h(
        'button',
        { type: 'button', class: 'tl-item', 'data-source': it.source, 'data-event-id': it.member.event_id, title: `${l.label}: ${fmtTime(new Date(it.start).toISOString())}${top ? ` · ${top.subject} (${top.verdict ?? 'no verdict'})` : ''}` },
        bar,
        label,
      );
      row.addEventListener('click', () => onSelect(it));
      track.append(row);
    }
    lanes.push(
      h(
        'div',
        { class: `tl-lane${mine.length ? '' : ' empty'}`, 'data-testid': 'lane', 'data-source': l.source, 'data-layer': l.layer },
        h('div', { class: 'tl-label' }, h('strong', {}, l.label), h('span', { class: 'muted small' }, l.product)),
        track,
      ),
    );
  }
  return h('div', { class: 'timeline', 'data-testid': 'timeline' }, axis, lanes);
}

function recordHeader(rec) {
  const id = rec.auditmesh?.identity ?? {};
  const method = get(rec, 'http.request.method');
  const status = get(rec, 'http.response.status_code');
  return h(
    'div',
    { class: 'record-head' },
    h('div', { class: 'request-line mono' }, method ? h('strong', {}, method) : h('strong', {}, rec.auditmesh?.record_type ?? 'record'), ' ', get(rec, 'url.path') ?? '', status !== undefined ? h('span', { class: `status status-${String(status).charAt(0)}` }, ` → ${status}`) : null),
    facts([
      ['Identity', identityCell(rec)],
      ['Identity method', id.method ? `${id.method} (${id.strength})` : ''],
      ['Issuer', id.issuer],
      ['Time', fmtTime(rec['@timestamp'])],
      ['Outcome', outcomeBadge(get(rec, 'event.outcome'))],
      ['Source IP', get(rec, 'source.ip')],
      ['Service', get(rec, 'service.name')],
      ['Layers', sourceChips(rec.auditmesh?.sources)],
      ['Record', h('code', {}, rec.auditmesh?.record_id)],
    ]),
    id.mismatch
      ? h(
          'div',
          { class: 'callout warn' },
          h('strong', {}, 'Layers name different principals: '),
          (id.mismatches ?? []).map((m, i) => h('span', {}, i ? '; ' : '', h('code', {}, m.a), ` (${m.methods?.[0]}) ≠ `, h('code', {}, m.b), ` (${m.methods?.[1]})`)),
        )
      : null,
  );
}

async function renderTimelinePage(view, rec, events, { title, isCurrent, others = [] }) {
  const items = await timelineItems(rec, events);
  if (!isCurrent()) return;
  const panel = h('aside', { class: 'details panel', 'data-testid': 'details' }, h('p', { class: 'muted' }, 'Select a bar to see the source event.'));
  const whole = extent(items);
  // A firewall session usually outlasts the request by far: offer the request's own extent too.
  const inner = items.filter((i) => i.source !== 'panos');
  const request = inner.length ? extent(inner) : whole;
  const zoomable = request.span * 3 < whole.span;
  let zoom = zoomable ? 'request' : 'all';
  let selectedId = null;
  const box = h('div', { class: 'panel timeline-panel' });
  const select = (it) => {
    selectedId = it.member.event_id;
    for (const el of box.querySelectorAll('.tl-item')) el.classList.toggle('selected', el.dataset.eventId === selectedId);
    panel.replaceChildren(details(it, whole.t0));
  };
  const draw = () => {
    const toggle = zoomable
      ? h(
          'div',
          { class: 'zoom', role: 'group', 'aria-label': 'time range' },
          [['request', 'Request'], ['all', 'Whole firewall session']].map(([z, label]) =>
            h('button', { type: 'button', class: `btn btn-small${zoom === z ? ' active' : ''}`, 'aria-pressed': String(zoom === z), onclick: () => ((zoom = z), draw()) }, label),
          ),
        )
      : null;
    box.replaceChildren(toggle ?? '', timeline(items, zoom === 'request' ? request : whole, select));
    if (selectedId) for (const el of box.querySelectorAll('.tl-item')) el.classList.toggle('selected', el.dataset.eventId === selectedId);
  };
  draw();
  view.replaceChildren(
    h(
      'section',
      { class: 'page trace' },
      h('p', { class: 'crumbs' }, link(['search'], null, '← Records')),
      title,
      others.length > 1
        ? h('p', { class: 'muted' }, `${others.length} records share this trace: `, others.map((r, i) => h('span', {}, i ? ' · ' : '', r.auditmesh.record_id === rec.auditmesh.record_id ? h('strong', {}, r.auditmesh.record_id) : link(['trace', get(r, 'trace.id')], { record: r.auditmesh.record_id }, r.auditmesh.record_id))))
        : null,
      recordHeader(rec),
      h('h2', {}, 'Across the layers'),
      h('div', { class: 'trace-body' }, box, panel),
      h('h2', {}, 'Identity claims'),
      h('div', { class: 'panel' }, claimsTable(strongestFirst(rec.auditmesh?.identity?.claims ?? []))),
    ),
  );
  // Open the event that carried the record's identity first: usually what the investigator came for.
  const chosen = items.find((i) => i.claims.some((c) => c.subject === rec.auditmesh?.identity?.subject && c.method === rec.auditmesh?.identity?.method)) ?? items[0];
  if (chosen) select(chosen);
}

export async function renderTrace(view, traceId, { params, isCurrent }) {
  view.replaceChildren(loading('Loading trace…'));
  let t;
  try {
    t = await api(`v1/traces/${encodeURIComponent(traceId ?? '')}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && !e.endpointMissing) {
      view.replaceChildren(notAvailable('No such trace', e.message));
      return;
    }
    throw e;
  }
  if (!isCurrent()) return;
  const wanted = params.get('record');
  const rec = t.records.find((r) => r.auditmesh?.record_id === wanted) ?? t.records[0];
  await renderTimelinePage(view, rec, t.events, { title: h('h1', {}, 'Trace ', h('code', { class: 'trace-id' }, t.trace_id)), isCurrent, others: t.records });
}

export async function renderRecord(view, recordId, { isCurrent }) {
  const rec = recall(recordId ?? '');
  if (!rec) {
    view.replaceChildren(
      h('section', { class: 'page' }, h('p', { class: 'crumbs' }, link(['search'], null, '← Records')), notAvailable('Record not loaded', 'Records without a trace id open from the search results (the API looks records up by trace id, not by record id). Search for it again and select it.')),
    );
    return;
  }
  await renderTimelinePage(view, rec, [], { title: h('h1', {}, `${rec.auditmesh.record_type === 'session' ? 'Firewall session' : 'Record'} `, h('code', {}, rec.auditmesh.record_id)), isCurrent });
}
