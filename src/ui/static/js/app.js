// auditmesh investigation dashboard: a hash router over views that each talk only to the /v1 API.
import { api, session, setUnauthorizedHandler, ApiError } from './api.js';
import { h, errorPanel } from './dom.js';
import { renderSearch } from './views/search.js';
import { renderTrace, renderRecord } from './views/trace.js';
import { renderIdentity } from './views/identity.js';
import { renderAlerts, renderAlert } from './views/alerts.js';

const view = document.getElementById('view');

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const qi = raw.indexOf('?');
  const path = (qi < 0 ? raw : raw.slice(0, qi)).split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return { path, params: new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1)) };
}

function showChrome(signedIn) {
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('who').hidden = !signedIn;
  if (!signedIn) return;
  const c = session.claims() ?? {};
  const roles = Array.isArray(c.roles) ? c.roles.join(', ') : (c.roles ?? '');
  const exp = c.exp ? ` · until ${new Date(c.exp * 1000).toISOString().slice(11, 16)}Z` : '';
  document.getElementById('who-name').textContent = `${c.sub ?? 'signed in'}${roles ? ` (${roles})` : ''}${exp}`;
  const section = parseHash().path[0] ?? 'search';
  const active = section === 'alerts' ? 'alerts' : 'search';
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === active);
}

function renderLogin(message) {
  showChrome(false);
  const input = h('textarea', { id: 'token', name: 'token', rows: 5, spellcheck: 'false', autocomplete: 'off', placeholder: 'eyJhbGciOi…', required: true });
  const err = h('p', { class: 'login-error', role: 'alert', 'data-testid': 'login-error' }, message ?? '');
  err.hidden = !message;
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'login',
      'data-testid': 'login',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const token = input.value.trim().replace(/^Bearer\s+/i, '');
        if (!token) return;
        button.disabled = true;
        session.signIn(token);
        try {
          // The same check as every API call: the server verifies the token and its role.
          await api('v1/records', { limit: 1 });
          const next = sessionStorage.getItem('auditmesh.next') ?? '#/search';
          sessionStorage.removeItem('auditmesh.next');
          if (location.hash === next) route();
          else location.hash = next;
        } catch (e) {
          if (!(e instanceof ApiError && e.status === 401)) {
            err.textContent = e.message;
            err.hidden = false;
          }
        } finally {
          button.disabled = false;
        }
      },
    },
    h('h1', {}, 'Sign in to auditmesh'),
    h('p', { class: 'muted' }, 'Paste an API bearer token. The dashboard uses the same login as the API: the token stays in this tab (session storage) and is sent only to this server.'),
    h('label', { for: 'token' }, 'Bearer token'),
    input,
    err,
    h('div', { class: 'row' }, button),
    h('p', { class: 'hint' }, 'Local installs mint one with ', h('code', {}, 'auditmesh token --role auditor'), '.'),
  );
  view.replaceChildren(form);
  input.focus();
}

let generation = 0;

async function route() {
  const gen = ++generation;
  const { path, params } = parseHash();
  if (path[0] === 'login' || !session.token) {
    if (path[0] !== 'login' && location.hash && location.hash !== '#/') sessionStorage.setItem('auditmesh.next', location.hash);
    renderLogin(session.takeMessage());
    return;
  }
  showChrome(true);
  const ctx = { params, isCurrent: () => gen === generation };
  try {
    switch (path[0] ?? 'search') {
      case 'search':
        return await renderSearch(view, ctx);
      case 'trace':
        return await renderTrace(view, path[1], ctx);
      case 'record':
        return await renderRecord(view, path[1], ctx);
      case 'identity':
        return await renderIdentity(view, path[1], ctx);
      case 'alerts':
        return path[1] ? await renderAlert(view, path[1], ctx) : await renderAlerts(view, ctx);
      default:
        view.replaceChildren(errorPanel(new Error(`no such page: ${path.join('/')}`)));
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return; // the handler already went to the login screen
    if (ctx.isCurrent()) view.replaceChildren(errorPanel(e));
  }
}

setUnauthorizedHandler((message) => {
  session.signOut(message);
  if (location.hash !== '#/login') sessionStorage.setItem('auditmesh.next', location.hash || '#/search');
  renderLogin(session.takeMessage());
  history.replaceState(null, '', '#/login');
});

document.getElementById('logout').addEventListener('click', () => {
  session.signOut();
  location.hash = '#/login';
});
window.addEventListener('hashchange', route);
route();
