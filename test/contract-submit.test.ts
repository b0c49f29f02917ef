// The contract of `submit`, run against every backend (./contract.ts): what a
// task returns and throws comes back whole, a bad value fails only its own
// future, priorities order the queue, and `maxQueued` bounds it.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DataCloneError, QueueFullError, TaskNotFoundError } from '../lib/index.js';
import { assertSamples, contractFile, LONG, makePool, range, scratch, SHORT, startBlocker, untyped, warmUp } from './contract.js';
import { assertBinarySamples, binarySamples, cloneSamples, type BuiltinErrorName } from './fixtures/contract-tasks.js';
import { reasonOf } from './helpers.js';

await contractFile('submit', (backend) => {
  // ── submit ──────────────────────────────────────────────────────────────
  describe('submit', () => {
    test('a submitted task resolves its future with what the exported function returns, sync or async', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      assert.equal(await pool.submit('add', [2, 3]), 5);
      assert.equal(await pool.submit('fib', [20]), 6765);
      assert.deepEqual(await pool.submit('asyncEcho', [{ a: [1, 2] }]), { a: [1, 2] });
      assert.equal(await pool.submit('noArgs'), 'none');
    });

    test(
      'arguments reach the worker with structured-clone fidelity (Map, Set, BigInt, Date, RegExp, typed arrays, Error, -0, NaN, cycles)',
      SHORT,
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        const report = await pool.submit('matchesSamples', [cloneSamples()]);
        const wrong = Object.entries(report)
          .filter(([, ok]) => !ok)
          .map(([key]) => key);
        assert.deepEqual(wrong, [], 'every sample arrives in the worker equal to what was sent');
      },
    );

    test(
      'results come back from the worker with structured-clone fidelity (Map, Set, BigInt, Date, RegExp, typed arrays, Error, -0, NaN, cycles)',
      SHORT,
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        assertSamples(await pool.submit('cloneSamples'));
      },
    );

    test('a value sent to a task and returned by it comes back deep-equal to what was sent', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      assertSamples(await pool.submit('echo', [cloneSamples()]));
    });

    test(
      'binary values come back exactly both ways: views at an offset, several in one message, empty, over 64 KiB and 16 MiB, nested, one referenced twice',
      LONG,
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        // The worker checks what arrived, then sends it back: both directions are checked.
        assertBinarySamples(await pool.submit('echoBinarySamples', [binarySamples()]));
      },
    );

    test(
      'a built-in error thrown by a task comes back as an instance of the same built-in class, with its name and message',
      SHORT,
      async () => {
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
      },
    );

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

    test(
      'an argument that cannot be cloned fails only its own future, with a DataCloneError naming the argument and the value',
      { ...SHORT, skip: backend.cannot.clone },
      async () => {
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
      },
    );

    test(
      'a result that cannot be cloned fails only its own future, with a DataCloneError naming the problem',
      { ...SHORT, skip: backend.cannot.clone },
      async () => {
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
      },
    );

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

    test(
      'a higher-priority task submitted later runs before lower-priority tasks still waiting behind a busy worker, also once the pool has measured short tasks',
      { ...SHORT, skip: backend.cannot.submitQueuedAtOnce },
      async () => {
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
      },
    );
  });

  // ── maxQueued ───────────────────────────────────────────────────────────
  describe('maxQueued', () => {
    test(
      'beyond maxQueued waiting tasks, submit throws QueueFullError synchronously and makes no future',
      { ...SHORT, skip: backend.cannot.maxQueued },
      async () => {
        await using pool = makePool(backend, { workers: 1, maxQueued: 2 });
        const blocker = await startBlocker(pool);
        const a = pool.submit('add', [1, 1]);
        const b = pool.submit('add', [2, 2]);
        assert.equal(pool.stats().queued, 2);
        const mark = join(scratch(), 'ran');
        assert.throws(
          () => pool.submit('touch', [mark]),
          (err: unknown) =>
            err instanceof QueueFullError &&
            err.code === 'ERR_WARMPOOL_QUEUE_FULL' &&
            err.message === 'The queue is full: 2 tasks are already waiting for a worker (maxQueued)',
        );
        // The count agrees with its noun and verb at 1 as well.
        assert.equal(new QueueFullError(1).message, 'The queue is full: 1 task is already waiting for a worker (maxQueued)');
        assert.equal(pool.stats().queued, 2, 'the refused task is not queued');
        blocker.release();
        assert.deepEqual(await Promise.all([blocker.future, a, b]), ['released', 2, 4]);
        assert.equal(await pool.submit('add', [3, 3]), 6, 'room again once the queue drains');
        assert.ok(!existsSync(mark), 'the refused task never ran');
        assert.equal(pool.stats().completed, 4);
      },
    );

    test(
      'maxQueued counts only tasks waiting for a worker: with maxQueued 0, an idle worker still takes a task',
      { ...SHORT, skip: backend.cannot.maxQueued },
      async () => {
        await using pool = makePool(backend, { workers: 1, maxQueued: 0 });
        await pool.ready();
        assert.equal(await pool.submit('add', [1, 2]), 3);
      },
    );

    test(
      'a task frees its worker by the time its future settles: stats() shows it idle, and with maxQueued 0 the next task is accepted at once',
      { ...SHORT, skip: backend.cannot.maxQueued },
      async () => {
        await using pool = makePool(backend, { workers: 1, maxQueued: 0 });
        await pool.ready();
        for (const i of range(3)) {
          assert.equal(await pool.submit('add', [i, 1]), i + 1);
          assert.equal(pool.stats().busy, 0, `after the sync task ${i} settled, nothing is busy`);
          assert.equal(await pool.submit('asyncEcho', [i]), i);
          assert.equal(pool.stats().busy, 0, `after the async task ${i} settled, nothing is busy`);
        }
      },
    );
  });
});
