// The task module of ./trace-tree.ts. `setupTracing` is the pool's
// initializer: each worker (a process or a thread has its own OpenTelemetry
// globals) registers a tracer provider and the AsyncLocalStorage context
// manager, and hands every span it ends to the parent, which collects them.
// A real service would export with OTLP instead; the parent's collection is
// what makes this example self-contained.

import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { appendFileSync } from 'node:fs';

/** One span as the parent reads it. */
export interface SpanRecord {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  ms: number;
}

export function record(span: ReadableSpan): SpanRecord {
  const [s, ns] = span.duration;
  return {
    name: span.name,
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    ms: s * 1000 + ns / 1e6,
  };
}

/** Writes each ended span as a JSON line: synchronous, so a span is out before the task's result. */
class JsonLinesExporter implements SpanExporter {
  constructor(private readonly file: string) {}
  export(spans: ReadableSpan[], done: (result: { code: 0 }) => void): void {
    appendFileSync(this.file, spans.map((s) => `${JSON.stringify(record(s))}\n`).join(''));
    done({ code: 0 });
  }
  async shutdown(): Promise<void> {}
}

export function setupTracing(spansFile: string): void {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new JsonLinesExporter(spansFile))] }));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}

/** A task that makes spans of its own: they join the caller's trace. */
export async function resize(width: number): Promise<number> {
  const tracer = trace.getTracer('traced-tasks');
  const decoded = await tracer.startActiveSpan('decode', async (span) => {
    await new Promise((resolve) => setImmediate(resolve));
    span.end();
    return width * 2;
  });
  return tracer.startActiveSpan('scale', (span) => {
    span.setAttribute('width', width);
    span.end();
    return decoded / 2;
  });
}
