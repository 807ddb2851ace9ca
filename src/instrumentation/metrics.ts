import { metrics as otelMetrics, type Counter, type Histogram, type Meter, type ObservableGauge, type UpDownCounter } from '@opentelemetry/api';

/**
 * The fixed vocabulary of auditmesh's metrics (names survive refactors; dashboards depend on them).
 * Instruments come from the global OTel MeterProvider: the SDK (instrumentation/telemetry.ts) exports
 * them to Prometheus at /metrics and over OTLP when configured; without the SDK they are no-ops.
 */
export interface Metrics {
  received: Counter; // component_received_events_total{source}
  sent: Counter; // component_sent_events_total{sink}
  errors: Counter; // component_errors_total{component_id, error_code, stage}
  discarded: Counter; // component_discarded_events_total{reason}
  deadLetters: Counter; // auditmesh_dead_letters_total{source, code}
  amendedEvents: Counter; // auditmesh_correlation_amended_events_total
  duplicateEvents: Counter; // auditmesh_correlation_duplicate_events_total
  partialRecords: Counter; // auditmesh_correlation_partial_records_total
  lateEvents: Counter; // auditmesh_correlation_late_events_total{source}: out of order, within the lateness
  droppedTooLate: Counter; // auditmesh_correlation_too_late_events_total{source}: behind the watermark, dead-lettered
  batchDuration: Histogram; // auditmesh_batch_duration_seconds{stage}
  sinkLatency: Histogram; // auditmesh_sink_write_seconds{sink}
  inflightBatches: UpDownCounter; // auditmesh_inflight_batches
  apiRequests: Counter; // auditmesh_api_requests_total{route, status}
}

/**
 * Alerts raised by the detection engine, one per new alert (incident), by rule and severity. The
 * instrument is registered by src/detect/metrics.ts (createDetectMetrics, labels rule_id and
 * severity): one registration only, a second one under the same name would clash in the exporter.
 */
export const ALERTS_TOTAL = 'auditmesh_alerts_total';
// Gauges observed from state rather than counted: auditmesh_consumer_lag{topic, partition}
// (observeConsumerLag, fed by KafkaIngest.lag) and auditmesh_correlation_open_records (runtime.ts,
// streaming only: records still within the allowed lateness).

/**
 * Bucket boundaries (seconds) of the latency histograms, 1 ms to 30 s. The SDK's default buckets
 * (0 … 10000) are meant for milliseconds and would put every batch in the first bucket.
 */
export const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createMetrics(meter: Meter = otelMetrics.getMeter('auditmesh')): Metrics {
  return {
    received: meter.createCounter('component_received_events_total', { description: 'Raw records received, by source' }),
    sent: meter.createCounter('component_sent_events_total', { description: 'Records acknowledged by the sink' }),
    errors: meter.createCounter('component_errors_total', { description: 'Errors by component, code and stage' }),
    discarded: meter.createCounter('component_discarded_events_total', { description: 'Events dropped on purpose (duplicates, too late)' }),
    deadLetters: meter.createCounter('auditmesh_dead_letters_total', { description: 'Records dead-lettered with a reason' }),
    amendedEvents: meter.createCounter('auditmesh_correlation_amended_events_total', { description: 'Events that amended an existing record' }),
    duplicateEvents: meter.createCounter('auditmesh_correlation_duplicate_events_total', { description: 'Redelivered events already in their record' }),
    partialRecords: meter.createCounter('auditmesh_correlation_partial_records_total', { description: 'Records capped at maxMembersPerRecord' }),
    lateEvents: meter.createCounter('auditmesh_correlation_late_events_total', { description: 'Events older than their source\'s latest event, within the allowed lateness' }),
    droppedTooLate: meter.createCounter('auditmesh_correlation_too_late_events_total', { description: 'Events behind the watermark, dead-lettered with code too_late' }),
    batchDuration: meter.createHistogram('auditmesh_batch_duration_seconds', { description: 'Batch time through parse, correlate and sink', unit: 's', advice: { explicitBucketBoundaries: SECONDS_BUCKETS } }),
    sinkLatency: meter.createHistogram('auditmesh_sink_write_seconds', { description: 'Store write (bulk) latency, retries included', unit: 's', advice: { explicitBucketBoundaries: SECONDS_BUCKETS } }),
    inflightBatches: meter.createUpDownCounter('auditmesh_inflight_batches', { description: 'Batches between source and sink acknowledgement' }),
    apiRequests: meter.createCounter('auditmesh_api_requests_total', { description: 'API requests by route and status' }),
  };
}

/**
 * auditmesh_consumer_lag{topic, partition}: messages between the consumer group's position and the
 * partition's high watermark after the last batch, read from `lag` (KafkaIngest.lag, keyed
 * `topic|partition`) at each collection. Returns the gauge (remove its callback to stop observing).
 */
export function observeConsumerLag(lag: ReadonlyMap<string, number>, meter: Meter = otelMetrics.getMeter('auditmesh')): ObservableGauge {
  const gauge = meter.createObservableGauge('auditmesh_consumer_lag', { description: 'Kafka consumer lag in messages, after the last batch of each partition' });
  gauge.addCallback((r) => {
    for (const [key, value] of lag) {
      const cut = key.lastIndexOf('|');
      r.observe(value, { topic: key.slice(0, cut), partition: key.slice(cut + 1) });
    }
  });
  return gauge;
}

/** Metrics that go nowhere until an SDK registers a MeterProvider. */
export const noopMetrics: Metrics = createMetrics();
