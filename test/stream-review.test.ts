// What a demanding user of streams, sessions and progress runs into, beyond
// test/stream.test.ts: a worker dying after values, a stream cancelled before
// it starts, sends after a failure, a message that cannot be cloned, a
// timeout while the consumer holds the stream, priority, one worker shared
// with other tasks, a throwing onProgress, shutdown with a stream open. Run
// against every backend that carries streams (RemotePool refuses them; its
// refusal is tested in test/stream.test.ts).

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  CancelledError,
  DataCloneError,
  StreamClosedError,
  TaskNotFoundError,
  TimeoutError,
  WorkerCrashedError,
  type Executor,
  type PoolOptions,
  type StreamingExecutor,
  type TaskName,
  subscribeTasks,
} from '../lib/index.js';
import { backends, type Backend, type Tasks } from './backends.js';
import type * as reviewTasks from './fixtures/stream-review-tasks.js';
import { touch, whenFileExists } from './fixtures/stream-review-tasks.js';
import { drain, reasonOf, within } from './helpers.js';

type ReviewTasks = typeof reviewTasks;
type Pool = Executor<ReviewTasks> & AsyncDisposable;
const tasksUrl = new URL('./fixtures/stream-review-tasks.js', import.meta.url);
const SHORT = { timeout: 20_000 };

function makePool(backend: Backend, options: PoolOptions<TaskName<ReviewTasks>> = {}): Pool {
  return backend.make(options as PoolOptions<TaskName<Tasks>>, tasksUrl);
}

const root = mkdtempSync(join(tmpdir(), 'warmpool-stream-review-'));
after(() => rmSync(root, { recursive: true, force: true }));
let scratchCount = 0;
function scratch(): string {
  return mkdtempSync(join(root, `${scratchCount++}-`));
}

for (const backend of backends.filter((b) => b.name !== 'RemotePool')) {
  describe(`${backend.name} streams, reviewed`, () => {
    test(
      'values a worker sent before it died are read, in order, before WorkerCrashedError, by an eager and by a late reader',
      { ...SHORT, skip: backend.cannot.crashIsolation },
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        // A race between the values' messages and the news of the exit: tried a few times.
        for (let round = 0; round < 4; round++) {
          const eager = await drain(pool.stream('yieldThenExit', [3]));
          assert.deepEqual(eager.yielded, [0, 1, 2], `round ${round}`);
          assert.ok(eager.error instanceof WorkerCrashedError, `got ${String(eager.error)}`);
          const s = pool.stream('yieldThenExit', [3]);
          await within(s.done, 10_000, 'the crashed stream’s done');
          const late = await drain(s);
          assert.deepEqual(late.yielded, [0, 1, 2], `round ${round}`);
          assert.ok(late.error instanceof WorkerCrashedError, `got ${String(late.error)}`);
        }
        assert.equal(await pool.submit('add', [1, 2]), 3, 'the pool still serves');
      },
    );

    test(
      'the progress a worker sent before it died reaches onProgress before the future rejects with WorkerCrashedError',
      { ...SHORT, skip: backend.cannot.crashIsolation },
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        for (let round = 0; round < 4; round++) {
          let seen: unknown;
          const future = pool.submit('reportThenExit', [round + 1], { onProgress: (v) => (seen = v) });
          let seenAtSettle: unknown;
          future.addDoneCallback(() => (seenAtSettle = seen));
          assert.ok((await reasonOf(future)) instanceof WorkerCrashedError);
          assert.equal(seenAtSettle, round + 1, `round ${round}`);
        }
      },
    );

    test('a stream cancelled before it starts throws CancelledError, and its done resolves', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const dir = scratch();
      const blocker = pool.submit('block', [join(dir, 'started'), join(dir, 'release')]);
      await whenFileExists(join(dir, 'started'));
      const s = pool.stream('count', [3]);
      assert.equal(s.cancel(), true);
      assert.ok((await reasonOf(s.next())) instanceof CancelledError);
      await within(s.done, 5_000, 'done of a stream cancelled while queued');
      const aborted = pool.stream('count', [3], { signal: AbortSignal.abort() });
      assert.ok((await reasonOf(aborted.next())) instanceof CancelledError);
      await within(aborted.done, 5_000, 'done of a stream whose signal had aborted');
      touch(join(dir, 'release'));
      assert.equal(await blocker, 'released');
    });

    test('shutdown({ cancelFutures: true }) cancels a queued stream, and its done resolves', SHORT, async () => {
      const pool = makePool(backend, { workers: 1 });
      const dir = scratch();
      const blocker = pool.submit('block', [join(dir, 'started'), join(dir, 'release')]);
      await whenFileExists(join(dir, 'started'));
      const s = pool.stream('count', [3]);
      const closing = pool.shutdown({ cancelFutures: true });
      assert.ok((await reasonOf(s.next())) instanceof CancelledError);
      await within(s.done, 5_000, 'done of a stream cancelled by shutdown');
      touch(join(dir, 'release'));
      assert.equal(await blocker, 'released');
      await within(closing, 10_000, 'shutdown');
    });

    test('a stream of a task the module does not export throws TaskNotFoundError, and its done resolves', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const s = (pool as unknown as StreamingExecutor).stream('noSuchTask');
      const { error } = await drain(s);
      assert.ok(error instanceof TaskNotFoundError, `got ${String(error)}`);
      await within(s.done, 5_000, 'done');
    });

    test('send after the task failed rejects with StreamClosedError whose cause is the task’s error', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const s = (pool as unknown as StreamingExecutor).stream('failAfter', [1]);
      const { yielded: values, error } = await drain(s);
      assert.deepEqual(values, [0]);
      assert.ok(error instanceof RangeError);
      const closed = await reasonOf(s.send('late'));
      assert.ok(closed instanceof StreamClosedError, `got ${String(closed)}`);
      assert.equal(closed.code, 'ERR_WARMPOOL_STREAM_CLOSED');
      assert.equal(closed.cause, error);
    });

    test(
      'a message that cannot be cloned rejects its own send with DataCloneError, and the session goes on',
      { ...SHORT, skip: backend.cannot.clone },
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        const s = pool.stream('echo', []);
        const it = s[Symbol.asyncIterator]();
        const sends = [s.send(1), s.send(() => 2), s.send(3)];
        const outcomes = await Promise.allSettled(sends);
        assert.equal(outcomes[0].status, 'fulfilled');
        assert.ok(outcomes[1].status === 'rejected' && outcomes[1].reason instanceof DataCloneError, JSON.stringify(outcomes[1]));
        assert.equal(outcomes[2].status, 'fulfilled');
        assert.deepEqual((await it.next()).value, 1);
        assert.deepEqual((await it.next()).value, 3);
        await s.send(4);
        assert.deepEqual((await it.next()).value, 4);
        s.end();
        assert.deepEqual(await it.next(), { done: true, value: undefined });
        await s.done;
      },
    );

    test(
      'a timeout while the consumer holds the stream: the values produced, then TimeoutError; the generator’s finally runs and its worker stays warm',
      SHORT,
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        const before = await pool.submit('workerId');
        const dir = scratch();
        const s = pool.stream('naturals', [join(dir, 'produced'), join(dir, 'closed')], { highWaterMark: 2, timeout: 300 });
        assert.deepEqual(await s.next(), { done: false, value: 1 });
        await within(s.done, 10_000, 'the timed-out stream’s done');
        const { yielded: values, error } = await drain(s);
        assert.ok(error instanceof TimeoutError, `got ${String(error)}`);
        assert.deepEqual(
          values,
          Array.from({ length: values.length }, (_, i) => i + 2),
          'the values after the first, in order',
        );
        assert.ok(values.length <= 2, `at most the window: ${values.length}`);
        assert.ok(existsSync(join(dir, 'closed')), 'the generator’s finally ran');
        assert.equal(await pool.submit('workerId'), before, 'a generator closed at its yield keeps its worker');
        assert.equal(pool.stats().timedOut, 1);
      },
    );

    test('a queued stream of higher priority starts before the tasks of lower priority queued before it', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const dir = scratch();
      const blocker = pool.submit('block', [join(dir, 'started'), join(dir, 'release')]);
      await whenFileExists(join(dir, 'started'));
      // Which began first, told by what the caller sees first: the stream's
      // first value, or the low task's result (with one worker, the low task
      // can only finish first by running first). Not by when each is over:
      // the stream ends after its last value has crossed to the caller, and
      // the low task, run right after it, can finish before that.
      const order: string[] = [];
      const low = pool.submit('add', [1, 2]).then(() => order.push('low'));
      const yielded: number[] = [];
      const streamed = (async () => {
        for await (const v of pool.stream('count', [2], { priority: 5 })) {
          if (yielded.length === 0) order.push('stream');
          yielded.push(v);
        }
      })();
      touch(join(dir, 'release'));
      await Promise.all([blocker, low, streamed]);
      assert.deepEqual(yielded, [0, 1]);
      assert.deepEqual(order, ['stream', 'low']);
    });

    test('on a pool of one worker a session holds it: a submit waits while the session runs and runs once it ends', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const s = pool.stream('echo', []);
      await s.send('a');
      assert.deepEqual((await s.next()).value, 'a');
      const add = pool.submit('add', [1, 2]);
      await s.send('b');
      assert.deepEqual((await s.next()).value, 'b');
      assert.equal(add.state, 'pending');
      assert.equal(pool.stats().queued, 1);
      s.end();
      assert.equal(await add, 3);
      await s.done;
    });

    test('an onProgress that throws is reported as a warning; later values arrive and the task’s result stands', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const warnings: Error[] = [];
      const onWarning = (w: Error) => warnings.push(w);
      process.on('warning', onWarning);
      try {
        const seen: number[] = [];
        const result = await pool.submit('progressSlowly', [5], {
          onProgress: (v) => {
            seen.push(v as number);
            // The first call throws (which value it gets depends on coalescing).
            if (seen.length === 1) throw new Error('handler failed');
          },
        });
        assert.equal(result, 'done');
        assert.equal(seen.at(-1), 5);
        // A warning is emitted on the next tick.
        await new Promise((resolve) => setImmediate(resolve));
        assert.ok(
          warnings.some((w) => (w as Error & { code?: string }).code === 'WARMPOOL_CALLBACK_ERROR' && /handler failed/.test(w.message)),
          warnings.map((w) => w.message).join('; '),
        );
      } finally {
        process.off('warning', onWarning);
      }
    });

    test('a slow async onProgress gets the values in order, coalesced, the last one before the future settles', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const seen: number[] = [];
      let inFlight = 0;
      let most = 0;
      const future = pool.submit('reportsProgress', [50_000], {
        onProgress: async (v) => {
          most = Math.max(most, ++inFlight);
          seen.push(v as number);
          await new Promise((resolve) => setImmediate(resolve));
          inFlight--;
        },
      });
      let lastAtSettle: number | undefined;
      future.addDoneCallback(() => (lastAtSettle = seen.at(-1)));
      assert.equal(await future, 'done');
      assert.equal(lastAtSettle, 50_000);
      assert.deepEqual(
        seen,
        [...seen].sort((a, b) => a - b),
      );
      assert.equal(most, 1, 'one handler at a time');
    });

    test(
      'a cancel after the task ended but before a slow async onProgress let its future settle cancels it: counted once, published once',
      SHORT,
      async () => {
        const name = `review-late-cancel-${backend.name}`;
        await using pool = makePool(backend, { workers: 1, name });
        const ends: string[] = [];
        const unsubscribe = subscribeTasks({ asyncEnd: (m) => m.pool === name && ends.push(m.outcome) });
        after(unsubscribe);
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        let handling!: () => void;
        const firstHandled = new Promise<void>((resolve) => (handling = resolve));
        const seen: number[] = [];
        const go = join(scratch(), 'go');
        const future = pool.submit('progressThenWaitFor', [go], {
          onProgress: async (v) => {
            seen.push(v as number);
            // The first call holds, and the task ends only once it is being
            // handled: had the value and the result come in one read, the
            // value would be handed over as the task ended, with nothing
            // busy to wait for (lib/core/progress.ts, end()).
            if (seen.length === 1) {
              handling();
              await held;
            }
          },
        });
        await within(firstHandled, 10_000, 'the first progress value to reach onProgress');
        touch(go);
        // Its worker is free once the task has ended; the future waits for the handler.
        await within(pool.onIdle(), 10_000, 'the task to end on its worker');
        assert.equal(future.state, 'running');
        assert.equal(future.cancel(), true);
        release();
        assert.ok((await reasonOf(future)) instanceof CancelledError);
        await new Promise((resolve) => setImmediate(resolve));
        const stats = pool.stats();
        assert.deepEqual([stats.completed, stats.cancelled], [0, 1], 'one outcome');
        assert.equal(future.state, 'cancelled');
        assert.deepEqual(ends, ['cancelled']);
      },
    );

    test('after shutdown({ wait: false }) an open stream still reads to its end', SHORT, async () => {
      const pool = makePool(backend, { workers: 1 });
      const s = pool.stream('count', [50], { highWaterMark: 4 });
      assert.deepEqual(await s.next(), { done: false, value: 0 });
      await within(pool.shutdown({ wait: false }), 1_000, 'shutdown({ wait: false })');
      const { yielded: values, error } = await drain(s);
      assert.equal(error, undefined);
      assert.deepEqual(
        values,
        Array.from({ length: 49 }, (_, i) => i + 1),
      );
      await within(s.done, 5_000, 'done');
    });

    test(
      'shutdown({ cancelFutures: true }) with a stream open and unread ends within a bound: the stream throws CancelledError, its finally runs, its worker is let go',
      SHORT,
      async () => {
        const pool = makePool(backend, { workers: 1 });
        const dir = scratch();
        const s = pool.stream('naturals', [join(dir, 'produced'), join(dir, 'closed')], { highWaterMark: 2 });
        assert.deepEqual(await s.next(), { done: false, value: 1 });
        await within(pool.shutdown({ cancelFutures: true }), 10_000, 'shutdown({ cancelFutures: true }) with an unread stream');
        assert.ok((await reasonOf(s.next())) instanceof CancelledError);
        await within(s.done, 1_000, 'done');
        assert.ok(existsSync(join(dir, 'closed')), 'the generator’s finally ran');
        assert.equal(pool.stats().cancelled, 1);
      },
    );

    test('await using a stream cancels it at the end of the scope if it still runs, and waits until it is over', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const dir = scratch();
      let first: unknown;
      {
        await using s = pool.stream('naturals', [join(dir, 'produced'), join(dir, 'closed')], { highWaterMark: 2 });
        first = (await s.next()).value;
      }
      assert.equal(first, 1);
      assert.ok(existsSync(join(dir, 'closed')), 'the generator’s finally ran before the scope was left');
      {
        await using ended = pool.stream('count', [2]);
        assert.deepEqual((await drain(ended)).yielded, [0, 1]);
      }
      assert.deepEqual([pool.stats().cancelled, pool.stats().completed >= 1], [1, true]);
    });

    test('a window of one value and one message still streams every value and answers every message, in order', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const { yielded: values } = await drain(pool.stream('count', [200], { highWaterMark: 1 }));
      assert.deepEqual(
        values,
        Array.from({ length: 200 }, (_, i) => i),
      );
      const s = pool.stream('echo', [], { highWaterMark: 1 });
      const answers: unknown[] = [];
      for (let i = 0; i < 20; i++) {
        await s.send(i);
        answers.push((await s.next()).value);
      }
      s.end();
      assert.deepEqual(await s.next(), { done: true, value: undefined });
      assert.deepEqual(
        answers,
        Array.from({ length: 20 }, (_, i) => i),
      );
    });

    test('a stream’s onProgress gets its last value before the iterator is done', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const seen: number[] = [];
      const s = pool.stream('countReporting', [50], { onProgress: (v) => seen.push(v as number) });
      const { yielded: values } = await drain(s);
      assert.equal(values.length, 50);
      assert.equal(seen.at(-1), 1, 'the last progress value came before the end');
      assert.deepEqual(
        seen,
        [...seen].sort((a, b) => a - b),
      );
    });

    test('sends made before a queued stream is cancelled reject with CancelledError; none reaches a worker', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const dir = scratch();
      const blocker = pool.submit('block', [join(dir, 'started'), join(dir, 'release')]);
      await whenFileExists(join(dir, 'started'));
      const s = pool.stream('echo', []);
      const sends = [s.send('a'), s.send('b')];
      s.end();
      s.cancel();
      for (const o of await Promise.allSettled(sends))
        assert.ok(o.status === 'rejected' && o.reason instanceof CancelledError, JSON.stringify(o));
      touch(join(dir, 'release'));
      assert.equal(await blocker, 'released');
      await within(s.done, 5_000, 'done');
    });

    test(
      'a consumer that never reads holds a generator of large values to highWaterMark made, and the caller to as many held',
      SHORT,
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        const counter = join(scratch(), 'made');
        const hwm = 4;
        const size = 1 << 20;
        // Nothing is read: the timeout is the event that ends the wait.
        const s = pool.stream('bigValues', [counter, size], { highWaterMark: hwm, timeout: 500 });
        await within(s.done, 10_000, 'the stream’s timeout');
        const made = Number(readFileSync(counter, 'utf8'));
        assert.ok(made >= 1 && made <= hwm, `${made} values made with a window of ${hwm}`);
        const { yielded: values, error } = await drain(s);
        assert.ok(error instanceof TimeoutError, `got ${String(error)}`);
        assert.ok(values.length <= hwm, `${values.length} values held by the caller`);
        assert.ok(values.every((v) => v.byteLength === size));
      },
    );

    test(
      'a sender that does not await, into a task that never reads: exactly highWaterMark sends resolve, the rest wait and fail with the task',
      SHORT,
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        const started = join(scratch(), 'started');
        const hwm = 3;
        const s = pool.stream('ignoresMessages', [started], { highWaterMark: hwm, timeout: 1_000 });
        await whenFileExists(started);
        const outcomes = await Promise.allSettled(Array.from({ length: 4 * hwm }, (_, i) => s.send(String(i))));
        assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, hwm);
        for (const o of outcomes.slice(hwm)) assert.ok(o.status === 'rejected' && o.reason instanceof TimeoutError, JSON.stringify(o));
        await s.done;
      },
    );

    test(
      'submit of an infinite synchronous generator with a timeout fails with TimeoutError, and the pool serves the next task',
      { ...SHORT, skip: backend.cannot.stopSyncCode },
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        const dir = scratch();
        const err = await reasonOf(pool.submit('naturals', [join(dir, 'produced'), join(dir, 'closed')], { timeout: 300 }));
        assert.ok(err instanceof TimeoutError, `got ${String(err)}`);
        assert.equal(await pool.submit('add', [1, 2]), 3);
      },
    );

    test(
      'submit of an infinite async generator with a timeout fails with TimeoutError, runs its finally, and keeps its worker',
      SHORT,
      async () => {
        await using pool = makePool(backend, { workers: 1, cancelGrace: 5_000 });
        const before = await pool.submit('workerId');
        const closed = join(scratch(), 'closed');
        const err = await reasonOf(pool.submit('naturalsAsync', [closed], { timeout: 300 }));
        assert.ok(err instanceof TimeoutError, `got ${String(err)}`);
        await whenFileExists(closed);
        assert.equal(await pool.submit('workerId'), before, 'a cooperative generator keeps its worker');
      },
    );

    test('after leaving a loop early, the stream reads as done, not as an error', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const dir = scratch();
      const s = pool.stream('naturals', [join(dir, 'produced'), join(dir, 'closed')], { highWaterMark: 2 });
      for await (const v of s) if (v === 2) break;
      assert.deepEqual(await s.next(), { done: true, value: undefined });
      for await (const _ of s) assert.fail('no values after the loop was left');
      await s.done;
    });
  });
}
