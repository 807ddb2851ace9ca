import type { AuditRecord, AuditStore, StoredEvent, WriteBatch } from '../model/record';
import type { Logger } from '../instrumentation/logger';
import type { Metrics } from '../instrumentation/metrics';
import { PipelineError } from '../errors';
import { addRecords, alertId, hasSeen, incidentKey, withinSuppression, type Alert } from './alert';
import { alreadyApplied, baselineKey, newBaseline, observe, type Dim, type IdentityBaseline } from './baseline';
import type { DetectMetrics } from './metrics';
import type { AlertOutput } from './outputs/output';
import { viewOf, type RecordView } from './recordView';
import { implOf } from './rules';
import type { LoadedRule } from './rules/schema';
import type { EvalContext, Match, RuleImpl } from './rules/types';
import type { RevocationList } from './revocations';
import type { AlertStore, StateDoc, StateKind } from './store/alertStore';
import { newWindow, type WindowState } from './window';

/** What the engine reads its rules from (RuleSource, or a fixed list in tests). */
export interface RuleProvider {
  readonly rules: LoadedRule[];
  readonly revocations: RevocationList;
}

export interface AlertEngineOptions {
  store: AlertStore;
  /** The audit store, for the source events some rules read (workload_outside_mesh). */
  auditStore: Pick<AuditStore, 'getEvents'>;
  rules: RuleProvider;
  outputs?: AlertOutput[];
  log: Logger;
  metrics: Metrics;
  detectMetrics: DetectMetrics;
  /** Wall clock, only for created_at/updated_at: rules run on event time. */
  now?: () => Date;
  /** Cap of cached state documents (baselines, windows, incident pointers); evicted ones are reloaded on demand. */
  maxCachedStates?: number;
  /** Attempts of a retriable store failure per batch before the batch's alerts are given up (logged, counted). */
  commitAttempts?: number;
  /** Deadline for outputs to flush at stop, in ms. */
  stopDeadlineMs?: number;
}

/** Incident pointer (state `i:<rule>|<key>`): the current alert of the incident and its predecessors (replay dedupe). */
interface IncidentPointer {
  alert_id: string;
  history?: string[];
}
const MAX_INCIDENT_HISTORY = 10;

interface CacheEntry {
  kind: StateKind;
  doc: unknown;
}

/**
 * Evaluates the alert rules on every batch the store acknowledged (PipelineRunner.onWritten), in
 * event-time order, against per-identity baselines and per-rule windows; folds matches into
 * incidents (deterministic alert ids, per-alert record dedupe); persists alerts then state; hands
 * new and updated alerts to the outputs. Batches are processed one at a time.
 *
 * Idempotence (at-least-once input): a record seen again — the same batch redelivered, or a new
 * version of the record after a late event joined it — teaches the baseline once (`recent` ring),
 * counts once in a window (distinct record ids) and once in an alert (`seen` hashes), also across
 * a restart, because all of that state is in the store.
 */
export class AlertEngine {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly dirty = new Set<string>();
  private readonly now: () => Date;
  private readonly maxCached: number;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: AlertEngineOptions) {
    this.now = opts.now ?? (() => new Date());
    this.maxCached = opts.maxCachedStates ?? 100_000;
  }

  /** The listener for PipelineRunner.onWritten. Never throws: failures are logged and counted. */
  onBatch = (batch: WriteBatch): Promise<void> => {
    const run = this.queue.then(() => this.process(batch.records));
    this.queue = run.catch(() => undefined);
    return run;
  };

  /** Evaluate records directly (tests, replays). Same path as onBatch. */
  processRecords(records: AuditRecord[]): Promise<void> {
    const run = this.queue.then(() => this.process(records));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async process(records: AuditRecord[]): Promise<void> {
    if (this.stopped) return;
    try {
      await this.evaluateBatch(records);
    } catch (e) {
      this.opts.metrics.errors.add(1, { component_id: 'detect', error_code: (e as PipelineError).code ?? 'evaluation_failed', stage: 'processing' });
      this.opts.log.error('alert evaluation of a batch failed; its alerts are lost', { error: (e as Error).message, records: records.length });
      // The cache may hold state that was not persisted: drop it, the store is the truth.
      this.cache.clear();
      this.dirty.clear();
    }
  }

  private async evaluateBatch(records: AuditRecord[]): Promise<void> {
    const rules = this.opts.rules.rules.filter((r) => r.enabled);
    // The API's own audit records (`api`) are not traffic of the mesh.
    const views = records
      .filter((r) => (r.auditmesh?.record_type as string) !== 'api')
      .map(viewOf)
      .filter((v) => Number.isFinite(v.t))
      .sort((a, b) => a.t - b.t || (a.recordId < b.recordId ? -1 : a.recordId > b.recordId ? 1 : 0));
    if (!views.length || !rules.length) return;
    this.opts.detectMetrics.evaluated.add(views.length);

    // 1. Load what the rules need, in one round trip each: baselines, windows, source events.
    const keys = new Set<string>();
    const eventIds = new Set<string>();
    for (const v of views) {
      if (v.subject) keys.add(baselineKey(v.subject, v.verified));
      for (const rule of rules) {
        const impl = implOf(rule.type) as RuleImpl;
        for (const k of impl.windowKeys?.(rule as never, v) ?? []) keys.add(k);
        for (const id of impl.eventIds?.(rule as never, v) ?? []) eventIds.add(id);
      }
    }
    await this.ensureLoaded([...keys]);
    const events = eventIds.size ? await this.opts.auditStore.getEvents([...eventIds]) : new Map<string, StoredEvent>();

    // 2. Evaluate in event-time order; learn baselines after the rules saw the record.
    const matches: { rule: LoadedRule; view: RecordView; match: Match }[] = [];
    for (const v of views) {
      let baseline: IdentityBaseline | undefined;
      let bkey: string | undefined;
      if (v.subject) {
        bkey = baselineKey(v.subject, v.verified);
        baseline = (this.get(bkey) as IdentityBaseline | undefined) ?? newBaseline(v.subject);
      }
      const firstSighting = baseline ? !alreadyApplied(baseline, v.recordId) : true;
      const ctx: EvalContext = {
        view: v,
        firstSighting,
        events,
        revocations: this.opts.rules.revocations,
        window: (key) => {
          let w = this.get(key) as WindowState | undefined;
          if (!w) this.set(key, 'window', (w = newWindow()));
          return w;
        },
        markDirty: (key) => this.dirty.add(key),
      };
      if (baseline) ctx.baseline = baseline;
      const dims = new Map<string, Dim>();
      for (const rule of rules) {
        const impl = implOf(rule.type) as RuleImpl;
        try {
          for (const m of impl.evaluate(rule as never, ctx)) matches.push({ rule, view: v, match: m });
          for (const d of impl.dims?.(rule as never, v) ?? []) dims.set(d.name, d);
        } catch (e) {
          this.opts.metrics.errors.add(1, { component_id: 'detect', error_code: 'rule_failed', stage: 'processing' });
          this.opts.log.error('alert rule failed on a record', { rule: rule.id, record: v.recordId, error: (e as Error).message });
        }
      }
      if (baseline && bkey && firstSighting) {
        observe(baseline, v.recordId, v.t, [...dims.values()]);
        this.set(bkey, 'baseline', baseline);
        this.dirty.add(bkey);
      }
    }

    // 3. Fold matches into incidents.
    const { created, updated, changed } = await this.fold(matches);

    // 4. Persist alerts, then state; then tell the outputs.
    await this.commit(changed);
    for (const o of created.length || updated.length ? (this.opts.outputs ?? []) : []) {
      try {
        await o.publish({ created, updated });
      } catch (e) {
        this.opts.log.error('alert output failed', { output: o.name, error: (e as Error).message });
      }
    }
    this.evict();
  }

  private async fold(matches: { rule: LoadedRule; view: RecordView; match: Match }[]): Promise<{ created: Alert[]; updated: Alert[]; changed: Alert[] }> {
    const created: Alert[] = [];
    const touched = new Map<string, Alert>();
    if (!matches.length) return { created, updated: [], changed: [] };
    const ikeys = [...new Set(matches.map((m) => incidentKey(m.rule.id, m.match.groupKey)))];
    await this.ensureLoaded(ikeys);
    const ptrOf = (k: string) => this.get(k) as IncidentPointer | undefined;
    const ids = ikeys.flatMap((k) => {
      const p = ptrOf(k);
      return p ? [p.alert_id, ...(p.history ?? [])] : [];
    });
    const alerts = ids.length ? await this.opts.store.getAlerts([...new Set(ids)]) : new Map<string, Alert>();
    const nowIso = this.now().toISOString();
    for (const { rule, view, match } of matches) {
      const ikey = incidentKey(rule.id, match.groupKey);
      const ptr = ptrOf(ikey);
      const current = ptr ? alerts.get(ptr.alert_id) : undefined;
      // Records already counted by this incident or one of its predecessors: a replay.
      const known = ptr ? [ptr.alert_id, ...(ptr.history ?? [])].map((id) => alerts.get(id)).filter((a): a is Alert => Boolean(a)) : [];
      let recs = match.records ?? [{ id: view.recordId, t: view.t }];
      recs = recs.filter((r) => !known.some((a) => hasSeen(a, r.id)));
      if (!recs.length) continue;
      if (current && withinSuppression(current, view.t, rule.suppressionWindowSeconds * 1000)) {
        if (addRecords(current, recs, match.reason, nowIso)) {
          touched.set(current.id, current);
          this.opts.detectMetrics.matches.add(recs.length, { rule_id: rule.id });
        }
        continue;
      }
      const firstT = Math.min(...recs.map((r) => r.t));
      const id = alertId(rule.id, match.groupKey, firstT, recs[0]!.id);
      // Deterministic id: it exists already when this exact incident was raised before (a replay past the history).
      const existing = alerts.get(id) ?? (await this.opts.store.getAlerts([id])).get(id);
      if (existing) {
        alerts.set(id, existing);
        if (addRecords(existing, recs, match.reason, nowIso)) touched.set(id, existing);
        continue;
      }
      const a: Alert = {
        id,
        rule_id: rule.id,
        rule_type: rule.type,
        severity: rule.severity,
        description: rule.description,
        status: 'open',
        group_key: match.groupKey,
        first_seen: new Date(firstT).toISOString(),
        last_seen: new Date(firstT).toISOString(),
        count: 0,
        record_ids: [],
        record_ids_truncated: false,
        reason: match.reason,
        last_reason: match.reason,
        created_at: nowIso,
        updated_at: nowIso,
        seen: [],
      };
      if (match.identity) a.identity = match.identity;
      if (match.sourceIp) a.source_ip = match.sourceIp;
      if (match.details) a.details = match.details;
      addRecords(a, recs, match.reason, nowIso);
      alerts.set(a.id, a);
      touched.set(a.id, a);
      created.push(a);
      const history = ptr ? [ptr.alert_id, ...(ptr.history ?? [])].slice(0, MAX_INCIDENT_HISTORY) : [];
      this.set(ikey, 'incident', { alert_id: a.id, history } satisfies IncidentPointer);
      this.dirty.add(ikey);
      this.opts.detectMetrics.alerts.add(1, { rule_id: rule.id, severity: rule.severity });
      this.opts.detectMetrics.matches.add(recs.length, { rule_id: rule.id });
    }
    const createdIds = new Set(created.map((a) => a.id));
    const changed = [...touched.values()];
    return { created, updated: changed.filter((a) => !createdIds.has(a.id)), changed };
  }

  private async commit(alerts: Alert[]): Promise<void> {
    const state: StateDoc[] = [...this.dirty].map((key) => {
      const e = this.cache.get(key)!;
      return { key, kind: e.kind, doc: e.doc };
    });
    if (!alerts.length && !state.length) return;
    const attempts = this.opts.commitAttempts ?? 5;
    let delay = 100;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.opts.store.commit(alerts, state);
        this.dirty.clear();
        return;
      } catch (e) {
        const pe = e instanceof PipelineError ? e : undefined;
        if (!pe?.retriable || attempt >= attempts) throw e;
        this.opts.log.warn('alert store commit failed, retrying', { attempt, code: pe.code, error: pe.message });
        await new Promise((r) => setTimeout(r, delay + Math.random() * delay * 0.2));
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }

  private get(key: string): unknown {
    const e = this.cache.get(key);
    if (!e) return undefined;
    // Most recently used last (Map keeps insertion order).
    this.cache.delete(key);
    this.cache.set(key, e);
    return e.doc;
  }

  private set(key: string, kind: StateKind, doc: unknown): void {
    this.cache.delete(key);
    this.cache.set(key, { kind, doc });
  }

  private async ensureLoaded(keys: string[]): Promise<void> {
    const missing = keys.filter((k) => !this.cache.has(k));
    if (!missing.length) return;
    const found = await this.opts.store.loadState(missing);
    for (const [k, doc] of found) this.set(k, k.startsWith('b:') ? 'baseline' : k.startsWith('w:') ? 'window' : 'incident', doc);
  }

  /** Keep the cache bounded: drop the least recently used clean entries (the store has them). */
  private evict(): void {
    let over = this.cache.size - this.maxCached;
    if (over <= 0) return;
    let n = 0;
    for (const k of this.cache.keys()) {
      if (over <= 0) break;
      if (this.dirty.has(k)) continue;
      this.cache.delete(k);
      over--;
      n++;
    }
    if (n) this.opts.detectMetrics.stateEvictions.add(n);
  }

  /** Wait for the batch in flight, flush the outputs, stop. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    await this.queue;
    this.stopped = true;
    for (const o of this.opts.outputs ?? []) {
      try {
        await o.stop(this.opts.stopDeadlineMs ?? 5_000);
      } catch (e) {
        this.opts.log.warn('alert output did not stop cleanly', { output: o.name, error: (e as Error).message });
      }
    }
  }
}
