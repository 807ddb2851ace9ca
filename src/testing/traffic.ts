/**
 * Labeled synthetic traffic for the alert rules: a benign baseline (people with habits — usual
 * hours, addresses, networks, country, paths — kiosks with API keys, workloads calling each other,
 * internet scanners the firewall drops) plus injected misuse of every kind the built-in rules detect.
 *
 * It produces raw log lines in each layer's real format — Tyk Pump analytics records (bearer tokens
 * in `raw_request`, GeoIP in `geo`), Istio/Envoy JSON access logs (mTLS peer SPIFFE id, forwarded
 * bearer token), OTLP/JSON spans (`enduser.id`), PAN-OS TRAFFIC CSV — with ES256 tokens signed by
 * `jose`, so the evaluation runs the real path: parsers → JwtVerifier (signature, expiry at event
 * time) → Correlator (joins across layers, record amendments) → store → alert engine. Every line is
 * labeled `benign` or with the id of the injected case it belongs to; a record's label is the union
 * of its members' labels (members point back to the line through `ref.line`).
 *
 * Deterministic for a seed (token signatures aside: the keys are generated per run).
 */
import { createHash } from 'node:crypto';
import * as jose from 'jose';
import type { RawRecord, SourceType } from '../model/events';
import type { AuditRecord } from '../model/record';
import type { Parser } from '../parsers/types';
import { seededRng } from './rng';

export interface TrafficOptions {
  seed?: number;
  /** People with a JWT (default 40). */
  users?: number;
  /** Days of traffic (default 10). Injections happen from day `learningDays` on. */
  days?: number;
  /** Days of benign traffic before the first injection (default 6). */
  learningDays?: number;
  /** First day, 00:00 UTC (default 2026-03-02, a Monday). */
  start?: string;
}

export interface TrafficInput {
  source: SourceType;
  line: string;
  /** Event time, ms. */
  t: number;
  /** `benign` or an injected case id. */
  label: string;
}

/** One injected misuse: which rule must raise it, and which other rules may also (truthfully) fire on it. */
export interface InjectedCase {
  id: string;
  /** Rule id (pipelines/rules) that must detect it. */
  rule: string;
  /** Other rule ids whose alert on these records is correct too (e.g. a forged-token burst is also a burst of 401s). */
  accepts: string[];
  description: string;
}

export interface Traffic {
  inputs: TrafficInput[];
  cases: InjectedCase[];
  /** Identities of the benign population (people, kiosks, workloads) as auditmesh records them. */
  benignIdentities: string[];
  issuer: { issuer: string; audience: string; jwks: jose.JSONWebKeySet };
  /** Content of detect.revocationFile for the revocation cases (YAML-compatible JSON). */
  revocations: { subjects: { subject: string; revokedAt: string; reason: string }[]; tokens: { sha256: string; revokedAt: string; reason: string }[] };
}

export const TRAFFIC_ISSUER = 'https://idp.traffic.auditmesh.test/';
export const TRAFFIC_AUDIENCE = 'orders-api';
export const GATEWAY_SPIFFE = 'spiffe://cluster.local/ns/gateway/sa/tyk-gateway';
const GATEWAY_IP = '10.20.0.5';
const ORDERS_IP = '10.30.1.14';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MIN = 60_000;

const FIRST_NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'ken', 'laura', 'mike', 'nina', 'oscar', 'peggy', 'quinn', 'rupert', 'sybil', 'trent', 'ursula', 'victor', 'wendy', 'xavier', 'yolanda', 'zach', 'amir', 'beatriz', 'chen', 'dmitri', 'elena', 'farid', 'gita', 'hiro', 'ines', 'jonas', 'kofi', 'lena', 'mateo', 'noor'];
const COUNTRIES: { cc: string; startHours: [number, number] }[] = [
  { cc: 'US', startHours: [13, 16] },
  { cc: 'DE', startHours: [6, 9] },
  { cc: 'FR', startHours: [7, 9] },
  { cc: 'GB', startHours: [8, 10] },
  { cc: 'IN', startHours: [3, 5] },
  { cc: 'JP', startHours: [0, 1] },
];
const ROUTES = ['/api/orders', '/api/orders/{n}', '/api/catalog', '/api/catalog/{n}', '/api/profile', '/api/payments/{n}', '/api/invoices/{n}', '/api/shipping/{n}'];
const WORKLOADS: { from: string; to: string; path: string; ip: string }[] = [
  { from: 'orders', to: 'payments', path: '/internal/payments/charge', ip: '10.30.1.14' },
  { from: 'orders', to: 'inventory', path: '/internal/inventory/reserve', ip: '10.30.1.15' },
  { from: 'billing', to: 'payments', path: '/internal/payments/refund', ip: '10.30.2.21' },
  { from: 'reporting', to: 'orders', path: '/internal/reports/daily', ip: '10.30.3.7' },
];
const spiffe = (sa: string) => `spiffe://cluster.local/ns/shop/sa/${sa}`;

interface User {
  sub: string;
  email: string;
  cc: string;
  startHour: number;
  hours: number;
  ips: string[];
  mobileIps: string[];
  paths: string[];
  admin: boolean;
  perDay: number;
}

/** The seeded PRNG with helpers, so a seed gives the same traffic. */
function rng(seed: number) {
  const next = seededRng(seed);
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)]!,
    chance: (p: number) => next() < p,
    hex: (n: number) => Array.from({ length: n }, () => Math.floor(next() * 16).toString(16)).join(''),
  };
}

const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex');
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const panTime = (ms: number) => {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
};

/** A PAN-OS TRAFFIC log line (syslog CSV), as the firewall writes it for a denied session. */
function panosDeny(t: number, src: string, sport: number, dport: number, seq: number): string {
  const cols = new Array<string>(115).fill('');
  Object.assign(cols, {
    0: '1', 1: panTime(t), 2: '015451000099001', 3: 'TRAFFIC', 4: 'drop', 5: '2561', 6: panTime(t), 7: src, 8: '198.51.100.20', 9: '0.0.0.0', 10: '0.0.0.0',
    11: 'deny-all', 12: '', 13: '', 14: 'incomplete', 15: 'vsys1', 16: 'untrust', 17: 'dmz', 18: 'ethernet1/1', 19: 'ethernet1/2', 20: 'log-forwarding-default',
    21: panTime(t), 22: '0', 23: '1', 24: String(sport), 25: String(dport), 26: '0', 27: '0', 28: '0x0', 29: 'tcp', 30: 'deny', 31: '74', 32: '74', 33: '0', 34: '1',
    35: panTime(t), 36: '0', 37: 'any', 38: '', 39: String(7300000000000000000 + seq), 40: '0x8000000000000000', 41: 'United States', 42: 'United States', 44: '1', 45: '0',
    46: 'policy-deny', 53: 'fw-edge-01', 54: 'from-policy',
  });
  return cols.join(',');
}

export async function generateTraffic(opts: TrafficOptions = {}): Promise<Traffic> {
  const r = rng(opts.seed ?? 20260302);
  const nUsers = opts.users ?? 40;
  const days = opts.days ?? 10;
  const learning = opts.learningDays ?? 6;
  const T0 = Date.parse(opts.start ?? '2026-03-02T00:00:00Z');
  if (days <= learning) throw new RangeError(`days (${days}) must be greater than learningDays (${learning})`);

  const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const { privateKey: attackerKey } = await jose.generateKeyPair('ES256');
  const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'traffic-1', alg: 'ES256', use: 'sig' };

  const inputs: TrafficInput[] = [];
  const cases: InjectedCase[] = [];
  const emit = (source: SourceType, t: number, line: string, label: string) => inputs.push({ source, line, t, label });

  // ---- people ----------------------------------------------------------------------------
  const users: User[] = [];
  for (let i = 0; i < nUsers; i++) {
    const name = i < FIRST_NAMES.length ? FIRST_NAMES[i]! : `${FIRST_NAMES[i % FIRST_NAMES.length]}${Math.floor(i / FIRST_NAMES.length) + 1}`;
    const c = COUNTRIES[i % COUNTRIES.length]!;
    const net = `198.18.${i % 256}`;
    const mobile = r.chance(0.3) ? [`198.19.${i % 256}.${r.int(2, 250)}`] : [];
    const paths = [...new Set(Array.from({ length: 4 }, () => r.pick(ROUTES)))];
    users.push({
      sub: name,
      email: `${name}@corp.example`,
      cc: c.cc,
      startHour: r.int(c.startHours[0], c.startHours[1]),
      hours: r.int(7, 9),
      ips: [`${net}.${r.int(2, 120)}`, `${net}.${r.int(121, 250)}`],
      mobileIps: mobile,
      paths,
      admin: r.chance(0.15),
      perDay: r.int(10, 18),
    });
  }

  // Tokens: one per person per day, valid for 12 hours from the start of the shift.
  const tokens = new Map<string, { token: string; iat: number; exp: number }>();
  const sign = (claims: jose.JWTPayload, key: jose.KeyLike = privateKey) => new jose.SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'traffic-1', typ: 'JWT' }).sign(key);
  const tokenOf = async (u: User, day: number) => {
    const k = `${u.sub}|${day}`;
    let tk = tokens.get(k);
    if (!tk) {
      const iat = Math.floor((T0 + day * DAY + u.startHour * HOUR) / 1000) - 3600;
      const exp = iat + 14 * 3600;
      tk = { token: await sign({ iss: TRAFFIC_ISSUER, sub: u.sub, aud: TRAFFIC_AUDIENCE, email: u.email, iat, exp }), iat, exp };
      tokens.set(k, tk);
    }
    return tk;
  };
  const dayOf = (t: number) => Math.floor((t - T0) / DAY);
  /** A token issued just now (a person logging in outside their shift). */
  const freshToken = (u: User, t: number) => {
    const iat = Math.floor(t / 1000) - 120;
    return sign({ iss: TRAFFIC_ISSUER, sub: u.sub, aud: TRAFFIC_AUDIENCE, email: u.email, iat, exp: iat + 3600 });
  };
  /** The token a person holds at `t`: the one of the shift that covers `t` (shifts cross midnight UTC). */
  const tokenAt = async (u: User, t: number) => {
    const d = dayOf(t);
    for (const cand of [d + 1, d, d - 1]) {
      const tk = await tokenOf(u, cand);
      if (tk.iat <= t / 1000 && t / 1000 < tk.exp) return tk;
    }
    return tokenOf(u, d);
  };

  // ---- line builders ---------------------------------------------------------------------
  interface Req {
    t: number;
    method: string;
    path: string;
    status: number;
    ip: string;
    cc?: string;
    token?: string;
    alias?: string;
    traceId: string;
  }
  const tyk = (q: Req, label: string) => {
    const rawReq =
      `${q.method} ${q.path} HTTP/1.1\r\nHost: api.corp.example\r\nUser-Agent: orders-web/4.1\r\n` +
      (q.token ? `Authorization: Bearer ${q.token}\r\n` : '') +
      `traceparent: 00-${q.traceId}-${r.hex(16)}-01\r\nx-request-id: ${r.hex(8)}-${r.hex(4)}-4${r.hex(3)}-a${r.hex(3)}-${r.hex(12)}\r\nAccept: application/json\r\n\r\n`;
    const rec: Record<string, unknown> = {
      api_id: 'b1f6c7e0a9d34c5e', api_name: 'orders-api', api_version: 'v1', host: 'api.corp.example', ip_address: q.ip, method: q.method,
      org_id: '5e9d9544a1dcd60001d0ed20', path: q.path, raw_path: q.path, raw_request: Buffer.from(rawReq).toString('base64'),
      request_time_ms: r.int(8, 60), response_code: q.status, timestamp: new Date(q.t).toISOString(), user_agent: 'orders-web/4.1',
    };
    if (q.alias) rec.alias = q.alias;
    if (q.cc) rec.geo = { country: { iso_code: q.cc }, city: { names: {} }, location: { latitude: 0, longitude: 0, time_zone: '' } };
    emit('tyk', q.t, JSON.stringify(rec), label);
  };
  const envoy = (e: { t: number; method: string; path: string; status: number; peer: string; remote: string; xff?: string; token?: string; traceId: string }, label: string) => {
    const rec: Record<string, unknown> = {
      start_time: new Date(e.t).toISOString(), method: e.method, path: e.path, protocol: 'HTTP/1.1', response_code: e.status, response_flags: '-',
      response_code_details: 'via_upstream', bytes_received: 0, bytes_sent: r.int(200, 2000), duration: r.int(3, 40),
      downstream_remote_address: `${e.remote}:${r.int(30000, 60000)}`, downstream_local_address: `${ORDERS_IP}:8080`, downstream_peer_uri_san: e.peer,
      authority: 'orders.shop.svc.cluster.local:8080', request_id: `${r.hex(8)}-${r.hex(4)}-4${r.hex(3)}-a${r.hex(3)}-${r.hex(12)}`,
      traceparent: `00-${e.traceId}-${r.hex(16)}-01`, upstream_host: `${ORDERS_IP}:8080`, upstream_cluster: 'inbound|8080||', user_agent: 'envoy',
    };
    if (e.xff) rec.x_forwarded_for = e.xff;
    if (e.token) rec.authorization = `Bearer ${e.token}`;
    emit('envoy', e.t, JSON.stringify(rec), label);
  };
  const span = (s: { t: number; traceId: string; method: string; path: string; status: number; user: string; ip: string }, label: string) => {
    const attr = (key: string, v: string | number) => ({ key, value: typeof v === 'number' ? { intValue: String(v) } : { stringValue: v } });
    const start = BigInt(s.t + 5) * 1_000_000n;
    emit(
      'otlp',
      s.t + 5,
      JSON.stringify({
        resourceSpans: [
          {
            resource: { attributes: [attr('service.name', 'orders'), attr('service.namespace', 'shop')] },
            scopeSpans: [
              {
                scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0' },
                spans: [
                  {
                    traceId: s.traceId, spanId: r.hex(16), name: `${s.method} ${s.path.replace(/\d+/g, ':id')}`, kind: 2,
                    startTimeUnixNano: String(start), endTimeUnixNano: String(start + 9_000_000n),
                    attributes: [attr('http.request.method', s.method), attr('url.path', s.path), attr('http.response.status_code', s.status), attr('client.address', s.ip), attr('enduser.id', s.user)],
                    status: { code: 0 },
                  },
                ],
              },
            ],
          },
        ],
      }),
      label,
    );
  };
  const fill = (p: string) => p.replace('{n}', String(r.int(1000, 9999)));

  /** One request of a person through the gateway, optionally seen by the mesh and the app too. */
  const personRequest = async (u: User, t: number, label0: string, over: Partial<Req> & { mesh?: boolean; span?: boolean; spanUser?: string } = {}) => {
    const tk = await tokenAt(u, t);
    let label = label0;
    // Benign habits of a revoked person (or with a revoked token) after the revocation are the revocation cases.
    if (label === 'benign' && u.sub === revocation.subject && t >= revocation.subjectAt) label = 'revoked-subject';
    if (label === 'benign' && (over.token ?? tk.token) === revocation.token && t >= revocation.tokenAt) label = 'revoked-token';
    const path = over.path ?? fill(r.pick(u.paths));
    const method = over.method ?? (path === '/api/orders' && r.chance(0.2) ? 'POST' : 'GET');
    const status = over.status ?? (r.chance(0.03) ? 404 : r.chance(0.01) ? 403 : method === 'POST' ? 201 : 200);
    // Usual addresses; now and then the mobile network, or a new DHCP lease in the home /24 (a new address, not a new network).
    const ip = over.ip ?? (u.mobileIps.length && r.chance(0.2) ? u.mobileIps[0]! : r.chance(0.05) ? u.ips[0]!.replace(/\.\d+$/, `.${r.int(2, 250)}`) : r.pick(u.ips));
    const q: Req = { t, method, path, status, ip, cc: over.cc ?? u.cc, token: over.token ?? tk.token, traceId: r.hex(32) };
    tyk(q, label);
    if (status < 400 && (over.mesh ?? r.chance(0.3))) envoy({ t: t + 3, method, path, status, peer: GATEWAY_SPIFFE, remote: GATEWAY_IP, xff: q.ip, token: q.token!, traceId: q.traceId }, label);
    if (status < 400 && (over.span ?? r.chance(0.2))) span({ t: t + 6, traceId: q.traceId, method, path, status, user: over.spanUser ?? u.sub, ip: q.ip }, label);
  };

  // ---- revocations (decided up front: the revoked person's later traffic is the case) -------
  const revokedUser = users[3 % nUsers]!;
  const revokedAt = T0 + (learning + 1) * DAY + revokedUser.startHour * HOUR + 3 * HOUR;
  const revokedTokenUser = users[4 % nUsers]!;
  const tokenRevokeDay = learning + 1;
  const tokenRevokedAt = T0 + tokenRevokeDay * DAY + revokedTokenUser.startHour * HOUR + 2 * HOUR;
  const revokedToken = (await tokenOf(revokedTokenUser, tokenRevokeDay)).token;
  const revocation = { subject: revokedUser.sub, subjectAt: revokedAt, token: revokedToken, tokenAt: tokenRevokedAt };
  cases.push({ id: 'revoked-subject', rule: 'revoked-token', accepts: [], description: `${revokedUser.sub} keeps working after the account was revoked` });
  cases.push({ id: 'revoked-token', rule: 'revoked-token', accepts: [], description: `${revokedTokenUser.sub}'s token keeps being used after it was revoked` });

  // ---- benign population -------------------------------------------------------------------
  for (let day = 0; day < days; day++) {
    const weekend = new Date(T0 + day * DAY).getUTCDay() % 6 === 0;
    for (const u of users) {
      if (weekend && !r.chance(0.25)) continue;
      const n = weekend ? r.int(2, 5) : Math.max(3, u.perDay + r.int(-4, 4));
      const late = r.chance(0.1);
      for (let k = 0; k < n; k++) {
        // Usual hours, sometimes the hour before or after (a late day).
        const span = u.hours + (late ? 1 : 0);
        const t = T0 + day * DAY + u.startHour * HOUR + Math.floor(r.next() * span * HOUR) - (r.chance(0.03) ? HOUR / 2 : 0);
        await personRequest(u, t, 'benign');
      }
      // An admin's occasional administration (verified, allowed).
      if (u.admin && !weekend) await personRequest(u, T0 + day * DAY + u.startHour * HOUR + r.int(1, u.hours - 1) * HOUR, 'benign', { path: `/api/admin/users/${r.int(1, 99)}`, status: 200 });
      // Now and then a client sends a broken token (a single one: noise, not an attack).
      if (r.chance(0.03)) {
        const t = T0 + day * DAY + u.startHour * HOUR + r.int(0, u.hours - 1) * HOUR;
        tyk({ t, method: 'GET', path: '/api/orders', status: 401, ip: u.ips[0]!, cc: u.cc, token: 'eyJhbGciOiJFUzI1NiJ9.bm90LWpzb24.c2ln', traceId: r.hex(32) }, 'benign');
      }
    }
    // Kiosks: API keys only (unverifiable), catalog pages every hour of the opening hours; sometimes an admin page, denied.
    for (let k = 0; k < 3; k++) {
      for (let h = 8; h < 18; h++) {
        const t = T0 + day * DAY + h * HOUR + r.int(0, 59) * MIN;
        const denied = r.chance(0.01);
        tyk({ t, method: 'GET', path: denied ? '/api/admin/settings' : fill('/api/catalog/{n}'), status: denied ? 401 : 200, ip: `198.18.${200 + k}.10`, cc: 'US', alias: `kiosk-${k + 1}`, traceId: r.hex(32) }, 'benign');
      }
    }
    // Workloads: mesh traffic at every hour.
    for (const w of WORKLOADS) {
      for (let h = 0; h < 24; h++) {
        if (!r.chance(0.6)) continue;
        const t = T0 + day * DAY + h * HOUR + r.int(0, 3599) * 1000;
        envoy({ t, method: 'POST', path: w.path, status: 200, peer: spiffe(w.from), remote: w.ip, traceId: r.hex(32) }, 'benign');
      }
    }
    // Internet noise: a few single packets the firewall drops.
    for (let k = 0; k < 3; k++) {
      const t = T0 + day * DAY + r.int(0, DAY / 1000 - 1) * 1000;
      emit('panos', t, panosDeny(t, `192.0.2.${r.int(100, 250)}`, r.int(40000, 60000), r.pick([22, 23, 3389, 445]), day * 100 + k), 'benign');
    }
  }

  // ---- injected misuse (after the learning days) ---------------------------------------------
  const victims = users.filter((u) => u !== revokedUser && u !== revokedTokenUser);
  let vi = 0;
  const victim = (ok: (u: User) => boolean = () => true) => {
    for (let n = 0; n < victims.length; n++) {
      const u = victims[vi++ % victims.length]!;
      if (ok(u)) return u;
    }
    throw new RangeError('no user fits the injected case; use more users');
  };
  const injDay = (k: number) => learning + (k % (days - learning));
  /** A time inside the person's usual hours on an injection day. */
  const usualTime = (u: User, k: number) => T0 + injDay(k) * DAY + u.startHour * HOUR + Math.floor((u.hours / 2) * HOUR) + r.int(0, 30) * MIN;

  const add = (c: InjectedCase) => cases.push(c);
  for (let k = 0; k < 2; k++) {
    const id = `forged-source-${k + 1}`;
    add({ id, rule: 'invalid-tokens-per-source', accepts: ['denied-burst', 'invalid-tokens-per-identity'], description: 'forged tokens for several people from one address' });
    const ip = `203.0.113.${50 + k}`;
    const t0 = T0 + injDay(k) * DAY + r.int(2, 20) * HOUR;
    for (let j = 0; j < 8; j++) {
      const claimed = users[(j * 7 + k) % nUsers]!;
      const iat = Math.floor(t0 / 1000) - 60;
      const token = await sign({ iss: TRAFFIC_ISSUER, sub: claimed.sub, aud: TRAFFIC_AUDIENCE, iat, exp: iat + 3600 }, attackerKey);
      tyk({ t: t0 + j * 25_000, method: 'GET', path: '/api/admin/users', status: 401, ip, cc: 'NL', token, traceId: r.hex(32) }, id);
    }
  }
  for (let k = 0; k < 2; k++) {
    const id = `forged-identity-${k + 1}`;
    const u = victim();
    add({ id, rule: 'invalid-tokens-per-identity', accepts: ['denied-burst'], description: `tokens forged in ${u.sub}'s name from many addresses` });
    const t0 = usualTime(u, k + 1);
    for (let j = 0; j < 7; j++) {
      const iat = Math.floor(t0 / 1000) - 60;
      const iss = j % 3 === 2 ? 'https://login.evil.example/' : TRAFFIC_ISSUER;
      const token = await sign({ iss, sub: u.sub, aud: TRAFFIC_AUDIENCE, iat, exp: iat + 3600 }, attackerKey);
      tyk({ t: t0 + j * 60_000, method: 'GET', path: '/api/payments/1', status: 401, ip: `198.51.100.${10 + j + k * 20}`, cc: 'US', token, traceId: r.hex(32) }, id);
    }
  }
  for (let k = 0; k < 3; k++) {
    const id = `mismatch-${k + 1}`;
    const u = victim();
    add({ id, rule: 'identity-mismatch', accepts: [], description: `${u.sub}'s token, but the application saw another user` });
    await personRequest(u, usualTime(u, k), id, { mesh: true, span: true, spanUser: 'mallory', status: 200, ip: u.ips[0]! });
  }
  for (let k = 0; k < 3; k++) {
    const id = `unverified-sensitive-${k + 1}`;
    add({ id, rule: 'unverified-sensitive-route', accepts: [], description: 'an API key without a verified identity reached an admin/payment route' });
    const t = T0 + injDay(k) * DAY + r.int(9, 17) * HOUR;
    const path = k === 1 ? '/api/payments/refunds' : `/api/admin/users/${r.int(1, 99)}`;
    tyk({ t, method: k === 2 ? 'DELETE' : 'GET', path, status: 200, ip: `198.18.${210 + k}.5`, cc: 'US', ...(k === 0 ? {} : { alias: `legacy-integration-${k}` }), traceId: r.hex(32) }, id);
  }
  for (let k = 0; k < 3; k++) {
    const id = `new-network-${k + 1}`;
    const u = victim();
    add({ id, rule: 'new-network', accepts: [], description: `${u.sub} from a network never used before (same country)` });
    const t = usualTime(u, k);
    for (let j = 0; j < 3; j++) await personRequest(u, t + j * 4 * MIN, id, { ip: `185.220.${100 + k}.${r.int(2, 250)}`, status: 200 });
  }
  const farAway = ['RU', 'BR', 'NG'];
  for (let k = 0; k < 3; k++) {
    const id = `new-country-${k + 1}`;
    const u = victim();
    add({ id, rule: 'new-country', accepts: ['new-network'], description: `${u.sub} from another country` });
    const t = usualTime(u, k + 1);
    for (let j = 0; j < 2; j++) await personRequest(u, t + j * 3 * MIN, id, { ip: `45.${10 + k}.${r.int(0, 255)}.${r.int(2, 250)}`, cc: farAway[k]!, status: 200 });
  }
  for (let k = 0; k < 2; k++) {
    const id = `denied-identity-${k + 1}`;
    const u = victim();
    add({ id, rule: 'denied-burst', accepts: [], description: `${u.sub} probing admin routes: a burst of 403s` });
    const t = usualTime(u, k);
    for (let j = 0; j < 12; j++) await personRequest(u, t + j * 7_000, id, { path: `/api/admin/${r.pick(['users', 'roles', 'keys', 'audit'])}`, status: 403, ip: u.ips[0]! });
  }
  {
    const id = 'denied-scan-1';
    add({ id, rule: 'denied-burst', accepts: [], description: 'a port scan the firewall dropped' });
    const t0 = T0 + injDay(2) * DAY + 3 * HOUR + 17 * MIN;
    for (let j = 0; j < 25; j++) emit('panos', t0 + j * 2_000, panosDeny(t0 + j * 2_000, '192.0.2.66', 61000 + j, [22, 23, 25, 80, 443, 445, 3306, 3389, 5432, 6379][j % 10]!, 90000 + j), id);
  }
  for (let k = 0; k < 3; k++) {
    const id = `unusual-hour-${k + 1}`;
    // Busy enough to be past the rule's learning period (minObservations 60) by the injection day.
    const u = victim((x) => x.perDay >= 14);
    add({ id, rule: 'unusual-hour', accepts: [], description: `${u.sub} active in the middle of their night` });
    const hour = (u.startHour + 16) % 24;
    const t = T0 + injDay(k + 1) * DAY + hour * HOUR + r.int(5, 40) * MIN;
    const token = await freshToken(u, t);
    for (let j = 0; j < 3; j++) await personRequest(u, t + j * 2 * MIN, id, { ip: u.ips[0]!, status: 200, token });
  }
  for (let k = 0; k < 2; k++) {
    const id = `rate-spike-${k + 1}`;
    const u = victim();
    add({ id, rule: 'rate-spike', accepts: [], description: `${u.sub}'s token used by a script: 120 requests in an hour` });
    const t = T0 + injDay(k + 2) * DAY + (u.startHour + 2) * HOUR;
    for (let j = 0; j < 120; j++) await personRequest(u, t + j * 25_000, id, { path: `/api/orders/${1000 + j}`, status: 200, ip: u.ips[0]!, mesh: false, span: false });
  }
  for (let k = 0; k < 2; k++) {
    const id = `workload-outside-${k + 1}`;
    add({ id, rule: 'workload-outside-mesh', accepts: [], description: "a workload's certificate used from outside the mesh" });
    const t = T0 + injDay(k) * DAY + r.int(0, 23) * HOUR;
    const w = WORKLOADS[k]!;
    envoy({ t, method: 'POST', path: w.path, status: 200, peer: spiffe(w.from), remote: `203.0.113.${200 + k}`, traceId: r.hex(32) }, id);
  }
  for (let k = 0; k < 2; k++) {
    const id = `human-token-workload-${k + 1}`;
    const u = victim();
    add({ id, rule: 'human-token-from-workload', accepts: ['new-network'], description: `the reporting workload replays ${u.sub}'s token` });
    const t = usualTime(u, k + 1);
    envoy({ t, method: 'GET', path: '/api/orders', status: 200, peer: spiffe('reporting'), remote: '10.30.3.7', token: (await tokenAt(u, t)).token, traceId: r.hex(32) }, id);
  }
  {
    const id = 'human-on-workload-route-1';
    const u = victim();
    add({ id, rule: 'human-token-from-workload', accepts: [], description: `${u.sub} called a workload-only route` });
    await personRequest(u, usualTime(u, 2), id, { path: '/internal/reports/daily', status: 200, mesh: false, span: false, ip: u.ips[0]! });
  }
  for (let k = 0; k < 2; k++) {
    const id = `expired-${k + 1}`;
    const u = victim();
    add({ id, rule: 'expired-token', accepts: [], description: `yesterday's token of ${u.sub} replayed` });
    const t = usualTime(u, k);
    const old = await tokenOf(u, dayOf(t) - 1);
    for (let j = 0; j < 2; j++) await personRequest(u, t + j * MIN, id, { token: old.token, status: 401, ip: u.ips[1]! });
  }

  inputs.sort((a, b) => a.t - b.t);
  return {
    inputs,
    cases,
    benignIdentities: [...users.map((u) => u.sub), 'kiosk-1', 'kiosk-2', 'kiosk-3', ...new Set(WORKLOADS.map((w) => spiffe(w.from)))],
    issuer: { issuer: TRAFFIC_ISSUER, audience: TRAFFIC_AUDIENCE, jwks: { keys: [jwk] } },
    revocations: {
      subjects: [{ subject: revokedUser.sub, revokedAt: new Date(revokedAt).toISOString(), reason: 'offboarded' }],
      tokens: [{ sha256: sha256Hex(revokedToken), revokedAt: new Date(tokenRevokedAt).toISOString(), reason: 'reported stolen' }],
    },
  };
}

/** What replayTraffic needs: the runner's process and a parser per source type. */
export interface TrafficSink {
  process(raws: RawRecord[], parser: Parser): Promise<unknown>;
  parser(type: SourceType): Parser;
}

export const TRAFFIC_FILE = 'traffic';

/**
 * Feed inputs [from, to) through the pipeline in time-ordered chunks; within a chunk, one batch per
 * layer (gateway first, so mesh and app events amend the gateway's records, as in production).
 * Each raw record's ref is `{ file: 'traffic', line: index + 1 }`.
 */
export async function replayTraffic(t: Traffic, sink: TrafficSink, range: { from?: number; to?: number; chunk?: number } = {}): Promise<void> {
  const from = range.from ?? 0;
  const to = range.to ?? t.inputs.length;
  const chunk = range.chunk ?? 400;
  const order: SourceType[] = ['tyk', 'envoy', 'otlp', 'panos'];
  for (let i = from; i < to; i += chunk) {
    const by = new Map<SourceType, RawRecord[]>();
    for (let j = i; j < Math.min(i + chunk, to); j++) {
      const inp = t.inputs[j]!;
      const raw: RawRecord = { value: Buffer.from(inp.line), ref: { source: inp.source, file: TRAFFIC_FILE, line: j + 1 }, receivedAtMs: inp.t };
      (by.get(inp.source) ?? by.set(inp.source, []).get(inp.source)!).push(raw);
    }
    for (const s of order) {
      const raws = by.get(s);
      if (raws?.length) await sink.process(raws, sink.parser(s));
    }
  }
}

/** Labels of a record: the labels of the traffic lines its members came from. */
export function labelsOf(t: Traffic, rec: AuditRecord): Set<string> {
  const out = new Set<string>();
  for (const m of rec.auditmesh.members) {
    if (m.ref.file === TRAFFIC_FILE && m.ref.line !== undefined) {
      const inp = t.inputs[m.ref.line - 1];
      if (inp) out.add(inp.label);
    }
  }
  return out;
}
