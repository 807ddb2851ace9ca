import { h, link } from './dom.js';

/** The layers of a request, outside in, with the source type that reports each. */
export const LAYERS = [
  { source: 'panos', layer: 'firewall', label: 'Firewall', product: 'PAN-OS' },
  { source: 'tyk', layer: 'gateway', label: 'Gateway', product: 'Tyk' },
  { source: 'envoy', layer: 'mesh', label: 'Mesh', product: 'Envoy / Istio' },
  { source: 'otlp', layer: 'app', label: 'App', product: 'OpenTelemetry' },
];
export const layerOf = (source) => LAYERS.find((l) => l.source === source) ?? { source, layer: 'other', label: source, product: source };

export const VERDICTS = ['verified', 'trusted_upstream', 'unverifiable', 'no_token', 'invalid_signature', 'expired', 'not_yet_valid', 'wrong_audience', 'unknown_issuer', 'malformed'];
const VERDICT_TONE = {
  verified: 'good',
  trusted_upstream: 'ok',
  unverifiable: 'neutral',
  no_token: 'neutral',
  invalid_signature: 'bad',
  expired: 'warn',
  not_yet_valid: 'warn',
  wrong_audience: 'bad',
  unknown_issuer: 'warn',
  malformed: 'bad',
};

export function verdictBadge(verdict) {
  const v = verdict ?? 'none';
  const tone = VERDICT_TONE[v] ?? 'neutral';
  return h('span', { class: `badge tone-${tone}`, 'data-verdict': v, title: `identity verdict: ${v}` }, v.replace(/_/g, ' '));
}

export function severityBadge(sev) {
  const s = String(sev ?? 'unknown').toLowerCase();
  const tone = { critical: 'bad', high: 'bad', medium: 'warn', low: 'ok', info: 'neutral' }[s] ?? 'neutral';
  return h('span', { class: `badge tone-${tone}`, 'data-severity': s }, s);
}

export function outcomeBadge(outcome) {
  const o = outcome ?? 'unknown';
  return h('span', { class: `outcome outcome-${['success', 'failure'].includes(o) ? o : 'unknown'}` }, o);
}

export function sourceChips(sources) {
  return h(
    'span',
    { class: 'chips' },
    LAYERS.filter((l) => sources?.includes(l.source)).map((l) => h('span', { class: `chip layer-${l.layer}`, title: `${l.label} (${l.product})` }, l.source)),
    (sources ?? []).filter((s) => !LAYERS.some((l) => l.source === s)).map((s) => h('span', { class: 'chip' }, s)),
  );
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** ISO time in UTC, to the millisecond: 2026-11-01 09:36:24.929Z. */
export function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso ?? '';
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}Z`;
}

export function fmtDuration(ms) {
  if (!Number.isFinite(ms)) return '';
  if (ms === 0) return '0 ms';
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 1000) return `${Math.round(ms * 10) / 10} ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10} s`;
  return `${Math.round(ms / 6000) / 10} min`;
}

/** Where a source event came from: Kafka coordinates or file:line. */
export function fmtRef(ref) {
  if (!ref) return '';
  if (ref.topic !== undefined) return `kafka ${ref.topic}/${ref.partition ?? '?'}@${ref.offset ?? '?'}${ref.index !== undefined ? ` #${ref.index}` : ''}`;
  if (ref.file !== undefined) return `${ref.file}:${ref.line ?? '?'}${ref.index !== undefined ? ` #${ref.index}` : ''}`;
  return JSON.stringify(ref);
}

export const get = (obj, path) => path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);

const HOUR = 3600e3;

/** The day around a moment (the hour it is in ± 12 h), as from/to of an identity link. */
export function rangeAround(isoFrom, isoTo = isoFrom) {
  const a = Date.parse(isoFrom);
  const b = Date.parse(isoTo);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return null;
  return { from: new Date(Math.floor(a / HOUR) * HOUR - 12 * HOUR).toISOString(), to: new Date(Math.floor(b / HOUR) * HOUR + 13 * HOUR).toISOString() };
}

/**
 * The identity cell of a record: subject (links to the identity view around the record's time) and
 * the verdict badge. The activity API keys identities by user.id, which records set to that subject.
 */
export function identityCell(rec) {
  const id = rec?.auditmesh?.identity ?? {};
  const key = rec?.user?.id ?? id.subject;
  return h(
    'span',
    { class: 'identity' },
    id.subject ? link(['identity', key], rangeAround(rec['@timestamp']), id.subject) : h('span', { class: 'muted' }, 'anonymous'),
    ' ',
    verdictBadge(id.verdict),
    id.mismatch ? h('span', { class: 'badge tone-warn', title: 'layers name different principals' }, 'mismatch') : null,
  );
}

/** `datetime-local` value (taken as UTC) ↔ ISO 8601. */
export function localToIso(v) {
  if (!v) return '';
  const iso = /Z$/.test(v) ? v : `${v.length === 16 ? `${v}:00` : v}Z`;
  return Number.isNaN(Date.parse(iso)) ? '' : new Date(iso).toISOString();
}
export function isoToLocal(iso) {
  if (!iso || Number.isNaN(Date.parse(iso))) return '';
  return new Date(iso).toISOString().slice(0, 16);
}
