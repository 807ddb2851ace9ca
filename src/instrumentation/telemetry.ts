import type { Request, Response } from 'express';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { Logger } from './logger';

export interface Telemetry {
  metricsHandler: (req: Request, res: Response) => void;
  shutdown(): Promise<void>;
}

/**
 * Self-telemetry on @opentelemetry/sdk-node: metrics are served in Prometheus format at /metrics
 * (the exporter's handler, no extra port); traces and metrics are also exported over OTLP when the
 * standard OTEL_EXPORTER_OTLP_* variables are set (the SDK reads them). OTEL_SDK_DISABLED=true
 * turns it off.
 */
export async function startTelemetry(log: Logger): Promise<Telemetry> {
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const otlp = Boolean(process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  if (!otlp) process.env.OTEL_TRACES_EXPORTER ??= 'none';
  process.env.OTEL_SERVICE_NAME ??= 'auditmesh';
  const sdk = new NodeSDK({ metricReaders: [prometheus], instrumentations: [] });
  try {
    sdk.start();
  } catch (e) {
    log.warn('self-telemetry did not start', { error: (e as Error).message });
  }
  return {
    metricsHandler: (req, res) => prometheus.getMetricsRequestHandler(req, res),
    async shutdown() {
      try {
        await sdk.shutdown();
      } catch (e) {
        log.warn('self-telemetry shutdown failed', { error: (e as Error).message });
      }
    },
  };
}
