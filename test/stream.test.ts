// Streaming tasks, progress and two-way sessions (SPEC, "Streaming tasks and
// progress"), against every backend of ./backends.ts, RemotePool included.
//
// ProcessPool, ThreadPool and LocalPool carry streams, progress and sessions
// through the engine core (docs/design.md, "Streams, progress and
// sessions"). RemotePool refuses `pool.stream` and `onProgress` at once
// (docs/guide.md, the decision "RemotePool refuses streams and progress"),
// which is tested; `submit` of a generator task works there as anywhere. The
// transport-independent pieces have their own tests in
// ./stream-parts.test.ts.
//
// What the library must not be trusted to count (values produced, messages
// read, a `finally` run) the tasks write to files (./fixtures/stream-tasks.ts).
// No sleep stands in for an event; every test is bounded.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import {
  CancelledError,
  StreamClosedError,
  TimeoutError,
  WorkerCrashedError,
  type Executor,
  type PoolOptions,
  type StreamingExecutor,
  type SubmitOptions,
  type TaskMessage,
  type TaskName,
  subscribeTasks,
} from '../lib/index.js';
import { backends, type Backend, type Tasks } from './backends.js';
import type * as streamTasks from './fixtures/stream-tasks.js';
import { whenFileExists } from './fixtures/stream-tasks.js';
import { reasonOf } from './helpers.js';

type StreamTasks = typeof streamTasks;
type Pool = Executor<StreamTasks> & AsyncDisposable;
const streamTasksUrl = new URL('./fixtures/stream-tasks.js', import.meta.url);

const REMOTE_REFUSES = 'RemotePool refuses streams and progress (tested below)';
const SHORT = { timeout: 20_000 };
const HWM = 8;

function makePool(backend: Backend, options: PoolOptions<TaskName<StreamTasks>> = {}): Pool {
  return backend.make(options as PoolOptions<TaskName<Tasks>>, streamTasksUrl);
}

/** `submit` with `onProgress`. */
function withProgress(onProgress: (value: unknown) => unknown): SubmitOptions {
  return { onProgress };
}

const root = mkdtempSync(join(tmpdir(), 'warmpool-stream-'));
after(() => rmSync(root, { recursive: true, force: true }));
let scratchCount = 0;
function scratch(): string {
  return mkdtempSync(join(root, `${scratchCount++}-`));
}

/** The number a task last wrote to `path` (0 before its first write). */
function countIn(path: string): number {
  if (!existsSync(path)) return 0;
  const text = readFileSync(path, 'utf8');
  return text === '' ? 0 : Number(text);
}

/** Resolves once the number in `path` is at least `n`, watching its folder (the task writes it). */
function whenCountReaches(path: string, n: number, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const dir = join(path, '..');
    const finish = (err?: Error) => {
      watcher.close();
      clearTimeout(timer);
      if (err === undefined) resolve();
      else reject(err);
    };
    const check = () => {
      if (countIn(path) >= n) finish();
    };
    const watcher = watch(dir, check);
    const timer = setTimeout(
      () => finish(new Error(`${path} did not reach ${n} within ${timeoutMs} ms (it holds ${countIn(path)})`)),
      timeoutMs,
    );
    check();
  });
}

export async function streamSuite(list: readonly Backend[]): Promise<void> {
  for (const backend of list) {
    // Without a Redis, RemotePool's part is one skipped test saying how to include it (./redis.ts).
    const unavailable = await backend.unavailable?.();
    if (unavailable !== undefined) {
      test(`${backend.name} streams`, { skip: unavailable }, () => {});
      continue;
    }
    describe(`${backend.name} streams`, () => {
      if (backend.setup !== undefined) before(() => backend.setup!());
      if (backend.teardown !== undefined) after(() => backend.teardown!());
      const remote = backend.name === 'RemotePool';
      const streamSkip = remote ? REMOTE_REFUSES : undefined;

      test('submit of a generator task resolves with the array of every value it yielded, sync or async', SHORT, async () => {
        await using pool = makePool(backend, { workers: 1 });
        assert.deepEqual(await pool.submit('count', [5]), [0, 1, 2, 3, 4]);
        assert.deepEqual(await pool.submit('countAsync', [3]), [0, 1, 2]);
        const failed = await reasonOf(pool.submit('failAfter', [2]));
        assert.ok(failed instanceof RangeError);
        assert.equal(failed.message, 'failed after 2');
      });

      test('a stream gives every value in order, then ends, and done resolves', { ...SHORT, skip: streamSkip }, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const got: number[] = [];
        const s = pool.stream('count', [100], { highWaterMark: HWM });
        for await (const v of s) got.push(v);
        assert.deepEqual(
          got,
          Array.from({ length: 100 }, (_, i) => i),
        );
        await s.done;
        const fromAsync: number[] = [];
        for await (const v of pool.stream('countAsync', [20])) fromAsync.push(v);
        assert.deepEqual(
          fromAsync,
          Array.from({ length: 20 }, (_, i) => i),
        );
      });

      test(
        'a slow consumer holds an infinite generator to highWaterMark values ahead of what it took; break runs its finally and keeps the worker warm',
        { ...SHORT, skip: streamSkip },
        async () => {
          await using pool = makePool(backend, { workers: 1 });
          const dir = scratch();
          const counter = join(dir, 'produced');
          const closed = join(dir, 'closed');
          const before = await pool.submit('workerId');
          const s = pool.stream('naturals', [counter, closed], { highWaterMark: HWM });
          let taken = 0;
          for await (const v of s) {
            taken++;
            assert.equal(v, taken);
            if (taken === 1) await whenCountReaches(counter, HWM);
            const produced = countIn(counter);
            assert.ok(produced <= taken + HWM, `${produced} produced with ${taken} taken and a window of ${HWM}`);
            if (taken === 3 * HWM) break;
          }
          await s.done;
          assert.ok(existsSync(closed), 'the generator’s finally ran');
          assert.ok(countIn(counter) <= 4 * HWM);
          assert.equal(await pool.submit('workerId'), before, 'a cooperative generator keeps its worker');
        },
      );

      test(
        'break out of an infinite synchronous generator stops its worker, and the pool serves the next task',
        { ...SHORT, skip: streamSkip ?? backend.cannot.stopSyncCode },
        async () => {
          await using pool = makePool(backend, { workers: 1 });
          const before = await pool.submit('workerId');
          const spinning = join(scratch(), 'spinning');
          const s = pool.stream('stuckAfterOne', [spinning]);
          for await (const v of s) {
            assert.equal(v, 1);
            await whenFileExists(spinning);
            break;
          }
          await s.done;
          assert.equal(await pool.submit('add', [1, 2]), 3);
          assert.notEqual(await pool.submit('workerId'), before, 'the stuck worker was replaced');
          assert.equal(pool.stats().cancelled, 1);
        },
      );

      test('an error thrown after values comes after every value yielded before it', { ...SHORT, skip: streamSkip }, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const got: number[] = [];
        const err = await reasonOf(
          (async () => {
            for await (const v of pool.stream('failAfter', [3])) got.push(v);
          })(),
        );
        assert.deepEqual(got, [0, 1, 2]);
        assert.ok(err instanceof RangeError);
        assert.equal(err.message, 'failed after 3');
      });

      test(
        'pool.stream of a task that is not a generator fails the stream with a TypeError naming the task',
        { ...SHORT, skip: streamSkip },
        async () => {
          await using pool = makePool(backend, { workers: 1 });
          const untyped = pool as unknown as StreamingExecutor;
          const err = await reasonOf(untyped.stream('notAGenerator').next());
          assert.ok(err instanceof TypeError);
          assert.match(err.message, /Expected `notAGenerator` to be a generator function/);
        },
      );

      test(
        'a timeout counts to the last value: the values before it, then TimeoutError, and the task’s finally runs',
        { ...SHORT, skip: streamSkip },
        async () => {
          await using pool = makePool(backend, { workers: 1, cancelGrace: 5_000 });
          const closed = join(scratch(), 'closed');
          const s = pool.stream('oneThenWait', [closed], { timeout: 300 });
          assert.deepEqual(await s.next(), { done: false, value: 'first' });
          assert.ok((await reasonOf(s.next())) instanceof TimeoutError);
          await s.done;
          assert.ok(existsSync(closed));
          assert.equal(pool.stats().timedOut, 1);
        },
      );

      test('a signal aborting ends the stream with CancelledError', { ...SHORT, skip: streamSkip }, async () => {
        await using pool = makePool(backend, { workers: 1, cancelGrace: 5_000 });
        const closed = join(scratch(), 'closed');
        const controller = new AbortController();
        const s = pool.stream('oneThenWait', [closed], { signal: controller.signal });
        assert.deepEqual(await s.next(), { done: false, value: 'first' });
        const next = s.next();
        controller.abort();
        assert.ok((await reasonOf(next)) instanceof CancelledError);
        await s.done;
        assert.ok(existsSync(closed));
      });

      test(
        'progress values arrive in order, and the last one reported arrives before the future settles',
        { ...SHORT, skip: streamSkip },
        async () => {
          await using pool = makePool(backend, { workers: 1 });
          const seen: number[] = [];
          const future = pool.submit(
            'reportsProgress',
            [100_000],
            withProgress((v) => seen.push(v as number)),
          );
          let seenAtSettle: number | undefined;
          future.addDoneCallback(() => (seenAtSettle = seen.at(-1)));
          assert.equal(await future, 'done');
          assert.equal(seenAtSettle, 100_000);
          assert.deepEqual(
            seen,
            [...seen].sort((a, b) => a - b),
          );
          assert.ok(seen.length < 100_000, 'coalesced');
        },
      );

      if (remote) {
        test('RemotePool refuses pool.stream at once with a TypeError naming the pools that carry streams', SHORT, async () => {
          await using pool = makePool(backend, { workers: 1 });
          assert.throws(
            () => pool.stream('count', [3]),
            (err: unknown) =>
              err instanceof TypeError &&
              /RemotePool does not carry pool\.stream/.test(err.message) &&
              /ProcessPool, ThreadPool and LocalPool/.test(err.message),
          );
          assert.equal(pool.stats().completed + pool.stats().failed + pool.stats().queued, 0, 'nothing was queued');
        });

        test('RemotePool refuses onProgress at once, naming the pools that carry it', SHORT, async () => {
          await using pool = makePool(backend, { workers: 1 });
          assert.throws(
            () =>
              pool.submit(
                'reportsProgress',
                [10],
                withProgress(() => undefined),
              ),
            (err: unknown) =>
              err instanceof TypeError && /RemotePool does not carry progress/.test(err.message) && /ProcessPool/.test(err.message),
          );
          assert.equal(pool.stats().completed + pool.stats().failed, 0, 'nothing was queued');
        });
      }

      test(
        'a session keeps its state between messages, answers in order, and returns when ended',
        { ...SHORT, skip: streamSkip },
        async () => {
          await using pool = makePool(backend, { workers: 1 });
          const s = pool.stream('settings', [{ theme: 'light', size: 12 }]);
          const it = s[Symbol.asyncIterator]();
          await s.send({ theme: 'dark' });
          assert.deepEqual((await it.next()).value, { theme: 'dark', size: 12 });
          await s.send({ size: 14 });
          await s.send({ size: 16 });
          assert.deepEqual((await it.next()).value, { theme: 'dark', size: 14 });
          assert.deepEqual((await it.next()).value, { theme: 'dark', size: 16 });
          s.end();
          assert.deepEqual(await it.next(), { done: true, value: undefined });
          await s.done;
        },
      );

      test('a session holds one worker while other tasks go through the others', { ...SHORT, skip: streamSkip }, async () => {
        await using pool = makePool(backend, { workers: 2 });
        const s = pool.stream('settings', [{ theme: 'light', size: 12 }]);
        await s.send({ size: 1 });
        await s.next();
        assert.deepEqual(await Promise.all([pool.submit('add', [1, 2]), pool.submit('add', [3, 4])]), [3, 7]);
        s.end();
        await s.done;
      });

      test(
        'a fast sender is held back by a slow task: a send resolves only within the task’s window',
        { ...SHORT, skip: streamSkip },
        async () => {
          await using pool = makePool(backend, { workers: 1 });
          const counter = join(scratch(), 'read');
          const s = pool.stream('echoCounting', [counter], { highWaterMark: HWM });
          let resolved = 0;
          const sends = Array.from({ length: 3 * HWM }, (_, i) =>
            s.send(i).then(() => {
              resolved++;
              // A message counts as read when the task takes it, a moment before it writes the count.
              assert.ok(resolved <= countIn(counter) + 1 + HWM, `send ${i} resolved with ${countIn(counter)} read`);
            }),
          );
          const echoes: number[] = [];
          for await (const v of s) {
            echoes.push(v);
            if (echoes.length === 3 * HWM) break;
          }
          await Promise.all(sends);
          assert.deepEqual(
            echoes,
            Array.from({ length: 3 * HWM }, (_, i) => i),
          );
        },
      );

      test('send after end() and after the task has ended rejects with StreamClosedError', { ...SHORT, skip: streamSkip }, async () => {
        await using pool = makePool(backend, { workers: 1 });
        const s = pool.stream('settings', [{ theme: 'light', size: 12 }]);
        s.end();
        assert.ok((await reasonOf(s.send({ size: 1 }))) instanceof StreamClosedError);
        for await (const _ of s) assert.fail('no edits, no answers');
        await s.done;
        assert.ok((await reasonOf(s.send({ size: 2 }))) instanceof StreamClosedError);
      });

      for (const how of ['cancel', 'timeout', 'crash'] as const) {
        test(
          `${how === 'crash' ? 'a worker crash' : how === 'cancel' ? 'cancel()' : 'a timeout'} settles every pending send with the task’s error`,
          { ...SHORT, skip: streamSkip ?? (how === 'crash' ? backend.cannot.crashIsolation : undefined) },
          async () => {
            await using pool = makePool(backend, { workers: 1 });
            const started = join(scratch(), 'started');
            const s =
              how === 'crash'
                ? pool.stream('crashOn', [], { highWaterMark: 2 })
                : pool.stream('ignoresMessages', [started], { highWaterMark: 2, timeout: how === 'timeout' ? 500 : undefined });
            if (how !== 'crash') await whenFileExists(started);
            // The task reads 'crash' first and exits its worker; 'a' is within the window, the rest wait.
            const crashing = how === 'crash' ? s.send('crash') : undefined;
            const sends = ['a', 'b', 'c', 'd', 'e'].map((m) => s.send(m));
            if (crashing !== undefined) sends.unshift(crashing);
            if (how === 'cancel') assert.equal(s.cancel(), true);
            const expected = how === 'cancel' ? CancelledError : how === 'timeout' ? TimeoutError : WorkerCrashedError;
            const outcomes = await Promise.allSettled(sends);
            const rejected = outcomes.filter((o) => o.status === 'rejected');
            assert.ok(rejected.length >= 3, `the sends beyond the window of 2 wait, then fail: ${JSON.stringify(outcomes)}`);
            for (const o of rejected) assert.ok(o.reason instanceof expected);
            await s.done;
            assert.equal(await pool.submit('add', [1, 1]), 2, 'the pool still serves');
          },
        );
      }

      test(
        'a stream and a call with progress publish warmpool:task like any task: start, asyncStart on its worker, error and asyncEnd, the last progress value first',
        { ...SHORT, skip: streamSkip },
        async () => {
          await using pool = makePool(backend, { workers: 1, name: `stream-diag-${backend.name}` });
          const events: string[] = [];
          const mine = (m: TaskMessage) => m.pool === `stream-diag-${backend.name}`;
          const unsubscribe = subscribeTasks({
            start: (m) => mine(m) && events.push(`start ${m.task}`),
            asyncStart: (m) => mine(m) && events.push(`asyncStart ${m.task} ${typeof m.worker}`),
            error: (m) => mine(m) && events.push(`error ${m.task} ${m.outcome}`),
            asyncEnd: (m) => mine(m) && events.push(`asyncEnd ${m.task} ${m.outcome}`),
          });
          try {
            for await (const v of pool.stream('count', [3])) events.push(`value ${v}`);
            await pool.submit(
              'reportsProgress',
              [10],
              withProgress((v) => v === 10 && events.push('progress 10')),
            );
            const failing = pool.stream('failAfter', [1]);
            await reasonOf(
              (async () => {
                for await (const _ of failing) events.push('value');
              })(),
            );
            await failing.done;
          } finally {
            unsubscribe();
          }
          // A pid, a thread id or LocalPool's thread.
          const worker = 'number';
          // The consumer reads a stream's values at its own pace, after the task may have ended:
          // only the progress handler is bound to run before its future settles.
          assert.deepEqual(
            events.filter((e) => !e.startsWith('value')),
            [
              'start count',
              `asyncStart count ${worker}`,
              'asyncEnd count fulfilled',
              'start reportsProgress',
              `asyncStart reportsProgress ${worker}`,
              'progress 10',
              'asyncEnd reportsProgress fulfilled',
              'start failAfter',
              `asyncStart failAfter ${worker}`,
              'error failAfter rejected',
              'asyncEnd failAfter rejected',
            ],
          );
          assert.deepEqual(
            events.filter((e) => e.startsWith('value')),
            ['value 0', 'value 1', 'value 2', 'value'],
          );
        },
      );

      test(
        'a process that streamed, left streams early, held a session and took progress exits by itself after shutdown()',
        { ...SHORT, skip: streamSkip },
        async () => {
          const script = fileURLToPath(new URL('./fixtures/stream-exit.js', import.meta.url));
          const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
            // Killed (and failing) if it has not exited after 15 s.
            const child = execFile(process.execPath, [script, backend.name], { timeout: 15_000 }, (err, out, errOut) => {
              if (err !== null && typeof err.code !== 'number' && child.signalCode === null) reject(err);
              else resolve({ code: child.exitCode, stdout: out, stderr: errOut });
            });
          });
          assert.equal(stdout.trim(), 'streamed 100, progress 1000, shut down', `stderr: ${stderr.trim()}`);
          assert.equal(code, 0, `the process exited by itself (exit code ${String(code)}, stderr: ${stderr.trim()})`);
        },
      );
    });
  }
}

await streamSuite(backends);
