// Unit tests of Future, asCompleted and wait, against docs/contract.md's Future table
// and module functions. Futures are made and driven through futureInternals
// (the engine's side), so every transition happens when the test says so:
// nothing here sleeps in place of an event. Real timers appear only where a
// timeout is the thing under test, and then only the outcome is asserted.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as turn, setTimeout as delay } from 'node:timers/promises';
import { futureInternals, type FutureOwner } from '../lib/core/future.js';
import { CancelledError, Future, TimeoutError, asCompleted, wait, type FutureState } from '../lib/index.js';
import { drain } from './helpers.js';

const bounded = { timeout: 5_000 };

interface CancelCall {
  task: unknown;
  wasRunning: boolean;
  /** The future's state when its owner was told. */
  state: FutureState;
  /** How many done callbacks had run when its owner was told. */
  callbacksRun: number;
}

interface Probe {
  future: Future<number>;
  cancels: CancelCall[];
  /** Counts the calls of a done callback registered at creation. */
  callbacksRun: () => number;
}

/** A pending future whose owner records each onCancel call. */
function probe(task: unknown = { id: 'task' }): Probe {
  const cancels: CancelCall[] = [];
  let runs = 0;
  const owner: FutureOwner = {
    runTime: 0,
    onCancel(wasRunning) {
      cancels.push({ task, wasRunning, state: future.state, callbacksRun: runs });
    },
  };
  const future = futureInternals.create<number>(owner);
  future.addDoneCallback(() => {
    runs++;
  });
  return { future, cancels, callbacksRun: () => runs };
}

const pending = (): Future<number> => futureInternals.create<number>({ onCancel() {}, runTime: 0 });

function running(): Future<number> {
  const f = pending();
  assert.equal(futureInternals.setRunningOrNotifyCancel(f), true);
  return f;
}

function fulfilled(value: number): Future<number> {
  const f = pending();
  futureInternals.setResult(f, value);
  return f;
}

function rejected(error: unknown): Future<number> {
  const f = pending();
  futureInternals.setException(f, error);
  return f;
}

function cancelled(): Future<number> {
  const f = pending();
  f.cancel();
  return f;
}

const settle = (f: Future<number>, value: number): boolean => futureInternals.setResult(f, value);
const fail = (f: Future<number>, error: unknown): boolean => futureInternals.setException(f, error);

/** Whether `promise` has settled once the event loop has turned. */
async function settledYet(promise: PromiseLike<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await turn();
  await turn();
  return settled;
}

/** A validator for assert.throws/rejects: a TypeError whose message has every part. */
function typeErrorSaying(...parts: (string | RegExp)[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof TypeError, `expected a TypeError, got ${String(err)}`);
    for (const part of parts) {
      if (typeof part === 'string')
        assert.ok(err.message.includes(part), `${JSON.stringify(err.message)} should mention ${JSON.stringify(part)}`);
      else assert.match(err.message, part);
    }
    return true;
  };
}

/** Runs `fn` with every warmpool warning emitted meanwhile collected. */
async function collectWarnings(fn: () => void | Promise<void>): Promise<Error[]> {
  const warnings: Error[] = [];
  const listener = (warning: Error) => {
    if (warning.name === 'WarmpoolWarning') warnings.push(warning);
  };
  process.on('warning', listener);
  try {
    await fn();
    // process.emitWarning emits on the next tick.
    await turn();
  } finally {
    process.off('warning', listener);
  }
  return warnings;
}

describe('Future state', () => {
  const cases: [string, () => Future<number>, FutureState, { done: boolean; running: boolean; cancelled: boolean }][] = [
    ['pending', pending, 'pending', { done: false, running: false, cancelled: false }],
    ['running', running, 'running', { done: false, running: true, cancelled: false }],
    ['fulfilled', () => fulfilled(1), 'fulfilled', { done: true, running: false, cancelled: false }],
    ['rejected', () => rejected(new Error('x')), 'rejected', { done: true, running: false, cancelled: false }],
    ['cancelled', cancelled, 'cancelled', { done: true, running: false, cancelled: true }],
  ];
  for (const [label, make, state, flags] of cases) {
    test(
      `a ${label} future reports state '${state}', done() ${flags.done}, running() ${flags.running}, cancelled() ${flags.cancelled}`,
      bounded,
      () => {
        const f = make();
        assert.equal(f.state, state);
        assert.equal(f.done(), flags.done);
        assert.equal(f.running(), flags.running);
        assert.equal(f.cancelled(), flags.cancelled);
      },
    );
  }

  test('a future is an instance of Future and tags itself as one', bounded, () => {
    const f = pending();
    assert.ok(f instanceof Future);
    assert.equal(Object.prototype.toString.call(f), '[object Future]');
  });

  test('a fulfilled future keeps its first value when settled again', bounded, async () => {
    const f = fulfilled(1);
    assert.equal(settle(f, 2), false);
    assert.equal(fail(f, new Error('late')), false);
    assert.equal(f.state, 'fulfilled');
    assert.equal(await f, 1);
  });

  test('a rejected future keeps its first error when settled again', bounded, async () => {
    const error = new Error('first');
    const f = rejected(error);
    assert.equal(settle(f, 2), false);
    assert.equal(fail(f, new Error('late')), false);
    assert.equal(f.state, 'rejected');
    assert.equal(f.exception(), error);
    await assert.rejects(
      async () => f,
      (err) => err === error,
    );
  });

  test('a cancelled future drops a late result and a late error and stays cancelled', bounded, async () => {
    const f = running();
    assert.equal(f.cancel(), true);
    assert.equal(settle(f, 2), false);
    assert.equal(fail(f, new Error('late')), false);
    assert.equal(f.state, 'cancelled');
    await assert.rejects(async () => f, CancelledError);
  });

  test('a future cancelled while queued is not started: setRunningOrNotifyCancel returns false', bounded, () => {
    const f = cancelled();
    assert.equal(futureInternals.setRunningOrNotifyCancel(f), false);
    assert.equal(f.state, 'cancelled');
  });
});

describe('Future.cancel()', () => {
  test(
    'cancel() of a pending future returns true, tells its owner it was not running, and rejects it with CancelledError',
    bounded,
    async () => {
      const task = { id: 7 };
      const p = probe(task);
      assert.equal(p.future.cancel(), true);
      assert.equal(p.future.state, 'cancelled');
      assert.equal(p.cancels.length, 1);
      assert.equal(p.cancels[0].task, task);
      assert.equal(p.cancels[0].wasRunning, false);
      await assert.rejects(async () => p.future, CancelledError);
    },
  );

  test(
    'cancel() of a running future returns true, tells its owner it was running, and rejects it with CancelledError',
    bounded,
    async () => {
      const task = { id: 8 };
      const p = probe(task);
      futureInternals.setRunningOrNotifyCancel(p.future);
      assert.equal(p.future.cancel(), true);
      assert.equal(p.future.state, 'cancelled');
      assert.deepEqual(
        p.cancels.map((c) => [c.task, c.wasRunning]),
        [[task, true]],
      );
      await assert.rejects(async () => p.future, CancelledError);
    },
  );

  test('the owner is told of a cancel before the future settles and before its done callbacks run', bounded, () => {
    for (const start of [false, true]) {
      const p = probe();
      if (start) futureInternals.setRunningOrNotifyCancel(p.future);
      p.future.cancel();
      assert.equal(p.cancels.length, 1);
      assert.equal(p.cancels[0].state, start ? 'running' : 'pending');
      assert.equal(p.cancels[0].callbacksRun, 0);
      assert.equal(p.callbacksRun(), 1);
    }
  });

  test('cancel() of an already cancelled future returns true and does not tell the owner again', bounded, () => {
    const p = probe();
    assert.equal(p.future.cancel(), true);
    const error = p.future.exception();
    assert.equal(p.future.cancel(), true);
    assert.equal(p.cancels.length, 1);
    assert.equal(p.callbacksRun(), 1);
    assert.equal(p.future.exception(), error);
  });

  test('cancel() of a fulfilled future returns false and changes nothing', bounded, async () => {
    const p = probe();
    settle(p.future, 42);
    assert.equal(p.future.cancel(), false);
    assert.equal(p.future.state, 'fulfilled');
    assert.equal(p.future.cancelled(), false);
    assert.equal(p.cancels.length, 0);
    assert.equal(p.callbacksRun(), 1);
    assert.equal(await p.future, 42);
  });

  test('cancel() of a rejected future returns false and changes nothing', bounded, async () => {
    const p = probe();
    const error = new RangeError('boom');
    fail(p.future, error);
    assert.equal(p.future.cancel(), false);
    assert.equal(p.future.state, 'rejected');
    assert.equal(p.cancels.length, 0);
    assert.equal(p.future.exception(), error);
    await assert.rejects(
      async () => p.future,
      (err) => err === error,
    );
  });

  test(
    'a cancelled future rejects with the same CancelledError that exception() returns, a WarmpoolError with its code',
    bounded,
    async () => {
      const f = cancelled();
      const error = f.exception();
      assert.ok(error instanceof CancelledError);
      assert.ok(error instanceof Error);
      assert.equal(error.name, 'CancelledError');
      assert.equal(error.code, 'ERR_WARMPOOL_CANCELLED');
      await assert.rejects(
        async () => f,
        (err) => err === error,
      );
    },
  );

  test('awaiting a future that is cancelled later rejects with CancelledError', bounded, async () => {
    const f = pending();
    const awaited = (async () => await f)();
    f.cancel();
    await assert.rejects(awaited, CancelledError);
  });
});

describe('Future as a thenable', () => {
  test('await gives the value of a future fulfilled later', bounded, async () => {
    const f = pending();
    const awaited = (async () => await f)();
    settle(f, 5);
    assert.equal(await awaited, 5);
  });

  test('await gives the value of an already fulfilled future', bounded, async () => {
    assert.equal(await fulfilled(6), 6);
  });

  test('await throws the very error of a rejected future', bounded, async () => {
    const error = new TypeError('bad');
    const f = pending();
    const awaited = (async () => await f)();
    fail(f, error);
    await assert.rejects(awaited, (err) => err === error);
  });

  test('then(onFulfilled) returns a promise of the callback result', bounded, async () => {
    const f = pending();
    const then = f.then((v) => v * 2);
    assert.ok(then instanceof Promise);
    settle(f, 21);
    assert.equal(await then, 42);
  });

  test('then(undefined, onRejected) receives the error', bounded, async () => {
    const error = new Error('e');
    const f = rejected(error);
    assert.equal(await f.then(undefined, (err) => err), error);
  });

  test('catch() receives the error of a rejected future and not a fulfilled one', bounded, async () => {
    const error = new Error('e');
    assert.equal(await rejected(error).catch((err) => err), error);
    assert.equal(await fulfilled(3).catch(() => -1), 3);
  });

  test('finally() runs on both outcomes and passes the outcome through', bounded, async () => {
    let runs = 0;
    assert.equal(await fulfilled(4).finally(() => runs++), 4);
    const error = new Error('e');
    await assert.rejects(
      rejected(error).finally(() => runs++),
      (err) => err === error,
    );
    assert.equal(runs, 2);
  });

  test('Promise.resolve and Promise.all adopt a future', bounded, async () => {
    const a = pending();
    const b = fulfilled(2);
    const all = Promise.all([a, b]);
    settle(a, 1);
    assert.deepEqual(await all, [1, 2]);
    assert.equal(await Promise.resolve(fulfilled(9)), 9);
  });

  test('every then() of one future sees the same outcome', bounded, async () => {
    const f = pending();
    const first = f.then((v) => v);
    const second = f.then((v) => v);
    settle(f, 3);
    assert.deepEqual(await Promise.all([first, second, f.then((v) => v)]), [3, 3, 3]);
  });
});

describe('Future.result(timeoutMs)', () => {
  test('result() resolves with the value once the future is fulfilled', bounded, async () => {
    const f = pending();
    const result = f.result();
    settle(f, 11);
    assert.equal(await result, 11);
  });

  test('result(timeoutMs) resolves with the value when the future settles in time', bounded, async () => {
    const f = pending();
    const result = f.result(4_000);
    settle(f, 12);
    assert.equal(await result, 12);
  });

  test('result(timeoutMs) rejects with the future’s own error when it rejects in time', bounded, async () => {
    const error = new RangeError('own');
    const f = pending();
    const result = f.result(4_000);
    fail(f, error);
    await assert.rejects(result, (err) => err === error);
  });

  test('result(timeoutMs) rejects with TimeoutError when the future has not settled, and does not cancel it', bounded, async () => {
    const p = probe();
    await assert.rejects(p.future.result(20), (err) => {
      assert.ok(err instanceof TimeoutError);
      assert.equal(err.code, 'ERR_WARMPOOL_TIMEOUT');
      return true;
    });
    assert.equal(p.future.state, 'pending');
    assert.equal(p.cancels.length, 0);
    assert.equal(p.callbacksRun(), 0);
    settle(p.future, 13);
    assert.equal(await p.future, 13);
  });

  test('result(timeoutMs) of a running future times out without stopping it', bounded, async () => {
    const p = probe();
    futureInternals.setRunningOrNotifyCancel(p.future);
    await assert.rejects(p.future.result(20), TimeoutError);
    assert.equal(p.future.state, 'running');
    assert.equal(p.cancels.length, 0);
  });

  test('result(0) of an already settled future gives its outcome, not a TimeoutError', bounded, async () => {
    assert.equal(await fulfilled(14).result(0), 14);
    const error = new Error('e');
    await assert.rejects(rejected(error).result(0), (err) => err === error);
    await assert.rejects(cancelled().result(0), CancelledError);
  });

  test('result(Infinity) waits without a limit', bounded, async () => {
    const f = pending();
    const result = f.result(Infinity);
    const early = await Promise.race([
      result.then(
        () => 'resolved',
        (err: unknown) => err,
      ),
      delay(30, 'still waiting'),
    ]);
    assert.equal(early, 'still waiting');
    settle(f, 15);
    assert.equal(await result, 15);
  });

  test('result(timeoutMs) with a limit beyond 2^31 - 1 ms does not time out early', bounded, async () => {
    const f = pending();
    const result = f.result(2 ** 31);
    const early = await Promise.race([
      result.then(
        () => 'resolved',
        (err: unknown) => err,
      ),
      delay(30, 'still waiting'),
    ]);
    assert.equal(early, 'still waiting');
    settle(f, 16);
    assert.equal(await result, 16);
  });

  for (const bad of [-1, Number.NaN, 'soon']) {
    test(`result(${String(bad)}) rejects with a TypeError saying what was expected and what arrived`, bounded, async () => {
      const f = pending();
      await assert.rejects(async () => f.result(bad as number), typeErrorSaying('timeoutMs', /expected/i, String(bad)));
      assert.equal(f.state, 'pending');
    });
  }
});

describe('Future.exception()', () => {
  test('exception() is undefined for a pending, a running and a fulfilled future, returned at once', bounded, () => {
    for (const f of [pending(), running(), fulfilled(1)]) {
      assert.equal(f.exception(), undefined);
    }
  });

  test('exception() of a rejected future is its error, also a non-Error thrown value', bounded, () => {
    const error = new SyntaxError('s');
    assert.equal(rejected(error).exception(), error);
    assert.equal(rejected('just a string').exception(), 'just a string');
  });

  test('exception() of a cancelled future is a CancelledError', bounded, () => {
    assert.ok(cancelled().exception() instanceof CancelledError);
    const f = running();
    f.cancel();
    assert.ok(f.exception() instanceof CancelledError);
  });
});

describe('Future.addDoneCallback()', () => {
  test('a done callback is called once, with the future, when it settles and not before', bounded, () => {
    const f = pending();
    const calls: Future<number>[] = [];
    f.addDoneCallback((future) => calls.push(future));
    futureInternals.setRunningOrNotifyCancel(f);
    assert.equal(calls.length, 0);
    settle(f, 1);
    assert.equal(calls.length, 1);
    assert.equal(calls[0], f);
    settle(f, 2);
    fail(f, new Error('late'));
    f.cancel();
    assert.equal(calls.length, 1);
  });

  test('a done callback sees the future already settled', bounded, () => {
    const f = pending();
    const seen: [FutureState, boolean, unknown][] = [];
    f.addDoneCallback((future) => seen.push([future.state, future.done(), future.exception()]));
    const error = new Error('e');
    fail(f, error);
    assert.deepEqual(seen, [['rejected', true, error]]);
  });

  test('done callbacks run on rejection and on cancel', bounded, () => {
    const a = pending();
    const b = running();
    let runs = 0;
    a.addDoneCallback(() => runs++);
    b.addDoneCallback(() => runs++);
    fail(a, new Error('e'));
    b.cancel();
    assert.equal(runs, 2);
  });

  test('a done callback added to a settled future is called at once, before addDoneCallback returns', bounded, () => {
    for (const f of [fulfilled(1), rejected(new Error('e')), cancelled()]) {
      const calls: Future<number>[] = [];
      f.addDoneCallback((future) => calls.push(future));
      assert.deepEqual(calls, [f]);
    }
  });

  test('done callbacks run in the order they were added', bounded, () => {
    const f = pending();
    const order: number[] = [];
    for (let i = 0; i < 4; i++) f.addDoneCallback(() => order.push(i));
    settle(f, 1);
    assert.deepEqual(order, [0, 1, 2, 3]);
  });

  test(
    'a throwing done callback disturbs neither the future nor the other callbacks, and is reported with process.emitWarning',
    bounded,
    async () => {
      const f = pending();
      const ran: string[] = [];
      f.addDoneCallback(() => ran.push('first'));
      f.addDoneCallback(() => {
        throw new Error('callback exploded');
      });
      f.addDoneCallback(() => ran.push('third'));
      const warnings = await collectWarnings(() => {
        assert.equal(settle(f, 17), true);
      });
      assert.deepEqual(ran, ['first', 'third']);
      assert.equal(f.state, 'fulfilled');
      assert.equal(await f, 17);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0].message, /callback exploded/);
    },
  );

  test('a throwing first done callback does not stop the ones after it', bounded, async () => {
    const f = pending();
    const ran: string[] = [];
    f.addDoneCallback(() => {
      throw new Error('first exploded');
    });
    f.addDoneCallback(() => ran.push('second'));
    const warnings = await collectWarnings(() => {
      f.cancel();
    });
    assert.deepEqual(ran, ['second']);
    assert.equal(f.state, 'cancelled');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0].message, /first exploded/);
  });

  test('a done callback that throws when added to a settled future is reported, not thrown', bounded, async () => {
    const f = fulfilled(18);
    const warnings = await collectWarnings(() => {
      f.addDoneCallback(() => {
        throw new Error('late callback exploded');
      });
    });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0].message, /late callback exploded/);
    assert.equal(await f, 18);
  });

  test('addDoneCallback with a non-function throws a TypeError saying what was expected and what arrived', bounded, () => {
    const f = pending();
    assert.throws(
      () => f.addDoneCallback('not a callback' as unknown as () => void),
      typeErrorSaying('callback', 'function', 'not a callback'),
    );
  });
});

describe('unhandled rejections', () => {
  test('a rejected or cancelled future that nobody awaits raises no unhandledRejection', bounded, async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      fail(pending(), new Error('nobody awaits this'));
      fail(running(), new Error('nor this'));
      cancelled();
      const r = running();
      r.cancel();
      const withCallback = pending();
      withCallback.addDoneCallback(() => {});
      fail(withCallback, new Error('only a callback watches this'));
      const read = rejected(new Error('read, not awaited'));
      read.exception();
      const timed = pending();
      await assert.rejects(timed.result(1), TimeoutError);
      fail(timed, new Error('rejects after its result() timed out'));
      await turn();
      await turn();
    } finally {
      process.off('unhandledRejection', listener);
    }
    assert.deepEqual(unhandled, []);
  });
});

describe('asCompleted()', () => {
  test('asCompleted yields the Future objects themselves, not their values', bounded, async () => {
    const a = fulfilled(1);
    const b = rejected(new Error('e'));
    const { yielded, error } = await drain(asCompleted([a, b]));
    assert.equal(error, undefined);
    assert.equal(yielded.length, 2);
    for (const item of yielded) assert.ok(item instanceof Future, `yielded ${Object.prototype.toString.call(item)}`);
    assert.deepEqual(yielded, [a, b]);
  });

  test('asCompleted yields each future once, in completion order', bounded, async () => {
    const [a, b, c] = [pending(), pending(), pending()];
    const it = asCompleted([a, b, c]);
    const next = it.next();
    assert.equal(await settledYet(next), false);
    settle(b, 2);
    assert.deepEqual(await next, { value: b, done: false });
    fail(c, new Error('c'));
    settle(a, 1);
    assert.deepEqual(await it.next(), { value: c, done: false });
    assert.deepEqual(await it.next(), { value: a, done: false });
    assert.equal((await it.next()).done, true);
  });

  test('asCompleted yields already settled futures first, then the others as they settle', bounded, async () => {
    const p = pending();
    const s1 = fulfilled(1);
    const q = running();
    const s2 = cancelled();
    const it = asCompleted([p, s1, q, s2]);
    settle(q, 3);
    settle(p, 0);
    const { yielded } = await drain(it);
    assert.deepEqual(yielded, [s1, s2, q, p]);
  });

  test('asCompleted yields a future given twice only once', bounded, async () => {
    const a = pending();
    const b = fulfilled(2);
    const it = asCompleted([a, b, a, b, a]);
    settle(a, 1);
    const { yielded } = await drain(it);
    assert.deepEqual(yielded, [b, a]);
  });

  test('asCompleted accepts any iterable of futures', bounded, async () => {
    const a = fulfilled(1);
    const b = fulfilled(2);
    function* gen() {
      yield a;
      yield b;
    }
    assert.deepEqual((await drain(asCompleted(gen()))).yielded, [a, b]);
    assert.deepEqual((await drain(asCompleted(new Set([b])))).yielded, [b]);
  });

  test('asCompleted over no futures ends at once', bounded, async () => {
    assert.deepEqual(await drain(asCompleted([])), { yielded: [], error: undefined });
  });

  test('asCompleted yields a rejected or cancelled future like any other, without throwing', bounded, async () => {
    const a = pending();
    const b = pending();
    const it = asCompleted([a, b], { timeout: 4_000 });
    fail(a, new Error('e'));
    b.cancel();
    assert.deepEqual(await drain(it), { yielded: [a, b], error: undefined });
  });

  test('on timeout asCompleted throws TimeoutError after yielding what finished, and cancels nothing', bounded, async () => {
    const a = probe();
    const b = probe();
    const c = probe();
    const done = fulfilled(0);
    const it = asCompleted([a.future, done, b.future, c.future], { timeout: 20 });
    settle(b.future, 2);
    const { yielded, error } = await drain(it);
    assert.deepEqual(yielded, [done, b.future]);
    assert.ok(error instanceof TimeoutError, `threw ${String(error)}`);
    for (const p of [a, c]) {
      assert.equal(p.future.state, 'pending');
      assert.equal(p.cancels.length, 0);
    }
  });

  test('asCompleted with a timeout Infinity waits for every future', bounded, async () => {
    const a = pending();
    const it = asCompleted([a], { timeout: Infinity });
    const next = it.next();
    settle(a, 1);
    assert.deepEqual(await next, { value: a, done: false });
  });

  test('asCompleted with a timeout beyond 2^31 - 1 ms does not time out early', bounded, async () => {
    const a = pending();
    const it = asCompleted([a], { timeout: 2 ** 31 });
    const next = it.next();
    const early = await Promise.race([
      next.then(
        () => 'yielded',
        (err: unknown) => err,
      ),
      delay(30, 'still waiting'),
    ]);
    assert.equal(early, 'still waiting');
    settle(a, 1);
    assert.deepEqual(await next, { value: a, done: false });
  });

  test('breaking out of asCompleted stops it and cancels nothing', bounded, async () => {
    const a = fulfilled(1);
    const b = probe();
    const c = probe();
    const it = asCompleted([a, b.future, c.future], { timeout: 4_000 });
    const seen: Future<number>[] = [];
    for await (const f of it) {
      // TypeScript types a for-await element as Awaited<T>, and a Future is
      // thenable: at run time the element is the Future itself.
      seen.push(f as unknown as Future<number>);
      break;
    }
    assert.deepEqual(seen, [a]);
    settle(b.future, 2);
    assert.deepEqual(await it.next(), { value: undefined, done: true });
    assert.equal(c.future.state, 'pending');
    assert.equal(b.cancels.length + c.cancels.length, 0);
  });

  test('asCompleted with a non-Future item throws a TypeError saying what was expected and what arrived', bounded, async () => {
    const notAFuture = Promise.resolve(1);
    await assert.rejects(
      async () => {
        await drain(asCompleted([fulfilled(1), notAFuture] as unknown as Future<number>[]));
      },
      typeErrorSaying('Future', 'Promise'),
    );
  });

  for (const bad of [null, 42]) {
    test(
      `asCompleted(${String(bad)}) throws a TypeError saying an iterable of futures was expected and what arrived`,
      bounded,
      async () => {
        await assert.rejects(
          async () => {
            await drain(asCompleted(bad as unknown as Future<number>[]));
          },
          typeErrorSaying(/iterable/, String(bad)),
        );
      },
    );
  }

  for (const bad of [-1, 'soon']) {
    test(
      `asCompleted with timeout ${JSON.stringify(bad)} throws a TypeError saying what was expected and what arrived`,
      bounded,
      async () => {
        await assert.rejects(
          async () => {
            await drain(asCompleted([pending()], { timeout: bad as number }));
          },
          typeErrorSaying('timeout', /expected/i, String(bad)),
        );
      },
    );
  }
});

describe('wait()', () => {
  test('wait resolves, by default, once every future has settled, with all of them in done', bounded, async () => {
    const a = pending();
    const b = running();
    const c = pending();
    const result = wait([a, b, c]);
    settle(a, 1);
    fail(b, new Error('b'));
    assert.equal(await settledYet(result), false);
    c.cancel();
    const { done, notDone } = await result;
    assert.deepEqual(done, new Set([a, b, c]));
    assert.deepEqual(notDone, new Set());
  });

  test('wait with ALL_COMPLETED on settled futures resolves at once with them all done', bounded, async () => {
    const futures = [fulfilled(1), rejected(new Error('e')), cancelled()];
    const { done, notDone } = await wait(futures, { returnWhen: 'ALL_COMPLETED' });
    assert.deepEqual(done, new Set(futures));
    assert.equal(notDone.size, 0);
  });

  test('wait with FIRST_COMPLETED resolves when the first future settles, the rest in notDone', bounded, async () => {
    const [a, b, c] = [pending(), running(), pending()];
    const result = wait([a, b, c], { returnWhen: 'FIRST_COMPLETED' });
    assert.equal(await settledYet(result), false);
    settle(b, 2);
    const { done, notDone } = await result;
    assert.deepEqual(done, new Set([b]));
    assert.deepEqual(notDone, new Set([a, c]));
  });

  test('wait with FIRST_COMPLETED counts a rejection as a completion', bounded, async () => {
    const [a, b] = [pending(), pending()];
    const result = wait([a, b], { returnWhen: 'FIRST_COMPLETED' });
    fail(a, new Error('a'));
    const { done, notDone } = await result;
    assert.deepEqual(done, new Set([a]));
    assert.deepEqual(notDone, new Set([b]));
  });

  test('wait with FIRST_COMPLETED resolves at once when a future has already settled', bounded, async () => {
    const a = pending();
    const b = fulfilled(2);
    const { done, notDone } = await wait([a, b], { returnWhen: 'FIRST_COMPLETED' });
    assert.deepEqual(done, new Set([b]));
    assert.deepEqual(notDone, new Set([a]));
  });

  test('wait with FIRST_EXCEPTION goes on past fulfilled futures and resolves at the first rejection', bounded, async () => {
    const [a, b, c] = [pending(), pending(), pending()];
    const result = wait([a, b, c], { returnWhen: 'FIRST_EXCEPTION' });
    settle(a, 1);
    assert.equal(await settledYet(result), false);
    fail(b, new Error('b'));
    const { done, notDone } = await result;
    assert.deepEqual(done, new Set([a, b]));
    assert.deepEqual(notDone, new Set([c]));
  });

  test('wait with FIRST_EXCEPTION and no rejection resolves when all have settled', bounded, async () => {
    const [a, b] = [pending(), pending()];
    const result = wait([a, b], { returnWhen: 'FIRST_EXCEPTION' });
    settle(a, 1);
    assert.equal(await settledYet(result), false);
    settle(b, 2);
    const { done, notDone } = await result;
    assert.deepEqual(done, new Set([a, b]));
    assert.equal(notDone.size, 0);
  });

  test('wait with FIRST_EXCEPTION resolves at once when a future has already rejected', bounded, async () => {
    const a = pending();
    const b = rejected(new Error('b'));
    const { done, notDone } = await wait([a, b], { returnWhen: 'FIRST_EXCEPTION' });
    assert.deepEqual(done, new Set([b]));
    assert.deepEqual(notDone, new Set([a]));
  });

  test('on timeout wait resolves with the sets as they stand and cancels nothing', bounded, async () => {
    const a = probe();
    const b = probe();
    futureInternals.setRunningOrNotifyCancel(b.future);
    const c = fulfilled(3);
    const result = wait([a.future, b.future, c], { timeout: 20 });
    const { done, notDone } = await result;
    assert.deepEqual(done, new Set([c]));
    assert.deepEqual(notDone, new Set([a.future, b.future]));
    assert.equal(a.future.state, 'pending');
    assert.equal(b.future.state, 'running');
    assert.equal(a.cancels.length + b.cancels.length, 0);
  });

  test('on timeout wait with FIRST_COMPLETED resolves with nothing done when nothing settled', bounded, async () => {
    const a = pending();
    const { done, notDone } = await wait([a], { timeout: 20, returnWhen: 'FIRST_COMPLETED' });
    assert.equal(done.size, 0);
    assert.deepEqual(notDone, new Set([a]));
    assert.equal(a.state, 'pending');
  });

  test('wait with a timeout resolves as soon as its condition holds', bounded, async () => {
    const a = pending();
    const result = wait([a], { timeout: 4_000 });
    settle(a, 1);
    assert.deepEqual((await result).done, new Set([a]));
  });

  test('wait with a timeout beyond 2^31 - 1 ms does not time out early', bounded, async () => {
    const a = pending();
    const result = wait([a], { timeout: 2 ** 31 });
    const early = await Promise.race([result.then((r) => `resolved with ${r.notDone.size} not done`), delay(30, 'still waiting')]);
    assert.equal(early, 'still waiting');
    settle(a, 1);
    assert.deepEqual((await result).done, new Set([a]));
  });

  test('wait counts a future given twice once', bounded, async () => {
    const a = fulfilled(1);
    const b = pending();
    const result = wait([a, b, a, b]);
    settle(b, 2);
    const { done, notDone } = await result;
    assert.equal(done.size, 2);
    assert.equal(notDone.size, 0);
  });

  test('wait over no futures resolves with two empty sets', bounded, async () => {
    const { done, notDone } = await wait([]);
    assert.equal(done.size, 0);
    assert.equal(notDone.size, 0);
  });

  test('wait accepts any iterable of futures and puts the Future objects in its sets', bounded, async () => {
    const a = fulfilled(1);
    const b = fulfilled(2);
    const { done } = await wait(new Set([a, b]).values());
    for (const f of done) assert.ok(f instanceof Future);
    assert.deepEqual(done, new Set([a, b]));
  });

  test('wait with an unknown returnWhen gives a TypeError naming the accepted values and what arrived', bounded, async () => {
    await assert.rejects(
      async () => wait([pending()], { returnWhen: 'SOMETIMES' as 'ALL_COMPLETED' }),
      typeErrorSaying('ALL_COMPLETED', 'FIRST_COMPLETED', 'FIRST_EXCEPTION', 'SOMETIMES'),
    );
  });

  for (const bad of [-1, 'soon']) {
    test(`wait with timeout ${JSON.stringify(bad)} gives a TypeError saying what was expected and what arrived`, bounded, async () => {
      await assert.rejects(async () => wait([pending()], { timeout: bad as number }), typeErrorSaying('timeout', /expected/i, String(bad)));
    });
  }

  test('wait with a non-Future item gives a TypeError saying what was expected and what arrived', bounded, async () => {
    await assert.rejects(async () => wait([fulfilled(1), 'soon'] as unknown as Future<number>[]), typeErrorSaying('Future', 'soon'));
  });

  for (const bad of [null, 42]) {
    test(`wait(${String(bad)}) gives a TypeError saying an iterable of futures was expected and what arrived`, bounded, async () => {
      await assert.rejects(async () => wait(bad as unknown as Future<number>[]), typeErrorSaying(/iterable/, String(bad)));
    });
  }
});
