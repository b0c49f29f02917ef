// Reading warmpool/otel's metrics in tests: a MeterProvider with a reader
// collected on demand (the SDK's in-memory way), and one data point's value.

import { MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';

class Reader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** A meter provider for instrument(), and `read()` to collect its metrics by name. */
export function metricsSetup(): { meterProvider: MeterProvider; read(): Promise<Map<string, MetricData>> } {
  const reader = new Reader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    meterProvider,
    async read(): Promise<Map<string, MetricData>> {
      const { resourceMetrics } = await reader.collect();
      return new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]));
    },
  };
}

/** A gauge or counter value for one set of attributes. */
export function pointOf(metric: MetricData | undefined, attributes: Record<string, unknown>): number | undefined {
  const point = metric?.dataPoints.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
  return point?.value as number | undefined;
}
