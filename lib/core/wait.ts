// asCompleted and wait: Python's concurrent.futures functions over Futures
// of any pool.

import { count, TimeoutError } from './errors.js';
import { Future } from './future.js';
import { checkMs, checkObject, expected } from './options.js';

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
    return new TimeoutError(`${remaining} of ${count(list.length, 'future')} did not settle within ${timeout} ms`, timeout!);
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
