// The Executor contract every backend serves. A backend supplies an engine
// (queue, workers, dispatch); everything the user calls is here, once:
// argument checks, `submit`, the map family (./map.ts), `ready`, `stats`,
// `shutdown` and `Symbol.asyncDispose`.

import type { Future } from './future.js';
import { collect, extraCompletedItems, iterate } from './map.js';
import { TaskKind } from './messages.js';
import {
  expected,
  resolveMap,
  resolveShutdown,
  resolveSubmit,
  type MapOptions,
  type ResolvedSubmitOptions,
  type ShutdownOptions,
  type SubmitOptions,
} from './options.js';
import type { Engine } from './scheduler.js';
import type { PoolStats } from './stats.js';
import type { AnyTasks, ArgsAndOptions, TaskArgs, TaskItem, TaskName, TaskResult } from './types.js';

type Items<T> = Iterable<T> | AsyncIterable<T>;

const NO_ARGS: readonly unknown[] = Object.freeze([]);

/**
 * @internal The engine behind a pool, for `warmpool worker`, which hands a
 * map chunk that arrived from Redis to its local pool as a chunk. Not exported
 * by the package.
 */
export let engineOf: (executor: Executor<any>) => Engine;

export abstract class Executor<M extends object = AnyTasks> {
  readonly #engine: Engine;
  readonly #timeout: number;
  /** The filled-in options of a `submit` without options, made once. */
  readonly #defaults: ResolvedSubmitOptions;

  protected constructor(engine: Engine, timeout: number) {
    this.#engine = engine;
    this.#timeout = timeout;
    this.#defaults = Object.freeze(resolveSubmit(undefined, timeout));
  }

  /**
   * Runs `name(...args)` in a worker. Throws at once, making no future, when
   * the pool is shut down (`PoolClosedError`) or its queue is full
   * (`QueueFullError`); every other failure rejects the future.
   */
  submit<K extends TaskName<M>>(name: K, ...argsAndOptions: ArgsAndOptions<TaskArgs<M, K>, SubmitOptions>): Future<TaskResult<M, K>>;
  // The implementation takes plain parameters: a rest parameter would cost an array per call.
  submit(name: string, args?: readonly unknown[], options?: SubmitOptions): Future<any> {
    if (typeof name !== 'string') throw expected('name', 'the name of an exported task (a string)', name);
    if (args !== undefined && !Array.isArray(args)) throw expected('args', 'an array of arguments', args);
    const o = options === undefined ? this.#defaults : resolveSubmit(options, this.#timeout);
    return this.#engine.submit(name, args ?? NO_ARGS, TaskKind.Call, o);
  }

  /** `name(item)` for every item; the results in input order. The first failure rejects and cancels what has not started. */
  map<K extends TaskName<M>>(name: K, items: Items<TaskItem<M, K>>, options?: MapOptions): Promise<TaskResult<M, K>[]> {
    return this.#run(name, items, false, options) as Promise<TaskResult<M, K>[]>;
  }

  /** `name(...args)` for every argument list; the results in input order. */
  starmap<K extends TaskName<M>>(name: K, argLists: Items<TaskArgs<M, K>>, options?: MapOptions): Promise<TaskResult<M, K>[]> {
    return this.#run(name, argLists, true, options) as Promise<TaskResult<M, K>[]>;
  }

  /** Lazy `map`: results in input order, reading at most a bounded window of items ahead of the loop. */
  imap<K extends TaskName<M>>(name: K, items: Items<TaskItem<M, K>>, options?: MapOptions): AsyncIterableIterator<TaskResult<M, K>> {
    return this.#iterate(name, items, true, options) as AsyncIterableIterator<TaskResult<M, K>>;
  }

  /** Lazy `map`: results in completion order. */
  imapUnordered<K extends TaskName<M>>(name: K, items: Items<TaskItem<M, K>>, options?: MapOptions): AsyncIterableIterator<TaskResult<M, K>> {
    return this.#iterate(name, items, false, options) as AsyncIterableIterator<TaskResult<M, K>>;
  }

  #run(name: unknown, items: unknown, spread: boolean, options: unknown): Promise<unknown[]> {
    try {
      if (typeof name !== 'string') throw expected('name', 'the name of an exported task (a string)', name);
      return collect(this.#engine, name, items as Items<unknown>, spread, resolveMap(options, this.#timeout));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #iterate(name: unknown, items: unknown, ordered: boolean, options: unknown): AsyncIterableIterator<unknown> {
    if (typeof name !== 'string') throw expected('name', 'the name of an exported task (a string)', name);
    return iterate(this.#engine, name, items as Items<unknown>, false, ordered, resolveMap(options, this.#timeout));
  }

  /** Resolves when `minWorkers` workers have started, imported the module and run the initializer; rejects with `WorkerStartError`. */
  ready(): Promise<void> {
    return this.#engine.ready();
  }

  /**
   * Counts and timings. `completed` counts calls and map items that returned
   * a value (a chunk of 16 items counts 16); the other outcome counts, and
   * the run and wait times, count tasks, a map chunk being one task.
   */
  stats(): PoolStats {
    const s = this.#engine.stats();
    s.completed += extraCompletedItems(this.#engine);
    return s;
  }

  /**
   * Stops accepting tasks. With `wait` (default), resolves once every accepted
   * task has finished and every worker has exited; `cancelFutures` cancels
   * the tasks not yet started.
   */
  shutdown(options?: ShutdownOptions): Promise<void> {
    try {
      const o = resolveShutdown(options);
      return this.#engine.shutdown(o.wait, o.cancelFutures);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** `await using pool = new ProcessPool(...)`: shuts down (waiting) at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  static {
    engineOf = (executor) => executor.#engine;
  }
}
