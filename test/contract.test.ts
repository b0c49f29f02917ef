// The Executor contract (docs/contract.md), once, run against every backend in
// ./backends.ts. A behaviour a backend cannot have is skipped with the reason
// its entry gives in `cannot`. Run as a file, this runs the local backends;
// RemotePool runs it from ./remote-contract.test.ts, a file of its own so
// that each file stays within the runner's per-file timeout.
//
// Rules kept here: no sleep stands in for an event (blockers wait for a file
// and announce their start with one; the only timers are the timeouts and
// grace periods under test); no assertion on elapsed time; every test has a
// `timeout`; every pool is shut down (`await using`). Process faults and
// lifecycle (kills, orphans, memory limits, idle timeout, maxTasksPerWorker)
// and Future's own methods have their own suites.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  CancelledError,
  DataCloneError,
  PoolClosedError,
  QueueFullError,
  TaskNotFoundError,
  TimeoutError,
  WorkerCrashedError,
  WorkerStartError,
  type Executor,
  type Future,
  type PoolOptions,
  type PoolStats,
  type TaskName,
} from '../lib/index.js';
import { backends, type Backend, type Tasks } from './backends.js';
import type * as contractTasks from './fixtures/contract-tasks.js';
import { cloneSamples, touch, whenFileExists, type BuiltinErrorName } from './fixtures/contract-tasks.js';
import { childPids, reasonOf } from './helpers.js';

type ContractTasks = typeof contractTasks;
type Pool = Executor<ContractTasks>;
const contractTasksUrl = new URL('./fixtures/contract-tasks.js', import.meta.url);

/** A pool of the contract fixtures (./fixtures/contract-tasks.ts, which re-exports ./fixtures/tasks.ts). */
function makePool(backend: Backend, options: PoolOptions<TaskName<ContractTasks>> = {}): Pool {
  return boundedDispose(makeRawPool(backend, options));
}

/** As makePool, with the backend's own `Symbol.asyncDispose`. */
function makeRawPool(backend: Backend, options: PoolOptions<TaskName<ContractTasks>> = {}): Pool {
  return backend.make(options as PoolOptions<TaskName<Tasks>>, contractTasksUrl);
}

const DISPOSE_MS = 5_000;
/** Tests whose pool did not shut down within DISPOSE_MS; reported by the `after` hook. */
const stuckPools: string[] = [];
let currentTest = '';
beforeEach((t) => {
  currentTest = t.name;
});

/**
 * `await using` disposal (which is `shutdown()`) bounded to DISPOSE_MS, so that
 * a pool holding a task that never settles cannot hang its test past its
 * timeout and hide the test's own failure. Such a pool is recorded, and the
 * `after` hook below fails the file naming the test and stops its workers.
 */
function boundedDispose(pool: Pool): Pool {
  const dispose = pool[Symbol.asyncDispose].bind(pool);
  Object.defineProperty(pool, Symbol.asyncDispose, {
    configurable: true,
    value: async () => {
      const test = currentTest;
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        dispose().then(() => 'done' as const),
        new Promise<'stuck'>((resolve) => (timer = setTimeout(resolve, DISPOSE_MS, 'stuck' as const))),
      ]);
      clearTimeout(timer);
      if (outcome === 'stuck') stuckPools.push(`${test} (stats: ${JSON.stringify(pool.stats())})`);
    },
  });
  return pool;
}

const SETTLE_MS = 5_000;
/**
 * What `p` settles with, failing the test if it has not settled within
 * SETTLE_MS: used where a lib bug has been seen to leave a call hanging, so
 * that the test fails saying so instead of running into its timeout.
 */
async function settled<T>(p: PromiseLike<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = Symbol('stuck');
  try {
    const outcome = await Promise.race([p, new Promise<typeof stuck>((resolve) => (timer = setTimeout(resolve, SETTLE_MS, stuck)))]);
    if (outcome === stuck) assert.fail(`${what} did not settle within ${SETTLE_MS} ms`);
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}

/** The same pool without the module's types, to send what the types forbid. */
function untyped(pool: Pool): Executor {
  return pool;
}

const SHORT = { timeout: 20_000 };
const LONG = { timeout: 60_000 };

// Keeps this file's event loop alive, so that a pool whose shutdown does not
// hold the loop by itself cannot end the whole file early: that guarantee has
// its own test, in a separate process ('shutdown() of a pool whose workers
// are still starting resolves ...').
const keepAlive = setInterval(() => {}, 60_000);
after(() => clearInterval(keepAlive));

// Safety net: a pool that cannot shut down (a lib bug) would keep its worker
// processes, and so this file, alive until the runner kills it. After the
// last test, any child process still alive is killed, and the file fails
// naming the tests whose pool did not shut down.
after(() => {
  const left = childPids();
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (stuckPools.length > 0 || left.length > 0) {
    throw new Error(
      `pools did not shut down within ${DISPOSE_MS} ms in: ${stuckPools.join('; ') || '(none recorded)'}; ` +
        `worker processes still running after the last test: ${left.join(', ') || 'none'}`,
    );
  }
});

const root = mkdtempSync(join(tmpdir(), 'warmpool-contract-'));
after(() => rmSync(root, { recursive: true, force: true }));
let scratchCount = 0;
/** A fresh empty directory for one test's files. */
function scratch(): string {
  return mkdtempSync(join(root, `${scratchCount++}-`));
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}


/** Waits until the task behind `future` has created `path` (it started), failing fast if it settles first. */
async function started(future: PromiseLike<unknown>, path: string): Promise<void> {
  const stop = new AbortController();
  try {
    await Promise.race([
      whenFileExists(path, stop.signal),
      Promise.resolve(future).then(
        () => {
          throw new Error(`the task settled before it created ${path}`);
        },
        (err: unknown) => {
          throw new Error(`the task failed before it created ${path}`, { cause: err });
        },
      ),
    ]);
  } finally {
    stop.abort();
  }
}

interface Blocker {
  future: Future<string>;
  release(): void;
}

/** Submits a task that occupies a worker until `release()`, and waits until it runs. */
async function startBlocker(pool: Pool): Promise<Blocker> {
  const dir = scratch();
  const startedPath = join(dir, 'started');
  const releasePath = join(dir, 'release');
  const future = pool.submit('block', [startedPath, releasePath]);
  await started(future, startedPath);
  return { future, release: () => void touch(releasePath) };
}

/**
 * Runs many short tasks, so that the pool has measured a short mean run time:
 * a pool may then send tasks ahead to busy workers, which must not change
 * what priority and cancel() promise.
 */
async function warmUp(pool: Pool): Promise<void> {
  await Promise.all(range(50).map((i) => pool.submit('add', [i, 1])));
}

/** Asserts that `value` is equal to `cloneSamples()`, key by key, with its cycle and shared reference intact. */
function assertSamples(value: unknown): void {
  assert.ok(typeof value === 'object' && value !== null, 'an object');
  const got = value as Record<string, unknown>;
  const want = cloneSamples();
  for (const key of Object.keys(want)) assert.deepEqual(got[key], want[key], `sample \`${key}\``);
  const cycle = got.cycle as { self: unknown };
  assert.equal(cycle.self, cycle, 'a cycle stays a cycle');
  const twice = got.twice as unknown[];
  assert.equal(twice[0], twice[1], 'a value referenced twice stays one value');
  assert.ok(Object.is(got.negativeZero, -0), '-0 stays -0');
  assert.ok(Number.isNaN(got.nan), 'NaN stays NaN');
}

/**
 * Most items an "infinite" source yields before it throws: a pool that read
 * without bound would otherwise spin forever in a synchronous generator.
 */
const RUNAWAY = 100_000;
function runaway(produced: number): void {
  if (produced > RUNAWAY) throw new Error(`the pool read more than ${RUNAWAY} items of an infinite source`);
}

/** The five outcome counts of stats(). */
function outcomes(s: PoolStats): Pick<PoolStats, 'completed' | 'failed' | 'cancelled' | 'timedOut' | 'crashed'> {
  return { completed: s.completed, failed: s.failed, cancelled: s.cancelled, timedOut: s.timedOut, crashed: s.crashed };
}

const MESSAGE_FORM = /^Expected `[A-Za-z]+` to be .+, got `.*` \((number|string|boolean|object|array|null|undefined|function|symbol|bigint)\)$/s;

/** Asserts a TypeError or RangeError about `option`, in the form "Expected `x` to be ..., got `v` (type)". */
function assertOptionError(err: unknown, option: string): void {
  assert.ok(err instanceof TypeError || err instanceof RangeError, `a TypeError or RangeError, got ${String(err)}`);
  assert.match(err.message, MESSAGE_FORM);
  assert.ok(err.message.startsWith(`Expected \`${option}\` `), `the message names \`${option}\`: ${err.message}`);
}

/**
 * Declares the contract tests for each of `backends`; also sets up this file's
 * safety nets (above). With `skip` (why they cannot run here), each backend's
 * contract is one skipped test saying so: node:test's summary does not count
 * a skipped suite.
 */
export function contractSuite(backends: readonly Backend[], skip?: string): void {
for (const backend of backends) {
  if (skip !== undefined) {
    test(`${backend.name} contract`, { skip }, () => {});
    continue;
  }
  describe(`${backend.name} contract`, () => {
    if (backend.setup !== undefined) before(() => backend.setup!());
    if (backend.teardown !== undefined) after(() => backend.teardown!());
    // ── submit ──────────────────────────────────────────────────────────────
    describe('submit', () => {
      test('a submitted task resolves its future with what the exported function returns, sync or async', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        assert.equal(await pool.submit('add', [2, 3]), 5);
        assert.equal(await pool.submit('fib', [20]), 6765);
        assert.deepEqual(await pool.submit('asyncEcho', [{ a: [1, 2] }]), { a: [1, 2] });
        assert.equal(await pool.submit('noArgs'), 'none');
      });

      test('arguments reach the worker with structured-clone fidelity (Map, Set, BigInt, Date, RegExp, typed arrays, Error, -0, NaN, cycles)', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const report = await pool.submit('matchesSamples', [cloneSamples()]);
        const wrong = Object.entries(report)
          .filter(([, ok]) => !ok)
          .map(([key]) => key);
        assert.deepEqual(wrong, [], 'every sample arrives in the worker equal to what was sent');
      });

      test('results come back from the worker with structured-clone fidelity (Map, Set, BigInt, Date, RegExp, typed arrays, Error, -0, NaN, cycles)', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        assertSamples(await pool.submit('cloneSamples'));
      });

      test('a value sent to a task and returned by it comes back deep-equal to what was sent', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        assertSamples(await pool.submit('echo', [cloneSamples()]));
      });

      test('a built-in error thrown by a task comes back as an instance of the same built-in class, with its name and message', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const classes: [BuiltinErrorName, ErrorConstructor][] = [
          ['Error', Error],
          ['TypeError', TypeError],
          ['RangeError', RangeError],
          ['SyntaxError', SyntaxError],
          ['ReferenceError', ReferenceError],
          ['EvalError', EvalError],
          ['URIError', URIError],
        ];
        for (const [name, cls] of classes) {
          const err = await reasonOf(pool.submit('throwBuiltin', [name, `a ${name}`]));
          assert.ok(err instanceof cls, `${name} comes back as ${name}, got ${String(err)}`);
          assert.equal(Object.getPrototypeOf(err), cls.prototype, `exactly ${name}`);
          assert.equal(err.name, name);
          assert.equal(err.message, `a ${name}`);
        }
      });

      test('an AggregateError thrown by a task comes back as an AggregateError with its errors rebuilt', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const err = await reasonOf(pool.submit('throwBuiltin', ['AggregateError', 'many']));
        assert.ok(err instanceof AggregateError, String(err));
        assert.equal(err.message, 'many');
        assert.equal(err.errors.length, 1);
        const inner: unknown = err.errors[0];
        assert.ok(inner instanceof TypeError, String(inner));
        assert.equal(inner.message, 'inner');
      });

      test('a custom task error comes back with its name, message, code, cause and own enumerable properties', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const err = await reasonOf(pool.submit('failCustom'));
        assert.ok(err instanceof Error, String(err));
        const e = err as Error & { code?: unknown; statusCode?: unknown };
        assert.equal(e.name, 'CustomError');
        assert.equal(e.message, 'custom failure');
        assert.equal(e.code, 'E_CUSTOM');
        assert.equal(e.statusCode, 418);
        assert.ok(Object.keys(e).includes('code') && Object.keys(e).includes('statusCode'), 'own properties stay own and enumerable');
        assert.ok(e.cause instanceof RangeError, `the cause is a RangeError, got ${String(e.cause)}`);
        assert.equal(e.cause.message, 'the cause');
      });

      test('a task error keeps its worker-side stack, which names the throwing function and the fixture file', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const err = await reasonOf(pool.submit('failCustom'));
        assert.ok(err instanceof Error);
        assert.equal(typeof err.stack, 'string');
        assert.match(err.stack!, /failCustom/);
        assert.match(err.stack!, /[\\/]fixtures[\\/]tasks\.[cm]?[jt]s\b/);
      });

      test('a thrown non-Error value comes back as that value', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        for (const value of ['a plain string', 42, 0n, { reason: 'an object', list: [1, 2] }, [1, 'two'], null, undefined, false]) {
          assert.deepEqual(await reasonOf(pool.submit('throwValue', [value])), value);
        }
      });

      test('a task name the module does not export fails the future with TaskNotFoundError', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const err = await reasonOf(untyped(pool).submit('noSuchTask', [1]));
        assert.ok(err instanceof TaskNotFoundError, String(err));
        assert.equal(err.code, 'ERR_WARMPOOL_TASK_NOT_FOUND');
        assert.match(err.message, /noSuchTask/);
        assert.match(err.message, /`add`/, 'the message lists the tasks there are');
        assert.doesNotMatch(err.message, /CustomError/, 'an exported class is not listed as a task');
        assert.doesNotMatch(err.message, /notAFunction/, 'an exported number is not listed as a task');
        assert.equal(await pool.submit('add', [1, 1]), 2);
      });

      test('an export that is not a function fails the future with TaskNotFoundError', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const err = await reasonOf(untyped(pool).submit('notAFunction'));
        assert.ok(err instanceof TaskNotFoundError, String(err));
        assert.match(err.message, /notAFunction/);
        assert.equal(await pool.submit('add', [1, 1]), 2);
      });

      test('an argument that cannot be cloned fails only its own future, with a DataCloneError naming the argument and the value', { ...SHORT, skip: backend.cannot.clone }, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const futures = [
          pool.submit('add', [1, 2]),
          pool.submit('echo', [() => 'a function']),
          pool.submit('add', [3, 4]),
          pool.submit('echo', [Symbol('a symbol')]),
          pool.submit('add', [5, 6]),
        ];
        const [a, fn, b, sym, c] = futures;
        for (const [bad, what] of [
          [fn, /a function/],
          [sym, /Symbol\(a symbol\)/],
        ] as const) {
          const err = await reasonOf(bad);
          assert.ok(err instanceof DataCloneError, String(err));
          assert.equal(err.code, 'ERR_WARMPOOL_DATA_CLONE');
          assert.match(err.message, /could not be cloned/);
          assert.match(err.message, /argument 0/i);
          assert.match(err.message, what);
        }
        assert.deepEqual(await Promise.all([a, b, c]), [3, 7, 11]);
      });

      test('a result that cannot be cloned fails only its own future, with a DataCloneError naming the problem', { ...SHORT, skip: backend.cannot.clone }, async () => {
        await using pool = makePool(backend, { workers: 1 });
        // Warm up with short tasks, so the next ones travel and return in one batch.
        await Promise.all(range(20).map((i) => pool.submit('add', [i, i])));
        const futures = [
          pool.submit('add', [1, 2]),
          pool.submit('returnFunction'),
          pool.submit('add', [3, 4]),
          pool.submit('returnSymbol'),
          pool.submit('add', [5, 6]),
        ];
        const [a, fn, b, sym, c] = futures;
        for (const bad of [fn, sym]) {
          const err = await reasonOf(bad);
          assert.ok(err instanceof DataCloneError, String(err));
          assert.equal(err.code, 'ERR_WARMPOOL_DATA_CLONE');
          assert.match(err.message, /could not be cloned/);
          assert.match(err.message, /result/i);
        }
        assert.deepEqual(await Promise.all([a, b, c]), [3, 7, 11]);
      });

      test('after every kind of bad input the same pool still accepts and runs work', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const bad: PromiseLike<unknown>[] = [
          pool.submit('fail', ['boom']),
          pool.submit('failCustom'),
          pool.submit('throwValue', ['x']),
          untyped(pool).submit('noSuchTask'),
          untyped(pool).submit('notAFunction'),
          pool.starmap('failOn', [[1, 1]]),
        ];
        // Unclonable values are bad input only where values are cloned.
        if (backend.cannot.clone === undefined) bad.push(pool.submit('echo', [() => 1]), pool.submit('returnFunction'));
        // All handled at once: they may settle in any order (RemotePool's do).
        await Promise.all(bad.map((p) => reasonOf(p)));
        assert.equal(await pool.submit('add', [20, 22]), 42);
        assert.deepEqual(await pool.map('square', [1, 2, 3]), [1, 4, 9]);
        const s = pool.stats();
        assert.equal(s.crashed, 0, 'no bad input takes a worker down');
      });
    });

    // ── priority ────────────────────────────────────────────────────────────
    describe('priority', () => {
      test('tasks queued behind a busy worker run highest priority first, and equal priorities in submission order', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const blocker = await startBlocker(pool);
        const queued: [string, number][] = [
          ['a', 0],
          ['b', 5],
          ['c', 0],
          ['d', 10],
          ['e', 5],
          ['f', -1],
          ['g', 10],
          ['h', 0],
        ];
        const futures = queued.map(([tag, priority]) => pool.submit('sequence', [tag], { priority }));
        blocker.release();
        assert.equal(await blocker.future, 'released');
        const ran = (await Promise.all(futures)).sort((x, y) => x.seq - y.seq).map((r) => r.tag);
        assert.deepEqual(ran, ['d', 'g', 'b', 'e', 'a', 'c', 'h', 'f']);
      });

      test('a higher-priority task submitted later runs before lower-priority tasks still waiting behind a busy worker, also once the pool has measured short tasks', { ...SHORT, skip: backend.cannot.submitQueuedAtOnce }, async () => {
        await using pool = makePool(backend, { workers: 1 });
        await warmUp(pool);
        const blocker = await startBlocker(pool);
        const low = pool.submit('sequence', ['low'], { priority: 0 });
        // A later turn of the event loop: the pool has had every chance to dispatch `low`.
        await new Promise((resolve) => setImmediate(resolve));
        const high = pool.submit('sequence', ['high'], { priority: 10 });
        blocker.release();
        assert.equal(await blocker.future, 'released');
        const ran = (await Promise.all([low, high])).sort((x, y) => x.seq - y.seq).map((r) => r.tag);
        assert.deepEqual(ran, ['high', 'low'], 'both were waiting for the worker when the blocker ended; the higher priority runs first');
      });
    });

    // ── map, starmap, imap, imapUnordered ───────────────────────────────────
    describe('map family', () => {
      // Item i waits (n - i) * 40 macrotask turns: later items finish first.
      const n = 10;
      const descending = (): [number, number][] => range(n).map((i) => [i, (n - i) * 40]);
      const squares = range(n).map((i) => i * i);

      test('map and starmap return results in input order even when items complete out of order', SHORT, async () => {
        await using pool = makePool(backend, { workers: 2 });
        assert.deepEqual(await pool.starmap('delayedSquare', descending(), { chunksize: 1 }), squares);
        assert.deepEqual(await pool.map('delayedSquareOf', descending(), { chunksize: 1 }), squares);
      });

      test('imap yields results in input order even when items complete out of order', SHORT, async () => {
        await using pool = makePool(backend, { workers: 2 });
        const out: number[] = [];
        for await (const v of pool.imap('delayedSquareOf', descending(), { chunksize: 1 })) out.push(v);
        assert.deepEqual(out, squares);
        async function* pairs(): AsyncGenerator<[number, number]> {
          yield* descending();
        }
        const fromAsync: number[] = [];
        for await (const v of pool.imap('delayedSquareOf', pairs(), { chunksize: 1 })) fromAsync.push(v);
        assert.deepEqual(fromAsync, squares);
      });

      test('an empty input gives an empty result from map, starmap, imap and imapUnordered', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        assert.deepEqual(await pool.map('square', []), []);
        assert.deepEqual(await pool.starmap('add', []), []);
        function* none(): Generator<number> {}
        assert.deepEqual(await pool.map('square', none()), []);
        for await (const _ of pool.imap('square', [])) assert.fail('imap of [] yields nothing');
        for await (const _ of pool.imapUnordered('square', none())) assert.fail('imapUnordered of nothing yields nothing');
      });

      test('map, starmap and imap accept a generator as input', SHORT, async () => {
        await using pool = makePool(backend, { workers: 2 });
        function* numbers(): Generator<number> {
          for (let i = 0; i < 30; i++) yield i;
        }
        function* pairs(): Generator<[number, number]> {
          for (let i = 0; i < 30; i++) yield [i, 100];
        }
        const want = range(30).map((i) => i * i);
        assert.deepEqual(await pool.map('square', numbers()), want);
        assert.deepEqual(await pool.starmap('add', pairs()), range(30).map((i) => i + 100));
        const out: number[] = [];
        for await (const v of pool.imap('square', numbers())) out.push(v);
        assert.deepEqual(out, want);
      });

      test('map, starmap and imap accept an async generator as input', SHORT, async () => {
        await using pool = makePool(backend, { workers: 2 });
        async function* numbers(): AsyncGenerator<number> {
          for (let i = 0; i < 30; i++) {
            await new Promise((resolve) => setImmediate(resolve));
            yield i;
          }
        }
        async function* pairs(): AsyncGenerator<[number, number]> {
          for await (const i of numbers()) yield [i, 100];
        }
        const want = range(30).map((i) => i * i);
        assert.deepEqual(await pool.map('square', numbers()), want);
        assert.deepEqual(await pool.starmap('add', pairs()), range(30).map((i) => i + 100));
        const out: number[] = [];
        for await (const v of pool.imap('square', numbers())) out.push(v);
        assert.deepEqual(out, want);
      });

      test('an explicit chunksize gives every result in input order', SHORT, async () => {
        await using pool = makePool(backend, { workers: 2 });
        const items = range(53);
        const want = items.map((i) => i * i);
        for (const chunksize of [1, 2, 7, 53, 1000]) {
          assert.deepEqual(await pool.map('square', items, { chunksize }), want, `map, chunksize ${chunksize}`);
          assert.deepEqual(
            await pool.starmap('add', items.map((i) => [i, i] as [number, number]), { chunksize }),
            items.map((i) => 2 * i),
            `starmap, chunksize ${chunksize}`,
          );
          const out: number[] = [];
          for await (const v of pool.imap('square', items, { chunksize })) out.push(v);
          assert.deepEqual(out, want, `imap, chunksize ${chunksize}`);
        }
      });

      test('map over 100 000 items with the default chunksize returns every result in input order', LONG, async () => {
        await using pool = makePool(backend, { workers: 2 });
        const items = range(100_000);
        const out = await pool.map('square', items);
        assert.equal(out.length, items.length);
        for (let i = 0; i < items.length; i++) if (out[i] !== i * i) assert.fail(`item ${i}: ${out[i]} !== ${i * i}`);
      });

      test("a failing item rejects map, starmap, imap and imapUnordered with that item's own error, its input position in error.index", SHORT, async () => {
        await using pool = makePool(backend, { workers: 2 });
        // Started first: the bounded waits below are for the calls, not for
        // RemotePool hosts starting on a loaded machine (seen taking 7 s).
        await pool.ready();
        const items = range(40).map((i) => (i === 23 ? -1 : i));
        const check = (err: unknown) => {
          assert.ok(err instanceof RangeError, String(err));
          assert.equal(err.message, 'negative item -1');
          assert.equal((err as RangeError & { index?: unknown }).index, 23);
        };
        check(await reasonOf(settled(pool.map('failIfNegative', items, { chunksize: 1 }), 'map, chunksize 1')));
        check(await reasonOf(settled(pool.map('failIfNegative', items, { chunksize: 5 }), 'map, chunksize 5')));
        check(await reasonOf(settled(pool.map('failIfNegative', items), 'map, default chunksize')));
        const starErr = await reasonOf(
          settled(pool.starmap('failOn', range(40).map((i) => [i, 23] as [number, number]), { chunksize: 3 }), 'starmap'),
        );
        assert.ok(starErr instanceof RangeError, String(starErr));
        assert.equal(starErr.message, 'bad item 23');
        assert.equal((starErr as RangeError & { index?: unknown }).index, 23);
        for (const method of ['imap', 'imapUnordered'] as const) {
          const drain = async () => {
            for await (const _ of pool[method]('failIfNegative', items, { chunksize: 2 })) {
              // drain
            }
          };
          check(await reasonOf(settled(drain(), method)));
        }
      });

      test('ordered imap yields every result before the failing item, then throws its error (Executor.map), even when the failure arrives first', SHORT, async () => {
        await using pool = makePool(backend, { workers: 2 });
        const dir = scratch();
        const startedPath = join(dir, 'started');
        const releasePath = join(dir, 'release');
        const items: Parameters<ContractTasks['itemOrBlock']>[0][] = [0, 1, [startedPath, releasePath], 'bad', 4];
        const it = pool.imap('itemOrBlock', items, { chunksize: 1 })[Symbol.asyncIterator]();
        const out: unknown[] = [];
        out.push((await it.next()).value, (await it.next()).value);
        await whenFileExists(startedPath);
        // Item 2 holds one worker; `bad` ran on the other, so this task, queued
        // after it on that worker, comes back after the failure has reached the pool.
        assert.equal(await settled(pool.submit('add', [1, 1]), 'a task beside the blocked item'), 2);
        touch(releasePath);
        const rest = async () => {
          for (;;) {
            const r = await it.next();
            if (r.done === true) return;
            out.push(r.value);
          }
        };
        const err = await reasonOf(settled(rest(), 'the rest of the imap'));
        assert.deepEqual(out, [0, 1, 'released'], 'every result before the failing item, in order');
        assert.ok(err instanceof RangeError, String(err));
        assert.equal(err.message, 'bad item');
        assert.equal((err as RangeError & { index?: unknown }).index, 3);
      });

      test('map and imap fail with the error of the lowest failing input position, even when a later item failed first', SHORT, async () => {
        await using pool = makePool(backend, { workers: 2 });
        for (const method of ['map', 'imap'] as const) {
          const dir = scratch();
          const startedPath = join(dir, 'started');
          const releasePath = join(dir, 'release');
          const items: Parameters<ContractTasks['itemOrBlock']>[0][] = [0, [startedPath, releasePath, 'fail'], 2, 'bad', 4];
          const out: unknown[] = [];
          const call: Promise<unknown> =
            method === 'map'
              ? pool.map('itemOrBlock', items, { chunksize: 1 })
              : (async () => {
                  for await (const v of pool.imap('itemOrBlock', items, { chunksize: 1 })) out.push(v);
                })();
          const reason = reasonOf(settled(call, method));
          await whenFileExists(startedPath);
          assert.equal(await settled(pool.submit('add', [1, 1]), `a task beside the blocked item (${method})`), 2);
          touch(releasePath);
          const err = await reason;
          assert.ok(err instanceof RangeError, String(err));
          assert.equal(err.message, 'late failure', `${method} rejects with item 1's error, not item 3's`);
          assert.equal((err as RangeError & { index?: unknown }).index, 1);
          if (method === 'imap') assert.deepEqual(out, [0], 'imap yielded the result before item 1');
        }
      });

      test('an item that cannot be cloned fails map with DataCloneError whose index and message give its input position', { ...SHORT, skip: backend.cannot.clone }, async () => {
        await using pool = makePool(backend, { workers: 2 });
        const items: unknown[] = range(64);
        items[57] = () => 'a function';
        for (const chunksize of [16, 1, undefined]) {
          const err = await reasonOf(settled(untyped(pool).map('echo', items, { chunksize }), `map, chunksize ${String(chunksize)}`));
          assert.ok(err instanceof DataCloneError, String(err));
          assert.equal((err as DataCloneError & { index?: unknown }).index, 57, `chunksize ${String(chunksize)}`);
          assert.match(err.message, /^Item 57 of the map over `echo` cannot be sent to a worker: /);
          assert.doesNotMatch(err.message, /item 9\b|Argument 9\b/i, 'no position within the chunk');
        }
        assert.equal(await pool.submit('add', [1, 2]), 3);
      });

      test('stats().completed counts map items, not chunks, and a failing chunk adds the items before its failing one', SHORT, async () => {
        await using pool = makePool(backend, { workers: 2 });
        const before = pool.stats();
        assert.equal((await pool.map('square', range(100), { chunksize: 10 })).length, 100);
        const after = pool.stats();
        assert.equal(after.completed - before.completed, 100);
        for await (const _ of pool.imap('square', range(30), { chunksize: 7 })) {
          // drain
        }
        assert.equal(pool.stats().completed - after.completed, 30, 'imap counts items too');
        const mid = pool.stats();
        const err = await reasonOf(pool.map('failIfNegative', [0, 1, 2, 3, 4, -1, 6, 7, 8, 9], { chunksize: 10 }));
        assert.ok(err instanceof RangeError, String(err));
        const end = pool.stats();
        assert.equal(end.completed - mid.completed, 5, 'the five items before the failing one returned values');
        assert.equal(end.failed - mid.failed, 1, 'the failing chunk counts once');
      });

      test('breaking out of imap over an async generator has run the generator\'s finally by the time the loop has exited', SHORT, async () => {
        await using pool = makePool(backend, { workers: 2 });
        for (const method of ['imap', 'imapUnordered'] as const) {
          let closed = false;
          async function* numbers(): AsyncGenerator<number> {
            try {
              for (let i = 0; ; i++) {
                runaway(i);
                await new Promise((resolve) => setImmediate(resolve));
                yield i;
              }
            } finally {
              await new Promise((resolve) => setImmediate(resolve));
              closed = true;
            }
          }
          let seen = 0;
          for await (const _ of pool[method]('square', numbers(), { chunksize: 1 })) {
            if (++seen === 10) break;
          }
          assert.ok(closed, `${method}: the finally block ran before the loop exited`);
        }
      });

      test('a failing item cancels the items of its call not yet started, and the pool still works', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        let produced = 0;
        function* items(): Generator<number> {
          for (let i = 0; i < 1000; i++) {
            produced++;
            yield i === 3 ? -1 : i;
          }
        }
        const before = pool.stats().cancelled;
        const err = await reasonOf(settled(pool.map('failIfNegative', items(), { chunksize: 1 }), 'the failing map'));
        assert.ok(err instanceof RangeError, String(err));
        assert.equal((err as RangeError & { index?: unknown }).index, 3);
        assert.ok(pool.stats().cancelled > before, `items read but not started are cancelled (cancelled: ${before} -> ${pool.stats().cancelled})`);
        assert.ok(produced < 1000, `the rest of the input is not read (${produced} read)`);
        assert.deepEqual(await settled(pool.map('square', [1, 2, 3]), 'a map after the failed one'), [1, 4, 9]);
        assert.equal(await settled(pool.submit('add', [1, 2]), 'a task after the failed map'), 3);
      });

      test('imap over an infinite generator reads only a bounded window ahead of the loop', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const chunksize = 2;
        let produced = 0;
        function* naturals(): Generator<number> {
          for (let i = 0; ; i++) {
            produced++;
            runaway(produced);
            yield i;
          }
        }
        let consumed = 0;
        let maxAhead = 0;
        for await (const v of pool.imap('square', naturals(), { chunksize })) {
          assert.equal(v, consumed * consumed);
          consumed++;
          maxAhead = Math.max(maxAhead, produced - consumed);
          if (consumed === 300) break;
        }
        // The window is "a small multiple of workers x chunksize"; 64 items is generous for 1 x 2.
        assert.ok(maxAhead <= 64, `read at most 64 items ahead of the loop, read ${maxAhead} ahead`);
      });

      test('imap over an infinite async generator reads only a bounded window ahead of the loop', SHORT, async () => {
        await using pool = makePool(backend, { workers: 2 });
        let produced = 0;
        async function* naturals(): AsyncGenerator<number> {
          for (let i = 0; ; i++) {
            produced++;
            runaway(produced);
            yield i;
          }
        }
        let consumed = 0;
        let maxAhead = 0;
        for await (const v of pool.imap('square', naturals(), { chunksize: 1 })) {
          assert.equal(v, consumed * consumed);
          consumed++;
          maxAhead = Math.max(maxAhead, produced - consumed);
          if (consumed === 200) break;
        }
        assert.ok(maxAhead <= 64, `read at most 64 items ahead of the loop, read ${maxAhead} ahead`);
      });

      test('imap and imapUnordered stop reading their source when the loop breaks', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        for (const method of ['imap', 'imapUnordered'] as const) {
          for (const kind of ['sync', 'async'] as const) {
            let produced = 0;
            let closed = false;
            function* syncNaturals(): Generator<number> {
              try {
                for (let i = 0; ; i++) {
                  produced++;
                  runaway(produced);
                  yield i;
                }
              } finally {
                closed = true;
              }
            }
            async function* asyncNaturals(): AsyncGenerator<number> {
              yield* syncNaturals();
            }
            const source = kind === 'sync' ? syncNaturals() : asyncNaturals();
            let seen = 0;
            for await (const _ of pool[method]('square', source, { chunksize: 1 })) {
              if (++seen === 25) break;
            }
            const atBreak = produced;
            // Round trips through the pool: reads after the break would have happened by now.
            assert.equal(await settled(pool.submit('add', [1, 1]), `a task after breaking out of ${method} (${kind})`), 2);
            assert.deepEqual(await pool.map('square', [2, 3]), [4, 9]);
            assert.equal(produced, atBreak, `${method} over a ${kind} generator reads nothing after the break`);
            assert.ok(closed, `${method} closes the ${kind} generator (its finally ran)`);
          }
        }
      });

      test('imapUnordered yields every result exactly once', SHORT, async () => {
        await using pool = makePool(backend, { workers: 2 });
        for (const chunksize of [1, 4, undefined]) {
          const out: number[] = [];
          for await (const v of pool.imapUnordered('square', range(300), { chunksize })) out.push(v);
          assert.equal(out.length, 300);
          assert.deepEqual(
            out.sort((x, y) => x - y),
            range(300).map((i) => i * i),
            `chunksize ${String(chunksize)}`,
          );
        }
      });

      test('concurrency bounds how many items of one call run at once', SHORT, async () => {
        await using pool = makePool(backend, { workers: 2 });
        await pool.ready();
        const dir = scratch();
        const dirs = (): string[] => range(10).map(() => dir);
        // The fixture (an async hold) can see overlap: without a bound, two items overlap.
        const free = await pool.map('occupancyIn', dirs(), { chunksize: 1 });
        assert.ok(Math.max(...free) >= 2, `fixture sanity: two items were seen running at once (${free.join(',')})`);
        const bounded = await pool.map('occupancyIn', dirs(), { concurrency: 1 });
        assert.equal(Math.max(...bounded), 1, `map with concurrency 1 ran one item at a time (${bounded.join(',')})`);
        const starred = await pool.starmap('occupancy', dirs().map((d) => [d, 15] as [string, number]), { concurrency: 1, chunksize: 1 });
        assert.equal(Math.max(...starred), 1, `starmap with concurrency 1 ran one item at a time (${starred.join(',')})`);
        const lazy: number[] = [];
        for await (const v of pool.imapUnordered('occupancyIn', dirs(), { concurrency: 1 })) lazy.push(v);
        assert.equal(lazy.length, 10);
        assert.equal(Math.max(...lazy), 1, `imapUnordered with concurrency 1 ran one item at a time (${lazy.join(',')})`);
      });

      test('aborting the signal of a map rejects it with CancelledError, and the pool still works', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const dir = scratch();
        const paths = range(4).map((i) => join(dir, `started-${i}`));
        const controller = new AbortController();
        const mapped = pool.map('touchThenHang', paths, { signal: controller.signal, chunksize: 1 });
        const reason = reasonOf(mapped);
        await whenFileExists(paths[0]);
        controller.abort();
        const err = await reason;
        assert.ok(err instanceof CancelledError, String(err));
        assert.equal(err.code, 'ERR_WARMPOOL_CANCELLED');
        assert.equal(await pool.submit('add', [1, 2]), 3);
        assert.ok(!existsSync(paths[1]), 'items after the abort never ran');
      });

      test('a map given an already-aborted signal rejects with CancelledError and runs none of its items', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const dir = scratch();
        const paths = range(5).map((i) => join(dir, `ran-${i}`));
        const err = await reasonOf(pool.map('touch', paths, { signal: AbortSignal.abort() }));
        assert.ok(err instanceof CancelledError, String(err));
        assert.equal(await pool.submit('add', [1, 2]), 3);
        assert.deepEqual(
          paths.filter((p) => existsSync(p)),
          [],
          'no item ran',
        );
      });

      test('onProgress is called with (done, total) as items complete, ending with (total, total)', SHORT, async () => {
        await using pool = makePool(backend, { workers: 2 });
        const calls: [number, number | undefined][] = [];
        const out = await pool.map('square', range(200), { chunksize: 5, onProgress: (done, total) => void calls.push([done, total]) });
        assert.equal(out.length, 200);
        assert.ok(calls.length > 0);
        assert.deepEqual(calls.at(-1), [200, 200]);
        let last = 0;
        for (const [done, total] of calls) {
          assert.equal(total, 200);
          assert.ok(done >= last && done <= 200, `done grows and stays within total: ${done}`);
          last = done;
        }
      });

      test('onProgress reports an undefined total for a generator, ending with (count, undefined)', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        function* numbers(): Generator<number> {
          for (let i = 0; i < 50; i++) yield i;
        }
        const calls: [number, number | undefined][] = [];
        await pool.map('square', numbers(), { chunksize: 3, onProgress: (done, total) => void calls.push([done, total]) });
        assert.deepEqual(calls.at(-1), [50, undefined]);
        for (const [, total] of calls) assert.equal(total, undefined);
        const lazyCalls: [number, number | undefined][] = [];
        for await (const _ of pool.imap('square', numbers(), { onProgress: (done, total) => void lazyCalls.push([done, total]) })) {
          // drain
        }
        assert.deepEqual(lazyCalls.at(-1), [50, undefined]);
      });
    });

    // ── the task module and the initializer ────────────────────────────────
    describe('task module errors', () => {
      // RemotePool's module and initializer are its hosts' (`warmpool worker`), checked there.
      const skip = backend.cannot.workerOptions;

      /** A task module in a fresh directory, with `source` as its text. */
      function moduleFile(name: string, source: string): URL {
        const path = join(scratch(), name);
        writeFileSync(path, source);
        return pathToFileURL(path);
      }

      test('a relative module path is refused at construction with a TypeError suggesting new URL(..., import.meta.url)', { ...SHORT, skip }, () => {
        for (const module of ['./tasks.js', 'tasks.js', '../fixtures/tasks.js']) {
          assert.throws(() => backend.make({}, module as unknown as URL), (err: unknown) => {
            assert.ok(err instanceof TypeError, String(err));
            const shown = module.startsWith('.') ? module : `./${module}`;
            assert.ok(err.message.includes(`new URL('${shown}', import.meta.url)`), err.message);
            return true;
          });
        }
      });

      test('an http:, https: or data: module URL is refused at construction with a TypeError', { ...SHORT, skip }, () => {
        for (const module of ['https://example.com/tasks.js', new URL('http://example.com/tasks.js'), 'data:text/javascript,export const a = () => 1']) {
          assert.throws(() => backend.make({}, module as URL), (err: unknown) => {
            assert.ok(err instanceof TypeError, String(err));
            assert.match(err.message, /^Expected `module` to be a file: URL, .*: workers import the task module from a file, so (http|https|data): is not supported/);
            return true;
          });
        }
      });

      test('an initializer that is not a function export fails ready() with WorkerStartError naming the initializer and the exports', { ...SHORT, skip }, async () => {
        await using pool = makePool(backend, { workers: 1, initializer: 'nope' as never });
        const err = await reasonOf(pool.ready());
        assert.ok(err instanceof WorkerStartError, String(err));
        assert.match(err.message, /initializer `nope` is not a function exported by .*contract-tasks\.js; its function exports are: .*\badd\b/);
        assert.doesNotMatch(err.message, /CustomError/, 'a class is not offered as an initializer');
        assert.ok(err.cause instanceof TypeError, `the cause is a TypeError: ${String(err.cause)}`);
        const taskErr = await reasonOf(pool.submit('add', [1, 2]));
        assert.ok(taskErr instanceof WorkerStartError, String(taskErr));
        assert.match(taskErr.message, /initializer `nope`/);
      });

      test('a task module with a syntax error fails ready() with WorkerStartError giving file:line:column', { ...SHORT, skip }, async () => {
        const url = moduleFile('broken.mjs', 'export function a() {\n  return 1 +;\n}\n');
        await using pool = boundedDispose(backend.make({ workers: 1 }, url));
        const err = await reasonOf(pool.ready());
        assert.ok(err instanceof WorkerStartError, String(err));
        assert.ok(err.message.includes(`${fileURLToPath(url)}:2:13`), err.message);
        assert.match(err.message, /Unexpected token/);
      });

      test('a TypeScript task module without a loader fails ready() saying to start Node with --import tsx', { ...SHORT, skip }, async () => {
        const url = moduleFile('tasks.ts', 'export function twice(x: number): number {\n  return 2 * x;\n}\n');
        await using pool = boundedDispose(backend.make({ workers: 1, execArgv: [] }, url));
        if ((process.features as { typescript?: unknown }).typescript) {
          // This Node strips types itself (22.18+, 23.6+): the module loads.
          await pool.ready();
          assert.equal(await untyped(pool).submit('twice', [21]), 42);
          return;
        }
        const err = await reasonOf(pool.ready());
        assert.ok(err instanceof WorkerStartError, String(err));
        assert.match(err.message, /without a TypeScript loader: start Node with one \(`node --import tsx main\.ts`\), and the pool passes it on/);
      });

      test('a task module that default-exports an object of tasks gets TaskNotFoundError saying tasks are named exports, with the object\'s keys', { ...SHORT, skip }, async () => {
        const url = moduleFile('default.mjs', 'export default { resize(x) { return x; }, crop(x) { return x; } };\n');
        await using pool = boundedDispose(backend.make({ workers: 1 }, url));
        const err = await reasonOf(untyped(pool).submit('resize', [1]));
        assert.ok(err instanceof TaskNotFoundError, String(err));
        assert.match(err.message, /tasks are named function exports \(`export function resize\(\.\.\.\)`\), not keys of the default export; the default export is an object with keys `resize`, `crop`/);
      });
    });

    // ── cancel and timeout ──────────────────────────────────────────────────
    describe('cancel and timeout', () => {
      test('cancel() of a pending task rejects its future with CancelledError and the task never runs', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const blocker = await startBlocker(pool);
        const mark = join(scratch(), 'ran');
        const f = pool.submit('touch', [mark]);
        assert.equal(f.cancel(), true);
        assert.equal(f.state, 'cancelled');
        const err = await reasonOf(f);
        assert.ok(err instanceof CancelledError, String(err));
        blocker.release();
        assert.equal(await blocker.future, 'released');
        assert.equal(await pool.submit('add', [1, 2]), 3);
        assert.ok(!existsSync(mark), 'the cancelled task never ran');
      });

      test('a pending task cancelled while its worker runs a long synchronous task never runs, also once the pool has measured short tasks', { ...SHORT, skip: backend.cannot.runBesideSyncCode }, async () => {
        await using pool = makePool(backend, { workers: 1 });
        await warmUp(pool);
        const dir = scratch();
        const startedPath = join(dir, 'started');
        const mark = join(dir, 'ran');
        const busy = pool.submit('touchThenSpin', [startedPath, 300]);
        const victim = pool.submit('touch', [mark]);
        await started(busy, startedPath);
        assert.equal(victim.state, 'pending');
        assert.equal(victim.cancel(), true);
        const err = await reasonOf(victim);
        assert.ok(err instanceof CancelledError, String(err));
        assert.equal(await busy, 300);
        assert.equal(await pool.submit('add', [1, 2]), 3);
        assert.ok(!existsSync(mark), 'the cancelled task never ran');
      });

      test('cancelling a pending task never holds back the results of the tasks submitted before it', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        await warmUp(pool);
        for (let round = 0; round < 5; round++) {
          const first = pool.submit('add', [1, 1]);
          const second = pool.submit('asyncEcho', ['second']);
          const third = pool.submit('add', [2, 2]);
          // Let the pool dispatch: `third` may now travel to the worker with the others.
          await Promise.resolve();
          assert.equal(third.cancel(), true);
          try {
            // Bounded, so that a result that never comes fails the test instead of hanging it.
            const results = await Promise.all([first.result(5_000), second.result(5_000)]);
            assert.deepEqual(results, [2, 'second']);
          } catch (err) {
            if (!(err instanceof TimeoutError)) throw err;
            assert.fail(
              `round ${round}: after cancelling the third task, the first two did not settle within 5 s (states: ${first.state}, ${second.state})`,
            );
          } finally {
            // A task left hanging is stopped, so that the pool can shut down.
            first.cancel();
            second.cancel();
          }
        }
      });

      test('a pending task cancelled from the done callback of the task before it never stalls the tasks after it', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        for (let round = 0; round < 20; round++) {
          await warmUp(pool);
          const first = pool.submit('spin', [2]);
          const second = pool.submit('add', [2, 2]);
          const third = pool.submit('add', [3, 3]);
          first.addDoneCallback(() => void second.cancel());
          assert.ok((await settled(first, `round ${round}: the first task`)) >= 0);
          assert.equal(await settled(third, `round ${round}: the task after the cancelled one`), 6);
          assert.equal(second.cancelled(), true);
        }
      });

      test('cancel() of a running task stops it, and the next task is still served', { ...SHORT, skip: backend.cannot.stopSyncCode }, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const startedPath = join(scratch(), 'started');
        const f = pool.submit('touchThenForever', [startedPath]);
        const next = pool.submit('add', [2, 2]);
        await started(f, startedPath);
        if (backend.cannot.startSeenAtOnce === undefined) assert.equal(f.running(), true);
        assert.equal(f.cancel(), true);
        const err = await reasonOf(f);
        assert.ok(err instanceof CancelledError, String(err));
        assert.equal(await next, 4);
        assert.equal(await pool.submit('add', [3, 3]), 6);
      });

      test('a timeout stops a synchronous infinite loop with TimeoutError, and the next task runs on a fresh worker', { ...SHORT, skip: backend.cannot.stopSyncCode }, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const before = await pool.submit('workerToken');
        const f = pool.submit('forever', [], { timeout: 100 });
        const next = pool.submit('workerToken');
        const err = await reasonOf(f);
        assert.ok(err instanceof TimeoutError, String(err));
        assert.equal(err.code, 'ERR_WARMPOOL_TIMEOUT');
        const after = await next;
        assert.notEqual(after, before, 'the worker that ran the loop was replaced');
        assert.equal(await pool.submit('add', [1, 2]), 3);
      });

      test('the pool default timeout applies to a task that sets none', { ...SHORT, skip: backend.cannot.stopSyncCode }, async () => {
        await using pool = makePool(backend, { workers: 1, timeout: 100 });
        const err = await reasonOf(pool.submit('forever'));
        assert.ok(err instanceof TimeoutError, String(err));
        assert.equal(await pool.submit('add', [1, 2], { timeout: Infinity }), 3);
      });

      test('a timeout counts from the start of the task, not from when it was queued', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        await pool.ready();
        // The first task runs 500 ms; the second waits that long in the queue,
        // more than its 250 ms timeout, then runs for 50 ms, well within it.
        const long = pool.submit('spin', [500]);
        const short = pool.submit('spin', [50], { timeout: 250 });
        assert.ok((await short) > 0);
        assert.ok((await long) > 0);
      });

      test('aborting the signal of a queued task is the same as cancel(): CancelledError, and it never runs', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const blocker = await startBlocker(pool);
        const mark = join(scratch(), 'ran');
        const controller = new AbortController();
        const f = pool.submit('touch', [mark], { signal: controller.signal });
        controller.abort();
        assert.equal(f.cancelled(), true);
        const err = await reasonOf(f);
        assert.ok(err instanceof CancelledError, String(err));
        blocker.release();
        assert.equal(await blocker.future, 'released');
        assert.equal(await pool.submit('add', [1, 2]), 3);
        assert.ok(!existsSync(mark), 'the aborted task never ran');
      });

      test('aborting the signal of a running task is the same as cancel(): CancelledError, and the pool goes on', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const startedPath = join(scratch(), 'started');
        const controller = new AbortController();
        const f = pool.submit('touchThenHang', [startedPath], { signal: controller.signal });
        await started(f, startedPath);
        controller.abort();
        assert.equal(f.cancelled(), true);
        const err = await reasonOf(f);
        assert.ok(err instanceof CancelledError, String(err));
        assert.equal(await pool.submit('add', [1, 2]), 3);
      });

      test('a task submitted with an already-aborted signal gets a future that is already cancelled and never runs', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const mark = join(scratch(), 'ran');
        const f = pool.submit('touch', [mark], { signal: AbortSignal.abort() });
        assert.equal(f.cancelled(), true);
        const err = await reasonOf(f);
        assert.ok(err instanceof CancelledError, String(err));
        assert.equal(await pool.submit('add', [1, 2]), 3);
        assert.ok(!existsSync(mark), 'the task never ran');
      });

      test('with cancelGrace, a cancelled task that ends on its taskSignal() keeps its worker', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1, cancelGrace: 5000 });
        const before = await pool.submit('workerToken');
        const startedPath = join(scratch(), 'started');
        const f = pool.submit('touchThenUntilAborted', [startedPath]);
        await started(f, startedPath);
        assert.equal(f.cancel(), true);
        const err = await reasonOf(f);
        assert.ok(err instanceof CancelledError, String(err));
        assert.equal(await pool.submit('workerToken'), before, 'the same worker serves the next task');
      });

      test('with cancelGrace, a timed-out task that ends on its taskSignal() keeps its worker', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1, cancelGrace: 5000 });
        const before = await pool.submit('workerToken');
        const err = await reasonOf(pool.submit('untilAborted', [], { timeout: 50 }));
        assert.ok(err instanceof TimeoutError, String(err));
        assert.equal(await pool.submit('workerToken'), before, 'the same worker serves the next task');
      });

      test('with cancelGrace, a cancelled task that ignores its signal is stopped after the grace and its worker replaced', { ...SHORT, skip: backend.cannot.stopSyncCode }, async () => {
        await using pool = makePool(backend, { workers: 1, cancelGrace: 100 });
        const before = await pool.submit('workerToken');
        const startedPath = join(scratch(), 'started');
        const f = pool.submit('touchThenForever', [startedPath]);
        await started(f, startedPath);
        assert.equal(f.cancel(), true);
        const err = await reasonOf(f);
        assert.ok(err instanceof CancelledError, String(err));
        assert.notEqual(await pool.submit('workerToken'), before, 'a fresh worker serves the next task');
      });
    });

    // ── pool API ────────────────────────────────────────────────────────────
    describe('pool API', () => {
      test('beyond maxQueued waiting tasks, submit throws QueueFullError synchronously and makes no future', { ...SHORT, skip: backend.cannot.maxQueued }, async () => {
        await using pool = makePool(backend, { workers: 1, maxQueued: 2 });
        const blocker = await startBlocker(pool);
        const a = pool.submit('add', [1, 1]);
        const b = pool.submit('add', [2, 2]);
        assert.equal(pool.stats().queued, 2);
        const mark = join(scratch(), 'ran');
        assert.throws(
          () => pool.submit('touch', [mark]),
          (err: unknown) => err instanceof QueueFullError && err.code === 'ERR_WARMPOOL_QUEUE_FULL' && err.message === 'The queue is full: 2 tasks are already waiting for a worker (maxQueued)',
        );
        // The count agrees with its noun and verb at 1 as well.
        assert.equal(new QueueFullError(1).message, 'The queue is full: 1 task is already waiting for a worker (maxQueued)');
        assert.equal(pool.stats().queued, 2, 'the refused task is not queued');
        blocker.release();
        assert.deepEqual(await Promise.all([blocker.future, a, b]), ['released', 2, 4]);
        assert.equal(await pool.submit('add', [3, 3]), 6, 'room again once the queue drains');
        assert.ok(!existsSync(mark), 'the refused task never ran');
        assert.equal(pool.stats().completed, 4);
      });

      test('maxQueued counts only tasks waiting for a worker: with maxQueued 0, an idle worker still takes a task', { ...SHORT, skip: backend.cannot.maxQueued }, async () => {
        await using pool = makePool(backend, { workers: 1, maxQueued: 0 });
        await pool.ready();
        assert.equal(await pool.submit('add', [1, 2]), 3);
      });

      test('a task frees its worker by the time its future settles: stats() shows it idle, and with maxQueued 0 the next task is accepted at once', { ...SHORT, skip: backend.cannot.maxQueued }, async () => {
        await using pool = makePool(backend, { workers: 1, maxQueued: 0 });
        await pool.ready();
        for (const i of range(3)) {
          assert.equal(await pool.submit('add', [i, 1]), i + 1);
          assert.equal(pool.stats().busy, 0, `after the sync task ${i} settled, nothing is busy`);
          assert.equal(await pool.submit('asyncEcho', [i]), i);
          assert.equal(pool.stats().busy, 0, `after the async task ${i} settled, nothing is busy`);
        }
      });

      test('submit after shutdown throws PoolClosedError synchronously', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        assert.equal(await pool.submit('add', [1, 2]), 3);
        await pool.shutdown();
        assert.throws(
          () => pool.submit('add', [1, 2]),
          (err: unknown) => err instanceof PoolClosedError && err.code === 'ERR_WARMPOOL_POOL_CLOSED',
        );
        await assert.rejects(pool.map('square', [1]), PoolClosedError);
      });

      test('shutdown() resolves only after every accepted task, queued ones included, has finished', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const futures = [pool.submit('spin', [20]), pool.submit('asyncEcho', ['x']), pool.submit('spin', [20]), pool.submit('add', [1, 2])];
        await pool.shutdown();
        assert.deepEqual(
          futures.map((f) => f.state),
          ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'],
        );
        assert.equal(await futures[3], 3);
        const s = pool.stats();
        assert.equal(s.busy + s.queued, 0, 'nothing runs or waits');
        if (backend.cannot.workers === undefined) assert.equal(s.workers, 0, 'every worker has exited');
      });

      test('shutdown() of a pool whose workers are still starting resolves, also when nothing else keeps the process alive', SHORT, async () => {
        const script = fileURLToPath(new URL('./fixtures/contract-shutdown.js', import.meta.url));
        const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
          const child = execFile(process.execPath, [script, backend.name], { timeout: 15_000 }, (err, out, errOut) => {
            if (err !== null && typeof err.code !== 'number') reject(err);
            else resolve({ code: child.exitCode, stdout: out, stderr: errOut });
          });
        });
        assert.equal(stdout.trim(), 'shutdown resolved', `the script's await pool.shutdown() resolved (exit code ${String(code)}, stderr: ${stderr.trim()})`);
        assert.equal(code, 0);
      });

      test('shutdown({ cancelFutures: true }) cancels the queued tasks and lets the running one finish', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const blocker = await startBlocker(pool);
        const dir = scratch();
        const queued = [pool.submit('touch', [join(dir, 'a')]), pool.submit('touch', [join(dir, 'b')])];
        const closing = pool.shutdown({ cancelFutures: true });
        for (const f of queued) {
          const err = await reasonOf(f);
          assert.ok(err instanceof CancelledError, String(err));
        }
        assert.equal(blocker.future.done(), false, 'the running task is not cancelled');
        assert.throws(() => pool.submit('add', [1, 2]), PoolClosedError);
        blocker.release();
        await closing;
        assert.equal(await blocker.future, 'released');
        assert.ok(!existsSync(join(dir, 'a')) && !existsSync(join(dir, 'b')), 'the cancelled tasks never ran');
      });

      // Regression (found by test/properties.test.ts): the cancel from the
      // callback counted the second task out of the queue twice (queued -1).
      test('shutdown({ cancelFutures: true }) counts each queued task out once, also when a done callback of one cancels another', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const blocker = await startBlocker(pool);
        const [a, b, c] = [pool.submit('add', [1, 1]), pool.submit('add', [2, 2]), pool.submit('add', [3, 3])];
        a.addDoneCallback(() => b.cancel());
        const closing = pool.shutdown({ cancelFutures: true });
        let s: PoolStats;
        try {
          assert.deepEqual([a.state, b.state, c.state], ['cancelled', 'cancelled', 'cancelled']);
          s = pool.stats();
        } finally {
          blocker.release();
        }
        // RemotePool may not have heard yet that the blocker started, and count it queued.
        if (backend.cannot.startSeenAtOnce === undefined) assert.equal(s.queued, 0);
        assert.equal(s.cancelled, 3);
        await closing;
        assert.equal(pool.stats().queued, 0);
      });

      test('shutdown({ wait: false }) returns before the accepted tasks finish, and they still finish', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const blocker = await startBlocker(pool);
        const queued = pool.submit('add', [1, 2]);
        await pool.shutdown({ wait: false });
        assert.equal(blocker.future.done(), false, 'shutdown returned while a task still ran');
        assert.equal(queued.done(), false);
        blocker.release();
        assert.equal(await blocker.future, 'released');
        assert.equal(await queued, 3);
      });

      test('await using shuts the pool down at the end of its block', SHORT, async () => {
        let escaped: Pool | undefined;
        {
          await using pool = makeRawPool(backend, { workers: 1 });
          escaped = pool;
          assert.equal(await pool.submit('add', [1, 2]), 3);
        }
        assert.throws(() => escaped.submit('add', [1, 2]), PoolClosedError);
        const s = escaped.stats();
        assert.equal(s.busy + s.queued, 0, 'nothing runs or waits');
        if (backend.cannot.workers === undefined) assert.equal(s.workers, 0, 'every worker has exited');
      });

      test('ready() resolves with the pool idle at its full size when minWorkers is left out, and a pool with minWorkers 0 is ready and runs work', SHORT, async () => {
        {
          await using pool = makePool(backend, { workers: 2 });
          await pool.ready();
          const s = pool.stats();
          assert.equal(s.idle, 2, 'minWorkers defaults to workers');
          assert.equal(s.busy, 0);
        }
        {
          await using pool = makePool(backend, { workers: 1, minWorkers: 0 });
          await pool.ready();
          assert.equal(await pool.submit('add', [1, 2]), 3);
        }
      });

      test('ready() resolves once minWorkers workers are started and idle, and no more are started eagerly', { ...SHORT, skip: backend.cannot.workers }, async () => {
        {
          await using pool = makePool(backend, { workers: 2, minWorkers: 1 });
          await pool.ready();
          const s = pool.stats();
          assert.equal(s.idle, 1);
          assert.equal(s.workers, 1, 'no more than minWorkers are started eagerly');
        }
        {
          await using pool = makePool(backend, { workers: 1, minWorkers: 0 });
          await pool.ready();
          assert.equal(pool.stats().workers, 0);
          assert.equal(await pool.submit('add', [1, 2]), 3);
        }
      });

      test('the initializer runs once in each worker with initArgs, before its first task', { ...SHORT, skip: backend.cannot.initArgsClone }, async () => {
        const key = randomUUID();
        const initArgs = [{ model: 'small' }, 7n, new Map([[1, 'one']])];
        await using pool = makePool(backend, { workers: 2, initializer: 'init', initArgs: [key, ...initArgs] });
        const states = await pool.map('initState', range(12).map(() => key), { chunksize: 1 });
        for (const s of states) {
          assert.equal(s.calls, 1, 'the initializer ran once in this worker');
          assert.equal(s.tasksBeforeInit, 0, 'no task ran before it');
          assert.deepEqual(s.args, initArgs);
        }
        await pool.ready();
        assert.equal((await pool.submit('initState', [key])).calls, 1);
      });

      test('an async initializer is awaited before the worker runs its first task', SHORT, async () => {
        const key = randomUUID();
        await using pool = makePool(backend, { workers: 1, initializer: 'initSlowly', initArgs: [key, 'slow'] });
        const s = await pool.submit('initState', [key]);
        assert.equal(s.asyncInitDone, true);
        assert.equal(s.calls, 1);
        assert.deepEqual(s.args, ['slow']);
        assert.equal(s.tasksBeforeInit, 0);
      });

      test('stats() outcome counts are disjoint and add up to what happened', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const zero = { completed: 0, failed: 0, cancelled: 0, timedOut: 0, crashed: 0 };
        assert.deepEqual(outcomes(pool.stats()), zero);
        // 3 completed
        for (const i of range(3)) assert.equal(await pool.submit('add', [i, 1]), i + 1);
        // 2 failed
        await reasonOf(pool.submit('fail', ['x']));
        await reasonOf(untyped(pool).submit('noSuchTask'));
        // 2 cancelled: one before it ran, one while it ran
        await reasonOf(pool.submit('add', [1, 1], { signal: AbortSignal.abort() }));
        const startedPath = join(scratch(), 'started');
        const running = pool.submit('touchThenHang', [startedPath]);
        await started(running, startedPath);
        running.cancel();
        await reasonOf(running);
        // 1 timed out
        assert.ok((await reasonOf(pool.submit('hang', [], { timeout: 50 }))) instanceof TimeoutError);
        let crashed = 0;
        if (backend.cannot.crashIsolation === undefined) {
          // 1 crashed
          assert.ok((await reasonOf(pool.submit('crash', [3]))) instanceof WorkerCrashedError);
          crashed = 1;
        }
        assert.equal(await pool.submit('add', [1, 1]), 2);
        const s = pool.stats();
        assert.deepEqual(outcomes(s), { completed: 4, failed: 2, cancelled: 2, timedOut: 1, crashed });
        assert.equal(s.busy, 0, 'once every future has settled, no task counts as busy');
        assert.equal(s.queued, 0);
      });

      test('stats() run and wait time summaries are ordered: p50 <= p90 <= p99 <= max, and the mean is within them', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        await Promise.all([0, 1, 2, 5, 1, 0, 8, 3, 0, 2].map((ms) => pool.submit('spin', [ms])));
        const s = pool.stats();
        for (const [name, t] of [
          ['runTime', s.runTime],
          ['waitTime', s.waitTime],
        ] as const) {
          for (const key of ['p50', 'p90', 'p99', 'mean', 'max'] as const) {
            assert.ok(Number.isFinite(t[key]) && t[key] >= 0, `${name}.${key} is a finite number >= 0: ${t[key]}`);
          }
          assert.ok(t.p50 <= t.p90 && t.p90 <= t.p99 && t.p99 <= t.max, `${name}: ${JSON.stringify(t)}`);
          assert.ok(t.mean <= t.max, `${name}: mean <= max: ${JSON.stringify(t)}`);
        }
        assert.ok(s.runTime.max >= 8, 'the 8 ms task is in the run times');
      });
    });

    // ── option validation ───────────────────────────────────────────────────
    describe('option validation', () => {
      const poolCases: [option: string, options: Record<string, unknown>, skip?: string][] = [
        ['workers', { workers: 0 }],
        ['workers', { workers: 1.5 }],
        ['workers', { workers: '2' }],
        ['workers', { workers: NaN }],
        ['minWorkers', { minWorkers: -1 }, backend.cannot.workerOptions],
        ['minWorkers', { workers: 2, minWorkers: 3 }, backend.cannot.workerOptions],
        ['idleTimeout', { idleTimeout: -1 }, backend.cannot.workerOptions],
        ['idleTimeout', { idleTimeout: 'soon' }, backend.cannot.workerOptions],
        ['maxTasksPerWorker', { maxTasksPerWorker: 0 }, backend.cannot.workerOptions],
        ['maxTasksPerWorker', { maxTasksPerWorker: 2.5 }, backend.cannot.workerOptions],
        ['initializer', { initializer: 42 }, backend.cannot.workerOptions],
        ['initArgs', { initArgs: 'not an array' }, backend.cannot.workerOptions],
        ['maxQueued', { maxQueued: -1 }],
        ['maxQueued', { maxQueued: 1.5 }],
        ['timeout', { timeout: -5 }],
        ['timeout', { timeout: NaN }],
        ['timeout', { timeout: '100' }],
        ['cancelGrace', { cancelGrace: -1 }, backend.cannot.workerOptions],
        ['cancelGrace', { cancelGrace: 'long' }, backend.cannot.workerOptions],
        ['startTimeout', { startTimeout: -1 }, backend.cannot.workerOptions],
        ['maxMemoryMb', { maxMemoryMb: 0 }, backend.cannot.memoryLimit],
        ['maxMemoryMb', { maxMemoryMb: '64' }, backend.cannot.memoryLimit],
        ['env', { env: 'PATH=/bin' }, backend.cannot.processOptions],
        ['execArgv', { execArgv: [1] }, backend.cannot.processOptions],
        ['execArgv', { execArgv: '--inspect' }, backend.cannot.processOptions],
        ['cwd', { cwd: 5 }, backend.cannot.processOptions],
      ];
      for (const [option, options, skip] of poolCases) {
        const shown = JSON.stringify(options, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
        test(`the pool option \`${option}\` is checked at construction: ${shown} throws "Expected \`${option}\` to be ..., got ..."`, { ...SHORT, skip }, () => {
          let made: Pool | undefined;
          try {
            made = makePool(backend, options);
          } catch (err) {
            assertOptionError(err, option);
            return;
          }
          void made.shutdown();
          assert.fail(`no error for ${shown}`);
        });
      }

      test('the message of an option error has the exact form "Expected `workers` to be an integer >= 1, got `0` (number)"', SHORT, () => {
        assert.throws(() => makePool(backend, { workers: 0 }), {
          message: 'Expected `workers` to be an integer >= 1, got `0` (number)',
        });
      });

      test('a misspelled pool option is refused at construction with a TypeError naming the nearest option', SHORT, () => {
        assert.throws(() => makePool(backend, { wokers: 2 } as never), { name: 'TypeError', message: 'Unknown option `wokers`; did you mean `workers`?' });
        assert.throws(() => makePool(backend, { tiemout: 5 } as never), { name: 'TypeError', message: 'Unknown option `tiemout`; did you mean `timeout`?' });
        assert.throws(() => makePool(backend, { Workers: 2 } as never), { name: 'TypeError', message: 'Unknown option `Workers`; did you mean `workers`?' });
        // Nothing near: every option is listed instead.
        assert.throws(() => makePool(backend, { verbose: true } as never), (err: unknown) => {
          assert.ok(err instanceof TypeError, String(err));
          assert.match(err.message, /^Unknown option `verbose`; the options are: .*`workers`/);
          return true;
        });
      });

      test('misspelled submit, map and shutdown options are refused with a TypeError naming the nearest option, and the pool still works', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const p = untyped(pool);
        assert.throws(() => p.submit('add', [1, 2], { tiemout: 5 } as never), { name: 'TypeError', message: 'Unknown option `tiemout`; did you mean `timeout`?' });
        assert.throws(() => p.submit('add', [1, 2], { priorty: 1 } as never), { name: 'TypeError', message: 'Unknown option `priorty`; did you mean `priority`?' });
        await assert.rejects(p.map('square', [1], { chunkSize: 4 } as never), { name: 'TypeError', message: 'Unknown option `chunkSize`; did you mean `chunksize`?' });
        assert.throws(() => p.imap('square', [1], { concurency: 1 } as never), { name: 'TypeError', message: 'Unknown option `concurency`; did you mean `concurrency`?' });
        await assert.rejects(pool.shutdown({ cancelFuture: true } as never), { name: 'TypeError', message: 'Unknown option `cancelFuture`; did you mean `cancelFutures`?' });
        assert.equal(await pool.submit('add', [1, 2], { timeout: 5_000 }), 3, 'the refused shutdown left the pool open');
        assert.deepEqual(await pool.map('square', [1, 2], { chunksize: 1 }), [1, 4]);
      });

      test('options that are not an object throw a TypeError at construction', SHORT, () => {
        assert.throws(() => makePool(backend, 'fast' as never), (err: unknown) => {
          assertOptionError(err, 'options');
          return true;
        });
      });

      const submitCases: [option: string, call: (pool: Executor) => unknown][] = [
        ['name', (p) => p.submit(42 as unknown as string)],
        ['args', (p) => p.submit('add', 5 as unknown as unknown[])],
        ['options', (p) => p.submit('add', [1, 2], 'fast' as never)],
        ['priority', (p) => p.submit('add', [1, 2], { priority: 'high' as unknown as number })],
        ['priority', (p) => p.submit('add', [1, 2], { priority: NaN })],
        ['priority', (p) => p.submit('add', [1, 2], { priority: Infinity })],
        ['timeout', (p) => p.submit('add', [1, 2], { timeout: -1 })],
        ['timeout', (p) => p.submit('add', [1, 2], { timeout: '10' as unknown as number })],
        ['signal', (p) => p.submit('add', [1, 2], { signal: {} as AbortSignal })],
        ['transfer', (p) => p.submit('add', [1, 2], { transfer: 'x' as never })],
      ];
      test('bad submit arguments and options throw TypeError or RangeError synchronously, and make no future', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        for (const [option, call] of submitCases) {
          assert.throws(
            () => call(untyped(pool)),
            (err: unknown) => {
              assertOptionError(err, option);
              return true;
            },
            `submit with a bad \`${option}\``,
          );
        }
        const s = pool.stats();
        assert.equal(s.queued + s.busy, 0, 'nothing was queued');
        assert.equal(await pool.submit('add', [1, 2]), 3);
        assert.equal(pool.stats().completed, 1, 'only the good task ran');
      });

      const mapCases: [option: string, name: unknown, items: unknown, options: unknown][] = [
        ['name', 42, [1], undefined],
        ['items', 'square', 42, undefined],
        ['options', 'square', [1], 'fast'],
        ['chunksize', 'square', [1], { chunksize: 0 }],
        ['chunksize', 'square', [1], { chunksize: 1.5 }],
        ['chunksize', 'square', [1], { chunksize: '4' }],
        ['concurrency', 'square', [1], { concurrency: 0 }],
        ['concurrency', 'square', [1], { concurrency: -1 }],
        ['timeout', 'square', [1], { timeout: -1 }],
        ['signal', 'square', [1], { signal: 'abort' }],
        ['onProgress', 'square', [1], { onProgress: 'log' }],
      ];
      test('bad map, starmap, imap and imapUnordered arguments and options are refused with TypeError or RangeError', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const p = untyped(pool) as unknown as Record<'map' | 'starmap' | 'imap' | 'imapUnordered', (...args: unknown[]) => unknown>;
        for (const method of ['map', 'starmap', 'imap', 'imapUnordered'] as const) {
          for (const [option, name, items, options] of mapCases) {
            const badItems = method === 'starmap' && Array.isArray(items) ? items.map((i) => [i]) : items;
            // Refused either at the call or by the returned promise / first next(): both count.
            await assert.rejects(
              async () => {
                const out = p[method](name, badItems, options);
                if (method === 'map' || method === 'starmap') await (out as Promise<unknown>);
                else for await (const _ of out as AsyncIterable<unknown>) assert.fail('yielded a result');
              },
              (err: unknown) => {
                assertOptionError(err, option);
                return true;
              },
              `${method} with a bad \`${option}\``,
            );
          }
        }
        const s = pool.stats();
        assert.equal(s.completed + s.failed + s.cancelled, 0, 'no task was made');
      });
    });
  });
}
}

// Each test file runs in its own process: argv[1] tells whether this file is
// the one being run or was imported by ./remote-contract.test.ts.
if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  contractSuite(backends.filter((b) => b.name !== 'RemotePool'));
}
