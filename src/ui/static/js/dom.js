// DOM helpers. Data only ever reaches the page as text nodes or attribute values set through the
// DOM API: nothing here (or anywhere in the dashboard) assigns innerHTML/outerHTML or writes HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';
const FORBIDDEN = new Set(['innerHTML', 'outerHTML', 'style', 'srcdoc']);

function setProps(el, props) {
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (FORBIDDEN.has(k)) throw new Error(`dom: refusing to set ${k}`);
    if (k.startsWith('on')) {
      if (typeof v !== 'function') throw new Error(`dom: ${k} must be a function`);
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : String(v));
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
    else if (k === 'href' && !/^(#|\.\/|\.\.\/|\/[^/])/.test(String(v))) throw new Error('dom: only relative links');
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Create an HTML element: h('td', { class: 'x' }, 'text', childNode, [more]). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

/** Create an SVG element. */
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props);
  append(el, children);
  return el;
}

/** Position an element through the CSSOM (allowed by the CSP, unlike style attributes). */
export function place(el, styles) {
  for (const [k, v] of Object.entries(styles)) el.style.setProperty(k, v);
  return el;
}

/** A link to a dashboard route: the path segments are URI-encoded, the query built by URLSearchParams. */
export function route(segments, params) {
  const path = segments.map((p) => encodeURIComponent(String(p))).join('/');
  const q = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString() : '';
  return `#/${path}${q ? `?${q}` : ''}`;
}

export function link(segments, params, ...children) {
  return h('a', { href: route(segments, params) }, ...children);
}

/** A panel that says a feature is not available on this server (an endpoint answered 404). */
export function notAvailable(title, detail) {
  return h('section', { class: 'panel panel-muted', 'data-testid': 'not-available' }, h('h3', {}, title), h('p', {}, detail));
}

export function errorPanel(err) {
  return h(
    'section',
    { class: 'panel panel-error', role: 'alert', 'data-testid': 'error' },
    h('h3', {}, err?.status ? `The server answered ${err.status}` : 'Something went wrong'),
    h('p', {}, err?.message ?? String(err)),
  );
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading' }, text);
}

/** A definition list from [label, value] pairs; values may be nodes. Empty values are skipped. */
export function facts(pairs) {
  const dl = h('dl', { class: 'facts' });
  for (const [k, v] of pairs) {
    if (v === undefined || v === null || v === '') continue;
    dl.append(h('dt', {}, k), h('dd', {}, v));
  }
  return dl;
}
