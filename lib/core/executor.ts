// The Executor contract every backend serves. A backend supplies an engine
// (queue, workers, dispatch); everything the user calls is here, once:
// argument checks, `submit`, the map family (./map.ts), `ready`, `stats`,
// `shutdown` and `Symbol.asyncDispose`.

import type { Future } from './future.js';
import { collect, iterate } from './map.js';
import { extraCompletedItems } from './map-items.js';
import { TaskKind, type Engine } from './contract.js';
import {
  expected,
  resolveMap,
  resolveShutdown,
  resolveStream,
  resolveSubmit,
  type MapOptions,
  type ResolvedSubmitOptions,
  type ShutdownOptions,
  type StreamOptions,
  type SubmitOptions,
} from './options.js';
import type { TaskStream } from './stream.js';
import type { PoolStats } from './stats.js';
import type {
  AnyTasks,
  ArgsAndOptions,
  StreamArgs,
  StreamingExecutor,
  StreamMessage,
  StreamTaskName,
  StreamValue,
  TaskArgs,
  TaskItem,
  TaskName,
  TaskResult,
} from './types.js';

/**
 * Items of the map family: any iterable or async iterable, read lazily.
 * @inline
 */
type Items<T> = Iterable<T> | AsyncIterable<T>;

const NO_ARGS: readonly unknown[] = Object.freeze([]);

/**
 * @internal The engine behind a pool, for `warmpool worker`, which hands a
 * map chunk that arrived from Redis to its local pool as a chunk. Not exported
 * by the package.
 */
export let engineOf: (executor: Executor<any>) => Engine;

/**
 * The contract every pool serves, whatever runs the tasks: `submit`, the map
 * family, `ready`, `stats` and `shutdown`. Not made directly: use
 * `ProcessPool`, `ThreadPool`, `LocalPool` or `RemotePool`, or type a
 * parameter as `Executor<typeof tasks>` to accept any of them.
 *
 * @typeParam M - the task module's type (`typeof import('./tasks.js')`), which
 * checks task names, arguments and results. Left out, any name is accepted
 * and results are `any`.
 *
 * @group Pools
 */
export abstract class Executor<M extends object = AnyTasks> implements StreamingExecutor<M> {
  readonly #engine: Engine;
  readonly #timeout: number;
  /** The filled-in options of a `submit` without options, made once. */
  readonly #defaults: ResolvedSubmitOptions;

  readonly #name: string;

  protected constructor(engine: Engine, timeout: number, name: string) {
    this.#engine = engine;
    this.#name = name;
    this.#timeout = timeout;
    this.#defaults = Object.freeze(resolveSubmit(undefined, timeout));
  }

  /**
   * The pool's `name` option (default `warmpool-<n>`), as its messages on
   * `warmpool:task` and `warmpool:worker` carry it: how a subscriber, the
   * CLI's `--stats` or `instrument({ pools })` finds this pool's messages.
   */
  get name(): string {
    return this.#name;
  }

  /**
   * Runs `name(...args)` in a worker: called as `submit(name, args?, options?)`.
   * `args` is the argument list (left out only when the task has no
   * required parameter); `options` are {@link SubmitOptions} (`timeout`,
   * `signal`, `transfer`, `priority`).
   *
   * Every failure of the task rejects the future: its own error (built-in
   * classes such as `TypeError` come back as those classes, others as an
   * `Error` with the same `name`, `message`, `code`, `cause` and own
   * properties), `TimeoutError`, `CancelledError`, `WorkerCrashedError`,
   * `WorkerStartError`, `TaskNotFoundError`, `DataCloneError`.
   *
   * @param name - the task: the name of a function export of the module.
   * @param argsAndOptions - `args`, the argument list (may be left out only
   * when the task has no required parameter), then `options`, {@link SubmitOptions}.
   * @returns a {@link Future} of the task's result (unwrapped if it returns a promise).
   * @throws `PoolClosedError` after `shutdown()`, `QueueFullError` beyond
   * `maxQueued`, and `TypeError`/`RangeError` for a bad argument: at once,
   * making no future.
   *
   * @example
   * ```ts
   * const f = pool.submit('fib', [30], { timeout: 1_000, priority: 1 });
   * console.log(await f); // 832040
   * ```
   */
  submit<K extends TaskName<M>>(name: K, ...argsAndOptions: ArgsAndOptions<TaskArgs<M, K>, SubmitOptions>): Future<TaskResult<M, K>>;
  // The implementation takes plain parameters: a rest parameter would cost an array per call.
  submit(name: string, args?: readonly unknown[], options?: SubmitOptions): Future<any> {
    if (typeof name !== 'string') throw expected('name', 'the name of an exported task (a string)', name);
    if (args !== undefined && !Array.isArray(args)) throw expected('args', 'an array of arguments', args);
    const o = options === undefined ? this.#defaults : resolveSubmit(options, this.#timeout);
    if (o.onProgress === undefined) return this.#engine.submit(name, args ?? NO_ARGS, TaskKind.Call, o);
    // A job's progress would need its own Redis stream per task (docs/design.md, "Streams, progress and sessions").
    if (!this.#engine.channels) {
      throw new TypeError(
        `Expected no \`onProgress\` on ${this.constructor.name}, got a function: ${this.constructor.name} does not carry progress; ProcessPool, ThreadPool and LocalPool do`,
      );
    }
    return this.#engine.submit(name, args ?? NO_ARGS, TaskKind.Progress, o);
  }

  /**
   * Runs generator task `name(...args)` in a worker and gives its values as
   * they come: an async iterable that holds the generator at most
   * `highWaterMark` values ahead of what the caller has taken, with `send()`
   * for messages the task reads with `taskMessages()`, `end()`, `cancel()`
   * and `done`. Called as `stream(name, args?, options?)`. ProcessPool,
   * ThreadPool and LocalPool carry streams; RemotePool throws a TypeError at
   * once (see the guide's decision).
   *
   * @example
   * ```ts
   * for await (const row of pool.stream('rows', [path])) console.log(row);
   * ```
   */
  stream<K extends StreamTaskName<M>>(
    name: K,
    ...argsAndOptions: ArgsAndOptions<StreamArgs<M, K>, StreamOptions>
  ): TaskStream<StreamValue<M, K>, StreamMessage<M, K>>;
  stream(name: string, args?: readonly unknown[], options?: StreamOptions): TaskStream<any, any> {
    if (typeof name !== 'string') throw expected('name', 'the name of an exported generator task (a string)', name);
    if (args !== undefined && !Array.isArray(args)) throw expected('args', 'an array of arguments', args);
    const o = resolveStream(options ?? {}, this.#timeout);
    if (!this.#engine.channels) {
      throw new TypeError(
        `Expected a pool that carries streams, got ${this.constructor.name}: ${this.constructor.name} does not carry pool.stream; ProcessPool, ThreadPool and LocalPool do`,
      );
    }
    return this.#engine.stream(name, args ?? NO_ARGS, o, o.highWaterMark);
  }

  /**
   * Runs `name(item)` for every item and resolves with the results in input
   * order. Items travel to the workers in chunks (see `chunksize`); an
   * iterable or async iterable is read lazily, a bounded window ahead.
   *
   * The first failing item seen rejects the call with that item's error,
   * whose non-enumerable `index` is the item's input position (unless the
   * error already has an `index`); chunks not yet started are cancelled,
   * running ones finish and their results are dropped.
   *
   * @param name - the task, called with one item as its only argument.
   * @param items - any iterable or async iterable.
   * @param options - {@link MapOptions}: `chunksize`, `timeout` (per item),
   * `signal`, `concurrency`, `onProgress`.
   *
   * @example
   * ```ts
   * await pool.map('fib', [10, 20, 30]); // [55, 6765, 832040]
   * ```
   */
  map<K extends TaskName<M>>(name: K, items: Items<TaskItem<M, K>>, options?: MapOptions): Promise<TaskResult<M, K>[]> {
    return this.#run(name, items, false, options) as Promise<TaskResult<M, K>[]>;
  }

  /**
   * As `map`, but each item is an argument list: runs `name(...args)` for
   * every `args` and resolves with the results in input order.
   *
   * @param name - the task.
   * @param argLists - any iterable or async iterable of argument lists.
   * @param options - {@link MapOptions}, as for `map`.
   *
   * @example
   * ```ts
   * await pool.starmap('add', [[1, 2], [3, 4]]); // [3, 7]
   * ```
   */
  starmap<K extends TaskName<M>>(name: K, argLists: Items<TaskArgs<M, K>>, options?: MapOptions): Promise<TaskResult<M, K>[]> {
    return this.#run(name, argLists, true, options) as Promise<TaskResult<M, K>[]>;
  }

  /**
   * Lazy `map`: an async iterator of the results in input order. It reads
   * at most a window of items ahead of what the loop has consumed (4 chunks
   * per worker, at least 16 items), so an infinite or async source is never
   * read far ahead; leaving the loop stops reading and closes the source.
   * A failure is thrown from `next()` as `map` would reject.
   *
   * @param name - the task, called with one item as its only argument.
   * @param items - any iterable or async iterable, infinite ones included.
   * @param options - {@link MapOptions}, as for `map`.
   *
   * @example
   * ```ts
   * for await (const n of pool.imap('fib', numbers())) console.log(n);
   * ```
   */
  imap<K extends TaskName<M>>(name: K, items: Items<TaskItem<M, K>>, options?: MapOptions): AsyncIterableIterator<TaskResult<M, K>> {
    return this.#iterate(name, items, true, options) as AsyncIterableIterator<TaskResult<M, K>>;
  }

  /**
   * Lazy `map` in completion order: as `imap`, but each result is yielded
   * as soon as its chunk returns.
   *
   * @param name - the task, called with one item as its only argument.
   * @param items - any iterable or async iterable, infinite ones included.
   * @param options - {@link MapOptions}, as for `map`.
   */
  imapUnordered<K extends TaskName<M>>(
    name: K,
    items: Items<TaskItem<M, K>>,
    options?: MapOptions,
  ): AsyncIterableIterator<TaskResult<M, K>> {
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

  /**
   * Resolves when `minWorkers` workers have started, imported the module
   * and run the initializer. Not needed before `submit` (tasks wait for a
   * worker); useful to pay the start before the first call, or to learn
   * early that the module cannot load. RemotePool: when its connection to
   * Redis is up. LocalPool: when the module is imported and the initializer
   * has run.
   *
   * @throws (as a rejected promise) `WorkerStartError` when a worker cannot
   * start: the module or initializer threw, or `startTimeout` passed.
   * RemotePool: `BrokerError` when it cannot connect to Redis.
   */
  ready(): Promise<void> {
    return this.#engine.ready();
  }

  /**
   * Resolves when nothing is queued or running (p-queue's name): every
   * accepted task has settled. Tasks submitted later are not waited for.
   */
  onIdle(): Promise<void> {
    return this.#engine.onIdle();
  }

  /**
   * A snapshot of the pool: workers, busy, idle, queued; the outcome counts
   * over its life; run and wait time percentiles in ms. See {@link PoolStats}.
   * `completed` counts calls and map items that returned a value (a chunk of
   * 16 items counts 16); the other outcome counts, and the run and wait
   * times, count tasks, a map chunk being one task.
   */
  stats(): PoolStats {
    const s = this.#engine.stats();
    s.completed += extraCompletedItems(this.#engine);
    return s;
  }

  /**
   * Stops accepting tasks (`submit` then throws `PoolClosedError`), lets
   * the accepted ones finish, then stops the workers. Running tasks are
   * never stopped by it: cancel them with `future.cancel()`, or have them
   * time out.
   *
   * @param options - {@link ShutdownOptions}: `wait` (default `true`):
   * resolve only once every accepted task has finished and every worker has
   * exited; `cancelFutures` (default `false`): cancel the tasks not yet started.
   */
  shutdown(options?: ShutdownOptions): Promise<void> {
    try {
      const o = resolveShutdown(options);
      return this.#engine.shutdown(o.wait, o.cancelFutures);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * `await using pool = new ProcessPool(...)`: `shutdown()` (waiting for the
   * accepted tasks) at the end of the block. Node 24 and later run
   * `await using` natively; on Node 20 and 22, TypeScript must downlevel it
   * (or call `shutdown()` yourself).
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  static {
    engineOf = (executor) => executor.#engine;
  }
}
