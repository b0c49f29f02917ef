// Future: the handle `submit` returns. Modelled on CPython's
// concurrent.futures.Future: the states live in one union, and the engine
// moves a future only through the transitions below, each named after all of
// its outcomes. They are reachable only through `futureInternals`, which the
// package does not export, so user code cannot settle or start a future.
//
//   pending ──setRunningOrNotifyCancel──▶ running ──setResult──────▶ fulfilled
//      │                                     │  └───setException───▶ rejected
//      └──────────── cancel() ───────────────┴─────────────────────▶ cancelled
//
// The promise behind `then` is made lazily, on the first `then`: a future
// nobody awaits costs no promise, and a rejected future nobody awaits raises
// no unhandled rejection (as in Python, an unretrieved exception is silent).

import { CancelledError, TimeoutError } from './errors.js';
import { checkMs, checkObject, expected } from './options.js';

/**
 * Where a future is in its life:
 *
 * - `'pending'`: accepted, waiting for a worker (or sent ahead to a busy one);
 * - `'running'`: a worker has started it, as the pool sees it;
 * - `'fulfilled'`: the task returned a value;
 * - `'rejected'`: the task threw, timed out or lost its worker;
 * - `'cancelled'`: cancelled before it settled.
 *
 * The last three are final: the state never changes again.
 *
 * @group Futures
 */
export type FutureState = 'pending' | 'running' | 'fulfilled' | 'rejected' | 'cancelled';

/** What the engine that owns a future is told when the user cancels it. */
export interface FutureOwner {
  /** `wasRunning` tells whether a worker had started the task. Called before the future settles. */
  onCancel(task: unknown, wasRunning: boolean): void;
}

/**
 * A function `addDoneCallback` calls with the settled future.
 * @inline
 */
type DoneCallback<R> = (future: Future<R>) => void;

// Assigned by Future's static block, which runs when this module loads.
 
export let futureInternals: FutureInternals;

function reportCallbackError(err: unknown): void {
  process.emitWarning(
    `A done callback threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    { type: 'WarmpoolWarning', code: 'WARMPOOL_CALLBACK_ERROR' },
  );
}

/**
 * The handle `submit` returns, after Python's `concurrent.futures.Future`: a
 * thenable (`await future`, `.then`, `.catch`, `.finally`) with `cancel()`,
 * `result(timeoutMs)`, `exception()`, `addDoneCallback()` and `state`.
 * Futures are made only by a pool; user code cannot settle one.
 *
 * The promise behind `then` is made on the first `then`: a future nobody
 * awaits costs no promise, and a rejected future nobody looks at raises no
 * `unhandledRejection` (as an unretrieved exception in Python is silent).
 *
 * @typeParam R - what the task returns, unwrapped if it is a promise.
 *
 * @example
 * ```ts
 * const f = pool.submit('fib', [30]);
 * f.addDoneCallback((done) => console.log(done.state));
 * console.log(await f.result(5_000)); // TimeoutError if not settled within 5 s; the task goes on
 * ```
 *
 * @group Futures
 */
export class Future<R = unknown> implements PromiseLike<R> {
  #state: FutureState = 'pending';
  #value: R | undefined = undefined;
  #error: unknown = undefined;
  #promise: Promise<R> | undefined = undefined;
  // Typed loosely on purpose: a field with R in a parameter position would make
  // Future invariant, and Future<number> unusable where Future<unknown> is asked.
  #resolve: ((value: any) => void) | undefined = undefined;
  #reject: ((reason: unknown) => void) | undefined = undefined;
  // One callback is the common case (map, wait): no array for it.
  #callback: DoneCallback<any> | undefined = undefined;
  #callbacks: DoneCallback<any>[] | undefined = undefined;
  readonly #owner: FutureOwner | undefined;
  readonly #task: unknown;

  private constructor(owner: FutureOwner | undefined, task: unknown) {
    this.#owner = owner;
    this.#task = task;
  }

  /** `'Future'`, so that `Object.prototype.toString` and `util.inspect` name it. */
  get [Symbol.toStringTag](): string {
    return 'Future';
  }

  /** `'pending' | 'running' | 'fulfilled' | 'rejected' | 'cancelled'`: see {@link FutureState}. */
  get state(): FutureState {
    return this.#state;
  }

  /** `true` once fulfilled, rejected or cancelled (Python's `done()`). */
  done(): boolean {
    return this.#state !== 'pending' && this.#state !== 'running';
  }

  /** `true` while a worker runs the task (state `'running'`). */
  running(): boolean {
    return this.#state === 'running';
  }

  /** `true` once cancelled (state `'cancelled'`). */
  cancelled(): boolean {
    return this.#state === 'cancelled';
  }

  /**
   * Cancels the task. Pending: it is removed from the queue. Running: its
   * `taskSignal()` is aborted and its worker is stopped (after
   * `cancelGrace`) and replaced by a fresh warm one; LocalPool cannot stop
   * synchronous code and only aborts the signal. Either way the future
   * rejects with `CancelledError` at once.
   *
   * @returns `true` when the future is now cancelled (also when it already
   * was); `false` when it had already fulfilled or rejected.
   */
  cancel(): boolean {
    const state = this.#state;
    if (state === 'cancelled') return true;
    if (state !== 'pending' && state !== 'running') return false;
    // The owner first, so that when done callbacks run the task is already out
    // of the queue and the pool's counts agree with the future.
    this.#owner?.onCancel(this.#task, state === 'running');
    this.#settle('cancelled', undefined, new CancelledError());
    return true;
  }

  /**
   * A promise of the result, as Python's `result(timeout)`.
   *
   * @param timeoutMs - milliseconds to wait, counted from this call; left
   * out (or `Infinity`), it waits as long as the task takes.
   * @returns a promise that settles as the future does, or rejects with
   * `TimeoutError` when the future has not settled within `timeoutMs`. That
   * timeout does not cancel the task (use the `timeout` option or `cancel()`).
   */
  result(timeoutMs?: number): Promise<R> {
    let ms: number | undefined;
    try {
      ms = timeoutMs === undefined ? undefined : checkMs('timeoutMs', timeoutMs);
    } catch (err) {
      return Promise.reject(err);
    }
    const promise = this.#getPromise();
    if (ms === undefined || ms === Infinity || this.done()) return promise;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError(`The future did not settle within ${ms} ms`, ms)), ms);
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  /**
   * The error of a rejected future, the `CancelledError` of a cancelled one,
   * otherwise `undefined` (also while pending or running: it never waits,
   * unlike Python's).
   */
  exception(): unknown {
    return this.#state === 'rejected' || this.#state === 'cancelled' ? this.#error : undefined;
  }

  /**
   * Calls `callback(future)` once the future settles (fulfilled, rejected or
   * cancelled), or at once if it has. Callbacks run in the order they were
   * added. A callback that throws is reported with `process.emitWarning`
   * (type `WarmpoolWarning`, code `WARMPOOL_CALLBACK_ERROR`) and disturbs
   * neither the future nor the other callbacks.
   *
   * @throws `TypeError` when `callback` is not a function.
   */
  addDoneCallback(callback: DoneCallback<R>): void {
    if (typeof callback !== 'function') {
      throw expected('callback', 'a function', callback);
    }
    if (this.done()) {
      try {
        callback(this);
      } catch (err) {
        reportCallbackError(err);
      }
    } else if (this.#callback === undefined) {
      this.#callback = callback;
    } else {
      (this.#callbacks ??= []).push(callback);
    }
  }

  /** As `Promise.prototype.then`: makes the future awaitable. */
  then<T1 = R, T2 = never>(
    onFulfilled?: ((value: R) => T1 | PromiseLike<T1>) | null,
    onRejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    return this.#getPromise().then(onFulfilled, onRejected);
  }

  /** As `Promise.prototype.catch`. */
  catch<T = never>(onRejected?: ((reason: unknown) => T | PromiseLike<T>) | null): Promise<R | T> {
    return this.#getPromise().catch(onRejected);
  }

  /** As `Promise.prototype.finally`. */
  finally(onFinally?: (() => void) | null): Promise<R> {
    return this.#getPromise().finally(onFinally);
  }

  #getPromise(): Promise<R> {
    if (this.#promise === undefined) {
      if (this.#state === 'fulfilled') this.#promise = Promise.resolve(this.#value as R);
      else if (this.#state === 'rejected' || this.#state === 'cancelled') this.#promise = Promise.reject(this.#error);
      else {
        this.#promise = new Promise<R>((resolve, reject) => {
          this.#resolve = resolve;
          this.#reject = reject;
        });
      }
    }
    return this.#promise;
  }

  #settle(state: 'fulfilled' | 'rejected' | 'cancelled', value: R | undefined, error: unknown): void {
    this.#state = state;
    this.#value = value;
    this.#error = error;
    if (this.#resolve !== undefined) {
      if (state === 'fulfilled') this.#resolve(value);
      else this.#reject!(error);
      this.#resolve = this.#reject = undefined;
    }
    const first = this.#callback;
    if (first !== undefined) {
      this.#callback = undefined;
      try {
        first(this);
      } catch (err) {
        reportCallbackError(err);
      }
      const rest = this.#callbacks;
      if (rest !== undefined) {
        this.#callbacks = undefined;
        for (const callback of rest) {
          try {
            callback(this);
          } catch (err) {
            reportCallbackError(err);
          }
        }
      }
    }
  }

  static {
    futureInternals = {
      create: <T>(owner: FutureOwner | undefined, task: unknown) => new Future<T>(owner, task),
      setRunningOrNotifyCancel(future) {
        if (future.#state === 'pending') {
          future.#state = 'running';
          return true;
        }
        if (future.#state === 'cancelled') return false;
        throw new Error(`warmpool internal error: cannot start a future that is ${future.#state}`);
      },
      setResult(future, value) {
        if (future.done()) return false;
        future.#settle('fulfilled', value, undefined);
        return true;
      },
      setException(future, error) {
        if (future.done()) return false;
        future.#settle('rejected', undefined, error);
        return true;
      },
      taskOf: (future) => future.#task as any,
      valueOf: (future) => future.#value,
    };
  }
}

/**
 * The transitions of a future, for the engine only (not exported by the
 * package). `setResult`/`setException` return false, and change nothing, when
 * the future had already settled, e.g. cancelled while its result was in
 * flight; the late outcome is then dropped.
 */
export interface FutureInternals {
  create<T>(owner: FutureOwner | undefined, task: unknown): Future<T>;
  /** pending → running and true; cancelled → false (skip the task); anything else is a bug. */
  setRunningOrNotifyCancel(future: Future<any>): boolean;
  setResult<T>(future: Future<T>, value: T): boolean;
  setException(future: Future<any>, error: unknown): boolean;
  /** The engine's record given to `create`. */
  taskOf<T>(future: Future<any>): T | undefined;
  /** The value of a fulfilled future, read without making a promise. */
  valueOf<T>(future: Future<T>): T | undefined;
}


const ALL_COMPLETED = 'ALL_COMPLETED';
const FIRST_COMPLETED = 'FIRST_COMPLETED';
const FIRST_EXCEPTION = 'FIRST_EXCEPTION';
/**
 * When `wait` resolves, as in Python's `concurrent.futures.wait`:
 *
 * - `'ALL_COMPLETED'` (the default): when every future has settled;
 * - `'FIRST_COMPLETED'`: when any future settles (at once if one already has);
 * - `'FIRST_EXCEPTION'`: when any future is rejected (at once if one already
 *   is), or else when every future has settled. A cancelled future does not
 *   count as an exception here.
 *
 * In every case `wait` resolves earlier when its `timeout` passes.
 *
 * @group Futures
 */
export type ReturnWhen = 'ALL_COMPLETED' | 'FIRST_COMPLETED' | 'FIRST_EXCEPTION';

/** The `timeout` of asCompleted/wait options in ms, or undefined for none. */
function optionTimeout(options: unknown): number | undefined {
  const timeout = checkObject('options', options).timeout;
  if (timeout === undefined) return undefined;
  const ms = checkMs('timeout', timeout);
  return ms === Infinity ? undefined : ms;
}

function unique<F extends Future<any>>(futures: Iterable<F>): F[] {
  if (futures === null || typeof (futures as Partial<Iterable<F>>)?.[Symbol.iterator] !== 'function') {
    throw expected('futures', 'an iterable of Future objects', futures);
  }
  const list = [...new Set(futures)];
  for (const f of list) {
    if (!(f instanceof Future)) throw expected('futures', 'an iterable of Future objects', f);
  }
  return list;
}

/**
 * Yields each future (the Future object itself, not its result: mind that a
 * future is thenable) once, as it settles; futures already settled come
 * first. A future given twice is yielded once. Cancels nothing.
 *
 * @param futures - the futures to watch.
 * @param options - `timeout`: milliseconds, counted from this call, after
 * which the iterator throws `TimeoutError` (having yielded what settled in
 * time). Default: no limit.
 * @throws `TypeError` at once when `futures` is not an iterable of futures
 * or `timeout` is not a number of ms ≥ 0.
 *
 * @example
 * ```ts
 * for await (const f of asCompleted(futures, { timeout: 10_000 })) {
 *   if (f.state === 'fulfilled') console.log(await f);
 * }
 * ```
 *
 * @group Futures
 */
export function asCompleted<F extends Future<any>>(futures: Iterable<F>, options: { timeout?: number } = {}): AsyncIterableIterator<F> {
  const timeout = optionTimeout(options);
  const list = unique(futures);
  const ready: F[] = list.filter((f) => f.done());
  let remaining = list.length;
  let waiter: ((f: F | null) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  let closed = false;

  const onDone = (settled: Future<any>) => {
    const f = settled as F;
    if (closed) return;
    if (waiter !== undefined) {
      const w = waiter;
      waiter = undefined;
      w(f);
    } else ready.push(f);
  };
  for (const f of list) if (!f.done()) f.addDoneCallback(onDone);
  if (timeout !== undefined && ready.length < list.length) {
    timer = setTimeout(() => {
      timedOut = true;
      if (waiter !== undefined) {
        const w = waiter;
        waiter = undefined;
        w(null);
      }
    }, timeout);
  }
  const finish = (): IteratorResult<F> => {
    closed = true;
    clearTimeout(timer);
    return { value: undefined, done: true };
  };
  const timeoutError = () => {
    finish();
    return new TimeoutError(`${remaining} of ${list.length} futures did not settle within ${timeout} ms`, timeout!);
  };

  const iterator: AsyncIterableIterator<F> = {
    next(): Promise<IteratorResult<F>> {
      if (closed || remaining === 0) return Promise.resolve(finish());
      const f = ready.shift();
      if (f !== undefined) {
        remaining--;
        return Promise.resolve({ value: f, done: false });
      }
      if (timedOut) return Promise.reject(timeoutError());
      return new Promise((resolve, reject) => {
        waiter = (settled) => {
          if (settled === null) reject(timeoutError());
          else {
            remaining--;
            resolve({ value: settled, done: false });
          }
        };
      });
    },
    return(): Promise<IteratorResult<F>> {
      return Promise.resolve(finish());
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/**
 * Waits until `returnWhen` holds or `timeout` passes, and resolves with the
 * futures split into `done` and `notDone` as they stand then (Python's
 * `concurrent.futures.wait`). Cancels nothing and never rejects because a
 * future did.
 *
 * @param futures - the futures to wait for; a future given twice counts once.
 * @param options - `timeout`: milliseconds, counted from this call (default:
 * no limit); `returnWhen`: see {@link ReturnWhen} (default `'ALL_COMPLETED'`).
 * @returns `done`: the futures settled (fulfilled, rejected or cancelled);
 * `notDone`: the others.
 * @throws (as a rejected promise) `TypeError` for a bad `timeout` or `returnWhen`.
 *
 * @example
 * ```ts
 * const { done, notDone } = await wait(futures, { returnWhen: 'FIRST_EXCEPTION', timeout: 5_000 });
 * ```
 *
 * @group Futures
 */
export function wait<F extends Future<any>>(
  futures: Iterable<F>,
  options: { timeout?: number; returnWhen?: ReturnWhen } = {},
): Promise<{
  /** The futures settled (fulfilled, rejected or cancelled) when `wait` resolved. */
  done: Set<F>;
  /** The futures still pending or running when `wait` resolved. */
  notDone: Set<F>;
}> {
  let timeout: number | undefined;
  let list: F[];
  const returnWhen = (options as { returnWhen?: unknown } | null)?.returnWhen ?? ALL_COMPLETED;
  try {
    timeout = optionTimeout(options);
    if (returnWhen !== ALL_COMPLETED && returnWhen !== FIRST_COMPLETED && returnWhen !== FIRST_EXCEPTION) {
      throw expected('returnWhen', "'ALL_COMPLETED', 'FIRST_COMPLETED' or 'FIRST_EXCEPTION'", returnWhen);
    }
    list = unique(futures);
  } catch (err) {
    return Promise.reject(err);
  }
  const split = () => {
    const done = new Set<F>();
    const notDone = new Set<F>();
    for (const f of list) (f.done() ? done : notDone).add(f);
    return { done, notDone };
  };
  let pending = 0;
  for (const f of list) {
    if (!f.done()) pending++;
    else if (returnWhen === FIRST_COMPLETED || (returnWhen === FIRST_EXCEPTION && f.state === 'rejected')) {
      return Promise.resolve(split());
    }
  }
  if (pending === 0) return Promise.resolve(split());
  return new Promise((resolve) => {
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const end = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      resolve(split());
    };
    const onDone = (settled: Future<any>) => {
    const f = settled as F;
      pending--;
      if (pending === 0 || returnWhen === FIRST_COMPLETED || (returnWhen === FIRST_EXCEPTION && f.state === 'rejected')) end();
    };
    for (const f of list) if (!f.done()) f.addDoneCallback(onDone);
    if (timeout !== undefined) timer = setTimeout(end, timeout);
  });
}
