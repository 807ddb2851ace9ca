/**
 * Scenario tests with ground truth, end to end through REAL Kafka into REAL Elasticsearch.
 *
 * Every request is described once (test/support/scenario.ts) and rendered to each layer's real wire
 * format: Tyk Pump JSON (base64 raw_request with a jose-signed bearer JWT, traceparent or 64-bit B3),
 * Istio access logs (default JSON keys, the custom traceparent field only where said, and the default
 * TEXT format), OTLP protobuf spans (the app's and Envoy's own with `guid:x-request-id`) and PAN-OS
 * TRAFFIC CSV with NAT and User-ID. The messages are shuffled within each topic and interleaved across
 * the four topics, with ±2 s of clock skew between the layers; auditmesh (`startService`) verifies the
 * tokens against a JWKS served by a local HTTP server that rotates its keys mid-stream.
 *
 * Then every record in Elasticsearch is compared with the truth: its exact members and how each was
 * joined, the identity (subject, method, verdict, verified, mismatch) and every claim's verdict, the
 * recorded ambiguity; nothing more, nothing less; and no raw token anywhere in Elasticsearch. The same
 * records are read through the API.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Admin } from 'kafkajs';
import type { Client } from '@elastic/elasticsearch';
import { configSchema } from '../../src/config/schema';
import { startService, type Service } from '../../src/main';
import { mintToken } from '../../src/api/auth';
import type { AuditRecord } from '../../src/model/record';
import type { SourceType } from '../../src/model/events';
import { createTopics, elasticsearchUrl, kafkaBrokers, newEsClient, newKafka, uniqueName } from './infra';
import {
  AUDIENCE,
  GATEWAY_IP,
  ISSUER,
  VIP,
  buildRequest,
  jwksOf,
  newSigningKey,
  randomSeed,
  renderScenario,
  seededRng,
  type ExpectedRecord,
  type RequestSpec,
  type Scenario,
  type SessionSpec,
  type SigningKey,
} from '../support/scenario';
import { allRecords, countDocs, produceOutOfOrder, waitForDrain } from '../support/delivery';

jest.setTimeout(240_000);

const SEED = Number(process.env.SCENARIO_SEED ?? randomSeed());
const rng = seededRng(SEED);
const SOURCES: SourceType[] = ['envoy', 'tyk', 'panos', 'otlp'];
const DAY = 86_400_000;

/** A JWKS endpoint whose key set the test can rotate; counts fetches. */
class JwksServer {
  private jwks: unknown;
  fetches = 0;
  private server?: http.Server;
  url = '';
  constructor(initial: unknown) {
    this.jwks = initial;
  }
  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      this.fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(this.jwks));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/.well-known/jwks.json`;
  }
  publish(jwks: unknown): void {
    this.jwks = jwks;
  }
  async stop(): Promise<void> {
    if (this.server) await new Promise<void>((r) => this.server!.close(() => r()));
  }
}

const claimKey = (c: { method: string; source: string; subject: string; verdict?: string }) => `${c.method}|${c.source}|${c.subject}|${c.verdict}`;

/** Differences between one expected record and the record auditmesh stored (empty when equal). */
function compare(exp: ExpectedRecord, actual: AuditRecord | undefined): string[] {
  if (!actual) return [`${exp.label}: no ${exp.type} record holds ${exp.members[0]!.eventId}`];
  const out: string[] = [];
  const am = actual.auditmesh;
  if (am.record_type !== exp.type) out.push(`${exp.label}: record_type ${am.record_type}, expected ${exp.type}`);
  const got = am.members.map((m) => `${m.source}:${m.event_id}:${m.joined_by}`).sort();
  const want = exp.members.map((m) => `${m.source}:${m.eventId}:${m.joinedBy}`).sort();
  if (JSON.stringify(got) !== JSON.stringify(want)) out.push(`${exp.label}: members ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  if (am.member_count !== exp.members.length) out.push(`${exp.label}: member_count ${am.member_count}, expected ${exp.members.length}`);
  const sources = [...new Set(exp.members.map((m) => m.source))].sort();
  if (JSON.stringify(am.sources) !== JSON.stringify(sources)) out.push(`${exp.label}: sources ${JSON.stringify(am.sources)}, expected ${JSON.stringify(sources)}`);
  if (exp.identity) {
    const id = am.identity;
    const e = exp.identity;
    const pairs: [string, unknown, unknown][] = [
      ['identity.subject', id.subject, e.subject],
      ['identity.method', id.method, e.method],
      ['identity.verdict', id.verdict, e.verdict],
      ['identity.verified', id.verified, e.verified],
      ['identity.mismatch', id.mismatch, e.mismatch],
      ['identity.claims', JSON.stringify(id.claims.map(claimKey).sort()), JSON.stringify(e.claims)],
    ];
    for (const [k, g, w] of pairs) if (g !== w) out.push(`${exp.label}: ${k} ${JSON.stringify(g)}, expected ${JSON.stringify(w)}`);
    // The user shown on the record is the resolved identity, never a failed token's subject.
    const user = (actual.user as { id?: string } | undefined)?.id;
    if (user !== e.subject) out.push(`${exp.label}: user.id ${JSON.stringify(user)}, expected ${JSON.stringify(e.subject)}`);
  }
  if (exp.traceId && (actual.trace as { id?: string } | undefined)?.id !== exp.traceId) {
    out.push(`${exp.label}: trace.id ${JSON.stringify((actual.trace as { id?: string } | undefined)?.id)}, expected ${exp.traceId}`);
  }
  const amb = (am.ambiguous ?? []).map((a) => `${a.key}:${a.candidates}`).sort();
  const wantAmb = (exp.ambiguous ?? []).map((a) => `${a.key}:${a.candidates}`).sort();
  if (JSON.stringify(amb) !== JSON.stringify(wantAmb)) out.push(`${exp.label}: ambiguous ${JSON.stringify(amb)}, expected ${JSON.stringify(wantAmb)}`);
  return out;
}

/** The stored record of an expected record: the one of its type holding its first non-linked member. */
function find(records: AuditRecord[], exp: ExpectedRecord): AuditRecord | undefined {
  const anchor = exp.members.find((m) => m.joinedBy !== 'address+time' || m.source !== 'panos')!;
  return records.find((r) => r.auditmesh.record_type === exp.type && r.auditmesh.members.some((m) => m.event_id === anchor.eventId && (exp.type === 'session' || m.source !== 'panos')));
}

describe('integration > scenarios with ground truth: four layers, out of order, through real Kafka into real Elasticsearch', () => {
  const topics: Record<SourceType, string> = { envoy: uniqueName('sc-envoy'), tyk: uniqueName('sc-tyk'), panos: uniqueName('sc-panos'), otlp: uniqueName('sc-otlp') };
  const groupPrefix = uniqueName('sc-grp');
  const dlq = uniqueName('sc-dlq');
  const prefix = uniqueName('am-scn');
  let dir: string;
  let svc: Service | undefined;
  let jwksServer: JwksServer;
  let es: Client;
  let admin: Admin;
  let k1: SigningKey, k2: SigningKey, attacker: SigningKey;
  let phase0: Scenario, phase1: Scenario, phase2: Scenario;
  let records: AuditRecord[] = [];
  let expected: ExpectedRecord[] = [];
  let fetchesBeforeRotation = 0;
  let apiHeaders: Record<string, string>;
  const req = new Map<string, RequestSpec>();
  const byLabel = (label: string) => expected.find((e) => e.label === label)!;
  const stored = (label: string) => find(records, byLabel(label));

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scenarios-'));
    const pdir = path.join(dir, 'pipelines');
    fs.mkdirSync(pdir);
    for (const s of SOURCES) {
      fs.writeFileSync(path.join(pdir, `${s}.yaml`), `id: ${s}\ntype: kafka\ntopics: [${topics[s]}]\nparser: ${s}\n${s === 'otlp' ? 'format: otlp_proto\n' : ''}batch:\n  maxRecords: 50\n`);
    }
    await createTopics([...Object.values(topics), dlq]);
    [k1, k2, attacker] = await Promise.all([newSigningKey('k1'), newSigningKey('k2'), newSigningKey('attacker')]);
    jwksServer = new JwksServer(jwksOf(k1));
    await jwksServer.start();

    // ---- the truth ----------------------------------------------------------------------
    const T = Math.floor((Date.now() - 20 * 60_000) / 1000) * 1000;
    const valid = (sub: string, key: SigningKey) => ({ sub, key, expect: 'verified' as const });
    const full = { tyk: true, envoy: 'json_traceparent' as const, appSpan: true };
    const mk = (label: string, over: Partial<Parameters<typeof buildRequest>[1]> & { t: number; clientIp: string }) => {
      const r = buildRequest(rng, { label, clientPort: 40000 + Math.floor(rng() * 20000), method: 'GET', path: '/api/orders', status: 200, tykTrace: 'w3c', layers: full, ...over });
      req.set(label, r);
      return r;
    };
    const session = (label: string, clientIp: string, clientPort: number, startMs: number, endMs: number, user: string, carries: string[], extra: Partial<SessionSpec> = {}): SessionSpec => ({
      label, clientIp, clientPort, dstIp: VIP, natDstIp: GATEWAY_IP, natSrcIp: '0.0.0.0', startMs, endMs, user, sessionId: 50000 + Math.floor(rng() * 10000), carries, ...extra,
    });

    // (f') a replayed OLD request from last month, token valid then (verified at event time).
    const old = mk('f-replayed-old', { t: T - 30 * DAY, clientIp: '203.0.113.41', path: '/api/orders/1', user: 'frank', token: valid('frank', k1) });
    phase0 = await renderScenario([old], []);

    // Phase 1: key k1.
    const a = mk('a-w3c-everywhere', { t: T, clientIp: '203.0.113.10', path: '/api/orders/1042', user: 'alice', token: valid('alice', k1) });
    const b = mk('b-b3-64-and-w3c-128', { t: T + 10_000, clientIp: '203.0.113.22', method: 'POST', status: 201, user: 'bob', token: valid('bob', k1), tykTrace: 'b3_64' });
    const c = mk('c-no-trace-headers', { t: T + 20_000, clientIp: '198.51.100.77', path: '/api/payments/77', user: 'carol', token: valid('carol', k1), tykTrace: 'none', layers: { tyk: true, envoy: 'text', envoySpan: true } });
    const d1 = mk('d-keepalive-1', { t: T + 35_000, clientIp: '192.0.2.44', user: 'dave', token: valid('dave', k1) });
    const d2 = mk('d-keepalive-2', { t: T + 50_000, clientIp: '192.0.2.44', path: '/api/orders/7', user: 'dave', token: valid('dave', k1), layers: { tyk: true, envoy: 'json', envoySpan: true, appSpan: true } });
    const e = mk('e-forged', { t: T + 70_000, clientIp: '192.0.2.66', method: 'DELETE', path: '/api/admin/users/9', status: 401, token: { sub: 'alice', key: attacker, kid: 'k1', expect: 'invalid_signature' }, layers: { tyk: true } });
    const f = mk('f-expired', { t: T + 80_000, clientIp: '203.0.113.40', status: 401, token: { sub: 'frank', key: k1, iatOffsetS: -3 * 3600, expOffsetS: -2 * 3600, expect: 'expired' }, layers: { tyk: true } });
    const g = mk('g-wrong-audience', { t: T + 90_000, clientIp: '203.0.113.50', status: 401, token: { sub: 'grace', key: k1, aud: 'billing-api', expect: 'wrong_audience' }, layers: { tyk: true } });
    const h1 = [0, 1, 2].map((i) => mk(`h-rotation-k1-${i}`, { t: T + 100_000 + i * 10_000, clientIp: `203.0.113.${60 + i}`, path: `/api/orders/${100 + i}`, user: 'heidi', token: valid('heidi', k1) }));
    const i1 = mk('i-ambiguous-firewall', { t: T + 140_000, clientIp: '203.0.113.70', path: '/api/orders/55', user: 'ivan', token: valid('ivan', k1) });
    // (c) again, with the order forced across phases: the trace-less gateway record stored well before
    // the mesh's events, and the mesh's events stored well before the gateway record.
    const traceless = { tykTrace: 'none' as const, layers: { tyk: true, envoy: 'text' as const, envoySpan: true } };
    const cTykFirst = mk('c-gateway-first', { t: T + 160_000, clientIp: '198.51.100.78', path: '/api/payments/78', user: 'carol', token: valid('carol', k1), ...traceless });
    const cMeshFirst = mk('c-mesh-first', { t: T + 170_000, clientIp: '198.51.100.79', path: '/api/payments/79', user: 'carol', token: valid('carol', k1), ...traceless });
    const sessions1 = [
      // (d) destination NAT (VIP → gateway): the session of request (a), and a keep-alive session carrying two requests.
      session('a-session', a.clientIp, a.clientPort, a.t - 300, a.t + 1_500, 'corp\\alice', [a.label]),
      session('d-keepalive-session', d1.clientIp, d1.clientPort, d1.t - 500, d2.t + 2_000, 'corp\\dave', [d1.label, d2.label]),
      // (e) the forger's own session: User-ID names the real person at the keyboard.
      session('e-session', e.clientIp, e.clientPort, e.t - 400, e.t + 900, 'corp\\mallory', [e.label]),
      // (i) two concurrent sessions of one client, no User-ID: the request must not be linked to either.
      session('i-session-1', i1.clientIp, 51001, i1.t - 2_000, i1.t + 3_000, '', [], { ambiguousFor: [i1.label] }),
      session('i-session-2', i1.clientIp, 51002, i1.t - 1_000, i1.t + 4_000, '', [], { ambiguousFor: [i1.label] }),
    ];
    phase1 = await renderScenario([a, b, c, d1, d2, e, f, g, ...h1, i1, cTykFirst, cMeshFirst], sessions1);

    // Phase 2: after the JWKS publishes {k1, k2}, new tokens are signed with k2.
    const h2 = [0, 1, 2].map((i) => mk(`h-rotation-k2-${i}`, { t: T + 240_000 + i * 10_000, clientIp: `203.0.113.${63 + i}`, path: `/api/orders/${200 + i}`, user: 'heidi', token: valid('heidi', k2) }));
    phase2 = await renderScenario(h2, []);
    // The later halves of the forced-order (c) requests go with phase 2 (within the allowed lateness).
    const deferred = new Set([`${cTykFirst.label}/envoy-text`, `${cTykFirst.label}/envoy-span`, `${cMeshFirst.label}/tyk`]);
    phase2.messages.push(...phase1.messages.filter((m) => deferred.has(m.what)));
    phase1.messages = phase1.messages.filter((m) => !deferred.has(m.what));
    expected = [...phase0.records, ...phase1.records, ...phase2.records];

    // ---- auditmesh -----------------------------------------------------------------------
    const cfg = configSchema.parse({
      server: { port: 0, host: '127.0.0.1' },
      dataDir: path.join(dir, 'data'),
      pipelinesDir: pdir,
      kafka: { brokers: kafkaBrokers().split(','), groupPrefix, deadLetterTopic: dlq },
      elasticsearch: { url: elasticsearchUrl(), indexPrefix: prefix },
      identity: {
        issuers: [{ issuer: ISSUER, jwksUri: jwksServer.url, audiences: [AUDIENCE], algorithms: ['RS256'], clockSkewSeconds: 60 }],
        jwksRefetchIntervalSeconds: 1,
      },
      log: { level: 'error' },
    });
    svc = await startService(cfg);
    apiHeaders = { authorization: `Bearer ${await mintToken(cfg.dataDir, { role: 'investigator', subject: 'scenario-test', ttlSeconds: 900, audience: 'auditmesh' })}` };

    const kafka = newKafka('scenario-producer');
    const producer = kafka.producer();
    admin = kafka.admin();
    await Promise.all([producer.connect(), admin.connect()]);
    es = newEsClient();
    const pairs = SOURCES.map((s) => ({ groupId: `${groupPrefix}-${s}`, topic: topics[s] }));
    try {
      // Phase 0: the replay of last month's request (delivered first: older than any allowed lateness
      // behind the later traffic, as a replay through Kafka must be).
      await produceOutOfOrder(producer, rng, topics, phase0.messages, { maxChunk: 1, pauseMs: 30 });
      await waitForDrain(admin, pairs, 90_000, 'phase 0 (replayed old request)');
      await produceOutOfOrder(producer, rng, topics, phase1.messages, { maxChunk: 3, pauseMs: 40 });
      await waitForDrain(admin, pairs, 90_000, 'phase 1 (key k1)');
      // Rotation: the IdP publishes k2 next to k1, then signs new tokens with k2.
      fetchesBeforeRotation = jwksServer.fetches;
      jwksServer.publish(jwksOf(k1, k2));
      await new Promise((r) => setTimeout(r, 1_100)); // the configured refetch interval (1 s)
      await produceOutOfOrder(producer, rng, topics, phase2.messages, { maxChunk: 2, pauseMs: 40 });
      await waitForDrain(admin, pairs, 90_000, 'phase 2 (key k2)');
    } finally {
      await producer.disconnect();
    }
    records = await allRecords(es, prefix);
  });

  afterAll(async () => {
    await svc?.stop();
    await admin?.disconnect();
    if (es) {
      await es.indices.delete({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true }).catch(() => undefined);
      await es.close();
    }
    await jwksServer?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const check = (...labels: string[]) => {
    const problems = labels.flatMap((l) => compare(byLabel(l), stored(l)));
    if (problems.length) problems.push(`(seed ${SEED}: rerun with SCENARIO_SEED=${SEED})`);
    expect(problems).toEqual([]);
  };

  it('stores exactly the expected records: one per request and one per firewall session, no more, no fewer, no dead letters', async () => {
    const problems = expected.flatMap((e) => compare(e, find(records, e)));
    const matched = new Set(expected.map((e) => find(records, e)?.auditmesh.record_id));
    const extra = records.filter((r) => !matched.has(r.auditmesh.record_id)).map((r) => `${r.auditmesh.record_type} ${r.auditmesh.record_id}: ${r.auditmesh.members.map((m) => `${m.source}:${m.event_id}`).join(',')}`);
    if (problems.length || extra.length) problems.push(`(seed ${SEED})`);
    expect({ problems, extra }).toEqual({ problems: [], extra: [] });
    expect(records).toHaveLength(expected.length);
    const messages = [...phase0.messages, ...phase1.messages, ...phase2.messages];
    expect(await countDocs(es, `${prefix}-events-*`)).toBe(new Set(messages.flatMap((m) => m.eventIds)).size);
    expect(await countDocs(es, `${prefix}-dead-letters*`)).toBe(0);
  });

  it('(a) joins a request with W3C traceparent in every HTTP layer and its firewall session into one verified record', () => {
    check('a-w3c-everywhere', 'a-session');
    const r = stored('a-w3c-everywhere')!;
    expect(r.auditmesh.sources).toEqual(['envoy', 'otlp', 'panos', 'tyk']);
    expect(r).toMatchObject({ url: { path: '/api/orders/1042' }, http: { request: { method: 'GET' }, response: { status_code: 200 } }, user: { id: 'alice' }, rule: { name: 'allow-api-gateway' } });
    // The client address as the firewall saw it, destination NAT to the gateway.
    expect(r.source).toMatchObject({ ip: '203.0.113.10' });
  });

  it('(b) joins a 64-bit B3 trace id at the gateway with the same trace in 128-bit W3C form in the mesh and the app', () => {
    check('b-b3-64-and-w3c-128');
    const r = stored('b-b3-64-and-w3c-128')!;
    const b = req.get('b-b3-64-and-w3c-128')!;
    expect((r.trace as { id: string }).id).toBe(`0000000000000000${b.traceId64}`);
    expect(r.auditmesh.members.map((m) => m.joined_by)).toEqual(['trace.id', 'trace.id', 'trace.id']);
  });

  it('(c) joins a request without trace headers: Istio TEXT line and Envoy span by x-request-id, the gateway record by address and time, whichever arrives first', () => {
    check('c-no-trace-headers', 'c-gateway-first', 'c-mesh-first');
    for (const l of ['c-no-trace-headers', 'c-gateway-first', 'c-mesh-first']) {
      const r = stored(l)!;
      expect(Object.fromEntries(r.auditmesh.members.map((m) => [m.source, m.joined_by]))).toEqual({ tyk: 'address+time', envoy: 'http.request.id', otlp: 'http.request.id' });
      expect(r.auditmesh.identity).toMatchObject({ subject: 'carol', verdict: 'verified', verified: true });
      // The mesh sits behind the gateway: its source is the gateway, the client is the X-Forwarded-For hop.
      expect(r).toMatchObject({ client: { ip: req.get(l)!.clientIp } });
      expect(r.auditmesh.ambiguous).toBeUndefined();
    }
  });

  it('(d) links a destination-NATed firewall session to its request, and one keep-alive session to both requests it carried', () => {
    check('a-w3c-everywhere', 'a-session', 'd-keepalive-1', 'd-keepalive-2', 'd-keepalive-session');
    const s = byLabel('d-keepalive-session').members[0]!.eventId;
    for (const l of ['d-keepalive-1', 'd-keepalive-2']) {
      const m = stored(l)!.auditmesh.members.find((x) => x.source === 'panos')!;
      expect(m).toMatchObject({ event_id: s, joined_by: 'address+time' });
    }
    // The session stays its own record (evidence linked to the requests, not moved into them).
    expect(stored('d-keepalive-session')!.auditmesh.members).toHaveLength(1);
    // d2 mixes join keys: the mesh JSON line without traceparent joined by x-request-id through Envoy's span.
    expect(Object.fromEntries(stored('d-keepalive-2')!.auditmesh.members.map((m) => [`${m.source}/${m.kind}`, m.joined_by]))).toMatchObject({
      'envoy/access_log': 'http.request.id',
      'tyk/analytics': 'trace.id',
      'panos/traffic': 'address+time',
    });
  });

  it('(e) judges a forged token invalid_signature, never names its subject, and flags the mismatch with the firewall User-ID', () => {
    check('e-forged', 'e-session');
    const id = stored('e-forged')!.auditmesh.identity;
    expect(id.subject).not.toBe('alice');
    expect(id).toMatchObject({ subject: 'corp\\mallory', method: 'firewall_userid', verdict: 'invalid_signature', verified: false, mismatch: true });
    expect(id.mismatches).toEqual(expect.arrayContaining([{ a: 'corp\\mallory', b: 'alice', methods: ['firewall_userid', 'jwt'] }]));
    const jwt = id.claims.find((c) => c.method === 'jwt')!;
    expect(jwt).toMatchObject({ subject: 'alice', verdict: 'invalid_signature', source: 'tyk' });
    expect(jwt.tokenSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('(f) judges tokens at event time: an expired token is expired, a replayed request from last month is verified', () => {
    check('f-expired', 'f-replayed-old');
    expect(stored('f-expired')!.auditmesh.identity).toMatchObject({ verdict: 'expired', verified: false });
    expect(stored('f-expired')!.auditmesh.identity.subject).toBeUndefined();
    const old = stored('f-replayed-old')!;
    expect(Date.now() - Date.parse(old['@timestamp'])).toBeGreaterThan(29 * DAY);
    expect(old.auditmesh.identity).toMatchObject({ subject: 'frank', verdict: 'verified', verified: true });
  });

  it('(g) judges a token for another audience wrong_audience', () => {
    check('g-wrong-audience');
    expect(stored('g-wrong-audience')!.auditmesh.identity.claims.find((c) => c.method === 'jwt')).toMatchObject({ verdict: 'wrong_audience', audience: ['billing-api'] });
  });

  it('(h) verifies every token across a signing-key rotation mid-stream (k1, then JWKS {k1,k2} and tokens signed with k2)', () => {
    const labels = expected.filter((e) => e.label.startsWith('h-rotation-')).map((e) => e.label);
    expect(labels).toHaveLength(6);
    check(...labels);
    for (const l of labels) expect(stored(l)!.auditmesh.identity).toMatchObject({ subject: 'heidi', verdict: 'verified', verified: true });
    // The new kid made auditmesh fetch the JWKS again.
    expect(jwksServer.fetches).toBeGreaterThan(fetchesBeforeRotation);
  });

  it('(i) does not join a request to either of two matching firewall sessions and records the ambiguity', () => {
    check('i-ambiguous-firewall', 'i-session-1', 'i-session-2');
    const r = stored('i-ambiguous-firewall')!;
    expect(r.auditmesh.members.some((m) => m.source === 'panos')).toBe(false);
    const ids = [byLabel('i-session-1'), byLabel('i-session-2')].map((s) => s.members[0]!.eventId).sort();
    expect(r.auditmesh.ambiguous).toEqual([{ event_id: ids.join(','), key: 'firewall address+time', candidates: 2 }]);
  });

  it('never stores a raw token: no token (nor its signature) in any document of any auditmesh index', async () => {
    const tokens = [...phase0.tokens, ...phase1.tokens, ...phase2.tokens];
    expect(tokens.length).toBe(18);
    await es.indices.refresh({ index: `${prefix}-*` });
    const texts: string[] = [];
    for (const index of [`${prefix}-records-*`, `${prefix}-events-*`, `${prefix}-keys`, `${prefix}-dead-letters*`]) {
      const res = await es.search({ index, size: 10_000, ignore_unavailable: true, allow_no_indices: true, query: { match_all: {} } });
      for (const h of res.hits.hits) texts.push(JSON.stringify(h._source));
    }
    expect(texts.length).toBeGreaterThan(expected.length);
    const all = texts.join('\n');
    for (const t of tokens) {
      expect(all.includes(t)).toBe(false);
      expect(all.includes(t.split('.')[2]!)).toBe(false);
    }
    expect(all).not.toMatch(/Bearer\s+ey/);
    // Fingerprints are kept instead.
    expect(stored('a-w3c-everywhere')!.related).toMatchObject({ hash: expect.arrayContaining([expect.stringMatching(/^[0-9a-f]{64}$/)]) });
  });

  it('serves the same records through the API: filters by verdict, user and trace (64-bit ids normalized), and the trace view', async () => {
    const api = async (p: string) => {
      const r = await fetch(`http://127.0.0.1:${svc!.port}${p}`, { headers: apiHeaders });
      expect(r.status).toBe(200);
      return (await r.json()) as any;
    };
    const forged = await api('/v1/records?verdict=invalid_signature');
    expect(forged.records.map((r: AuditRecord) => r.auditmesh.record_id)).toEqual([stored('e-forged')!.auditmesh.record_id]);
    expect(forged.records[0]).toEqual(stored('e-forged'));
    const heidi = await api('/v1/records?user.id=heidi&type=request&limit=100');
    expect(heidi.records).toHaveLength(6);
    const b = req.get('b-b3-64-and-w3c-128')!;
    const byTrace = await api(`/v1/records?trace.id=${b.traceId64}`);
    expect(byTrace.records.map((r: AuditRecord) => r.auditmesh.record_id)).toEqual([stored('b-b3-64-and-w3c-128')!.auditmesh.record_id]);
    const a = req.get('a-w3c-everywhere')!;
    const trace = await api(`/v1/traces/${a.traceId}`);
    expect(trace.records).toHaveLength(1);
    // The trace view lists the events the record owns (the linked firewall session belongs to its own record).
    expect(trace.events.map((e: { source: string }) => e.source).sort()).toEqual(['envoy', 'otlp', 'tyk']);
    const old = await api(`/v1/records?from=${new Date(Date.now() - 40 * DAY).toISOString()}&to=${new Date(Date.now() - 20 * DAY).toISOString()}`);
    expect(old.records.map((r: AuditRecord) => r.auditmesh.record_id)).toEqual([stored('f-replayed-old')!.auditmesh.record_id]);
  });
});
