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
import { checkMs, expected } from './options.js';

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

/** The engine's record of the task behind a future: what the future tells when the user cancels it, and what it knows of the run. */
export interface FutureOwner {
  /**
   * `wasRunning` tells whether a worker had started the task; `error` is the
   * CancelledError the future is about to reject with. Called before the
   * future settles.
   */
  onCancel(wasRunning: boolean, error: CancelledError): void;
  /** The run time measured in the worker, ms; 0 until known. */
  readonly runTime: number;
}

/**
 * A function `addDoneCallback` calls with the settled future.
 * @inline
 */
type DoneCallback<R> = (future: Future<R>) => void;

// Assigned by Future's static block, which runs when this module loads.

export let futureInternals: FutureInternals;

function reportCallbackError(err: unknown): void {
  process.emitWarning(`A done callback threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, {
    type: 'WarmpoolWarning',
    code: 'WARMPOOL_CALLBACK_ERROR',
  });
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

  private constructor(owner: FutureOwner | undefined) {
    this.#owner = owner;
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
    const error = new CancelledError();
    this.#owner?.onCancel(state === 'running', error);
    this.#settle('cancelled', undefined, error);
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
      create: <T>(owner: FutureOwner | undefined) => new Future<T>(owner),
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
      ownerOf: (future) => future.#owner,
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
  create<T>(owner: FutureOwner | undefined): Future<T>;
  /** pending → running and true; cancelled → false (skip the task); anything else is a bug. */
  setRunningOrNotifyCancel(future: Future<any>): boolean;
  setResult<T>(future: Future<T>, value: T): boolean;
  setException(future: Future<any>, error: unknown): boolean;
  /** The engine's record given to `create`. */
  ownerOf(future: Future<any>): FutureOwner | undefined;
  /** The value of a fulfilled future, read without making a promise. */
  valueOf<T>(future: Future<T>): T | undefined;
}
