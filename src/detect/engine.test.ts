import Database from 'better-sqlite3';
import { rec } from './testdata/records';
import { rule, rulesFrom, testEngine } from './testdata/engine';

const T = Date.parse('2026-03-10T10:00:00Z');
const S = 1000;
const mismatch = (id: string, t: number, subject = 'alice', version = 1) =>
  rec({ id, t, subject, version, mismatches: [{ a: subject, b: 'mallory', methods: ['jwt', 'otel_enduser'] }] });

describe('detect > engine', () => {
  it('folds matches within the suppression window into one alert with a count, and opens a new one after it', async () => {
    const te = await testEngine(rule('identity_mismatch', {}, { suppressionWindowSeconds: 3600 }));
    await te.run([mismatch('a', T), mismatch('b', T + 1800 * S)]);
    await te.run([mismatch('c', T + 5000 * S)]);
    const alerts = await te.run([mismatch('d', T + 9000 * S)]);
    expect(alerts.map((a) => [a.count, a.record_ids, a.first_seen, a.last_seen])).toEqual([
      [3, ['a', 'b', 'c'], new Date(T).toISOString(), new Date(T + 5000 * S).toISOString()],
      [1, ['d'], new Date(T + 9000 * S).toISOString(), new Date(T + 9000 * S).toISOString()],
    ]);
    expect(te.published.map((p) => [p.created.length, p.updated.length])).toEqual([[1, 0], [0, 1], [1, 0]]);
  });

  it('counts a redelivered batch, and a new version of a record, once', async () => {
    const te = await testEngine(rule('identity_mismatch'));
    const batch = [mismatch('a', T), mismatch('b', T + S)];
    const first = await te.run(batch);
    const again = await te.run(batch);
    const v2 = await te.run([mismatch('a', T, 'alice', 2)]);
    expect(again).toEqual(first);
    expect(v2).toEqual(first);
    expect(first[0]).toMatchObject({ count: 2 });
    expect(te.published).toHaveLength(1);
  });

  it('gives the same alert ids to the same input in another store (deterministic ids)', async () => {
    const input = [mismatch('a', T), mismatch('b', T + 7200 * S), mismatch('c', T + 9000 * S, 'bob')];
    const one = await (await testEngine(rule('identity_mismatch'))).run(input);
    const two = await (await testEngine(rule('identity_mismatch'))).run(input);
    expect(one.map((a) => a.id)).toEqual(two.map((a) => a.id));
    expect(new Set(one.map((a) => a.id)).size).toBe(3);
  });

  it('keeps the analyst status when the alert grows, and opens a new alert after it was resolved', async () => {
    const te = await testEngine(rule('identity_mismatch'));
    const [a] = await te.run([mismatch('a', T)]);
    await te.store.setStatus(a!.id, 'acknowledged', 'ana', new Date().toISOString());
    let alerts = await te.run([mismatch('b', T + 60 * S)]);
    expect(alerts).toEqual([expect.objectContaining({ id: a!.id, status: 'acknowledged', count: 2, status_updated_by: 'ana' })]);
    await te.store.setStatus(a!.id, 'resolved', 'ana', new Date().toISOString());
    alerts = await te.run([mismatch('a', T), mismatch('c', T + 120 * S)]);
    expect(alerts.map((x) => [x.status, x.count, x.record_ids])).toEqual([
      ['resolved', 2, ['a', 'b']],
      ['open', 1, ['c']],
    ]);
  });

  it('ignores the API\'s own audit records', async () => {
    const te = await testEngine(rule('unverified_sensitive_route', { pathPrefixes: ['/v1'] }));
    expect(await te.run([rec({ type: 'api' as never, verified: false, path: '/v1/records', status: 200, ip: '127.0.0.1' })])).toEqual([]);
  });

  it('keeps baselines, windows and alert dedupe across a restart (state in the store, reloaded on demand)', async () => {
    const db = new Database(':memory:');
    const rules = rulesFrom(`rules:
  - { id: net, type: new_source, severity: medium, suppressionWindowSeconds: 3600, description: a new network for this person, params: { learningRecords: 5 } }
  - { id: burst, type: denied_burst, severity: medium, suppressionWindowSeconds: 3600, description: too many denied requests, params: { threshold: 4, windowSeconds: 600 } }
`);
    const te = await testEngine(rules, { db, maxCachedStates: 1 });
    const learn = Array.from({ length: 6 }, (_, i) => rec({ id: `l${i}`, subject: 'alice', ip: '198.18.1.10', t: T + i * 60 * S }));
    const denied = [0, 1].map((i) => rec({ id: `d${i}`, subject: 'bob', status: 403, t: T + i * S }));
    await te.run([...learn, ...denied]);
    await te.restart();
    expect(await te.run([rec({ id: 'k1', subject: 'alice', ip: '198.18.1.11', t: T + 3600 * S })])).toEqual([]);
    const alerts = await te.run([rec({ id: 'n1', subject: 'alice', ip: '185.220.101.4', t: T + 3700 * S }), ...[2, 3].map((i) => rec({ id: `d${i}`, subject: 'bob', status: 403, t: T + i * S }))]);
    expect(alerts.map((a) => [a.rule_id, a.count, a.record_ids])).toEqual([
      ['burst', 4, ['d0', 'd1', 'd2', 'd3']],
      ['net', 1, ['n1']],
    ]);
    // The same records once more after another restart: nothing changes.
    await te.restart();
    expect(await te.run([...learn, ...denied, rec({ id: 'n1', subject: 'alice', ip: '185.220.101.4', t: T + 3700 * S })])).toEqual(alerts);
    const base = await te.store.loadState(['b:v:alice']);
    expect(base.get('b:v:alice')).toMatchObject({ records: 8 });
  });

  it('keeps going when a rule is disabled or the rules change between batches', async () => {
    const te = await testEngine(rule('identity_mismatch', {}, { enabled: false }));
    expect(await te.run([mismatch('a', T)])).toEqual([]);
    te.provider.rules = rule('identity_mismatch');
    expect(await te.run([mismatch('b', T)])).toHaveLength(1);
  });
});
