import type { Request, Response } from 'express';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { PeriodicExportingMetricReader, type MetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import type { Logger } from './logger';

export interface Telemetry {
  metricsHandler: (req: Request, res: Response) => void;
  /** Flush and stop exporting. Idempotent. */
  shutdown(): Promise<void>;
}

/** The OTLP metric exporter package of each OTLP protocol (OTEL_EXPORTER_OTLP_[METRICS_]PROTOCOL). */
const OTLP_METRIC_EXPORTERS: Record<string, string> = {
  grpc: '@opentelemetry/exporter-metrics-otlp-grpc',
  'http/json': '@opentelemetry/exporter-metrics-otlp-http',
  'http/protobuf': '@opentelemetry/exporter-metrics-otlp-proto',
};

/**
 * OTLP metrics, next to Prometheus, when an OTLP endpoint is configured. The exporters ship with
 * @opentelemetry/sdk-node (its own dependencies, same versions); they read the standard
 * OTEL_EXPORTER_OTLP_* variables. The interval is OTEL_METRIC_EXPORT_INTERVAL (SDK default 60 s).
 */
function otlpMetricReader(log: Logger): MetricReader | undefined {
  const protocol = (process.env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL ?? process.env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf').trim() || 'http/protobuf';
  const pkg = OTLP_METRIC_EXPORTERS[protocol];
  if (!pkg) {
    log.warn('self-telemetry: unsupported OTLP metrics protocol; metrics stay on /metrics only', { protocol, supported: Object.keys(OTLP_METRIC_EXPORTERS) });
    return undefined;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { OTLPMetricExporter } = require(pkg) as { OTLPMetricExporter: new () => PushMetricExporter };
    const interval = Number(process.env.OTEL_METRIC_EXPORT_INTERVAL);
    return new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter(), ...(interval > 0 ? { exportIntervalMillis: interval } : {}) });
  } catch (e) {
    log.warn('self-telemetry: OTLP metrics exporter not available; metrics stay on /metrics only', { package: pkg, error: (e as Error).message });
    return undefined;
  }
}

/**
 * Self-telemetry on @opentelemetry/sdk-node: metrics are served in Prometheus format at /metrics
 * (the exporter's handler, no extra port); traces and metrics are also exported over OTLP when the
 * standard OTEL_EXPORTER_OTLP_* variables are set (the SDK reads them). OTEL_SDK_DISABLED=true
 * turns it off. Spans: one `auditmesh.batch` per batch with parse/correlate/sink children
 * (pipeline/runner.ts).
 *
 * The SDK registers the process-global OTel providers. shutdown() unregisters them again, so a later
 * startTelemetry in the same process (tests, an embedding application) registers fresh ones; run one
 * service per process.
 */
export async function startTelemetry(log: Logger): Promise<Telemetry> {
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const otlp = Boolean(process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT);
  if (!otlp) process.env.OTEL_TRACES_EXPORTER ??= 'none';
  // We log JSON to stderr (logger.ts); without this the SDK would set up an OTLP log exporter by default.
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  process.env.OTEL_SERVICE_NAME ??= 'auditmesh';
  const otlpMetrics = otlp ? otlpMetricReader(log) : undefined;
  const sdk = new NodeSDK({ metricReaders: otlpMetrics ? [prometheus, otlpMetrics] : [prometheus], instrumentations: [] });
  try {
    sdk.start();
  } catch (e) {
    log.warn('self-telemetry did not start', { error: (e as Error).message });
  }
  let stopping: Promise<void> | undefined;
  return {
    metricsHandler: (req, res) => prometheus.getMetricsRequestHandler(req, res),
    shutdown() {
      stopping ??= (async () => {
        try {
          await sdk.shutdown();
        } catch (e) {
          log.warn('self-telemetry shutdown failed', { error: (e as Error).message });
        }
        metrics.disable();
        trace.disable();
        propagation.disable();
        context.disable();
      })();
      return stopping;
    },
  };
}
