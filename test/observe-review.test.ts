// A review of issue 16 (SPEC "Observability") from a user's side, against
// real pools: what test/observe.test.ts and test/otel.test.ts left open.
// Exit reasons a ThreadPool could not give (crash, memory), restarts by
// cause and the gauges as OpenTelemetry metrics read from real pools, the
// map family's messages, subscribers that come, go or throw mid-task, two
// instrument()s at once, and warmpool without @opentelemetry/api installed.
// Rules as in ./observe.test.ts: worker exits are awaited on the channel,
// running tasks announce themselves with a file, nothing asserts a duration.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { subscribeTasks, subscribeWorkers, type TaskMessage, type WorkerMessage } from '../lib/core/diagnostics.js';
import {
  CancelledError,
  LocalPool,
  ProcessPool,
  ThreadPool,
  TimeoutError,
  WorkerCrashedError,
  type Executor,
  type PoolOptions,
  type TaskName,
} from '../lib/index.js';
import { ATTR, METRIC, instrument } from '../lib/otel.js';
import { touch, whenFileExists } from './fixtures/contract-tasks.js';
import type * as reviewTasks from './fixtures/observe-review-tasks.js';
import type { SpanLine } from './fixtures/observe-tasks.js';
import { reasonOf } from './helpers.js';
import { metricsSetup, pointOf } from './otel-helpers.js';

type Tasks = typeof reviewTasks;
type Pool = Executor<Tasks>;
const tasksUrl = new URL('./fixtures/observe-review-tasks.js', import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const execFileAsync = promisify(execFile);
const SHORT = { timeout: 30_000 };

const root = mkdtempSync(join(tmpdir(), 'warmpool-observe-review-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
let n = 0;
const scratch = () => mkdtempSync(join(root, `${n++}-`));

const kinds = {
  ProcessPool: (o: PoolOptions<TaskName<Tasks>>) => new ProcessPool<Tasks>(tasksUrl, o),
  ThreadPool: (o: PoolOptions<TaskName<Tasks>>) => new ThreadPool<Tasks>(tasksUrl, o),
};
type Kind = keyof typeof kinds;

let poolCount = 0;
function makePool(kind: Kind, options: PoolOptions<TaskName<Tasks>> = {}): { pool: Pool; name: string } {
  const name = `review-${kind}-${poolCount++}`;
  return { pool: kinds[kind]({ ...options, name }), name };
}

/** The first `warmpool:worker` message that matches; fails after `ms`. */
function workerMessage(match: (m: WorkerMessage) => boolean, what: string, ms = 15_000): Promise<WorkerMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no warmpool:worker message ${what} within ${ms} ms`));
    }, ms);
    const stop = subscribeWorkers((m) => {
      if (!match(m)) return;
      clearTimeout(timer);
      stop();
      resolve(m);
    });
  });
}

for (const kind of ['ProcessPool', 'ThreadPool'] as const) {
  describe(`${kind}: why a worker exited`, () => {
    test('a task whose worker exits with code 1, the code a terminated thread exits with too, gives reason crash', SHORT, async () => {
      const { pool, name } = makePool(kind, { workers: 1 });
      await using _ = pool;
      await pool.ready();
      const exited = workerMessage((m) => m.pool === name && m.event === 'exit', `exit of ${name}`);
      assert.ok((await reasonOf(pool.submit('crash', [1]))) instanceof WorkerCrashedError);
      const exit = await exited;
      assert.equal(exit.reason, 'crash');
      assert.equal(exit.exitCode, 1);
      assert.equal(await pool.submit('add', [1, 2]), 3);
    });

    test(
      'a worker killed by an uncaught error thrown from a timer while its task awaits publishes exit with reason crash, and is replaced',
      SHORT,
      async () => {
        const { pool, name } = makePool(kind, { workers: 1, minWorkers: 1 });
        await using _ = pool;
        await pool.ready();
        const exited = workerMessage((m) => m.pool === name && m.event === 'exit', `exit of ${name}`);
        const replaced = exited.then(() => workerMessage((m) => m.pool === name && m.event === 'ready', `ready of ${name}'s replacement`));
        assert.ok((await reasonOf(pool.submit('throwFromTimer', ['boom']))) instanceof WorkerCrashedError);
        assert.equal((await exited).reason, 'crash');
        await replaced;
        assert.equal(await pool.submit('add', [2, 2]), 4);
      },
    );
  });
}

describe('a worker that runs out of memory', () => {
  for (const kind of ['ProcessPool', 'ThreadPool'] as const) {
    test(
      `${kind}: a worker that runs out of maxMemoryMb fails its task with WorkerCrashedError saying so, publishes exit with reason memory, counts as a memory restart, and the pool serves the next task`,
      SHORT,
      async (t) => {
        const metrics = metricsSetup();
        const stop = instrument({ tracerProvider: new BasicTracerProvider(), meterProvider: metrics.meterProvider });
        t.after(stop);
        const { pool, name } = makePool(kind, { workers: 1, maxMemoryMb: 32 });
        await using _ = pool;
        await pool.ready();
        const exited = workerMessage((m) => m.pool === name && m.event === 'exit', `exit of ${name}`);
        const err = await reasonOf(pool.submit('allocateForever'));
        assert.ok(err instanceof WorkerCrashedError, String(err));
        assert.equal(err.code, 'ERR_WARMPOOL_WORKER_CRASHED');
        assert.match(err.message, /ran out of memory \(.*maxMemoryMb.*\): .*heap out of memory/);
        // A process is aborted by V8 (SIGABRT); a thread ends with an exit code.
        if (kind === 'ProcessPool') assert.equal(err.signal, 'SIGABRT');
        assert.equal((await exited).reason, 'memory');
        assert.equal(await pool.submit('add', [2, 3]), 5);
        const restarts = (await metrics.read()).get(METRIC.restarts);
        assert.equal(pointOf(restarts, { [ATTR.pool]: name, [ATTR.cause]: 'memory' }), 1);
        assert.equal(pointOf(restarts, { [ATTR.pool]: name, [ATTR.cause]: 'crash' }), undefined);
      },
    );
  }

  test(
    'ProcessPool: a worker aborted (SIGABRT, as V8 aborts on running out of memory) for another reason is a crash, not memory',
    SHORT,
    async () => {
      const { pool, name } = makePool('ProcessPool', { workers: 1, maxMemoryMb: 32 });
      await using _ = pool;
      await pool.ready();
      const exited = workerMessage((m) => m.pool === name && m.event === 'exit', `exit of ${name}`);
      const err = await reasonOf(pool.submit('abort'));
      assert.ok(err instanceof WorkerCrashedError, String(err));
      assert.equal(err.signal, 'SIGABRT');
      assert.doesNotMatch(err.message, /memory/);
      assert.equal((await exited).reason, 'crash');
    },
  );
});

describe('ThreadPool: exits that are not crashes', () => {
  test('threads that piscina ends for being idle past idleTimeout are not reported as crashes', SHORT, async () => {
    const { pool, name } = makePool('ThreadPool', { workers: 2, minWorkers: 0, idleTimeout: 50 });
    await using _ = pool;
    const exits: WorkerMessage[] = [];
    const twoExits = new Promise<void>((resolve, reject) => {
      // Idle threads are unref'd: this timer is also what keeps the test's loop alive.
      const timer = setTimeout(() => {
        stop();
        reject(new Error(`two exits of ${name} within 15 s, got ${JSON.stringify(exits)}`));
      }, 15_000);
      const stop = subscribeWorkers((m) => {
        if (m.pool !== name || m.event !== 'exit') return;
        exits.push(m);
        if (exits.length === 2) {
          clearTimeout(timer);
          stop();
          resolve();
        }
      });
    });
    const dir = scratch();
    const a = pool.submit('block', [join(dir, 'a'), join(dir, 'go')]);
    const b = pool.submit('block', [join(dir, 'b'), join(dir, 'go')]);
    await Promise.all([whenFileExists(join(dir, 'a')), whenFileExists(join(dir, 'b'))]);
    touch(join(dir, 'go'));
    await Promise.all([a, b]);
    await twoExits;
    for (const exit of exits) assert.notEqual(exit.reason, 'crash', JSON.stringify(exit));
  });
});

describe('instrument(): restarts by cause and the gauges, from real pools', () => {
  for (const kind of ['ProcessPool', 'ThreadPool'] as const) {
    test(`${kind}: warmpool.worker.restarts counts a crash, a timeout and a recycle each under its cause`, SHORT, async (t) => {
      const metrics = metricsSetup();
      const stop = instrument({ tracerProvider: new BasicTracerProvider(), meterProvider: metrics.meterProvider });
      t.after(stop);
      const { pool, name } = makePool(kind, { workers: 1, maxTasksPerWorker: 3 });
      await using _ = pool;
      await pool.ready();
      const exits: WorkerMessage[] = [];
      const stopExits = subscribeWorkers((m) => {
        if (m.pool === name && m.event === 'exit') exits.push(m);
      });
      t.after(stopExits);
      const exitNumber = (k: number) =>
        workerMessage((m) => m.pool === name && m.event === 'exit' && exits.length >= k, `exit ${k} of ${name}`);
      let next = exitNumber(1);
      assert.ok((await reasonOf(pool.submit('crash', [3]))) instanceof WorkerCrashedError);
      await next;
      next = exitNumber(2);
      assert.ok((await reasonOf(pool.submit('forever', [], { timeout: 100 }))) instanceof TimeoutError);
      await next;
      next = exitNumber(3);
      for (let i = 0; i < 3; i++) await pool.submit('add', [i, i]);
      await next;
      assert.deepEqual(
        exits.map((m) => m.reason),
        ['crash', 'timeout', 'recycle'],
      );
      const read = await metrics.read();
      const restarts = read.get(METRIC.restarts);
      for (const cause of ['crash', 'timeout', 'recycle'])
        assert.equal(pointOf(restarts, { [ATTR.pool]: name, [ATTR.cause]: cause }), 1, cause);
    });

    test(
      `${kind}: the gauges show the queue depth and busy workers while tasks wait, and zero once they are done, from the channels and from stats()`,
      SHORT,
      async (t) => {
        const metrics = metricsSetup();
        const { pool, name } = makePool(kind, { workers: 1 });
        const stop = instrument({ tracerProvider: new BasicTracerProvider(), meterProvider: metrics.meterProvider });
        t.after(stop);
        const counted = metricsSetup();
        const stopCounted = instrument({ tracerProvider: new BasicTracerProvider(), meterProvider: counted.meterProvider, pools: [pool] });
        t.after(stopCounted);
        await using _ = pool;
        await pool.ready();
        const dir = scratch();
        const blocker = pool.submit('block', [join(dir, 'started'), join(dir, 'go')]);
        const queued = [pool.submit('add', [1, 1]), pool.submit('add', [2, 2])];
        await whenFileExists(join(dir, 'started'));
        const me = { [ATTR.pool]: name };
        let read = new Map<string, MetricData>();
        try {
          for (const source of [metrics, counted]) {
            read = await source.read();
            assert.equal(pointOf(read.get(METRIC.queueDepth), me), 2);
            assert.equal(pointOf(read.get(METRIC.busy), me), 1);
          }
          assert.equal(pointOf(read.get(METRIC.workers), me), 1, 'stats() counts the worker started before instrument()');
        } finally {
          touch(join(dir, 'go'));
        }
        await Promise.all([blocker, ...queued]);
        for (const source of [metrics, counted]) {
          read = await source.read();
          assert.equal(pointOf(read.get(METRIC.queueDepth), me), 0);
          assert.equal(pointOf(read.get(METRIC.busy), me), 0);
        }
      },
    );
  }
});

describe('instrument({ pools }) and the pool’s name', () => {
  test(
    'a pool tells its name, the one its messages carry, and instrument({ pools }) gauges each listed pool under it',
    SHORT,
    async (t) => {
      const metrics = metricsSetup();
      const a = makePool('ProcessPool', { workers: 1 });
      const b = makePool('ThreadPool', { workers: 2, minWorkers: 2 });
      const unnamed = new ThreadPool<Tasks>(tasksUrl, { workers: 1 });
      await using _a = a.pool;
      await using _b = b.pool;
      await using _u = unnamed;
      assert.equal(a.pool.name, a.name);
      assert.equal(b.pool.name, b.name);
      assert.match(unnamed.name ?? '', /^warmpool-\d+$/);
      const stop = instrument({ tracerProvider: new BasicTracerProvider(), meterProvider: metrics.meterProvider, pools: [a.pool, b.pool] });
      t.after(stop);
      await Promise.all([a.pool.ready(), b.pool.ready()]);
      const read = await metrics.read();
      assert.equal(pointOf(read.get(METRIC.workers), { [ATTR.pool]: a.name }), 1);
      assert.equal(pointOf(read.get(METRIC.workers), { [ATTR.pool]: b.name }), 2);
      assert.equal(pointOf(read.get(METRIC.workers), { [ATTR.pool]: 'unnamed' }), undefined);
    },
  );
});

test('instrument({ pools }) refuses a source without a name rather than gauging two of them as one', () => {
  const nameless = { stats: () => ({ workers: 1, busy: 0, queued: 0 }) };
  assert.throws(() => instrument({ meterProvider: metricsSetup().meterProvider, pools: [nameless, nameless] }), {
    name: 'TypeError',
    message: "Expected each of `pools` to have a `name` (a pool's name, as its messages carry it), got undefined",
  });
});

describe('LocalPool: the outcomes it can reach', () => {
  /** Every `warmpool:task` event of one pool, as a copy of the message then. */
  const record = (pool: string) => {
    const events: [string, TaskMessage][] = [];
    const on = (event: string) => (m: TaskMessage) => void (m.pool === pool && events.push([event, { ...m }]));
    const stop = subscribeTasks({ start: on('start'), asyncStart: on('asyncStart'), error: on('error'), asyncEnd: on('asyncEnd') });
    return { events, stop };
  };
  for (const [outcome, errorClass, run] of [
    ['timedOut', TimeoutError, (pool: LocalPool<Tasks>) => pool.submit('hang', [], { timeout: 50 })],
    [
      'cancelled',
      CancelledError,
      async (pool: LocalPool<Tasks>) => {
        const started = join(scratch(), 'started');
        const f = pool.submit('touchThenUntilAborted', [started]);
        await whenFileExists(started);
        assert.equal(f.cancel(), true);
        return f;
      },
    ],
  ] as const) {
    test(
      `an async task that ends ${outcome} once running publishes asyncStart with its worker, then error with the ${errorClass.name} and asyncEnd`,
      SHORT,
      async () => {
        const name = `review-LocalPool-${poolCount++}`;
        const pool = new LocalPool<Tasks>(tasksUrl, { workers: 1, name });
        await using _ = pool;
        await pool.ready();
        const { events, stop } = record(name);
        try {
          const err = await reasonOf(run(pool));
          assert.ok(err instanceof errorClass, String(err));
          assert.deepEqual(
            events.map(([e]) => e),
            ['start', 'asyncStart', 'error', 'asyncEnd'],
          );
          const [, [, begun], [, failed], [, end]] = events;
          assert.notEqual(begun.worker, undefined);
          assert.equal(failed.error, err);
          assert.equal(end.outcome, outcome);
          assert.equal(end.worker, begun.worker);
          assert.ok(
            typeof end.runMs === 'number' && end.runMs >= 0 && typeof end.waitMs === 'number' && end.waitMs >= 0,
            JSON.stringify(end),
          );
        } finally {
          stop();
        }
      },
    );
  }
});

describe('the map family on the channels', () => {
  for (const kind of ['ProcessPool', 'ThreadPool'] as const) {
    test(`${kind}: a map publishes one task per chunk, named by the map's task, each with its own start and asyncEnd`, SHORT, async () => {
      const { pool, name } = makePool(kind, { workers: 2 });
      await using _ = pool;
      const starts: TaskMessage[] = [];
      const ends: TaskMessage[] = [];
      const stop = subscribeTasks({
        start: (m) => {
          if (m.pool === name) starts.push(m);
        },
        asyncEnd: (m) => {
          if (m.pool === name) ends.push(m);
        },
      });
      try {
        assert.deepEqual(
          await pool.map('square', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { chunksize: 5 }),
          [1, 4, 9, 16, 25, 36, 49, 64, 81, 100],
        );
      } finally {
        stop();
      }
      assert.equal(starts.length, 2);
      assert.deepEqual(new Set(ends), new Set(starts), 'the same two message objects end');
      for (const m of ends) {
        assert.equal(m.task, 'square');
        assert.equal(m.outcome, 'fulfilled');
      }
    });
  }
});

describe('the map family and trace context', () => {
  // What makes a span "active" in this process, as an application would register it.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  for (const kind of ['ProcessPool', 'ThreadPool', 'LocalPool'] as const) {
    test(
      `${kind}: every chunk of a map and of an imap is a task span whose parent is the span active at the call, however many come back first`,
      SHORT,
      async (t) => {
        const exporter = new InMemorySpanExporter();
        const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
        t.after(instrument({ tracerProvider, workerSpans: false, metrics: false }));
        const name = `review-${kind}-${poolCount++}`;
        const options = { workers: 1, name } as PoolOptions<TaskName<Tasks>>;
        const pool = kind === 'LocalPool' ? new LocalPool<Tasks>(tasksUrl, options) : kinds[kind](options);
        await using _ = pool;
        await pool.ready();
        const caller = tracerProvider.getTracer('review').startSpan('caller');
        const items = Array.from({ length: 40 }, (_, i) => i);
        await context.with(trace.setSpan(context.active(), caller), async () => {
          await pool.map('square', items, { chunksize: 1 });
          for await (const _r of pool.imap('square', items, { chunksize: 1 }));
        });
        caller.end();
        const spans = exporter.getFinishedSpans().filter((s) => s.attributes[ATTR.pool] === name);
        assert.equal(spans.length, 80);
        const strays = spans.filter((s) => s.parentSpanContext?.spanId !== caller.spanContext().spanId);
        assert.equal(strays.length, 0, `${strays.length} of 80 chunk spans have another parent than the caller's span`);
      },
    );
  }
});

describe('trace context of many tasks at once', () => {
  for (const kind of ['ProcessPool', 'ThreadPool'] as const) {
    test(
      `${kind}: each of 30 tasks submitted at once, each under a span of its own, runs in its worker under that span`,
      SHORT,
      async () => {
        const spansFile = join(scratch(), 'spans.jsonl');
        // One worker: the tasks queue behind each other and are sent ahead in batches.
        const { pool } = makePool(kind, { workers: 1, initializer: 'initTracing', initArgs: [spansFile] });
        await using _ = pool;
        await pool.ready();
        const tracer = new BasicTracerProvider().getTracer('review');
        const callers = Array.from({ length: 30 }, (_, i) => tracer.startSpan(`caller ${i}`));
        const inner = await Promise.all(
          callers.map((caller, i) =>
            context.with(trace.setSpan(context.active(), caller), () => pool.submit('tracedChild', [`inside ${i}`])),
          ),
        );
        for (const c of callers) c.end();
        const made = existsSync(spansFile)
          ? readFileSync(spansFile, 'utf8')
              .split('\n')
              .filter((l) => l !== '')
              .map((l) => JSON.parse(l) as SpanLine)
          : [];
        inner.forEach(({ spanId }, i) => {
          const span = made.find((s) => s.spanId === spanId);
          assert.ok(span, `the worker exported the span of task ${i}`);
          assert.equal(span.name, `inside ${i}`);
          assert.equal(span.traceId, callers[i].spanContext().traceId, `task ${i}: its caller's trace`);
          assert.equal(span.parentSpanId, callers[i].spanContext().spanId, `task ${i}: its caller's span`);
        });
      },
    );
  }
});

describe('subscribers that come, go or throw', () => {
  test(
    'a subscriber that unsubscribes in the middle of a task leaves the task, the pool and the other subscribers as they were',
    SHORT,
    async () => {
      const { pool, name } = makePool('ProcessPool', { workers: 1 });
      await using _ = pool;
      const seen: string[] = [];
      const stopSteady = subscribeTasks({
        start: (m) => void (m.pool === name && seen.push('start')),
        asyncStart: (m) => void (m.pool === name && seen.push('asyncStart')),
        asyncEnd: (m) => void (m.pool === name && seen.push('asyncEnd')),
      });
      let leaving = 0;
      const stopLeaving = subscribeTasks({
        start: () => leaving++,
        asyncStart: () => {
          leaving++;
          stopLeaving();
        },
        asyncEnd: () => leaving++,
      });
      try {
        assert.equal(await pool.submit('add', [1, 2]), 3);
        assert.equal(await pool.submit('add', [2, 3]), 5);
      } finally {
        stopSteady();
        stopLeaving();
      }
      assert.equal(leaving, 2, 'start and asyncStart of the first task, then nothing');
      assert.deepEqual(seen, ['start', 'asyncStart', 'asyncEnd', 'start', 'asyncStart', 'asyncEnd']);
      assert.equal(pool.stats().completed, 2);
    },
  );

  test(
    'a subscriber that throws surfaces as an uncaught exception and disturbs neither the futures nor the pool’s counts',
    SHORT,
    async () => {
      const dir = scratch();
      const script = join(dir, 'throwing.mjs');
      const lib = new URL('../lib/', import.meta.url).href;
      writeFileSync(
        script,
        `import { subscribeTasks } from '${lib}core/diagnostics.js';
import { ProcessPool, ThreadPool, LocalPool } from '${lib}index.js';
let uncaught = 0;
process.on('uncaughtException', () => uncaught++);
subscribeTasks({ start() { throw new Error('start'); }, asyncStart() { throw new Error('asyncStart'); }, asyncEnd() { throw new Error('asyncEnd'); } });
const out = [];
for (const P of [ProcessPool, ThreadPool, LocalPool]) {
  const pool = new P(new URL('${tasksUrl.href}'), { workers: 1 });
  const results = await Promise.all([pool.submit('add', [1, 2]), pool.submit('add', [3, 4])]);
  await new Promise((r) => setImmediate(r));
  const s = pool.stats();
  out.push({ results, completed: s.completed, busy: s.busy, queued: s.queued });
  await pool.shutdown();
}
console.log(JSON.stringify({ out, uncaught }));
`,
      );
      const { stdout } = await execFileAsync(process.execPath, [script], { timeout: 20_000 });
      const { out, uncaught } = JSON.parse(stdout) as {
        out: { results: number[]; completed: number; busy: number; queued: number }[];
        uncaught: number;
      };
      for (const o of out) assert.deepEqual(o, { results: [3, 7], completed: 2, busy: 0, queued: 0 });
      assert.equal(uncaught, 3 * 2 * 3, 'three events of two tasks on three pools, each reported');
    },
  );
});

describe('instrument() called twice', () => {
  test('two instrument()s each record their own span per task, and stopping one (twice) leaves the other recording', SHORT, async () => {
    const first = new InMemorySpanExporter();
    const second = new InMemorySpanExporter();
    const stopFirst = instrument({
      tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(first)] }),
      metrics: false,
      workerSpans: false,
    });
    const stopSecond = instrument({
      tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(second)] }),
      metrics: false,
      workerSpans: false,
    });
    const { pool, name } = makePool('ThreadPool', { workers: 1 });
    await using _ = pool;
    try {
      await pool.submit('add', [1, 1]);
      stopFirst();
      stopFirst();
      await pool.submit('add', [2, 2]);
    } finally {
      stopFirst();
      stopSecond();
    }
    const mine = (e: InMemorySpanExporter) => e.getFinishedSpans().filter((s) => s.attributes[ATTR.pool] === name);
    assert.equal(mine(first).length, 1);
    assert.equal(mine(second).length, 2);
    for (const span of mine(second)) assert.equal(span.attributes[ATTR.outcome], 'fulfilled');
  });
});

describe('without @opentelemetry/api', () => {
  test(
    'warmpool runs tasks on every local backend when @opentelemetry/api cannot be resolved, even with a carrier and an OpenTelemetry global in caller and worker; warmpool/otel names the missing package',
    { timeout: 60_000 },
    async () => {
      // A copy of the built library in a directory whose node_modules has
      // warmpool's dependencies but not @opentelemetry/api.
      const dir = scratch();
      const app = join(dir, 'app');
      const pkg = join(app, 'node_modules', 'warmpool');
      mkdirSync(join(pkg, 'dist'), { recursive: true });
      cpSync(join(here, '../lib'), join(pkg, 'dist/lib'), { recursive: true });
      cpSync(join(here, '../../package.json'), join(pkg, 'package.json'));
      for (const dep of ['p-limit', 'yocto-queue', 'piscina', '@napi-rs']) {
        const from = join(here, '../../node_modules', dep);
        try {
          symlinkSync(from, join(app, 'node_modules', dep));
        } catch {
          // not installed at the top level (an optional dependency of piscina)
        }
      }
      writeFileSync(
        join(app, 'tasks.mjs'),
        `export function add(a, b) { return a + b; }
export function registerOtel() { globalThis[Symbol.for('opentelemetry.js.api.1')] = { version: '1.9.0' }; }
`,
      );
      writeFileSync(
        join(app, 'main.mjs'),
        `import { ProcessPool, ThreadPool, LocalPool, subscribeTasks } from 'warmpool';
globalThis[Symbol.for('opentelemetry.js.api.1')] = { version: '1.9.0' };
// A subscriber that hands every task a carrier, as warmpool/otel would.
subscribeTasks({ start(m) { m.traceContext = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }; } });
const results = [];
for (const P of [ProcessPool, ThreadPool, LocalPool]) {
  const pool = new P(new URL('./tasks.mjs', import.meta.url), { workers: 1, initializer: 'registerOtel' });
  results.push(await pool.submit('add', [1, 2]));
  await pool.shutdown();
}
let otel;
try { await import('warmpool/otel'); otel = 'loaded'; } catch (err) { otel = err.code + ' ' + err.message; }
console.log(JSON.stringify({ results, otel }));
`,
      );
      const { stdout } = await execFileAsync(process.execPath, [join(app, 'main.mjs')], { cwd: app, timeout: 50_000 });
      const { results, otel } = JSON.parse(stdout) as { results: number[]; otel: string };
      assert.deepEqual(results, [3, 3, 3]);
      assert.match(otel, /^ERR_MODULE_NOT_FOUND .*@opentelemetry\/api/);
    },
  );
});
