import Database from 'better-sqlite3';
import { silentLogger } from '../../instrumentation/logger';
import { noopMetrics } from '../../instrumentation/metrics';
import type { AuditRecord, StoredEvent } from '../../model/record';
import type { Alert } from '../alert';
import { AlertEngine } from '../engine';
import { createDetectMetrics } from '../metrics';
import type { AlertOutput } from '../outputs/output';
import { emptyRevocations, type RevocationList } from '../revocations';
import { parseRuleFile } from '../rules/load';
import type { LoadedRule } from '../rules/schema';
import { SqliteAlertStore } from '../store/sqliteAlertStore';

/** Rules from YAML text (`rules:` list or one rule); throws on a problem. */
export function rulesFrom(yaml: string): LoadedRule[] {
  const r = parseRuleFile('test.yaml', yaml);
  if (r.problems.length) throw new Error(r.problems.join('\n'));
  return r.rules;
}

/** One rule in YAML, with the envelope filled in. */
export function rule(type: string, params: Record<string, unknown> = {}, over: Record<string, unknown> = {}): LoadedRule[] {
  const doc = { id: over.id ?? type.replace(/_/g, '-'), type, severity: 'high', suppressionWindowSeconds: 3600, description: `test rule of type ${type}`, params, ...over };
  return rulesFrom(JSON.stringify(doc));
}

export interface TestEngine {
  engine: AlertEngine;
  store: SqliteAlertStore;
  db: Database.Database;
  provider: { rules: LoadedRule[]; revocations: RevocationList };
  events: Map<string, StoredEvent>;
  published: { created: Alert[]; updated: Alert[] }[];
  run(records: AuditRecord[]): Promise<Alert[]>;
  alerts(): Promise<Alert[]>;
  /** A new engine on the same database (a restart). */
  restart(): Promise<void>;
}

export async function testEngine(rules: LoadedRule[], opts: { db?: Database.Database; revocations?: RevocationList; maxCachedStates?: number } = {}): Promise<TestEngine> {
  const db = opts.db ?? new Database(':memory:');
  const store = new SqliteAlertStore(db);
  await store.init();
  const provider = { rules, revocations: opts.revocations ?? emptyRevocations() };
  const events = new Map<string, StoredEvent>();
  const published: { created: Alert[]; updated: Alert[] }[] = [];
  const output: AlertOutput = {
    name: 'test',
    publish: async (ev) => void published.push({ created: ev.created.map((a) => structuredClone(a)), updated: ev.updated.map((a) => structuredClone(a)) }),
    stop: async () => undefined,
  };
  const make = () =>
    new AlertEngine({
      store,
      auditStore: { getEvents: async (ids) => new Map(ids.filter((i) => events.has(i)).map((i) => [i, events.get(i)!])) },
      rules: provider,
      outputs: [output],
      log: silentLogger,
      metrics: noopMetrics,
      detectMetrics: createDetectMetrics(),
      ...(opts.maxCachedStates ? { maxCachedStates: opts.maxCachedStates } : {}),
    });
  const te: TestEngine = {
    engine: make(),
    store,
    db,
    provider,
    events,
    published,
    async run(records) {
      await te.engine.processRecords(records);
      return te.alerts();
    },
    async alerts() {
      return (await store.searchAlerts({ limit: 1000 })).alerts.sort((a, b) => a.first_seen.localeCompare(b.first_seen) || a.id.localeCompare(b.id));
    },
    async restart() {
      await te.engine.stop();
      te.engine = make();
    },
  };
  return te;
}
