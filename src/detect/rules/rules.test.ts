import type { IdentityClaim } from '../../model/events';
import { parseRevocations } from '../revocations';
import { rec } from '../testdata/records';
import { rule, testEngine } from '../testdata/engine';

const T = Date.parse('2026-03-10T10:00:00Z');
const S = 1000;
const jwt = (subject: string, verdict: IdentityClaim['verdict'], extra: Partial<IdentityClaim> = {}): IdentityClaim => ({ method: 'jwt', subject, source: 'tyk', strength: 'jwt', verdict, ...extra });
const spiffeClaim = (subject: string, eventId: string): IdentityClaim => ({ method: 'spiffe', subject, source: 'envoy', strength: 'mtls', verdict: 'trusted_upstream', eventId });

describe('detect/rules > invalid_tokens', () => {
  it('alerts at the threshold within the window per source address, with every record of the window', async () => {
    const te = await testEngine(rule('invalid_tokens', { groupBy: 'source_ip', threshold: 3, windowSeconds: 60 }));
    const recs = [0, 20, 40].map((d, i) => rec({ id: `f${i}`, t: T + d * S, ip: '203.0.113.9', status: 401, verified: false, claims: [jwt(`victim${i}`, 'invalid_signature')] }));
    expect(await te.run(recs.slice(0, 2))).toEqual([]);
    const [a] = await te.run(recs.slice(2));
    expect(a).toMatchObject({ rule_id: 'invalid-tokens', group_key: 'source_ip:203.0.113.9', count: 3, record_ids: ['f0', 'f1', 'f2'], source_ip: '203.0.113.9' });
    expect(a!.reason).toMatch(/3 requests with an invalid bearer token \(invalid_signature\) from 203\.0\.113\.9 within 60s/);
  });

  it('does not count records outside the window (event time), nor expired tokens by default', async () => {
    const te = await testEngine(rule('invalid_tokens', { threshold: 3, windowSeconds: 60 }));
    const recs = [0, 61, 122].map((d, i) => rec({ id: `g${i}`, t: T + d * S, ip: '203.0.113.9', verified: false, claims: [jwt('x', 'malformed')] }));
    recs.push(rec({ id: 'exp1', t: T + 123 * S, ip: '203.0.113.9', verified: false, claims: [jwt('x', 'expired')] }));
    expect(await te.run(recs)).toEqual([]);
  });

  it('groups by the claimed identity across addresses', async () => {
    const te = await testEngine(rule('invalid_tokens', { groupBy: 'identity', threshold: 3, windowSeconds: 600 }));
    const recs = [1, 2, 3].map((i) => rec({ id: `h${i}`, t: T + i * 60 * S, ip: `198.51.100.${i}`, verified: false, claims: [jwt('alice', i === 2 ? 'unknown_issuer' : 'invalid_signature')] }));
    const [a] = await te.run(recs);
    expect(a).toMatchObject({ group_key: 'identity:alice', identity: 'alice', count: 3 });
  });
});

describe('detect/rules > identity_mismatch', () => {
  it('alerts on a record whose layers disagree, naming both principals', async () => {
    const te = await testEngine(rule('identity_mismatch'));
    const [a] = await te.run([rec({ subject: 'alice', path: '/api/orders', mismatches: [{ a: 'alice', b: 'mallory', methods: ['jwt', 'otel_enduser'] }] }), rec({ subject: 'bob' })]);
    expect(a).toMatchObject({ group_key: 'identity:alice', count: 1 });
    expect(a!.reason).toContain("'alice' (jwt) vs 'mallory' (otel_enduser)");
  });

  it('ignores mismatches of an ignored claim method', async () => {
    const te = await testEngine(rule('identity_mismatch', { ignoreMethods: ['otel_enduser'] }));
    expect(await te.run([rec({ subject: 'alice', mismatches: [{ a: 'alice', b: 'mallory', methods: ['jwt', 'otel_enduser'] }] })])).toEqual([]);
  });
});

describe('detect/rules > unverified_sensitive_route', () => {
  const r = rule('unverified_sensitive_route', { pathPrefixes: ['/api/admin'] });

  it('alerts when an unverified identity reaches a sensitive prefix and was not denied', async () => {
    const te = await testEngine(r);
    const [a] = await te.run([rec({ subject: 'kiosk-1', verified: false, verdict: 'unverifiable', method: 'tyk_key', path: '/api/admin/users/3', status: 200, ip: '198.18.1.1' })]);
    expect(a).toMatchObject({ group_key: 'identity:kiosk-1', identity: 'kiosk-1' });
    expect(a!.reason).toMatch(/\/api\/admin\/users\/3 under the sensitive prefix \/api\/admin was reached by the unverified identity 'kiosk-1'/);
  });

  it('is quiet for verified identities, denied requests, other prefixes and segment look-alikes', async () => {
    const te = await testEngine(r);
    const alerts = await te.run([
      rec({ subject: 'alice', path: '/api/admin/users', status: 200 }),
      rec({ verified: false, path: '/api/admin/users', status: 401, ip: '1.2.3.4' }),
      rec({ verified: false, path: '/api/catalog', status: 200, ip: '1.2.3.4' }),
      rec({ verified: false, path: '/api/administrators', status: 200, ip: '1.2.3.4' }),
    ]);
    expect(alerts).toEqual([]);
  });

  it('keys an anonymous request by its source address', async () => {
    const te = await testEngine(r);
    const [a] = await te.run([rec({ verified: false, path: '/api/admin', status: 204, ip: '192.0.2.7' })]);
    expect(a).toMatchObject({ group_key: 'source_ip:192.0.2.7', source_ip: '192.0.2.7' });
  });
});

describe('detect/rules > new_source', () => {
  const learn = (subject: string, ips: string[], n: number, start = T) => Array.from({ length: n }, (_, i) => rec({ subject, ip: ips[i % ips.length]!, country: 'DE', t: start + i * 60 * S }));

  it('stays quiet during the learning period, then alerts on a new network but not on a new address in a known one', async () => {
    const te = await testEngine(rule('new_source', { scope: 'network', learningRecords: 5 }));
    expect(await te.run([rec({ subject: 'alice', ip: '203.0.113.1', t: T - 3600 * S }), ...learn('alice', ['198.18.1.10'], 3)])).toEqual([]);
    await te.run(learn('alice', ['198.18.1.10', '198.18.1.11'], 4, T + 3600 * S));
    expect(await te.run([rec({ subject: 'alice', ip: '198.18.1.99', t: T + 7200 * S })])).toEqual([]);
    const [a] = await te.run([rec({ id: 'new1', subject: 'alice', ip: '185.220.101.4', t: T + 7300 * S }), rec({ id: 'new2', subject: 'alice', ip: '185.220.101.5', t: T + 7400 * S })]);
    expect(a).toMatchObject({ group_key: 'identity:alice', count: 1, record_ids: ['new1'] });
    expect(a!.reason).toMatch(/alice was seen from a new network 185\.220\.101\.0\/24 \(185\.220\.101\.4\); known: .*198\.18\.1\.0\/24/);
  });

  it('uses /64 for IPv6 and ignores unverified and workload identities', async () => {
    const te = await testEngine(rule('new_source', { scope: 'network', learningRecords: 2 }));
    await te.run(learn('bob', ['2001:db8:1:2::10', '2001:db8:1:2:ffff::1'], 3));
    expect(await te.run([rec({ subject: 'bob', ip: '2001:db8:1:2::77', t: T + 9000 * S })])).toEqual([]);
    const alerts = await te.run([
      rec({ subject: 'bob', ip: '2001:db8:1:3::1', t: T + 9100 * S }),
      rec({ subject: 'bob', verified: false, ip: '9.9.9.9', t: T + 9200 * S }),
      rec({ subject: 'spiffe://cluster.local/ns/a/sa/b', method: 'spiffe', ip: '10.99.0.1', t: T + 9300 * S }),
    ]);
    expect(alerts.map((a) => a.details?.value)).toEqual(['2001:db8:1:3::/64']);
  });

  it('alerts on a new country (records without geo are skipped)', async () => {
    const te = await testEngine(rule('new_source', { scope: 'country', learningRecords: 3 }));
    await te.run(learn('carol', ['198.18.3.3'], 4));
    const alerts = await te.run([rec({ subject: 'carol', ip: '45.1.1.1', t: T + 9000 * S }), rec({ subject: 'carol', ip: '45.1.1.2', country: 'BR', t: T + 9100 * S })]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.reason).toMatch(/new country BR .*known: DE/);
  });
});

describe('detect/rules > denied_burst', () => {
  it('counts 401/403 per verified identity within the window', async () => {
    const te = await testEngine(rule('denied_burst', { threshold: 4, windowSeconds: 60 }));
    const recs = [0, 10, 20, 30].map((d) => rec({ subject: 'dave', status: 403, t: T + d * S, path: '/api/admin/x', ip: '198.18.4.4' }));
    recs.splice(2, 0, rec({ subject: 'dave', status: 200, t: T + 15 * S }), rec({ subject: 'dave', status: 404, t: T + 16 * S }));
    const [a] = await te.run(recs);
    expect(a).toMatchObject({ group_key: 'identity:dave', count: 4 });
  });

  it('counts firewall denies by source address', async () => {
    const te = await testEngine(rule('denied_burst', { threshold: 5, windowSeconds: 30 }));
    const recs = Array.from({ length: 6 }, (_, i) => rec({ type: 'session', sources: ['panos'], eventType: ['connection', 'denied', 'end'], ip: '192.0.2.66', t: T + i * 2 * S }));
    const [a] = await te.run(recs);
    expect(a).toMatchObject({ group_key: 'source_ip:192.0.2.66', count: 6 });
    expect(a!.reason).toContain('firewall deny');
  });
});

describe('detect/rules > unusual_hour', () => {
  it('alerts when a person with a learned routine is active in the middle of their night', async () => {
    const te = await testEngine(rule('unusual_hour', { minObservations: 40 }));
    const day = 86_400 * S;
    const routine = Array.from({ length: 50 }, (_, i) => rec({ subject: 'erin', t: T - 10 * day + Math.floor(i / 5) * day + (i % 5) * 3600 * S }));
    expect(await te.run(routine)).toEqual([]);
    // 11:00 UTC is inside the routine (10-14 UTC), 14:30 at its edge; 03:00 is far from it.
    expect(await te.run([rec({ subject: 'erin', t: T + 3600 * S }), rec({ subject: 'erin', t: T + 4.5 * 3600 * S })])).toEqual([]);
    const [a] = await te.run([rec({ subject: 'erin', t: Date.parse('2026-03-11T03:10:00Z') })]);
    expect(a).toMatchObject({ group_key: 'identity:erin' });
    expect(a!.reason).toMatch(/erin was active at 03:00 UTC, an hour with probability 0\.00\d+ in their history of 52 records \(most active: 10h, 11h, 12h, 13h, 14h UTC\)/);
  });

  it('does not judge before minObservations', async () => {
    const te = await testEngine(rule('unusual_hour', { minObservations: 40 }));
    expect(await te.run([...Array.from({ length: 10 }, (_, i) => rec({ subject: 'erin', t: T + i * 60 * S })), rec({ subject: 'erin', t: T + 15 * 3600 * S })])).toEqual([]);
  });
});

describe('detect/rules > rate_spike', () => {
  it('alerts when an hour exceeds the learned rate by the z-score', async () => {
    const te = await testEngine(rule('rate_spike', { minBuckets: 5, zScore: 3, minCount: 10 }));
    const hour = 3600 * S;
    const usual = Array.from({ length: 8 }, (_, h) => Array.from({ length: 3 + (h % 2) }, (_, k) => rec({ subject: 'frank', t: T + h * hour + k * 60 * S }))).flat();
    expect(await te.run(usual)).toEqual([]);
    const burst = Array.from({ length: 30 }, (_, k) => rec({ id: `b${k}`, subject: 'frank', t: T + 9 * hour + k * 60 * S }));
    const [a] = await te.run(burst);
    expect(a).toMatchObject({ group_key: 'identity:frank' });
    expect(a!.count).toBe(21); // from the 10th request of the hour on
    expect(a!.reason).toMatch(/frank made 10 requests in the hour 2026-03-10T19:00Z; usual 3\.\d ± 0\.\d per active hour/);
  });
});

describe('detect/rules > workload_outside_mesh', () => {
  const r = rule('workload_outside_mesh', { internalCidrs: ['10.0.0.0/8'] });
  const orders = 'spiffe://cluster.local/ns/shop/sa/orders';

  it('alerts when the mTLS peer address of a one-event record is outside the mesh', async () => {
    const te = await testEngine(r);
    const alerts = await te.run([rec({ subject: orders, method: 'spiffe', ip: '203.0.113.200', claims: [spiffeClaim(orders, 'e1')], sources: ['envoy'] }), rec({ subject: orders, method: 'spiffe', ip: '10.30.1.14', claims: [spiffeClaim(orders, 'e2')], sources: ['envoy'] })]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ group_key: `workload:${orders}`, source_ip: '203.0.113.200' });
  });

  it('reads the address of the event that carried the claim in a joined record (the edge owns source.ip)', async () => {
    const te = await testEngine(r);
    const gw = 'spiffe://cluster.local/ns/gateway/sa/tyk-gateway';
    te.events.set('env1', { ecs: { source: { ip: '10.20.0.5' } } } as never);
    te.events.set('env2', { ecs: { source: { ip: '198.51.100.3' } } } as never);
    const alerts = await te.run([
      rec({ subject: 'alice', ip: '203.0.113.10', members: 2, claims: [jwt('alice', 'verified'), spiffeClaim(gw, 'env1')] }),
      rec({ subject: 'alice', ip: '203.0.113.10', members: 2, claims: [jwt('alice', 'verified'), spiffeClaim(gw, 'env2')] }),
    ]);
    expect(alerts.map((a) => a.source_ip)).toEqual(['198.51.100.3']);
  });
});

describe('detect/rules > human_token_from_workload', () => {
  const gw = 'spiffe://cluster.local/ns/gateway/sa/tyk-gateway';
  const reporting = 'spiffe://cluster.local/ns/shop/sa/reporting';
  const r = rule('human_token_from_workload', { gatewayPrincipals: [gw], workloadPathPrefixes: ['/internal'] });

  it('alerts when a non-gateway peer presents a human token in the same event', async () => {
    const te = await testEngine(r);
    const alerts = await te.run([
      rec({ subject: 'alice', path: '/api/orders', claims: [jwt('alice', 'verified', { eventId: 'e1', source: 'envoy' }), spiffeClaim(reporting, 'e1')] }),
      rec({ subject: 'bob', path: '/api/orders', claims: [jwt('bob', 'verified', { eventId: 'e2', source: 'envoy' }), spiffeClaim(gw, 'e2')] }),
      rec({ subject: 'carol', path: '/api/orders', claims: [jwt('carol', 'verified', { eventId: 'e3' }), spiffeClaim(reporting, 'e4')] }),
    ]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ group_key: `workload:${reporting}` });
    expect(alerts[0]!.reason).toContain("presented the human token of 'alice'");
  });

  it('alerts when a verified person calls a workload-only route', async () => {
    const te = await testEngine(r);
    const alerts = await te.run([rec({ subject: 'dave', path: '/internal/reports/daily' }), rec({ subject: reporting, method: 'spiffe', path: '/internal/reports/daily', claims: [spiffeClaim(reporting, 'x')] })]);
    expect(alerts.map((a) => a.group_key)).toEqual(['identity:dave']);
  });
});

describe('detect/rules > expired_token', () => {
  it('alerts on a token used past its expiry plus the grace, keyed by the claimed subject', async () => {
    const te = await testEngine(rule('expired_token', { graceSeconds: 300 }));
    const alerts = await te.run([
      rec({ verified: false, ip: '198.18.5.5', claims: [jwt('grace', 'expired', { expiresAt: new Date(T - 3600 * S).toISOString() })] }),
      rec({ verified: false, ip: '198.18.5.6', claims: [jwt('heidi', 'expired', { expiresAt: new Date(T - 60 * S).toISOString() })] }),
    ]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ group_key: 'identity:grace' });
    expect(alerts[0]!.reason).toMatch(/the token of 'grace' was used 60min after it expired/);
  });
});

describe('detect/rules > revoked_token', () => {
  const revocations = parseRevocations('rev.yaml', `subjects:\n  - subject: ivan\n    revokedAt: 2026-03-10T10:00:00Z\n    reason: offboarded\ntokens:\n  - sha256: ${'ab'.repeat(32)}\n    revokedAt: 2026-03-10T09:00:00Z\n`);

  it('alerts on a revoked identity at or after the revocation time only', async () => {
    const te = await testEngine(rule('revoked_token'), { revocations });
    const alerts = await te.run([rec({ subject: 'ivan', t: T - S }), rec({ id: 'r2', subject: 'ivan', t: T }), rec({ subject: 'corp\\IVAN', t: T + S, verified: false })]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ group_key: 'identity:ivan', record_ids: ['r2'] });
    expect(alerts[0]!.reason).toMatch(/'ivan' was revoked at 2026-03-10T10:00:00\.000Z \(offboarded\)/);
  });

  it('alerts on a revoked token fingerprint whatever its verdict', async () => {
    const te = await testEngine(rule('revoked_token'), { revocations });
    const [a] = await te.run([rec({ verified: false, claims: [jwt('judy', 'expired', { tokenSha256: 'ab'.repeat(32) })] })]);
    expect(a).toMatchObject({ group_key: `token:${'ab'.repeat(8)}`, identity: 'judy' });
  });
});
