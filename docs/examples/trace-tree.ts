// Prints the trace of one request that submits tasks to a ProcessPool: the
// request's span, a `warmpool.task` span per task (from warmpool/otel's
// instrument()), and under each the spans the task made in its worker.
//
//   npm run build && node dist/docs/examples/trace-tree.js
//
//   request 12.3ms
//   ├─ warmpool.task resize 4.1ms
//   │  ├─ decode 0.4ms
//   │  └─ scale 0.0ms
//   └─ warmpool.task resize 3.9ms
//      ├─ decode 0.3ms
//      └─ scale 0.0ms
//
// Until the engines publish on warmpool's channels and carry the trace
// context (the shared engine core, issue 13), the task spans are missing and
// the workers' spans start traces of their own: then this prints the
// request alone, and the worker spans as separate roots.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ProcessPool } from '../../lib/index.js'; // in your code: 'warmpool'
import { instrument } from '../../lib/otel.js'; // in your code: 'warmpool/otel'
import { record, type SpanRecord } from './traced-tasks.js';
import type * as tasks from './traced-tasks.js';

// The caller's SDK: spans kept in memory, so that this script can print them.
const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
// Worker spans are roots of their own (docs/guide.md); this prints the request's trace only.
const stop = instrument({ workerSpans: false });

const dir = mkdtempSync(join(tmpdir(), 'warmpool-trace-'));
const spansFile = join(dir, 'worker-spans.jsonl');
const pool = new ProcessPool<typeof tasks>(new URL('./traced-tasks.js', import.meta.url), {
  workers: 2,
  initializer: 'setupTracing',
  initArgs: [spansFile],
});
try {
  await pool.ready();
  await trace.getTracer('example').startActiveSpan('request', async (span) => {
    await Promise.all([pool.submit('resize', [640]), pool.submit('resize', [1280])]);
    span.end();
  });
} finally {
  await pool.shutdown();
  stop();
}

const spans: SpanRecord[] = [...exporter.getFinishedSpans().map(record), ...readWorkerSpans(spansFile)];
rmSync(dir, { recursive: true, force: true });
process.stdout.write(tree(spans));

function readWorkerSpans(file: string): SpanRecord[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as SpanRecord);
  } catch {
    return [];
  }
}

/** The spans as trees: roots, and each span's children, in the order they ended. */
function tree(all: SpanRecord[]): string {
  const ids = new Set(all.map((s) => s.spanId));
  const children = new Map<string | undefined, SpanRecord[]>();
  for (const s of all) {
    const parent = s.parentSpanId !== undefined && ids.has(s.parentSpanId) ? s.parentSpanId : undefined;
    children.set(parent, [...(children.get(parent) ?? []), s]);
  }
  let out = '';
  const walk = (s: SpanRecord, prefix: string, last: boolean, root: boolean) => {
    out += `${root ? '' : `${prefix}${last ? '└─ ' : '├─ '}`}${s.name} ${s.ms.toFixed(1)}ms\n`;
    const inner = root ? '' : prefix + (last ? '   ' : '│  ');
    const kids = children.get(s.spanId) ?? [];
    kids.forEach((k, i) => walk(k, inner, i === kids.length - 1, false));
  };
  for (const root of children.get(undefined) ?? []) walk(root, '', true, true);
  return out;
}
