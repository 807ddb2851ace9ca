import path from 'node:path';
import Database from 'better-sqlite3';
import { evalHarness, type EvalHarness } from './eval';
import type { Alert } from './alert';

jest.setTimeout(300_000);

const snapshot = (alerts: Alert[]) => alerts.map((a) => ({ id: a.id, count: a.count, last_seen: a.last_seen, records: a.record_ids.length })).sort((a, b) => a.id.localeCompare(b.id));

/**
 * Half the traffic, stop, a new engine on the same store, the rest: the baselines (learned before the
 * restart) decide the alerts after it, and reprocessing batches that were already processed (Kafka
 * redelivery after a crash) changes no alert.
 */
describe('detect > restart and redelivery on labeled traffic', () => {
  let h: EvalHarness;
  let split: number;

  beforeAll(async () => {
    h = await evalHarness({ trafficOptions: { seed: 7, users: 30 } });
    // Restart right before the first injected misuse: every detection after it depends on state learned before.
    split = h.traffic.inputs.findIndex((i) => i.label !== 'benign');
    await h.replay(0, split);
  });
  afterAll(async () => {
    await h?.dispose();
  });

  it('keeps baselines across the restart and still detects every case, without alerting known addresses', async () => {
    const key = 'b:v:alice';
    const before = (await h.detection.store.loadState([key])).get(key) as { records: number; seen: Record<string, { n: number }> };
    expect(before.records).toBeGreaterThan(30);
    await h.restart();
    const after = (await h.detection.store.loadState([key])).get(key);
    expect(after).toEqual(before);
    await h.replay(split);
    const r = await h.score();
    expect(r.missed).toEqual([]);
    expect(r.falseAlerts.filter((a) => a.rule_id === 'new-network' || a.rule_id === 'new-country')).toEqual([]);
    expect(r.alertedBenignIdentities).toEqual([]);
  });

  it('changes no alert when already-processed batches are processed again, before and after a restart', async () => {
    const first = snapshot(await h.alerts());
    expect(first.length).toBeGreaterThan(20);
    await h.replay(split, Math.min(split + 3000, h.traffic.inputs.length));
    expect(snapshot(await h.alerts())).toEqual(first);
    await h.restart();
    await h.replay(Math.max(0, h.traffic.inputs.length - 1500));
    expect(snapshot(await h.alerts())).toEqual(first);
  });

  it('(control) misses baseline cases when the learned state is wiped at the restart', async () => {
    const c = await evalHarness({ traffic: h.traffic });
    try {
      await c.replay(0, split);
      await c.stop();
      const db = new Database(path.join(c.cfg.dataDir, 'auditmesh.db'));
      db.prepare("DELETE FROM alert_state WHERE key LIKE 'b:%'").run();
      db.close();
      await c.restart();
      await c.replay(split);
      const r = await c.score();
      const missedRules = new Set(r.missed.map((m) => m.rule));
      expect(missedRules.has('unusual-hour') || missedRules.has('new-network') || missedRules.has('rate-spike')).toBe(true);
    } finally {
      await c.dispose();
    }
  });
});
