import type { Alert } from '../alert';

/** Where alerts go besides the store: webhooks, the Kafka alert topic. */
export interface AlertOutput {
  readonly name: string;
  /**
   * Alerts of one batch, after they were stored: `created` are new incidents, `updated` existing ones
   * whose count grew. Must not throw (failures are counted, retried or dead-lettered by the output).
   */
  publish(ev: { created: Alert[]; updated: Alert[] }): Promise<void>;
  /** Deliver what is pending within `deadlineMs`, then give up (dead letters) and release resources. Idempotent. */
  stop(deadlineMs: number): Promise<void>;
}
