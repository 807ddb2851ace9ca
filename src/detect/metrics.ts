import { metrics as otelMetrics, type Counter, type Meter } from '@opentelemetry/api';

/**
 * Detection's own instruments (fixed names, like instrumentation/metrics.ts). Errors go to the shared
 * `component_errors_total{component_id="detect", error_code, stage}`.
 */
export interface DetectMetrics {
  alerts: Counter; // auditmesh_alerts_total{rule_id, severity}: new alerts (incidents)
  matches: Counter; // auditmesh_alert_matches_total{rule_id}: records counted into alerts
  evaluated: Counter; // auditmesh_detect_records_total: records evaluated
  deliveries: Counter; // auditmesh_alert_deliveries_total{output, outcome}: delivered | retried | dead_lettered | failed
  reloads: Counter; // auditmesh_alert_rule_reloads_total{what, outcome}: ok | invalid
  stateEvictions: Counter; // auditmesh_detect_state_evictions_total: state cache entries dropped (reloaded from the store on demand)
}

export function createDetectMetrics(meter: Meter = otelMetrics.getMeter('auditmesh')): DetectMetrics {
  return {
    alerts: meter.createCounter('auditmesh_alerts_total', { description: 'Alerts raised (new incidents), by rule and severity' }),
    matches: meter.createCounter('auditmesh_alert_matches_total', { description: 'Records counted into alerts, by rule' }),
    evaluated: meter.createCounter('auditmesh_detect_records_total', { description: 'Records evaluated by the alert rules' }),
    deliveries: meter.createCounter('auditmesh_alert_deliveries_total', { description: 'Alert deliveries by output and outcome' }),
    reloads: meter.createCounter('auditmesh_alert_rule_reloads_total', { description: 'Rule and revocation file reloads by outcome' }),
    stateEvictions: meter.createCounter('auditmesh_detect_state_evictions_total', { description: 'Detection state cache evictions' }),
  };
}
