// The channel contract (lib/core/diagnostics.ts), warmpool/otel's instrument()
// and the trace-context carrier, driven by the same publishing calls the
// engine core makes, without a pool: these hold before any engine publishes.
// test/observe.test.ts checks the same things end to end through real pools.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ROOT_CONTEXT, SpanStatusCode, context, createTraceState, propagation, trace, type TextMapPropagator } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  TASK_CHANNEL,
  WORKER_CHANNEL,
  publishTaskAsyncStart,
  publishTaskEnd,
  publishTaskStart,
  publishWorker,
  subscribeTasks,
  taskObserved,
  workerObserved,
  type TaskMessage,
  type WorkerMessage,
} from '../lib/core/diagnostics.js';
import { ATTR, METRIC, instrument } from '../lib/otel.js';
import { metricsSetup, pointOf } from './otel-helpers.js';
import { captureTraceContext, formatTraceparent, parseTraceparent, runWithTraceContext } from '../lib/core/trace-context.js';

const execFileAsync = promisify(execFile);

// The context manager is what makes a span "active"; the tracer and meter
// providers are handed to instrument() directly.
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = tracerProvider.getTracer('test');

function spanNamed(name: string): ReadableSpan {
  const span = exporter.getFinishedSpans().find((s) => s.name === name);
  assert.ok(
    span,
    `expected a finished span named ${name}, got ${
      exporter
        .getFinishedSpans()
        .map((s) => s.name)
        .join(', ') || 'none'
    }`,
  );
  return span;
}

test('with nobody subscribed, publishing makes no message and publishTaskStart returns undefined', () => {
  assert.equal(taskObserved(), false);
  assert.equal(workerObserved(), false);
  const m = publishTaskStart('p', 1, 'fib');
  assert.equal(m, undefined);
  // The later calls accept the undefined the core keeps and do nothing.
  publishTaskAsyncStart(m, 1, 1);
  publishTaskEnd(m, 'rejected', 1, new Error('x'));
  publishWorker('p', 1, 'exit', { exitCode: 1 });
});

test('one message object carries a task through start, asyncStart, error and asyncEnd, in that order, on the named channels', async (t) => {
  const { tracingChannel, channel } = await import('node:diagnostics_channel');
  const seen: [string, TaskMessage, Record<string, unknown>][] = [];
  // Subscribed with Node's own API, by name, as a user would.
  const handlers = Object.fromEntries(
    (['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const).map((e) => [e, (m: TaskMessage) => seen.push([e, m, { ...m }])]),
  );
  const tc = tracingChannel(TASK_CHANNEL);
  tc.subscribe(handlers as never);
  t.after(() => tc.unsubscribe(handlers as never));
  const workers: WorkerMessage[] = [];
  const onWorker = (m: unknown) => workers.push(m as WorkerMessage);
  channel(WORKER_CHANNEL).subscribe(onWorker);
  t.after(() => channel(WORKER_CHANNEL).unsubscribe(onWorker));

  const failure = new TypeError('bad');
  const m = publishTaskStart('pool-a', 7, 'parse');
  assert.ok(m);
  publishTaskAsyncStart(m, 4242, 3.5);
  publishTaskEnd(m, 'rejected', 12.25, failure);
  // A late outcome (a result after a timeout) publishes nothing.
  publishTaskEnd(m, 'fulfilled', 99);
  publishWorker('pool-a', 4242, 'exit', { exitCode: null, signal: 'SIGKILL', reason: 'timeout' });

  assert.deepEqual(
    seen.map(([e]) => e),
    ['start', 'asyncStart', 'error', 'asyncEnd'],
  );
  for (const [, message] of seen) assert.equal(message, m, 'every event gets the same object');
  assert.deepEqual(seen[0][2], { pool: 'pool-a', id: 7, task: 'parse' });
  assert.deepEqual(seen[1][2], { pool: 'pool-a', id: 7, task: 'parse', worker: 4242, waitMs: 3.5 });
  assert.deepEqual(seen[2][2], {
    pool: 'pool-a',
    id: 7,
    task: 'parse',
    worker: 4242,
    waitMs: 3.5,
    runMs: 12.25,
    outcome: 'rejected',
    error: failure,
  });
  assert.deepEqual(seen[3][2], seen[2][2]);
  assert.deepEqual(workers, [{ pool: 'pool-a', worker: 4242, event: 'exit', exitCode: null, signal: 'SIGKILL', reason: 'timeout' }]);
});

test('a fulfilled task publishes no error; a task that never began has no worker, run time 0 and the time it waited', (t) => {
  const events: string[] = [];
  const off = subscribeTasks({
    start: () => events.push('start'),
    asyncStart: () => events.push('asyncStart'),
    error: (m) => events.push(`error:${m.outcome}`),
    asyncEnd: (m) => events.push(`asyncEnd:${m.outcome}:${m.worker}:${m.runMs}:${m.waitMs}`),
  });
  t.after(off);
  const ok = publishTaskStart('p', 1, 'fib');
  publishTaskAsyncStart(ok, 1, 0.5);
  publishTaskEnd(ok, 'fulfilled', 2);
  const queued = publishTaskStart('p', 2, 'fib');
  publishTaskEnd(queued, 'cancelled', 5, new Error('cancelled'), 8);
  assert.deepEqual(events, [
    'start',
    'asyncStart',
    'asyncEnd:fulfilled:1:2:0.5',
    'start',
    'error:cancelled',
    'asyncEnd:cancelled:undefined:0:8',
  ]);
});

test('instrument() records a span per task, child of the span active at submit, with worker, queue wait, run time and outcome', async (t) => {
  exporter.reset();
  const stop = instrument({ tracerProvider, metrics: false, workerSpans: false });
  t.after(stop);
  let message: TaskMessage | undefined;
  const parent = tracer.startActiveSpan('request', (span) => {
    message = publishTaskStart('pool-b', 1, 'fib');
    span.end();
    return span;
  });
  publishTaskAsyncStart(message, 'w1', 4);
  publishTaskEnd(message, 'fulfilled', 9);
  const span = spanNamed('warmpool.task fib');
  assert.equal(span.spanContext().traceId, parent.spanContext().traceId);
  assert.equal(span.parentSpanContext?.spanId, parent.spanContext().spanId);
  assert.deepEqual(span.attributes, {
    [ATTR.pool]: 'pool-b',
    [ATTR.task]: 'fib',
    [ATTR.taskId]: 1,
    [ATTR.worker]: 'w1',
    [ATTR.waitMs]: 4,
    [ATTR.runMs]: 9,
    [ATTR.outcome]: 'fulfilled',
  });
  assert.equal(span.status.code, SpanStatusCode.UNSET);
  assert.deepEqual(
    span.events.map((e) => e.name),
    ['warmpool.task.started'],
  );
  // The task's trace context is the task span: spans inside the task become its children.
  const carrier = message?.traceContext;
  assert.ok(carrier);
  assert.equal(carrier.traceparent, formatTraceparent(span.spanContext()));
  assert.equal(captureTraceContext(message), carrier, 'what a subscriber set wins over the active span');
});

test('instrument() marks a failed, timed-out or crashed task ERROR with the exception, and a cancelled one not', async (t) => {
  exporter.reset();
  const stop = instrument({ tracerProvider, metrics: false, workerSpans: false });
  t.after(stop);
  const cases = [
    ['rejected', new RangeError('too big')],
    ['timedOut', Object.assign(new Error('Task timed out after 50 ms'), { name: 'TimeoutError' })],
    ['crashed', Object.assign(new Error('worker exited with code 1'), { name: 'WorkerCrashedError' })],
    ['cancelled', Object.assign(new Error('cancelled'), { name: 'CancelledError' })],
  ] as const;
  for (const [i, [outcome, error]] of cases.entries()) {
    const m = publishTaskStart('pool-c', i, outcome);
    publishTaskAsyncStart(m, 1, 1);
    publishTaskEnd(m, outcome, 2, error);
  }
  for (const [outcome, error] of cases) {
    const span = spanNamed(`warmpool.task ${outcome}`);
    assert.equal(span.attributes[ATTR.outcome], outcome);
    const exceptions = span.events.filter((e) => e.name === 'exception');
    if (outcome === 'cancelled') {
      assert.equal(span.status.code, SpanStatusCode.UNSET);
      assert.equal(exceptions.length, 0);
    } else {
      assert.equal(span.status.code, SpanStatusCode.ERROR);
      assert.equal(span.status.message, `${error.name}: ${error.message}`);
      assert.equal(exceptions.length, 1);
      assert.equal(exceptions[0].attributes?.['exception.message'], error.message);
      assert.equal(exceptions[0].attributes?.['exception.type'], error.name);
    }
  }
});

test('instrument() records a worker’s life as a root span with its events, and restarts by cause', async (t) => {
  exporter.reset();
  const metrics = metricsSetup();
  const stop = instrument({ tracerProvider, meterProvider: metrics.meterProvider, taskSpans: false });
  t.after(stop);
  tracer.startActiveSpan('request', (span) => {
    // A worker started during a request is not part of it.
    publishWorker('pool-d', 11, 'start');
    span.end();
  });
  publishWorker('pool-d', 11, 'ready');
  publishWorker('pool-d', 11, 'exit', { exitCode: null, signal: 'SIGKILL', reason: 'crash' });
  publishWorker('pool-d', 12, 'start');
  publishWorker('pool-d', 12, 'recycle');
  publishWorker('pool-d', 12, 'exit', { exitCode: 0, reason: 'recycle' });
  publishWorker('pool-d', 13, 'start');
  publishWorker('pool-d', 13, 'exit', { exitCode: 0, reason: 'idle' });
  publishWorker('pool-d', 14, 'start');

  const spans = exporter.getFinishedSpans().filter((s) => s.name === 'warmpool.worker');
  assert.equal(spans.length, 3, 'the live worker’s span is still open');
  const [crashed, recycled, idle] = spans;
  assert.equal(crashed.parentSpanContext, undefined);
  assert.deepEqual(
    crashed.events.map((e) => e.name),
    ['ready', 'exit'],
  );
  assert.equal(crashed.attributes[ATTR.signal], 'SIGKILL');
  assert.equal(crashed.attributes[ATTR.reason], 'crash');
  assert.equal(crashed.status.code, SpanStatusCode.ERROR);
  assert.deepEqual(
    recycled.events.map((e) => e.name),
    ['recycle', 'exit'],
  );
  assert.equal(recycled.status.code, SpanStatusCode.UNSET);
  assert.equal(idle.attributes[ATTR.reason], 'idle');

  const read = await metrics.read();
  const restarts = read.get(METRIC.restarts);
  assert.equal(pointOf(restarts, { [ATTR.pool]: 'pool-d', [ATTR.cause]: 'crash' }), 1);
  assert.equal(pointOf(restarts, { [ATTR.pool]: 'pool-d', [ATTR.cause]: 'recycle' }), 1);
  assert.equal(pointOf(restarts, { [ATTR.cause]: 'idle' }), undefined, 'an idle exit is not a restart');
  assert.equal(pointOf(read.get(METRIC.workers), { [ATTR.pool]: 'pool-d' }), 1);

  stop();
  const open = exporter.getFinishedSpans().filter((s) => s.name === 'warmpool.worker');
  assert.equal(open.length, 4, 'stopping ends the spans still open');
  assert.deepEqual(
    open[3].events.map((e) => e.name),
    ['warmpool.instrument.stopped'],
  );
});

test('instrument() gauges queue depth and busy workers from the channels, or from a pool’s stats(), and histograms run time and queue wait', async (t) => {
  const metrics = metricsSetup();
  let stats = { workers: 3, busy: 2, queued: 40 };
  const stop = instrument({ tracerProvider, meterProvider: metrics.meterProvider, pools: [{ name: 'counted', stats: () => stats }] });
  t.after(stop);
  const a = publishTaskStart('pool-e', 1, 'fib');
  const b = publishTaskStart('pool-e', 2, 'fib');
  const c = publishTaskStart('pool-e', 3, 'fib');
  publishTaskAsyncStart(a, 1, 2);
  publishTaskAsyncStart(b, 2, 6);
  publishTaskEnd(a, 'fulfilled', 10);
  let read = await metrics.read();
  const pool = { [ATTR.pool]: 'pool-e' };
  assert.equal(pointOf(read.get(METRIC.queueDepth), pool), 1);
  assert.equal(pointOf(read.get(METRIC.busy), pool), 1);
  assert.equal(pointOf(read.get(METRIC.queueDepth), { [ATTR.pool]: 'counted' }), 40);
  assert.equal(pointOf(read.get(METRIC.busy), { [ATTR.pool]: 'counted' }), 2);
  assert.equal(pointOf(read.get(METRIC.workers), { [ATTR.pool]: 'counted' }), 3);
  const runTime = read.get(METRIC.runTime)?.dataPoints.find((p) => p.attributes[ATTR.pool] === 'pool-e');
  assert.deepEqual([(runTime?.value as Histogram).count, (runTime?.value as Histogram).sum], [1, 10]);
  assert.equal(runTime?.attributes[ATTR.outcome], 'fulfilled');
  const waitTime = read.get(METRIC.waitTime)?.dataPoints.find((p) => p.attributes[ATTR.pool] === 'pool-e');
  assert.deepEqual([(waitTime?.value as Histogram).count, (waitTime?.value as Histogram).sum], [2, 8]);

  publishTaskEnd(b, 'crashed', 3, new Error('crash'));
  publishTaskEnd(c, 'cancelled', 0, new Error('cancelled'), 20);
  stats = { workers: 3, busy: 0, queued: 0 };
  read = await metrics.read();
  assert.equal(pointOf(read.get(METRIC.queueDepth), pool), 0);
  assert.equal(pointOf(read.get(METRIC.busy), pool), 0);
  assert.equal(pointOf(read.get(METRIC.queueDepth), { [ATTR.pool]: 'counted' }), 0);
  // A task that never began adds no run time and no queue wait.
  const waits = read.get(METRIC.waitTime)?.dataPoints.find((p) => p.attributes[ATTR.pool] === 'pool-e');
  assert.equal((waits?.value as Histogram).count, 2);
});

test('instrument() ignores the end of a task it did not see start, and stops recording when stopped', async () => {
  exporter.reset();
  const before = publishTaskStart('pool-f', 1, 'early');
  const stop = instrument({ tracerProvider, metrics: false, workerSpans: false });
  publishTaskAsyncStart(before, 1, 1);
  publishTaskEnd(before, 'fulfilled', 1);
  const open = publishTaskStart('pool-f', 2, 'open');
  stop();
  stop();
  const after = publishTaskStart('pool-f', 3, 'late');
  assert.equal(after, undefined, 'nothing listens any more');
  publishTaskEnd(open, 'fulfilled', 1);
  assert.deepEqual(
    exporter.getFinishedSpans().map((s) => s.name),
    ['warmpool.task open'],
  );
  assert.deepEqual(
    spanNamed('warmpool.task open').events.map((e) => e.name),
    ['warmpool.instrument.stopped'],
  );
});

test('a handler of instrument() that fails does not throw into the publisher', async (t) => {
  // A broken provider: every span start throws.
  const broken = { getTracer: () => ({ startSpan: () => assert.fail('boom'), startActiveSpan: () => assert.fail('boom') }) } as never;
  const stop = instrument({ tracerProvider: broken, metrics: false, workerSpans: false });
  t.after(stop);
  const m = publishTaskStart('pool-g', 1, 'fib');
  publishTaskAsyncStart(m, 1, 1);
  publishTaskEnd(m, 'fulfilled', 1);
  // Reaching here without an uncaught exception is the guarantee; give the
  // tick in which diagnostics_channel would rethrow a chance to run.
  await new Promise((resolveTick) => process.nextTick(resolveTick));
});

test('the trace context carrier crosses as W3C traceparent and tracestate, and spans made under it are children of the caller’s span', async () => {
  exporter.reset();
  const state = createTraceState('vendor=abc,other=1');
  const parent = tracer.startSpan('caller');
  const ctx = trace.setSpan(ROOT_CONTEXT, trace.wrapSpanContext({ ...parent.spanContext(), traceState: state }));
  const carrier = context.with(ctx, () => captureTraceContext());
  assert.ok(carrier);
  assert.deepEqual(carrier, {
    traceparent: `00-${parent.spanContext().traceId}-${parent.spanContext().spanId}-01`,
    tracestate: 'vendor=abc,other=1',
  });
  // As on a worker: a plain copy (it crossed a process), no propagator registered.
  const crossed = JSON.parse(JSON.stringify(carrier)) as Record<string, string>;
  const child = await runWithTraceContext(crossed, async () => {
    await new Promise((r) => setImmediate(r));
    // Made after an await: the context manager kept the context.
    const span = tracer.startSpan('inside the task');
    span.end();
    return span;
  });
  parent.end();
  const inside = spanNamed('inside the task');
  assert.equal(inside, child as unknown as ReadableSpan);
  assert.equal(inside.spanContext().traceId, parent.spanContext().traceId);
  assert.equal(inside.parentSpanContext?.spanId, parent.spanContext().spanId);
  assert.equal(inside.parentSpanContext?.isRemote, true);
  assert.equal(inside.spanContext().traceState?.get('vendor'), 'abc');
});

test('a registered propagator adds its own fields to the carrier and is used to read it back, traceparent still written', (t) => {
  const fields = new Map<string, string>();
  const custom: TextMapPropagator = {
    inject(ctx, carrier, setter) {
      const span = trace.getSpanContext(ctx);
      if (span !== undefined) setter.set(carrier, 'x-trace', `${span.traceId}:${span.spanId}`);
    },
    extract(ctx, carrier, getter) {
      const raw = getter.get(carrier, 'x-trace');
      if (typeof raw !== 'string') return ctx;
      fields.set('read', raw);
      const [traceId, spanId] = raw.split(':');
      return trace.setSpanContext(ctx, { traceId, spanId, traceFlags: 1, isRemote: true });
    },
    fields: () => ['x-trace'],
  };
  propagation.setGlobalPropagator(custom);
  t.after(() => propagation.disable());
  const parent = tracer.startSpan('caller');
  const carrier = context.with(trace.setSpan(ROOT_CONTEXT, parent), () => captureTraceContext());
  const { traceId, spanId } = parent.spanContext();
  assert.deepEqual(carrier, { 'x-trace': `${traceId}:${spanId}`, traceparent: `00-${traceId}-${spanId}-01` });
  const inner = runWithTraceContext(carrier, () => trace.getSpanContext(context.active()));
  assert.equal(fields.get('read'), `${traceId}:${spanId}`);
  assert.equal(inner?.spanId, spanId);
  parent.end();
});

test('no carrier is made without an active span, and a task runs as it is without a carrier', () => {
  assert.equal(captureTraceContext(), undefined);
  assert.equal(
    context.with(
      trace.setSpan(ROOT_CONTEXT, trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 })),
      () => captureTraceContext(),
    ),
    undefined,
    'an invalid span context is not carried',
  );
  assert.equal(
    runWithTraceContext(undefined, () => 42),
    42,
  );
  assert.equal(
    runWithTraceContext({ traceparent: 'garbage' }, () => trace.getSpanContext(context.active())),
    undefined,
  );
});

test('traceparent is read as the W3C spec says: version 00 exact, later versions by their prefix, all-zero ids and version ff refused', () => {
  const id = '4bf92f3577b34da6a3ce929d0e0e4736';
  const span = '00f067aa0ba902b7';
  assert.deepEqual(parseTraceparent(`00-${id}-${span}-01`), { traceId: id, spanId: span, traceFlags: 1, isRemote: true });
  assert.deepEqual(parseTraceparent(`01-${id}-${span}-00-extra`), { traceId: id, spanId: span, traceFlags: 0, isRemote: true });
  for (const bad of [
    `00-${id}-${span}-01-extra`,
    `ff-${id}-${span}-01`,
    `00-${'0'.repeat(32)}-${span}-01`,
    `00-${id}-${'0'.repeat(16)}-01`,
    `00-${id.toUpperCase()}-${span}-01`,
    '',
    `00-${id}-${span}`,
  ]) {
    assert.equal(parseTraceparent(bad), undefined, bad);
  }
  assert.equal(formatTraceparent({ traceId: id, spanId: span, traceFlags: 1 }), `00-${id}-${span}-01`);
});

test('a process that registered no OpenTelemetry gets no carrier, and neither it nor the main entry loads @opentelemetry/api', async () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const script = `
    import { captureTraceContext, runWithTraceContext } from ${JSON.stringify(join(here, '../lib/core/trace-context.js'))};
    import ${JSON.stringify(join(here, '../lib/index.js'))};
    const carrier = captureTraceContext();
    const ran = runWithTraceContext({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, () => 'ran');
    const loaded = Object.keys((await import('node:module')).createRequire(import.meta.url).cache).filter((k) => k.includes('@opentelemetry'));
    console.log(JSON.stringify({ carrier: carrier ?? null, ran, loaded, global: globalThis[Symbol.for('opentelemetry.js.api.1')] !== undefined }));
  `;
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
  assert.deepEqual(JSON.parse(stdout), { carrier: null, ran: 'ran', loaded: [], global: false });

  // And statically: no module reachable from the main entry imports it.
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    // Comments out first: TSDoc such as `typeof import('./tasks.js')` names no module.
    const source = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    for (const [, spec] of source.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
      assert.ok(!spec.startsWith('@opentelemetry/'), `${file} imports ${spec}`);
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
    }
  };
  visit(join(here, '../lib/index.js'));
  assert.ok(seen.size > 10, `walked ${seen.size} modules`);
});
