// Every option, typed and documented in one place: what a user passes to a
// pool, `submit`, the map family and `shutdown`. The checks that turn that
// input into the filled-in options the engines trust are in
// ./option-checks.ts, re-exported here so that a module takes everything
// about options from this one.

import type { TransferListItem } from './types.js';

export * from './option-checks.js';

/**
 * Options of `ProcessPool`, `ThreadPool` and `LocalPool` (RemotePool has its
 * own: {@link RemotePoolOptions}). Every option is checked when the pool is
 * made: a bad value throws a `TypeError` or `RangeError` that says what was
 * expected and what arrived. Times are in milliseconds; a limit longer than
 * a Node timer can wait (2³¹−1 ms, about 24.8 days) means no limit.
 *
 * `LocalPool` accepts every option, and those that concern processes or
 * threads (`minWorkers`, `idleTimeout`, `maxTasksPerWorker`, `startTimeout`,
 * `env`, `execArgv`, `cwd`, `maxMemoryMb`) have no effect there, so a pool
 * can change backend by changing one word. `ThreadPool` refuses `cwd`.
 *
 * @typeParam Name - the task names of the module, so that `initializer` is checked.
 *
 * @group Options
 */
export interface PoolOptions<Name extends string = string> {
  /**
   * Most workers (processes or threads) alive at once; LocalPool: most tasks
   * running at once. An integer ≥ 1.
   *
   * @defaultValue `os.availableParallelism()`
   */
  workers?: number;
  /**
   * The pool's name in the `warmpool:worker` messages it publishes on
   * `node:diagnostics_channel` (`pool`). A non-empty string.
   *
   * @defaultValue `warmpool-<n>`, n counting the pools made in this process
   */
  name?: string;
  /**
   * Workers kept started and warm. They are started when the pool is made
   * (`ready()` tells when they are warm); more, up to `workers`, start when
   * tasks wait. An integer from 0 to `workers`.
   *
   * @defaultValue `workers`
   */
  minWorkers?: number;
  /**
   * Milliseconds a worker above `minWorkers` may stay idle before it is
   * stopped. Its clock starts when it finishes its last task. A number ≥ 0
   * or `Infinity`.
   *
   * @defaultValue `Infinity` (idle workers are kept)
   */
  idleTimeout?: number;
  /**
   * Retire a worker after it has been given this many tasks (a map chunk
   * counts as one), to bound leaks in task code. Its replacement is started
   * when it is given its last task, so it is warm when needed. An integer
   * ≥ 1 or `Infinity`.
   *
   * @defaultValue `Infinity` (never retired)
   */
  maxTasksPerWorker?: number;
  /**
   * Name of a function export run once in each new worker, with `initArgs`,
   * before its first task; it may be async and is awaited. A worker whose
   * initializer throws does not start: `ready()` and the tasks waiting for
   * it fail with `WorkerStartError`. LocalPool runs it once per pool.
   *
   * @defaultValue `undefined`
   */
  initializer?: Name;
  /**
   * Arguments of `initializer`, sent by structured clone.
   *
   * @defaultValue `[]`
   */
  initArgs?: readonly unknown[];
  /**
   * Most tasks waiting for a worker. A `submit` that would make more wait
   * throws `QueueFullError` at once; tasks handed to a worker do not count.
   * An integer ≥ 0 or `Infinity`.
   *
   * @defaultValue `Infinity`
   */
  maxQueued?: number;
  /**
   * Default per-task timeout, in milliseconds. The clock starts when a
   * worker starts the task, never while it waits in the queue. On expiry the
   * future rejects with `TimeoutError` and the worker is stopped (after
   * `cancelGrace`) and replaced; LocalPool cannot stop synchronous code and
   * only rejects the future and aborts `taskSignal()`. A number ≥ 0 or
   * `Infinity`; `submit` and the map family can override it per call.
   *
   * @defaultValue `Infinity` (no limit)
   */
  timeout?: number;
  /**
   * Milliseconds a running task has, after its `taskSignal()` is aborted by
   * cancel or timeout, to end by itself before its worker is stopped. The
   * clock starts at the abort. A task that ends in time keeps its worker
   * warm; the future does not wait for the grace (it rejects at once). A
   * number from 0 to 2³¹−1.
   *
   * @defaultValue `0` (the worker is stopped at once)
   */
  cancelGrace?: number;
  /**
   * Milliseconds a new worker has to import the module and run the
   * initializer. The clock starts when the worker is started (ThreadPool:
   * when the pool first sees the new thread). Past it the worker is stopped
   * and counts as failing to start (`WorkerStartError`). A number ≥ 0 or
   * `Infinity`. An extension: the contract does not name it.
   *
   * @defaultValue `60000`
   */
  startTimeout?: number;
  /**
   * The workers' whole environment: it replaces the parent's, as in
   * `child_process`. ThreadPool: each thread's own `process.env`.
   *
   * @defaultValue the parent's `process.env`
   */
  env?: NodeJS.ProcessEnv;
  /**
   * Node flags of each worker; given, they replace the inherited ones
   * (spread `process.execArgv` to extend them). ThreadPool: flags Node
   * accepts in a worker thread, tried when the pool is made (a refused flag
   * throws Node's own error from the constructor).
   *
   * @defaultValue the parent's module-loading and V8 flags (`--import`, `-r`,
   * `--conditions`, `--max-old-space-size`, ...; the list is in docs/guide.md),
   * so a loader such as `--import tsx` reaches the workers
   */
  execArgv?: readonly string[];
  /**
   * Working directory of worker processes: a path or a `file:` URL.
   * ThreadPool refuses it (threads share the process's directory).
   *
   * @defaultValue the parent's `process.cwd()`
   */
  cwd?: string | URL;
  /**
   * Heap limit per worker, in MB (V8's old space: `--max-old-space-size`
   * for processes, `resourceLimits.maxOldGenerationSizeMb` for threads). A
   * worker that exceeds it dies: its task fails with `WorkerCrashedError`
   * and it is replaced. An integer ≥ 1.
   *
   * @defaultValue `undefined` (V8's own limit)
   */
  maxMemoryMb?: number;
}

/**
 * Options of one `submit` call. Each overrides the pool's for this task.
 *
 * @group Options
 */
export interface SubmitOptions extends ProgressOptions {
  /**
   * Timeout of this task, in milliseconds. The clock starts when a worker
   * starts the task, not at `submit`. A number ≥ 0 or `Infinity`.
   *
   * @defaultValue the pool's `timeout`
   */
  timeout?: number;
  /**
   * Aborting it is the same as `future.cancel()`; an already-aborted signal
   * gives an already-cancelled future.
   *
   * @defaultValue `undefined`
   */
  signal?: AbortSignal;
  /**
   * ArrayBuffers (and MessagePorts) to move to the worker rather than copy.
   * ThreadPool only: the caller's buffers are detached once the task is
   * dispatched (the microtask after `submit`). Other backends ignore it.
   *
   * @defaultValue `undefined` (everything is copied)
   */
  transfer?: readonly TransferListItem[];
  /**
   * Higher runs first; equal priorities run in submission order. A finite
   * number. RemotePool rounds it to an integer within ±(2²⁰−1), BullMQ's range.
   *
   * @defaultValue `0`
   */
  priority?: number;
}

/**
 * Options of `map`, `starmap`, `imap` and `imapUnordered`.
 *
 * @group Options
 */
export interface MapOptions {
  /**
   * Items per message to a worker. An integer ≥ 1. Left out, the pool
   * chooses it: the first chunks hold one item; then the item run time
   * measured in the worker sets the size so that each chunk carries about
   * 4 ms of work, capped so that every worker still gets a share of what is
   * left.
   *
   * @defaultValue `undefined` (chosen by the pool)
   */
  chunksize?: number;
  /**
   * Per-item timeout, in milliseconds; each item's clock starts when a
   * worker starts it. Items in one chunk share their budgets: a chunk of `n`
   * items may run `n × timeout` (set `chunksize: 1` for a strict per-item
   * limit). A chunk that overruns fails the call with `TimeoutError`.
   *
   * @defaultValue the pool's `timeout`
   */
  timeout?: number;
  /**
   * Aborting it cancels the whole call: queued and running items; the
   * promise (or the loop) rejects with `CancelledError`.
   *
   * @defaultValue `undefined`
   */
  signal?: AbortSignal;
  /**
   * Most items in flight at once for this call. An integer ≥ 1 or `Infinity`.
   *
   * @defaultValue `Infinity` (items in flight are still bounded by the
   * read-ahead window: 4 chunks per worker, at least 16 items)
   */
  concurrency?: number;
  /**
   * Called as chunks complete, at most every 10 ms and once more at the end,
   * with the count of items done and the total (`undefined` when the
   * source's length cannot be known without reading it: generators, async
   * iterables).
   *
   * @defaultValue `undefined`
   */
  onProgress?: (done: number, total: number | undefined) => void;
}

/**
 * The progress option of `submit` and `pool.stream`.
 *
 * @group Options
 */
export interface ProgressOptions {
  /**
   * Called with each value the task passes to `reportProgress()` (from
   * `warmpool/task`), in order. Values that come faster than it handles them
   * (it runs again only once its promise, if it returns one, has settled) are
   * dropped but for the latest; the last value reported is always handed to
   * it before the future settles (or the stream ends). A callback that throws
   * is reported with `process.emitWarning`.
   *
   * @defaultValue `undefined` (progress is not sent)
   */
  onProgress?: (value: unknown) => unknown;
}

/**
 * Options of `pool.stream`.
 *
 * @group Options
 */
export interface StreamOptions extends ProgressOptions {
  /**
   * ms from the moment a worker starts the task to its last value (the
   * generator's end), including time the task spends waiting for the caller
   * to take values or to send messages.
   *
   * @defaultValue the pool's `timeout`
   */
  timeout?: number;
  /** Aborting it is the same as `stream.cancel()`. */
  signal?: AbortSignal;
  /**
   * Higher runs first; equal priorities run in submission order.
   *
   * @defaultValue `0`
   */
  priority?: number;
  /**
   * The window of both directions: at most this many values produced by the
   * task and not yet taken by the caller (the generator is not resumed
   * beyond it), and at most this many messages sent and not yet read by the
   * task (`send` waits beyond it). An integer >= 1.
   *
   * @defaultValue `16`
   */
  highWaterMark?: number;
}

/**
 * Options of `shutdown()`.
 *
 * @group Options
 */
export interface ShutdownOptions {
  /**
   * `true`: the promise resolves once every accepted task has finished (or
   * been cancelled) and every worker has exited. `false`: it resolves at
   * once, and the pool winds down in the background.
   *
   * @defaultValue `true`
   */
  wait?: boolean;
  /**
   * Cancel the tasks not yet started (their futures reject with
   * `CancelledError`). Running tasks are never stopped by `shutdown`: cancel
   * them with `future.cancel()`. RemotePool cancels only the jobs it can
   * still remove from Redis.
   *
   * @defaultValue `false`
   */
  cancelFutures?: boolean;
}
