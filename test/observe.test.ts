// Observability end to end (SPEC "Observability"), against every backend in
// ./backends.ts: the messages of `warmpool:task` and `warmpool:worker` for a
// task that succeeds, fails, times out, is cancelled and crashes its worker,
// and one trace from a span in the caller, through the task's span, to a
// span made inside the task on a ProcessPool, a ThreadPool and a RemotePool
// host. What a backend cannot tell yet is marked `todo` (it runs, and its
// failure is reported but does not fail the suite). test/otel.test.ts covers
// the same contract without pools.
//
// Rules as in the contract suite (./contract.ts): no sleep stands in for an event (a
// running task announces itself with a file; worker exits are awaited on the
// channel itself), nothing asserts a duration, every test is bounded.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { subscribeTasks, subscribeWorkers, type TaskMessage, type WorkerExitReason, type WorkerMessage } from '../lib/core/diagnostics.js';
import { CancelledError, TimeoutError, WorkerCrashedError, type Executor, type PoolOptions, type TaskName } from '../lib/index.js';
import { instrument } from '../lib/otel.js';
import { backends, type Backend, type Tasks } from './backends.js';
import { whenFileExists } from './fixtures/contract-tasks.js';
import type * as observeTasks from './fixtures/observe-tasks.js';
import type { SpanLine } from './fixtures/observe-tasks.js';
import { reasonOf } from './helpers.js';

type Pool = Executor<typeof observeTasks>;
const observeTasksUrl = new URL('./fixtures/observe-tasks.js', import.meta.url);
const SHORT = { timeout: 30_000 };

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
export const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
trace.setGlobalTracerProvider(tracerProvider);
export const tracer = trace.getTracer('observe.test');

const root = mkdtempSync(join(tmpdir(), 'warmpool-observe-'));
after(() => rmSync(root, { recursive: true, force: true }));
let scratchCount = 0;
const scratch = () => mkdtempSync(join(root, `${scratchCount++}-`));

let poolCount = 0;
/** A pool of ./fixtures/observe-tasks.ts with a name of its own, so its messages are told apart. */
function makePool(backend: Backend, options: PoolOptions<TaskName<typeof observeTasks>> = {}): { pool: Pool; name: string } {
  const name = `observe-${backend.name}-${poolCount++}`;
  // `name` is the pool option the core adds (SPEC "Observability").
  const pool = backend.make({ ...options, name } as PoolOptions<TaskName<Tasks>>, observeTasksUrl) as unknown as Pool;
  return { pool, name };
}

type Event = [event: 'start' | 'asyncStart' | 'error' | 'asyncEnd', message: TaskMessage];

/** Every `warmpool:task` event of one pool, as a copy of the message at that moment. */
function recordTasks(pool: string): { events: Event[]; stop(): void } {
  const events: Event[] = [];
  const on = (event: Event[0]) => (m: TaskMessage) => {
    if (m.pool === pool) events.push([event, { ...m }]);
  };
  const stop = subscribeTasks({ start: on('start'), asyncStart: on('asyncStart'), error: on('error'), asyncEnd: on('asyncEnd') });
  return { events, stop };
}

/**
 * Resolves with the first `warmpool:worker` message that matches; fails
 * after `ms`. Aborting `signal` (a test that failed before awaiting it)
 * stops it quietly.
 */
function workerMessage(match: (m: WorkerMessage) => boolean, what: string, signal?: AbortSignal, ms = 10_000): Promise<WorkerMessage> {
  const p = new Promise<WorkerMessage>((resolve, reject) => {
    const end = () => {
      clearTimeout(timer);
      stop();
    };
    const timer = setTimeout(() => {
      end();
      reject(new Error(`no warmpool:worker message ${what} within ${ms} ms`));
    }, ms);
    const stop = subscribeWorkers((m) => {
      if (!match(m)) return;
      end();
      resolve(m);
    });
    signal?.addEventListener('abort', () => {
      end();
      reject(new Error('abandoned'));
    });
  });
  if (signal !== undefined) p.catch(() => {});
  return p;
}

/** The events' names, and the one message object they all share. */
function checkSequence(events: Event[], expected: Event[0][], id?: number | string): void {
  assert.deepEqual(
    events.map(([e]) => e),
    expected,
    `events: ${JSON.stringify(events.map(([e, m]) => [e, m.id]))}`,
  );
  const ids = new Set(events.map(([, m]) => m.id));
  assert.equal(ids.size, 1, 'one task');
  if (id !== undefined) assert.deepEqual([...ids], [id]);
}

function checkStart(m: TaskMessage, pool: string, task: string): void {
  assert.equal(m.pool, pool);
  assert.equal(m.task, task);
  assert.ok(typeof m.id === 'number' || typeof m.id === 'string', `id: ${String(m.id)}`);
}

function checkBegun(m: TaskMessage): void {
  assert.ok(typeof m.worker === 'number' || typeof m.worker === 'string', `worker: ${String(m.worker)}`);
  assert.ok(typeof m.waitMs === 'number' && m.waitMs >= 0, `waitMs: ${m.waitMs}`);
}

function checkEnd(m: TaskMessage, outcome: TaskMessage['outcome']): void {
  assert.equal(m.outcome, outcome);
  assert.ok(typeof m.runMs === 'number' && m.runMs >= 0, `runMs: ${m.runMs}`);
  assert.ok(typeof m.waitMs === 'number' && m.waitMs >= 0, `waitMs: ${m.waitMs}`);
}

/**
 * Runs `tracedChild` on a pool whose workers register an SDK, under a
 * `caller` span when `underSpan`; returns the span the worker exported.
 */
async function tracedTask(backend: Backend, underSpan: boolean) {
  const spansFile = join(scratch(), 'spans.jsonl');
  const { pool } = makePool(backend, { workers: 1, initializer: 'initTracing', initArgs: [spansFile] });
  await using _ = pool;
  await pool.ready();
  const caller = tracer.startSpan('caller');
  const submit = () => pool.submit('tracedChild', ['inside']);
  const inner = await (underSpan ? context.with(trace.setSpan(context.active(), caller), submit) : submit());
  caller.end();
  const [made] = workerSpans(spansFile).filter((s) => s.spanId === inner.spanId);
  assert.ok(made, 'the worker exported the span it made');
  return { caller, inner, made };
}

/**
 * A task that costs its worker (a timeout, a cancel while running, a crash):
 * start, asyncStart, error with the future's own error, asyncEnd, and, where
 * the test process sees the backend's workers, that worker's exit with
 * `reason`. `then` checks more with the pool still open.
 */
async function costsItsWorker(
  backend: Backend,
  options: PoolOptions<TaskName<typeof observeTasks>>,
  run: (pool: Pool) => Promise<unknown>,
  outcome: TaskMessage['outcome'],
  errorClass: new (...args: never[]) => Error,
  reason: WorkerExitReason,
  then?: (pool: Pool, exit: WorkerMessage | undefined) => Promise<void>,
): Promise<void> {
  const { pool, name } = makePool(backend, { workers: 1, ...options });
  await using _ = pool;
  await pool.ready();
  const record = recordTasks(name);
  const abandon = new AbortController();
  const exited =
    backend.cannot.workers === undefined
      ? workerMessage((m) => m.pool === name && m.event === 'exit', `exit of ${name}`, abandon.signal)
      : undefined;
  try {
    const err = await reasonOf(run(pool));
    assert.ok(err instanceof errorClass, String(err));
    checkSequence(record.events, ['start', 'asyncStart', 'error', 'asyncEnd']);
    const [, [, begun], [, failed]] = record.events;
    checkEnd(failed, outcome);
    assert.equal(failed.error, err, 'the error published is the one the future rejects with');
    const exit = await exited;
    if (exit !== undefined) {
      assert.equal(exit.worker, begun.worker);
      assert.equal(exit.reason, reason);
    }
    await then?.(pool, exit);
  } finally {
    record.stop();
    abandon.abort();
  }
}

/** The spans the workers of a test wrote (./fixtures/observe-tasks.ts). */
export function workerSpans(file: string): SpanLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as SpanLine);
}

/** The suite, for the backends given: this file runs the local ones, ./observe-remote.test.ts RemotePool. */
export function observeSuite(chosen: readonly Backend[]): void {
  for (const backend of chosen) {
    describe(`${backend.name}: diagnostics channels`, () => {
      before(() => backend.setup?.());
      after(() => backend.teardown?.());

      test(
        'a pool publishes start and ready on warmpool:worker for each worker it starts, with its name',
        { ...SHORT, skip: backend.cannot.workers },
        async () => {
          const seen: WorkerMessage[] = [];
          const stop = subscribeWorkers((m) => seen.push(m));
          try {
            const { pool, name } = makePool(backend, { workers: 2, minWorkers: 2 });
            await using _ = pool;
            await pool.ready();
            const mine = seen.filter((m) => m.pool === name);
            const starts = mine.filter((m) => m.event === 'start').map((m) => m.worker);
            const readies = mine.filter((m) => m.event === 'ready').map((m) => m.worker);
            assert.equal(new Set(starts).size, 2, JSON.stringify(mine));
            assert.deepEqual(new Set(readies), new Set(starts));
          } finally {
            stop();
          }
        },
      );

      test(
        'a task that succeeds publishes start, asyncStart and asyncEnd on one message, with pool, id, task, worker, wait, run time and outcome',
        SHORT,
        async () => {
          const { pool, name } = makePool(backend, { workers: 1 });
          await using _ = pool;
          await pool.ready();
          const record = recordTasks(name);
          try {
            assert.equal(await pool.submit('add', [2, 3]), 5);
            checkSequence(record.events, ['start', 'asyncStart', 'asyncEnd']);
            const [[, start], [, begun], [, end]] = record.events;
            checkStart(start, name, 'add');
            checkBegun(begun);
            checkEnd(end, 'fulfilled');
            assert.equal(end.worker, begun.worker);
            assert.equal(end.error, undefined);
          } finally {
            record.stop();
          }
        },
      );

      test('a task that throws publishes error with the task’s own error before asyncEnd, outcome rejected', SHORT, async () => {
        const { pool, name } = makePool(backend, { workers: 1 });
        await using _ = pool;
        const record = recordTasks(name);
        try {
          const err = await reasonOf(pool.submit('fail', ['no good']));
          checkSequence(record.events, ['start', 'asyncStart', 'error', 'asyncEnd']);
          const [, , [, failed], [, end]] = record.events;
          checkEnd(failed, 'rejected');
          assert.ok(failed.error instanceof Error && failed.error.message === 'no good', String(failed.error));
          assert.equal(failed.error.message, (err as Error).message);
          checkEnd(end, 'rejected');
        } finally {
          record.stop();
        }
      });

      test(
        'a task that times out publishes error with the TimeoutError, outcome timedOut, and its worker exits with reason timeout',
        { ...SHORT, skip: backend.cannot.stopSyncCode },
        async () => {
          await costsItsWorker(backend, {}, (pool) => pool.submit('forever', [], { timeout: 100 }), 'timedOut', TimeoutError, 'timeout');
        },
      );

      test(
        'a queued task that is cancelled publishes no asyncStart; its asyncEnd has no worker, run time 0 and the time it waited',
        SHORT,
        async () => {
          const { pool, name } = makePool(backend, { workers: 1 });
          await using _ = pool;
          await pool.ready();
          const dir = scratch();
          const blocker = pool.submit('block', [join(dir, 'started'), join(dir, 'release')]);
          await whenFileExists(join(dir, 'started'));
          const record = recordTasks(name);
          try {
            const f = pool.submit('add', [1, 1]);
            assert.equal(f.cancel(), true);
            assert.ok((await reasonOf(f)) instanceof CancelledError);
            checkSequence(record.events, ['start', 'error', 'asyncEnd']);
            const [, , [, end]] = record.events;
            assert.equal(end.worker, undefined);
            assert.equal(end.runMs, 0);
            checkEnd(end, 'cancelled');
          } finally {
            record.stop();
            (await import('./fixtures/contract-tasks.js')).touch(join(dir, 'release'));
            await blocker;
          }
        },
      );

      test(
        'a running task that is cancelled publishes error with the CancelledError, outcome cancelled, and its worker exits with reason cancel',
        { ...SHORT, skip: backend.cannot.stopSyncCode },
        async () => {
          const cancelRunning = async (pool: Pool) => {
            const startedPath = join(scratch(), 'started');
            // RemotePool hears of a start from a BullMQ event, a moment after the
            // task wrote its file (startSeenAtOnce in ./backends.ts): the cancel
            // waits for the pool's asyncStart too, so that it stops a task its
            // pool knows is running, the sequence under test.
            let stop = () => {};
            const begun = new Promise<void>((resolve) => {
              stop = subscribeTasks({ asyncStart: (m) => m.pool === pool.name && resolve() });
            });
            try {
              const f = pool.submit('touchThenForever', [startedPath]);
              await Promise.all([whenFileExists(startedPath), begun]);
              assert.equal(f.cancel(), true);
              return f;
            } finally {
              stop();
            }
          };
          await costsItsWorker(backend, {}, (pool) => cancelRunning(pool), 'cancelled', CancelledError, 'cancel');
        },
      );

      test(
        'a task whose worker dies publishes error with the WorkerCrashedError, outcome crashed, and the exit with its code and reason crash',
        { ...SHORT, skip: backend.cannot.crashIsolation },
        async () => {
          await costsItsWorker(
            backend,
            {},
            (pool) => pool.submit('crash', [3]),
            'crashed',
            WorkerCrashedError,
            'crash',
            async (pool, exit) => {
              if (exit !== undefined) assert.equal(exit.exitCode, 3);
              assert.equal(await pool.submit('add', [1, 2]), 3);
            },
          );
        },
      );

      test(
        'a worker retired after maxTasksPerWorker publishes recycle, then exit with reason recycle',
        { ...SHORT, skip: backend.cannot.workers },
        async () => {
          const { pool, name } = makePool(backend, { workers: 1, maxTasksPerWorker: 1 });
          await using _ = pool;
          await pool.ready();
          const abandon = new AbortController();
          const recycled = workerMessage((m) => m.pool === name && m.event === 'recycle', `recycle of ${name}`, abandon.signal);
          const exited = workerMessage((m) => m.pool === name && m.event === 'exit', `exit of ${name}`, abandon.signal);
          await pool.submit('add', [1, 1]);
          const [r, e] = await Promise.all([recycled, exited]).finally(() => abandon.abort());
          assert.equal(e.worker, r.worker);
          assert.equal(e.reason, 'recycle');
        },
      );
    });
  }

  // One trace across the boundary: a span in the caller, the task's span
  // (instrument()), and a span made inside the task by the worker's own SDK.
  for (const backend of chosen.filter((b) => ['ProcessPool', 'ThreadPool', 'RemotePool'].includes(b.name))) {
    describe(`${backend.name}: trace context`, () => {
      before(() => backend.setup?.());
      after(() => backend.teardown?.());

      test(
        'a span made inside a task is a child of the task’s span, itself a child of the span active at submit, all in one trace',
        SHORT,
        async () => {
          exporter.reset();
          const stop = instrument();
          try {
            const { caller, inner, made } = await tracedTask(backend, true);
            const taskSpan = exporter.getFinishedSpans().find((s) => s.name === 'warmpool.task tracedChild');
            assert.ok(taskSpan, 'instrument() recorded the task');
            assert.equal(taskSpan.parentSpanContext?.spanId, caller.spanContext().spanId);
            assert.equal(inner.traceId, caller.spanContext().traceId, 'one trace');
            assert.equal(made.parentSpanId, taskSpan.spanContext().spanId);
          } finally {
            stop();
          }
        },
      );

      test('without instrument(), a span made inside a task is a child of the span active at submit', SHORT, async () => {
        const { caller, inner, made } = await tracedTask(backend, true);
        assert.equal(inner.traceId, caller.spanContext().traceId, 'one trace');
        assert.equal(made.parentSpanId, caller.spanContext().spanId);
      });

      test('a task submitted with no span active starts a trace of its own in the worker', SHORT, async () => {
        const { made } = await tracedTask(backend, false);
        assert.equal(made.parentSpanId, undefined);
      });
    });
  }
}

// The guide's example (docs/guide.md, "Seeing inside a pool"); compiled by
// the build like every file, run here.
function exampleSuite(): void {
  test(
    'docs/examples/trace-tree prints one tree: the request, a warmpool.task span per task, and the spans each task made',
    { ...SHORT },
    async () => {
      const script = fileURLToPath(new URL('../docs/examples/trace-tree.js', import.meta.url));
      const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 25_000 });
      const lines = stdout.split('\n').filter((l) => l !== '');
      assert.match(lines[0], /^request \d/);
      assert.equal(lines.filter((l) => /^[├└]─ warmpool\.task resize /.test(l)).length, 2, stdout);
      assert.equal(lines.filter((l) => /^[│ ] {2}[├└]─ (decode|scale) /.test(l)).length, 4, stdout);
      assert.equal(lines.length, 7, stdout);
    },
  );
}

// Each test file runs in its own process: argv[1] tells whether this file is
// the one run (and not imported by ./observe-remote.test.ts).
if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  observeSuite(backends.filter((b) => b.name !== 'RemotePool'));
  exampleSuite();
}
