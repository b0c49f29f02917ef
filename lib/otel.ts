// `warmpool/otel`: OpenTelemetry from warmpool's diagnostics channels
// (./diagnostics.ts). `instrument()` subscribes to them and records
//
//   warmpool:task   start ─────▶ span `warmpool.task <name>` starts, its parent the
//                                 context active at submit; its context is set as the
//                                 task's `traceContext`, so spans inside the task are
//                                 its children
//                   asyncStart ─▶ worker and queue wait as attributes, event `warmpool.task.started`
//                   error ──────▶ exception recorded, status ERROR (not for a cancel)
//                   asyncEnd ───▶ run time and outcome as attributes; span ends;
//                                 run-time and queue-wait histograms
//   warmpool:worker start ─────▶ span `warmpool.worker` (a root: a worker outlives any request)
//                   ready, recycle ▶ span events
//                   exit ───────▶ exit code, signal, reason; span ends; restarts counter by cause
//   metric reader ─────────────▶ queue depth, busy workers, workers: observable gauges
//
// This module imports @opentelemetry/api (an optional peer dependency): only
// `warmpool/otel` does, never the main entry.

import { createRequire } from 'node:module';
import * as api from '@opentelemetry/api';
import type { Attributes, BatchObservableResult, Meter, MeterProvider, Span, Tracer, TracerProvider } from '@opentelemetry/api';
import {
  RESTART_REASONS,
  subscribeTasks,
  subscribeWorkers,
  type TaskAsyncEndMessage,
  type TaskAsyncStartMessage,
  type TaskErrorMessage,
  type TaskMessage,
  type TaskStartMessage,
  type WorkerMessage,
} from './core/diagnostics.js';
import { carrierOf } from './core/trace-context.js';

export { captureTraceContext, runWithTraceContext, type TraceCarrier } from './core/trace-context.js';

/** A pool, or anything with the counts of `PoolStats`, read by the gauges. */
export interface StatsSource {
  /** The pool's `name`, as in the channels' messages (a pool's `name` getter). A source without one is refused. */
  readonly name?: string;
  stats(): { workers: number; busy: number; queued: number };
}

export interface InstrumentOptions {
  /** Where task and worker spans go. Default: the global provider (`trace.getTracerProvider()`), including one registered later. */
  tracerProvider?: TracerProvider;
  /** Where the metrics go. Default: the global provider (`metrics.getMeterProvider()`), including one registered later. */
  meterProvider?: MeterProvider;
  /** A span per task, `warmpool.task <name>`. Default `true`. */
  taskSpans?: boolean;
  /** A span per worker's life, with its events. Default `true`. */
  workerSpans?: boolean;
  /** The histograms, the restarts counter and the gauges. Default `true`. */
  metrics?: boolean;
  /**
   * Pools whose `stats()` the gauges read (exact, and counting tasks
   * submitted before `instrument()`). A pool not listed is gauged from the
   * channels: what was queued, running and alive since `instrument()`.
   */
  pools?: readonly StatsSource[];
}

/** Span and metric attribute names. */
export const ATTR = {
  pool: 'warmpool.pool',
  task: 'warmpool.task',
  taskId: 'warmpool.task.id',
  worker: 'warmpool.worker',
  waitMs: 'warmpool.queue_wait_ms',
  runMs: 'warmpool.run_ms',
  outcome: 'warmpool.outcome',
  exitCode: 'warmpool.worker.exit_code',
  signal: 'warmpool.worker.signal',
  reason: 'warmpool.worker.exit_reason',
  cause: 'warmpool.restart.cause',
} as const;

/** Metric names. */
export const METRIC = {
  runTime: 'warmpool.task.duration',
  waitTime: 'warmpool.task.queue_wait',
  restarts: 'warmpool.worker.restarts',
  queueDepth: 'warmpool.queue.depth',
  busy: 'warmpool.workers.busy',
  workers: 'warmpool.workers',
} as const;

const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

interface TaskState {
  span: Span | undefined;
  began: boolean;
}

/** What the channels show of one pool since `instrument()`. */
interface PoolCounts {
  queued: number;
  busy: number;
  workers: number;
}

/**
 * Subscribes to warmpool's channels and records spans and metrics; returns
 * the function that stops it. Call it before the pools are made to see
 * their workers start. Spans of tasks and workers still open when it is
 * stopped are ended then, with an event saying so.
 */
export function instrument(options: InstrumentOptions = {}): () => void {
  const tracer: Tracer = (options.tracerProvider ?? api.trace.getTracerProvider()).getTracer('warmpool', version);
  const taskSpans = options.taskSpans ?? true;
  const workerSpans = options.workerSpans ?? true;
  const withMetrics = options.metrics ?? true;
  const sources = new Map<string, StatsSource>();
  for (const pool of options.pools ?? []) {
    // Gauged under 'unnamed', two such sources would overwrite each other.
    if (typeof pool.name !== 'string')
      throw new TypeError(
        `Expected each of \`pools\` to have a \`name\` (a pool's name, as its messages carry it), got ${pool.name === undefined ? 'undefined' : `\`${String(pool.name)}\``}`,
      );
    sources.set(pool.name, pool);
  }

  const tasks = new Map<TaskMessage, TaskState>();
  const counts = new Map<string, PoolCounts>();
  const workers = new Map<string, Span | undefined>();
  const countsOf = (pool: string) => {
    let c = counts.get(pool);
    if (c === undefined) counts.set(pool, (c = { queued: 0, busy: 0, workers: 0 }));
    return c;
  };

  const meter: Meter | undefined = withMetrics
    ? (options.meterProvider ?? api.metrics.getMeterProvider()).getMeter('warmpool', version)
    : undefined;
  const runTime = meter?.createHistogram(METRIC.runTime, { unit: 'ms', description: 'Run time of a task, measured where it ran' });
  const waitTime = meter?.createHistogram(METRIC.waitTime, { unit: 'ms', description: 'Time from submit until a worker began the task' });
  const restarts = meter?.createCounter(METRIC.restarts, {
    unit: '{restart}',
    description: 'Workers replaced, by cause (crash, timeout, cancel, memory, recycle)',
  });
  const gauges =
    meter === undefined
      ? []
      : [
          meter.createObservableGauge(METRIC.queueDepth, { unit: '{task}', description: 'Tasks accepted and not yet begun by a worker' }),
          meter.createObservableGauge(METRIC.busy, { unit: '{worker}', description: 'Workers running a task' }),
          meter.createObservableGauge(METRIC.workers, { unit: '{worker}', description: 'Workers alive' }),
        ];
  const observe = (result: BatchObservableResult) => {
    const [queueDepth, busy, alive] = gauges;
    const seen = new Set<string>();
    for (const [pool, source] of sources) {
      seen.add(pool);
      const s = source.stats();
      const attributes = { [ATTR.pool]: pool };
      result.observe(queueDepth, s.queued, attributes);
      result.observe(busy, s.busy, attributes);
      result.observe(alive, s.workers, attributes);
    }
    for (const [pool, c] of counts) {
      if (seen.has(pool)) continue;
      const attributes = { [ATTR.pool]: pool };
      result.observe(queueDepth, c.queued, attributes);
      result.observe(busy, c.busy, attributes);
      result.observe(alive, c.workers, attributes);
    }
  };
  if (meter !== undefined) meter.addBatchObservableCallback(observe, gauges);

  // A subscriber that throws would surface as an uncaught exception in the
  // caller (diagnostics_channel's rule): report through OpenTelemetry's own
  // diagnostics instead.
  const guarded =
    <M>(fn: (m: M) => void) =>
    (m: M) => {
      try {
        fn(m);
      } catch (err) {
        api.diag.error('warmpool/otel: a channel handler failed', err);
      }
    };

  const unsubscribeTasks = subscribeTasks({
    start: guarded((m: TaskStartMessage) => {
      const message = m as TaskMessage;
      countsOf(m.pool).queued++;
      let span: Span | undefined;
      if (taskSpans) {
        // Synchronous in submit: the active context is the caller's.
        const parent = api.context.active();
        span = tracer.startSpan(
          `warmpool.task ${m.task}`,
          { kind: api.SpanKind.CLIENT, attributes: { [ATTR.pool]: m.pool, [ATTR.task]: m.task, [ATTR.taskId]: m.id } },
          parent,
        );
        message.traceContext ??= carrierOf(api, api.trace.setSpan(parent, span));
      }
      tasks.set(message, { span, began: false });
    }),
    asyncStart: guarded((m: TaskAsyncStartMessage) => {
      const state = tasks.get(m);
      if (state === undefined || state.began) return;
      state.began = true;
      const c = countsOf(m.pool);
      c.queued--;
      c.busy++;
      state.span?.setAttributes({ [ATTR.worker]: m.worker, [ATTR.waitMs]: m.waitMs });
      state.span?.addEvent('warmpool.task.started', { [ATTR.worker]: m.worker });
      waitTime?.record(m.waitMs, { [ATTR.pool]: m.pool, [ATTR.task]: m.task });
    }),
    error: guarded((m: TaskErrorMessage) => {
      const span = tasks.get(m)?.span;
      if (span === undefined) return;
      // A cancel is the caller's choice (map cancels the rest of its items
      // after a failure): recorded as the outcome, not as an error.
      if (m.outcome === 'cancelled') return;
      const err = m.error;
      if (err instanceof Error) span.recordException(err);
      else span.recordException(String(err));
      span.setStatus({ code: api.SpanStatusCode.ERROR, message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    }),
    asyncEnd: guarded((m: TaskAsyncEndMessage) => {
      const message = m as TaskMessage;
      const state = tasks.get(message);
      if (state === undefined) return;
      tasks.delete(message);
      const c = countsOf(m.pool);
      if (state.began) {
        c.busy--;
        runTime?.record(m.runMs, { [ATTR.pool]: m.pool, [ATTR.task]: m.task, [ATTR.outcome]: m.outcome });
      } else c.queued--;
      if (state.span !== undefined) {
        state.span.setAttributes({ [ATTR.runMs]: m.runMs, [ATTR.outcome]: m.outcome, [ATTR.waitMs]: m.waitMs });
        state.span.end();
      }
    }),
  });

  const unsubscribeWorkers = subscribeWorkers(
    guarded((m: WorkerMessage) => {
      const key = `${m.pool}\0${m.worker}`;
      const attributes = { [ATTR.pool]: m.pool, [ATTR.worker]: m.worker };
      switch (m.event) {
        case 'start': {
          if (workers.has(key)) return;
          countsOf(m.pool).workers++;
          // A root: the worker outlives whatever request made the pool start it.
          workers.set(key, workerSpans ? tracer.startSpan('warmpool.worker', { attributes }, api.ROOT_CONTEXT) : undefined);
          return;
        }
        case 'ready':
        case 'recycle':
          workers.get(key)?.addEvent(m.event);
          return;
        case 'exit': {
          if (m.reason !== undefined && RESTART_REASONS.has(m.reason)) restarts?.add(1, { [ATTR.pool]: m.pool, [ATTR.cause]: m.reason });
          if (!workers.has(key)) return;
          const span = workers.get(key);
          workers.delete(key);
          countsOf(m.pool).workers--;
          if (span === undefined) return;
          const exit: Attributes = {};
          if (m.exitCode !== undefined && m.exitCode !== null) exit[ATTR.exitCode] = m.exitCode;
          if (m.signal !== undefined && m.signal !== null) exit[ATTR.signal] = m.signal;
          if (m.reason !== undefined) exit[ATTR.reason] = m.reason;
          span.addEvent('exit', exit);
          span.setAttributes(exit);
          if (m.reason === 'crash' || m.reason === 'memory' || m.reason === 'startFailed') {
            span.setStatus({ code: api.SpanStatusCode.ERROR, message: `worker exited: ${m.reason}` });
          }
          span.end();
          return;
        }
      }
    }),
  );

  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    unsubscribeTasks();
    unsubscribeWorkers();
    if (meter !== undefined) meter.removeBatchObservableCallback(observe, gauges);
    for (const { span } of tasks.values()) {
      span?.addEvent('warmpool.instrument.stopped');
      span?.end();
    }
    for (const span of workers.values()) {
      span?.addEvent('warmpool.instrument.stopped');
      span?.end();
    }
    tasks.clear();
    workers.clear();
  };
}
