import { Kafka, logLevel, type Producer } from 'kafkajs';
import type { Logger } from '../../instrumentation/logger';
import type { Metrics } from '../../instrumentation/metrics';
import { publicAlert, type Alert } from '../alert';
import type { DetectMetrics } from '../metrics';
import type { AlertOutput } from './output';

/**
 * Alerts on a Kafka topic (detect.kafkaTopic), with the same client settings as the ingestion
 * (kafka.brokers, kafka.clientId). Key = alert id, so a compacted topic keeps each alert's latest
 * state; value = `{ "type": "alert.created" | "alert.updated", "alert": {...} }`; headers
 * `auditmesh.event`, `auditmesh.rule_id`, `auditmesh.severity`. acks=all. A send that fails after
 * kafkajs's retries is logged and counted: the alert itself is already in the store.
 */
export class KafkaAlertOutput implements AlertOutput {
  readonly name = 'kafka';
  private readonly producer: Producer;
  private connected: Promise<void> | undefined;
  private stopped = false;

  constructor(
    kafka: { brokers: string[]; clientId: string },
    private readonly topic: string,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly detectMetrics: DetectMetrics,
  ) {
    const client = new Kafka({
      clientId: `${kafka.clientId}-alerts`,
      brokers: kafka.brokers,
      logLevel: logLevel.ERROR,
      retry: { initialRetryTime: 300, retries: 8 },
      logCreator: () => ({ level, log }) => {
        if (level <= logLevel.ERROR) this.log.warn('kafka alert producer', { message: log.message });
      },
    });
    this.producer = client.producer({ allowAutoTopicCreation: true, idempotent: false });
  }

  async publish(ev: { created: Alert[]; updated: Alert[] }): Promise<void> {
    if (this.stopped || (!ev.created.length && !ev.updated.length)) return;
    const msg = (a: Alert, type: string) => ({
      key: a.id,
      value: JSON.stringify({ type, alert: publicAlert(a) }),
      headers: { 'auditmesh.event': type, 'auditmesh.rule_id': a.rule_id, 'auditmesh.severity': a.severity },
    });
    const messages = [...ev.created.map((a) => msg(a, 'alert.created')), ...ev.updated.map((a) => msg(a, 'alert.updated'))];
    try {
      await (this.connected ??= this.producer.connect());
      await this.producer.send({ topic: this.topic, acks: -1, messages });
      this.detectMetrics.deliveries.add(messages.length, { output: 'kafka', outcome: 'delivered' });
    } catch (e) {
      this.connected = undefined;
      this.detectMetrics.deliveries.add(messages.length, { output: 'kafka', outcome: 'failed' });
      this.metrics.errors.add(1, { component_id: 'detect', error_code: 'alert_topic_send_failed', stage: 'sink' });
      this.log.error('cannot publish alerts to kafka', { topic: this.topic, alerts: messages.length, error: (e as Error).message });
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (!this.connected) return;
    try {
      await this.producer.disconnect();
    } catch (e) {
      this.log.warn('kafka alert producer disconnect failed', { error: (e as Error).message });
    }
  }
}
