/**
 * Precision and recall of the alert rules on labeled synthetic traffic (src/testing/traffic.ts), run
 * through the real pipeline: parsers → JwtVerifier → Correlator → embedded store → alert engine.
 * Used by eval.test.ts (assertions, README table) and scripts/alert-eval.mjs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSchema, type Config } from '../config/schema';
import { silentLogger } from '../instrumentation/logger';
import { createMetrics } from '../instrumentation/metrics';
import type { AuditRecord } from '../model/record';
import { createRuntime, type Runtime } from '../runtime';
import { generateTraffic, labelsOf, replayTraffic, type InjectedCase, type Traffic, type TrafficOptions } from '../testing/traffic';
import type { Alert } from './alert';
import { createDetection, type Detection } from './index';

export const SHIPPED_RULES_DIR = path.resolve(__dirname, '../../pipelines/rules');

export interface RuleScore {
  rule: string;
  /** Injected cases this rule must detect, and how many it did. */
  cases: number;
  detected: number;
  /** Alerts the rule raised, and how many of them were about injected misuse it may flag. */
  alerts: number;
  truePositives: number;
  precision: number;
  recall: number;
}

export interface EvalResult {
  rules: RuleScore[];
  missed: InjectedCase[];
  falseAlerts: Alert[];
  benignIdentities: number;
  alertedBenignIdentities: string[];
  /** Share of benign identities with at least one false alert. */
  benignFalsePositiveRate: number;
  records: number;
  inputs: number;
}

/** Score alerts against the labels of their records. */
export function score(t: Traffic, alerts: Alert[], recordLabels: Map<string, Set<string>>, ruleIds: string[]): EvalResult {
  const byId = new Map(t.cases.map((c) => [c.id, c]));
  const labelsOfAlert = (a: Alert) => {
    const out = new Set<string>();
    for (const id of a.record_ids) for (const l of recordLabels.get(id) ?? []) out.add(l);
    return out;
  };
  const isTrue = (a: Alert) => [...labelsOfAlert(a)].some((l) => {
    const c = byId.get(l);
    return c !== undefined && (c.rule === a.rule_id || c.accepts.includes(a.rule_id));
  });
  const rules: RuleScore[] = [];
  const missed: InjectedCase[] = [];
  for (const rule of ruleIds) {
    const mine = alerts.filter((a) => a.rule_id === rule);
    const cases = t.cases.filter((c) => c.rule === rule);
    const detected = cases.filter((c) => mine.some((a) => labelsOfAlert(a).has(c.id)));
    missed.push(...cases.filter((c) => !detected.includes(c)));
    const tp = mine.filter(isTrue).length;
    rules.push({
      rule,
      cases: cases.length,
      detected: detected.length,
      alerts: mine.length,
      truePositives: tp,
      precision: mine.length ? tp / mine.length : 1,
      recall: cases.length ? detected.length / cases.length : 1,
    });
  }
  const falseAlerts = alerts.filter((a) => !isTrue(a));
  const benign = new Set(t.benignIdentities);
  const alerted = [...new Set(falseAlerts.map((a) => a.identity).filter((i): i is string => i !== undefined && benign.has(i)))].sort();
  const records = recordLabels.size;
  return { rules, missed, falseAlerts, benignIdentities: benign.size, alertedBenignIdentities: alerted, benignFalsePositiveRate: alerted.length / benign.size, records, inputs: t.inputs.length };
}

/** Sum the scores of several runs (seeds). */
export function combine(results: EvalResult[]): EvalResult {
  const rules = results[0]!.rules.map((s0) => {
    const all = results.map((r) => r.rules.find((x) => x.rule === s0.rule)!);
    const sum = (f: (s: RuleScore) => number) => all.reduce((a, s) => a + f(s), 0);
    const cases = sum((s) => s.cases), detected = sum((s) => s.detected), alerts = sum((s) => s.alerts), tp = sum((s) => s.truePositives);
    return { rule: s0.rule, cases, detected, alerts, truePositives: tp, precision: alerts ? tp / alerts : 1, recall: cases ? detected / cases : 1 };
  });
  const benign = results.reduce((a, r) => a + r.benignIdentities, 0);
  const alerted = results.flatMap((r) => r.alertedBenignIdentities);
  return {
    rules,
    missed: results.flatMap((r) => r.missed),
    falseAlerts: results.flatMap((r) => r.falseAlerts),
    benignIdentities: benign,
    alertedBenignIdentities: alerted,
    benignFalsePositiveRate: alerted.length / benign,
    records: results.reduce((a, r) => a + r.records, 0),
    inputs: results.reduce((a, r) => a + r.inputs, 0),
  };
}

/** A markdown table of the scores (the README's Alerting section). */
export function scoreTable(r: EvalResult): string {
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const lines = ['| rule | injected cases | detected | alerts | true alerts | precision | recall |', '|---|---:|---:|---:|---:|---:|---:|'];
  for (const s of r.rules) lines.push(`| \`${s.rule}\` | ${s.cases} | ${s.detected} | ${s.alerts} | ${s.truePositives} | ${pct(s.precision)} | ${pct(s.recall)} |`);
  lines.push('');
  lines.push(
    `Benign identities with a false alert: ${r.alertedBenignIdentities.length} of ${r.benignIdentities} (${(r.benignFalsePositiveRate * 100).toFixed(1)}%). ` +
      `${r.inputs} log lines, ${r.records} records.`,
  );
  return lines.join('\n');
}

export interface EvalHarness {
  traffic: Traffic;
  dir: string;
  cfg: Config;
  runtime: Runtime;
  detection: Detection;
  /** Record id → labels (union over versions), filled from every written batch. */
  recordLabels: Map<string, Set<string>>;
  /** Replay inputs [from, to) through the pipeline. */
  replay(from?: number, to?: number): Promise<void>;
  /** Stop the engine and close the store, keeping the data directory (restart tests). */
  stop(): Promise<void>;
  /** Start a new runtime and engine on the same data directory. */
  restart(): Promise<void>;
  alerts(): Promise<Alert[]>;
  score(): Promise<EvalResult>;
  /** Stop and delete the data directory. */
  dispose(): Promise<void>;
}

/** Everything needed to run traffic through the real pipeline into a fresh embedded store. */
export async function evalHarness(opts: { traffic?: Traffic; trafficOptions?: TrafficOptions; rulesDir?: string } = {}): Promise<EvalHarness> {
  const traffic = opts.traffic ?? (await generateTraffic(opts.trafficOptions));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alert-eval-'));
  fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(traffic.issuer.jwks));
  fs.writeFileSync(path.join(dir, 'revocations.yaml'), JSON.stringify(traffic.revocations, null, 2));
  const cfg = configSchema.parse({
    dataDir: path.join(dir, 'data'),
    pipelinesDir: path.join(dir, 'pipelines'),
    identity: { issuers: [{ issuer: traffic.issuer.issuer, jwksFile: path.join(dir, 'jwks.json'), audiences: [traffic.issuer.audience], algorithms: ['ES256'], clockSkewSeconds: 60 }] },
    detect: { rulesDir: opts.rulesDir ?? SHIPPED_RULES_DIR, revocationFile: path.join(dir, 'revocations.yaml'), reloadPollIntervalMs: 0 },
    log: { level: 'error' },
  });
  const recordLabels = new Map<string, Set<string>>();
  const collect = (records: AuditRecord[]) => {
    for (const r of records) {
      const set = recordLabels.get(r.auditmesh.record_id) ?? new Set<string>();
      for (const l of labelsOf(traffic, r)) set.add(l);
      recordLabels.set(r.auditmesh.record_id, set);
    }
  };
  const metrics = createMetrics();
  const start = async () => {
    const runtime = await createRuntime(cfg, { log: silentLogger, metrics });
    const detection = await createDetection(cfg, runtime.store, { log: silentLogger, metrics, env: {} });
    runtime.runner.onWritten(async (b) => collect(b.records));
    runtime.runner.onWritten(detection.engine.onBatch);
    return { runtime, detection };
  };
  let cur = await start();
  let stopped = false;
  const h: EvalHarness = {
    traffic,
    dir,
    cfg,
    get runtime() {
      return cur.runtime;
    },
    get detection() {
      return cur.detection;
    },
    recordLabels,
    replay: (from, to) => replayTraffic(traffic, { process: (raws, parser) => cur.runtime.runner.process(raws, parser), parser: (s) => cur.runtime.parser(s) }, { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) }),
    async stop() {
      if (stopped) return;
      stopped = true;
      await cur.detection.stop();
      await cur.runtime.close();
    },
    async restart() {
      await h.stop();
      cur = await start();
      stopped = false;
    },
    async alerts() {
      const out: Alert[] = [];
      let cursor: string | undefined;
      do {
        const page = await cur.detection.store.searchAlerts({ limit: 1000, ...(cursor ? { cursor } : {}) });
        out.push(...page.alerts);
        cursor = page.nextCursor;
      } while (cursor);
      return out;
    },
    async score() {
      return score(traffic, await h.alerts(), recordLabels, cur.detection.rules.rules.map((r) => r.id));
    },
    async dispose() {
      await h.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}
