// Bookkeeping every engine shares: what becomes of a task once it is accepted
// (its signal watched, then released), and the outcome counts and timings
// behind stats(). Functions and a plain class rather than a base class, so
// each engine keeps its own fields private.

import { futureInternals, type Future, type FutureOwner } from './future.js';
import type { TaskQueue } from './queue.js';
import { Distribution, type PoolStats } from './stats.js';

/** The fields of an engine's task record that the shared parts use. */
export interface TrackedTask {
  where: string;
  args: readonly unknown[];
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  future: Future<any>;
}

const NO_ARGS: readonly unknown[] = Object.freeze([]);

/**
 * An aborting signal cancels the task's future, as cancel() would. Returns
 * false when the signal had already aborted: the future is then cancelled.
 */
export function watchSignal(task: TrackedTask): boolean {
  const signal = task.signal;
  if (signal === undefined) return true;
  const future = task.future;
  if (signal.aborted) {
    future.cancel();
    return false;
  }
  task.onAbort = () => future.cancel();
  signal.addEventListener('abort', task.onAbort, { once: true });
  return true;
}

/**
 * Accepts a task: makes its future, queues it, watches its signal. Returns
 * false when the signal had already aborted (the future is then cancelled
 * and there is nothing to dispatch).
 */
export function enqueue<T extends TrackedTask & { readonly priority: number }>(owner: FutureOwner, queue: TaskQueue<T>, task: T): boolean {
  task.future = futureInternals.create<unknown>(owner, task);
  queue.push(task);
  return watchSignal(task);
}

/** shutdown({ cancelFutures }): cancels every queued task. */
export function cancelQueued<T extends TrackedTask & { readonly priority: number }>(queue: TaskQueue<T>): void {
  for (const task of drainQueue(queue)) task.future.cancel();
}

/** Callers of shutdown({ wait: true }) waiting for the engine to be drained. */
export class Waiters {
  #list: (() => void)[] = [];

  get any(): boolean {
    return this.#list.length > 0;
  }

  wait(): Promise<void> {
    return new Promise<void>((resolve) => this.#list.push(resolve));
  }

  release(): void {
    const list = this.#list;
    this.#list = [];
    for (const resolve of list) resolve();
  }
}

/** Out of the engine's hands: marked gone, its arguments let go, its signal no longer watched. */
export function releaseTask(task: TrackedTask): void {
  if (task.where === 'gone') return;
  task.where = 'gone';
  task.args = NO_ARGS;
  if (task.onAbort !== undefined) {
    task.signal!.removeEventListener('abort', task.onAbort);
    task.onAbort = undefined;
  }
}

/**
 * Takes every live task out of `queue`, each released (gone) before the
 * caller settles any: settling one runs its done callbacks, which may cancel
 * another, and that one must not be counted out of the queue a second time.
 */
export function drainQueue<T extends TrackedTask & { readonly priority: number }>(queue: TaskQueue<T>): T[] {
  const tasks = queue.drain();
  for (const task of tasks) releaseTask(task);
  return tasks;
}

/**
 * Measured run time per task name (calls only): what the engines' batching
 * decisions rest on. A moving average, so a task that changes speed is
 * followed within a few calls.
 */
export class Costs {
  readonly #means = new Map<string, { mean: number }>();

  /** The mean run time of `name` in ms; Infinity when never measured. */
  of(name: string): number {
    return this.#means.get(name)?.mean ?? Infinity;
  }

  add(name: string, runTime: number): void {
    const cost = this.#means.get(name);
    if (cost === undefined) this.#means.set(name, { mean: runTime });
    else cost.mean += (runTime - cost.mean) * 0.2;
  }
}

/** Outcome counts (disjoint) and run/wait time distributions. */
export class Outcomes {
  readonly counts = { completed: 0, failed: 0, cancelled: 0, timedOut: 0, crashed: 0 };
  readonly runTime = new Distribution();
  readonly waitTime = new Distribution();

  /** Settles a task that failed without running to an end of its own, counting it. */
  fail(task: TrackedTask, error: unknown, count: 'failed' | 'crashed'): void {
    // Already settled: cancelled by a done callback of a task failed just before it.
    if (task.future.done()) return releaseTask(task);
    this.counts[count]++;
    releaseTask(task);
    futureInternals.setException(task.future, error);
  }

  stats(workers: number, busy: number, idle: number, queued: number): PoolStats {
    return { workers, busy, idle, queued, ...this.counts, runTime: this.runTime.summary(), waitTime: this.waitTime.summary() };
  }
}
