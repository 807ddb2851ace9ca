/**
 * The investigation dashboard in real headless Chromium, against auditmesh started in-process on
 * port 0 with a temporary embedded store, loaded with the bundled samples through the service's own
 * ingest path (POST /v1/ingest/:type: parse, verify, correlate, store, and the alerting engine, which
 * `auditmesh ingest` in another process would not run). Screenshots and the search timings go to
 * test-artifacts/ui/ (gitignored).
 *
 * Chromium: CHROMIUM_PATH, default /usr/bin/chromium (Debian's package).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as jose from 'jose';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startService, type Service } from '../../src/main';
import { loadConfig } from '../../src/config/load';
import { LOCAL_ISSUER, localSigningKey, mintToken } from '../../src/api/auth';
import { envoyJsonLine } from '../fixtures/skeleton';

jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, '../..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'ui');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SAMPLES: [string, string][] = [
  ['panos', 'panos-traffic.log'],
  ['tyk', 'tyk-analytics.jsonl'],
  ['envoy', 'envoy-access.log'],
  ['otlp', 'otlp-spans.jsonl'],
];
const XSS_TRACE = 'abcdef0123456789abcdef0123456789';
const XSS_PATH = '/api/<img src=x onerror=window.__xss=1>';
const XSS_PEER = 'spiffe://cluster.local/ns/x/sa/<b onmouseover=window.__xss=2>';

describe('ui > investigation dashboard in headless Chromium', () => {
  let dir: string;
  let dataDir: string;
  let svc: Service;
  let base: string;
  let token: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  const timings: Record<string, unknown> = {};

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  const get = (p: string, tok = token) => fetch(`${base}${p}`, { headers: { authorization: `Bearer ${tok}` } });
  /** True when the server has the endpoint (not the API's own "no such endpoint" 404). */
  const hasEndpoint = async (p: string) => {
    const r = await get(p);
    if (r.status !== 404) return true;
    const body = (await r.json().catch(() => ({}))) as { message?: string };
    return body.message !== 'no such endpoint';
  };
  const signIn = async () => {
    await page.goto(`${base}/ui/#/login`);
    await page.locator('#token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('tr.rec').first().waitFor();
  };
  /** Open a dashboard route; the same route again reloads (a hash navigation to itself is a no-op). */
  const open = async (hash: string) => {
    const url = `${base}/ui/${hash}`;
    if (page.url() === url) await page.reload();
    else await page.goto(url);
  };
  /** Open the search with these parameters and wait for its results (not the previous page's). */
  const search = async (params: string) => {
    await open(`#/search?${params}`);
    await page.locator(`[data-testid=search-status][data-count][data-hash="#/search?${params}"]`).waitFor();
  };

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH`);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ui-dashboard-'));
    dataDir = path.join(dir, 'data');
    const env = { AUDITMESH_DATA_DIR: dataDir, AUDITMESH_CONFIG: path.join(ROOT, 'samples', 'auditmesh.yaml'), LOG_LEVEL: 'error' };
    const saved = { ...process.env };
    Object.assign(process.env, env, { PORT: '0' });
    delete process.env.KAFKA_BROKERS;
    delete process.env.ELASTICSEARCH_URL;
    try {
      svc = await startService(loadConfig());
    } finally {
      process.env = saved;
    }
    base = `http://127.0.0.1:${svc.port}`;
    token = await mintToken(dataDir, { role: 'auditor', subject: 'ui-test-auditor', ttlSeconds: 3600, audience: 'auditmesh' });
    const admin = await mintToken(dataDir, { role: 'admin', subject: 'ui-test-loader', ttlSeconds: 600, audience: 'auditmesh' });
    const ingest = async (type: string, body: string | Buffer) => {
      const res = await fetch(`${base}/v1/ingest/${type}`, { method: 'POST', headers: { authorization: `Bearer ${admin}` }, body });
      if (res.status !== 202) throw new Error(`ingest ${type} failed: ${res.status} ${await res.text()}`);
    };
    for (const [type, file] of SAMPLES) await ingest(type, fs.readFileSync(path.join(ROOT, 'samples', file)));
    // A record whose path, user agent and mesh identity carry markup: it must show as text.
    await ingest('envoy', envoyJsonLine({ path: XSS_PATH, user_agent: '<script>window.__xss=3</script>', request_id: 'xss-req-1', traceparent: `00-${XSS_TRACE}-1a2b3c4d5e6f7a8b-01`, start_time: '2026-11-01T10:30:00.000Z', downstream_peer_uri_san: XSS_PEER }));

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
    context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    // Every API call the dashboard makes, for the artifacts (what a page costs the store).
    fs.writeFileSync(path.join(ARTIFACTS, 'requests.log'), '');
    page.on('response', (r) => {
      if (r.url().includes('/v1/')) fs.appendFileSync(path.join(ARTIFACTS, 'requests.log'), `${r.status()} ${r.request().method()} ${r.url().replace(base, '')}\n`);
    });
    page.on('console', (m) => {
      // 404s of endpoints that do not exist yet are expected (the views degrade); CSP violations are not.
      if (m.type() === 'error' && !/status of (401|404)/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
  });

  afterAll(async () => {
    fs.writeFileSync(path.join(ARTIFACTS, 'timings.json'), JSON.stringify(timings, null, 2) + '\n');
    await browser?.close();
    await svc?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    // No script errors and no Content-Security-Policy violations on any page.
    expect(problems).toEqual([]);
  });

  it('serves the dashboard at /ui/ with a Content-Security-Policy, and / redirects there', async () => {
    const root = await fetch(`${base}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/ui/');
    const bare = await fetch(`${base}/ui`, { redirect: 'manual' });
    expect(bare.headers.get('location')).toBe('/ui/');
    const ui = await fetch(`${base}/ui/`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toMatch(/text\/html/);
    expect(ui.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(ui.headers.get('content-security-policy')).not.toMatch(/unsafe-inline|unsafe-eval/);
    const js = await fetch(`${base}/ui/js/app.js`);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    // The files carry no data: no token needed. The data needs one.
    expect((await fetch(`${base}/v1/records`)).status).toBe(401);
  });

  it('shows the login screen and keeps a rejected token out, with the server\'s message', async () => {
    await page.goto(`${base}/`);
    await page.locator('[data-testid=login]').waitFor();
    await shot('01-login');
    await page.locator('#token').fill('not.a.token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectText('[data-testid=login-error]', /token signature or format invalid/);
    expect(await page.evaluate('sessionStorage.getItem("auditmesh.token")')).toBeNull();
  });

  it('signs in and searches records one page at a time (timings recorded, not asserted)', async () => {
    const t0 = Date.now();
    await signIn();
    timings.signInToFirstRowsMs = Date.now() - t0;
    expect(await page.evaluate('sessionStorage.getItem("auditmesh.token")')).toBe(token);
    await expectText('.who', /ui-test-auditor \(auditor\)/);
    const rows = page.locator('[data-testid=records] tr.rec');
    expect(await rows.count()).toBe(50);
    await shot('02-search');

    // Cold load of the search page, as a user opening a bookmark: navigation to rendered rows.
    const t1 = Date.now();
    await open('#/search?limit=200');
    await page.reload();
    await page.locator('[data-testid=search-status][data-count][data-hash="#/search?limit=200"]').waitFor();
    timings.searchColdLoadMs = Date.now() - t1;
    timings.searchApiAndRenderMs = Number(await page.locator('[data-testid=search-status]').getAttribute('data-load-ms'));
    timings.navigation = await page.evaluate('(() => { const n = performance.getEntriesByType("navigation")[0]; return n && { domContentLoadedMs: Math.round(n.domContentLoadedEventEnd), loadMs: Math.round(n.loadEventEnd), transferBytes: n.transferSize }; })()');
    timings.recordsRequests = await page.evaluate('performance.getEntriesByType("resource").filter((r) => r.name.includes("/v1/records")).map((r) => ({ url: r.name.replace(location.origin, ""), durationMs: Math.round(r.duration), bytes: r.transferSize }))');
    // Whatever the store holds, a search page is one request for one page.
    expect(timings.recordsRequests).toHaveLength(1);

    // Pagination with the cursor: the next page starts where the first ended.
    await search('');
    const firstPageFirst = await rows.first().getAttribute('data-record-id');
    await page.getByTestId('next-page').click();
    await page.locator('[data-testid=search-status]', { hasText: 'page 2' }).waitFor();
    expect(await rows.first().getAttribute('data-record-id')).not.toBe(firstPageFirst);
    await page.getByTestId('prev-page').click();
    await page.locator('[data-testid=search-status]', { hasText: /^50 records, more/ }).waitFor();
    expect(await rows.first().getAttribute('data-record-id')).toBe(firstPageFirst);

    // Filters through the form: verdict.
    await page.locator('select[name=verdict]').selectOption('invalid_signature');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('[data-testid=search-status][data-count="3"]').waitFor();
    expect(await page.locator('tr.rec [data-verdict=invalid_signature]').count()).toBe(3);
  });

  it('opens a verified request as a timeline across firewall, gateway, mesh and app', async () => {
    await search('verdict=verified&limit=25');
    await page.locator('tr.rec td').first().click(); // the time cell (the identity cell links elsewhere)
    await page.locator('[data-testid=timeline]').waitFor();
    for (const source of ['panos', 'tyk', 'envoy', 'otlp']) {
      expect(await page.locator(`[data-testid=lane][data-source=${source}] .tl-item`).count()).toBeGreaterThan(0);
    }
    const lanes = await page.evaluate('[...document.querySelectorAll("[data-testid=lane]")].map((e) => e.dataset.layer)');
    expect(lanes).toEqual(['firewall', 'gateway', 'mesh', 'app']);
    // The gateway verified the JWT: its bar names the subject with the verdict.
    expect(await page.locator('[data-testid=lane][data-source=tyk] .tl-item [data-verdict=verified]').count()).toBe(1);
    // The details panel opened on the identity's event, with its file reference.
    await expectText('[data-testid=event-details] [data-testid=source-ref]', /^http:\d+$/); // HTTP ingest: the line of the request body
    await page.locator('[data-testid=lane][data-source=envoy] .tl-item').first().click();
    await expectText('[data-testid=event-details] h3', /Mesh/);
    await expectText('[data-testid=event-details] [data-testid=source-ref]', /^http:\d+$/);
    // The firewall event joined by address and time shows its session (found through the records API).
    await page.locator('[data-testid=lane][data-source=panos] .tl-item').first().click();
    await expectText('[data-testid=event-details]', /firewall session/);
    await page.locator('[data-testid=lane][data-source=tyk] .tl-item').first().click();
    await shot('03-trace-verified');
  });

  it('shows the forged-token request failing verification at the gateway and never reaching the mesh', async () => {
    await search('verdict=invalid_signature');
    await page.locator('tr.rec td').first().click(); // the time cell (the identity cell links elsewhere)
    await page.locator('[data-testid=timeline]').waitFor();
    expect(await page.locator('[data-testid=lane][data-source=tyk] .tl-item [data-verdict=invalid_signature]').count()).toBe(1);
    expect(await page.locator('[data-testid=lane][data-source=panos] .tl-item').count()).toBe(1);
    expect(await page.locator('[data-testid=lane][data-source=envoy] .tl-item').count()).toBe(0);
    expect(await page.locator('[data-testid=lane][data-source=otlp] .tl-item').count()).toBe(0);
    await expectText('[data-testid=event-details]', /signature does not verify/);
    await shot('04-trace-forged-token');
  });

  it('goes from a record to its identity: activity chart, resources, sources and anomalies', async () => {
    await search('verdict=verified&user.id=carol&limit=5');
    await page.locator('tr.rec td').first().click(); // the time cell (the identity cell links elsewhere)
    await page.locator('.record-head .identity a').click();
    await expectText('[data-testid=identity-name]', /^carol$/);
    if (await hasEndpoint('/v1/identities/carol/activity')) {
      await page.locator('[data-testid=activity-chart]').waitFor();
      // The link carries the day around the record: its bucket has requests.
      expect(await page.locator('[data-testid=activity-chart] .bar').count()).toBeGreaterThan(0);
      expect(await page.locator('[data-testid=activity-chart] .bar:not([data-count="0"])').count()).toBeGreaterThan(0);
      expect(await page.locator('.identity.page .panel table tbody tr').count()).toBeGreaterThan(0); // resources, sources, IPs
      await page.locator('[data-testid=anomalies], [data-testid=not-available]').first().waitFor();
    } else {
      await expectText('[data-testid=not-available]', /Activity summary not available/);
      expect(await page.locator('[data-testid=records] tr.rec').count()).toBeGreaterThan(0);
    }
    await shot('05-identity');
  });

  it('renders the identity activity contract: bars from the timeline, escaped resources', async () => {
    const activity = {
      identity: 'carol',
      from: '2026-11-01T09:00:00.000Z',
      to: '2026-11-01T10:00:00.000Z',
      summary: {
        records: 18,
        first_seen: '2026-11-01T09:01:15.597Z',
        last_seen: '2026-11-01T09:36:24.929Z',
        resources: [
          { path: '/api/orders', service: 'orders', count: 9 },
          { path: XSS_PATH, service: 'orders', count: 1 },
        ],
        sources: [
          { source: 'tyk', count: 18 },
          { source: 'envoy', count: 18 },
        ],
        outcomes: { success: 13, failure: 5, unknown: 0 },
        verdicts: { verified: 18 },
        source_ips: [{ ip: '198.51.100.77', count: 18 }],
      },
      timeline: Array.from({ length: 12 }, (_, i) => ({ bucket: new Date(Date.parse('2026-11-01T09:00:00Z') + i * 300_000).toISOString(), count: 1 + ((i * 7) % 5), failures: i % 3 === 0 ? 1 : 0 })),
      records: [],
    };
    const activityUrl = /\/v1\/identities\/[^/]+\/activity/;
    await page.route(activityUrl, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(activity) }));
    try {
      await open('#/identity/carol');
      await page.locator('[data-testid=activity-chart]').waitFor();
      expect(await page.locator('[data-testid=activity-chart] .bar').count()).toBe(12);
      expect(await page.locator('[data-testid=activity-chart] .bar-fail').count()).toBe(4);
      await expectText('.identity.page', /\/api\/<img src=x onerror=window.__xss=1>/);
      expect(await page.locator('main img').count()).toBe(0);
      await shot('06-identity-contract');
    } finally {
      await page.unroute(activityUrl);
    }
  });

  it('lists alerts and follows one to its evidence and on to the trace (or says alerts are not available)', async () => {
    await open('#/search');
    await page.getByRole('link', { name: 'Alerts' }).click();
    if (!(await hasEndpoint('/v1/alerts'))) {
      await expectText('[data-testid=not-available]', /Alerts are not available on this server/);
      await shot('07-alerts');
      return;
    }
    await page.locator('tr.alert-row').first().waitFor();
    expect(await page.locator('tr.alert-row').count()).toBeGreaterThan(0);
    await shot('07-alerts');
    // The mismatch alert of the key that also presented the forged token: its evidence has that request.
    await page.locator('tr.alert-row', { hasText: 'alice-laptop' }).locator('td').first().click();
    await page.locator('[data-testid=evidence] tr.rec').first().waitFor();
    expect(await page.locator('[data-testid=evidence] tr.rec').count()).toBeGreaterThan(0);
    await shot('08-alert-evidence');
    await page.locator('[data-testid=evidence] tr.rec', { has: page.locator('[data-verdict=invalid_signature]') }).locator('td').first().click();
    await page.locator('[data-testid=timeline]').waitFor();
    expect(await page.locator('[data-testid=lane][data-source=tyk] [data-verdict=invalid_signature]').count()).toBe(1);
    await shot('09-alert-trace');
  });

  it('follows the alert contract: alert → its records (resolved through the records API) → trace', async () => {
    const forged = (await (await get('/v1/records?verdict=invalid_signature')).json()) as { records: { '@timestamp': string; auditmesh: { record_id: string }; user: { id: string } }[] };
    const target = forged.records[0]!;
    const alert = {
      id: 'al-forged-1',
      rule: 'forged_token',
      severity: 'high',
      description: `Token with an invalid signature presented for ${target.user.id} <script>window.__xss=4</script>`,
      identity: target.user.id,
      source_ip: '198.51.100.77',
      first_seen: target['@timestamp'],
      last_seen: target['@timestamp'],
      count: 1,
      status: 'open',
      record_ids: [target.auditmesh.record_id],
    };
    const list = /\/v1\/alerts(\?|$)/;
    const one = /\/v1\/alerts\/[^/?]+/;
    await page.route(list, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ alerts: [alert], next_cursor: null }) }));
    await page.route(one, (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(alert) }));
    try {
      await open('#/alerts');
      await page.locator('tr.alert-row').first().waitFor();
      await shot('10-alerts-contract');
      await page.locator('tr.alert-row td').first().click();
      await page.locator('[data-testid=evidence] tr.rec').first().waitFor();
      expect(await page.locator('[data-testid=evidence] tr.rec').count()).toBe(1);
      await expectText('.lead', /<script>window.__xss=4<\/script>/);
      await shot('11-alert-contract-evidence');
      await page.locator('[data-testid=evidence] tr.rec td').first().click();
      await page.locator('[data-testid=timeline]').waitFor();
      expect(await page.locator('[data-testid=lane][data-source=tyk] [data-verdict=invalid_signature]').count()).toBe(1);
    } finally {
      await page.unroute(list);
      await page.unroute(one);
    }
  });

  it('shows markup in records as text, never as HTML (path, user agent, identity)', async () => {
    await search('q=onerror');
    const row = page.locator('[data-testid=records] tr.rec');
    expect(await row.count()).toBe(1);
    await expectText('[data-testid=records] td.path', new RegExp(XSS_PATH.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    await shot('12-xss-search');
    await row.first().locator('td').first().click();
    await page.locator('[data-testid=timeline]').waitFor();
    await page.locator('[data-testid=lane][data-source=envoy] .tl-item').first().click();
    await expectText('[data-testid=event-details]', /<b onmouseover=window.__xss=2>/);
    await expectText('.record-head .request-line', /<img src=x onerror/);
    expect(await page.locator('main img, main script, main b').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    await shot('13-xss-trace');
  });

  it('returns to the login screen with the server\'s message when the token is refused', async () => {
    const { privateKey, kid } = await localSigningKey(dataDir);
    const now = Math.floor(Date.now() / 1000);
    const expired = await new jose.SignJWT({ roles: ['auditor'] })
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
      .setIssuer(LOCAL_ISSUER)
      .setAudience('auditmesh')
      .setSubject('ui-test-auditor')
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(privateKey);
    await page.evaluate(`sessionStorage.setItem("auditmesh.token", ${JSON.stringify(expired)})`);
    await open('#/search?verdict=expired');
    await expectText('[data-testid=login-error]', /token expired/);
    expect(await page.evaluate('sessionStorage.getItem("auditmesh.token")')).toBeNull();
    // Signing in again goes back to where the user was.
    await page.locator('#token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-testid=search-status][data-count="3"]').waitFor();
    expect(page.url()).toMatch(/#\/search\?verdict=expired$/);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('[data-testid=login]').waitFor();
    expect(await page.evaluate('sessionStorage.getItem("auditmesh.token")')).toBeNull();
  });

  async function expectText(selector: string, re: RegExp): Promise<void> {
    const loc = page.locator(selector).first();
    await loc.waitFor();
    // Re-read until it matches (views render asynchronously), then assert for the message.
    const deadline = Date.now() + 5000;
    let text = (await loc.textContent()) ?? '';
    while (!re.test(text) && Date.now() < deadline) {
      await page.waitForTimeout(50);
      text = (await loc.textContent()) ?? '';
    }
    expect(text).toMatch(re);
  }
});

describe('ui > dashboard sources', () => {
  const STATIC = path.join(ROOT, 'src', 'ui', 'static');
  const files = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));

  it('has no HTML sinks, inline scripts or inline styles, and loads nothing from another origin', () => {
    const problems: string[] = [];
    for (const f of files(STATIC)) {
      const text = fs.readFileSync(f, 'utf8');
      const rel = path.relative(ROOT, f);
      if (f.endsWith('.js')) {
        // dom.js names the sinks it refuses; everything else must not mention them at all.
        const code = path.basename(f) === 'dom.js' ? text.replace(/const FORBIDDEN = .*\n/, '').replace(/^\/\/.*$/gm, '') : text;
        for (const sink of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'eval(', 'new Function', 'srcdoc']) if (code.includes(sink)) problems.push(`${rel}: ${sink}`);
      }
      if (f.endsWith('.html')) {
        if (/<script(?![^>]*\bsrc=)[^>]*>/.test(text)) problems.push(`${rel}: inline <script>`);
        if (/\sstyle=|<style/.test(text)) problems.push(`${rel}: inline style`);
        if (/\son[a-z]+=/.test(text)) problems.push(`${rel}: inline event handler`);
      }
      if (/(src|href)=["']?(https?:)?\/\//.test(text) || /url\(\s*["']?(https?:)?\/\//.test(text) || /import\s[^;]*from\s+["'](https?:)?\/\//.test(text)) problems.push(`${rel}: loads from another origin`);
    }
    expect(problems).toEqual([]);
  });
});
