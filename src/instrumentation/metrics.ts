import { metrics as otelMetrics, type Counter, type Histogram, type Meter, type UpDownCounter } from '@opentelemetry/api';

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
  consumerLag: UpDownCounter; // auditmesh_consumer_lag{topic, partition} (set via add of deltas)
  apiRequests: Counter; // auditmesh_api_requests_total{route, status}
}

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
    batchDuration: meter.createHistogram('auditmesh_batch_duration_seconds', { description: 'Batch time through parse, correlate and sink', unit: 's' }),
    sinkLatency: meter.createHistogram('auditmesh_sink_write_seconds', { description: 'Store write (bulk) latency', unit: 's' }),
    inflightBatches: meter.createUpDownCounter('auditmesh_inflight_batches', { description: 'Batches between source and sink acknowledgement' }),
    consumerLag: meter.createUpDownCounter('auditmesh_consumer_lag', { description: 'Kafka consumer lag in messages' }),
    apiRequests: meter.createCounter('auditmesh_api_requests_total', { description: 'API requests by route and status' }),
  };
}

/** Metrics that go nowhere until an SDK registers a MeterProvider. */
export const noopMetrics: Metrics = createMetrics();
