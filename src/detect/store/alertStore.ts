import type { Alert, AlertStatus } from '../alert';
import type { Severity } from '../rules/schema';

/**
 * Where alerts, detection state (baselines, windows, incident pointers) and webhook dead letters
 * live: tables in the embedded store's SQLite file, or `<prefix>-alerts`, `<prefix>-baselines` and
 * `<prefix>-alert-dead-letters` next to the Elasticsearch store's indices. Both engines give the same
 * answers (alertStore.test.ts runs one suite against both).
 */
export interface AlertQuery {
  /** Alerts active in [from, to): last_seen >= from and first_seen < to (ISO 8601). */
  from?: string;
  to?: string;
  ruleId?: string;
  severity?: Severity;
  identity?: string;
  status?: AlertStatus;
  limit: number;
  cursor?: string;
}

export interface AlertPage {
  alerts: Alert[];
  nextCursor?: string;
}

export type StateKind = 'baseline' | 'window' | 'incident';

export interface StateDoc {
  key: string;
  kind: StateKind;
  doc: unknown;
}

/** A webhook delivery that failed for good: the alert, where it was going, why, and the exact body. */
export interface WebhookDeadLetter {
  id: string;
  /** Wall-clock time it was given up (ISO 8601). */
  timestamp: string;
  alert_id: string;
  rule_id: string;
  /** Position in detect.webhooks and the origin (scheme://host:port) of its URL; the full URL may hold a secret. */
  webhook_index: number;
  webhook_origin: string;
  attempts: number;
  reason: string;
  last_status?: number;
  /** The JSON body that was (to be) signed and sent. */
  payload: string;
}

export interface AlertStore {
  readonly kind: 'sqlite' | 'elasticsearch';
  /** Create tables / indices. Idempotent. */
  init(): Promise<void>;
  /** State documents by key (missing keys are absent from the map). Real-time: sees every earlier commit. */
  loadState(keys: string[]): Promise<Map<string, unknown>>;
  /**
   * Persist alerts (upsert; the analyst-owned `status` of an existing alert is never overwritten)
   * and then state. Alerts first: if the state did not make it, reprocessing finds the alerts and
   * their dedupe sets, so nothing is counted twice.
   */
  commit(alerts: Alert[], state: StateDoc[]): Promise<void>;
  /** Real-time reads by id. */
  getAlerts(ids: string[]): Promise<Map<string, Alert>>;
  searchAlerts(q: AlertQuery): Promise<AlertPage>;
  /** Set the status (analyst workflow); undefined when there is no such alert. */
  setStatus(id: string, status: AlertStatus, by: string, atIso: string): Promise<Alert | undefined>;
  putDeadLetters(dls: WebhookDeadLetter[]): Promise<void>;
  listDeadLetters(limit: number): Promise<WebhookDeadLetter[]>;
  /** Make writes visible to search (Elasticsearch); a no-op for SQLite. */
  refresh(): Promise<void>;
}
