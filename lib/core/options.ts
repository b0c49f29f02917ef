// Every option, typed and documented in one place, and the checks that turn
// user input into the filled-in options the engines trust. Messages say what
// was expected and what arrived, as p-limit and p-queue do.

import { availableParallelism } from 'node:os';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TransferListItem } from './types.js';

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
export interface SubmitOptions {
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

/** The filled-in options of `shutdown()`. */
export function resolveShutdown(input: unknown): { wait: boolean; cancelFutures: boolean } {
  const o = checkObject('options', input);
  checkKeys(o, SHUTDOWN_KEYS);
  if (o.wait !== undefined && typeof o.wait !== 'boolean') throw expected('wait', 'a boolean', o.wait);
  if (o.cancelFutures !== undefined && typeof o.cancelFutures !== 'boolean') throw expected('cancelFutures', 'a boolean', o.cancelFutures);
  return { wait: o.wait !== false, cancelFutures: o.cancelFutures === true };
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

/** The keys of each options object, as typed above. */
export const POOL_KEYS: ReadonlySet<string> = new Set([
  'name', 'workers', 'minWorkers', 'idleTimeout', 'maxTasksPerWorker', 'initializer', 'initArgs', 'maxQueued',
  'timeout', 'cancelGrace', 'startTimeout', 'env', 'execArgv', 'cwd', 'maxMemoryMb',
]);
export const SUBMIT_KEYS: ReadonlySet<string> = new Set(['timeout', 'signal', 'transfer', 'priority']);
export const MAP_KEYS: ReadonlySet<string> = new Set(['chunksize', 'timeout', 'signal', 'concurrency', 'onProgress']);
export const SHUTDOWN_KEYS: ReadonlySet<string> = new Set(['wait', 'cancelFutures']);

/** Edit distance with adjacent transpositions (optimal string alignment): `tiemout` is 1 from `timeout`. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0][j] = j;
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2][j - 2] + 1);
      rows[i][j] = d;
    }
  }
  return rows[a.length][b.length];
}

/** The known key nearest to `key`, if it is near enough to be a slip of the keyboard. */
export function nearest(key: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === key.toLowerCase() ? 0.5 : editDistance(key, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

/**
 * Refuses a key of `o` that is not in `known`, naming the nearest known key
 * (``Unknown option `wokers`; did you mean `workers`?``) or, when none is
 * near, every known key. A misspelled option silently ignored would leave
 * its default in force. `hint` explains where a key that belongs elsewhere
 * goes. Keys are read as the option checks read them, inherited ones too.
 */
export function checkKeys(o: object, known: ReadonlySet<string>, hint?: (key: string) => string | undefined): void {
  for (const key in o) {
    if (!known.has(key)) throw unknownOption(key, known, hint?.(key));
  }
}

function unknownOption(key: string, known: ReadonlySet<string>, hint: string | undefined): TypeError {
  const near = nearest(key, known);
  const help = hint ?? (near !== undefined ? `did you mean \`${near}\`?` : `the options are: ${[...known].map((k) => `\`${k}\``).join(', ')}`);
  return new TypeError(`Unknown option \`${key}\`; ${help}`);
}

function describe(value: unknown): string {
  let shown: string;
  try {
    shown = typeof value === 'string' ? value : typeof value === 'bigint' ? `${value}n` : String(value);
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  return `\`${shown}\` (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
}

export function expected(name: string, what: string, value: unknown): TypeError {
  return new TypeError(`Expected \`${name}\` to be ${what}, got ${describe(value)}`);
}

/** The start options of processes and threads: `execArgv` and `env`, checked. */
export function checkStartOptions(o: Record<string, unknown>): { execArgv: string[] | undefined; env: NodeJS.ProcessEnv | undefined } {
  if (o.execArgv !== undefined && !(Array.isArray(o.execArgv) && o.execArgv.every((a) => typeof a === 'string'))) {
    throw expected('execArgv', 'an array of strings', o.execArgv);
  }
  if (o.env !== undefined && (typeof o.env !== 'object' || o.env === null)) throw expected('env', 'an object', o.env);
  return { execArgv: o.execArgv === undefined ? undefined : [...(o.execArgv)], env: o.env as NodeJS.ProcessEnv | undefined };
}

/** An integer >= min, or Infinity when allowed. */
export function checkInteger(name: string, value: unknown, min: number, allowInfinity = false): number {
  if (typeof value === 'number' && ((Number.isInteger(value) && value >= min) || (allowInfinity && value === Infinity))) return value;
  throw expected(name, `an integer >= ${min}${allowInfinity ? ' or Infinity' : ''}`, value);
}

/** Node's timers cannot wait longer; a longer delay fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A number of ms >= 0, or Infinity when allowed. A limit longer than a timer
 * can wait (about 24.8 days) is taken as no limit at all, rather than the 1 ms
 * Node's setTimeout would turn it into.
 */
export function checkMs(name: string, value: unknown, allowInfinity = true): number {
  if (typeof value === 'number' && value >= 0 && (allowInfinity || value <= MAX_TIMER_MS)) {
    return value > MAX_TIMER_MS ? Infinity : value;
  }
  throw expected(name, `a number of ms >= 0${allowInfinity ? ' or Infinity' : ` and <= ${MAX_TIMER_MS}`}`, value);
}

export function checkSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value;
  throw expected(name, 'an AbortSignal', value);
}

export function checkObject(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value === 'object' && value !== null) return value as Record<string, unknown>;
  throw expected(name, 'an object', value);
}

/** The task module as a file: URL string. */
export function moduleHref(module: unknown): string {
  const what = 'a file: URL, an absolute path or a file: URL string';
  if (typeof module === 'string' && isAbsolute(module)) return pathToFileURL(module).href;
  let url: URL | undefined;
  if (module instanceof URL) url = module;
  else if (typeof module === 'string' && URL.canParse(module) && /^[a-z][a-z\d+.-]+:/i.test(module)) url = new URL(module);
  if (url?.protocol === 'file:') return url.href;
  if (url !== undefined) {
    // Workers import the module from disk; Node's loader refuses http: and
    // https:, and a data: module would be sent to every worker as source.
    // Said now rather than by every worker's start.
    throw new TypeError(`${expected('module', what, module).message}: workers import the task module from a file, so ${url.protocol} is not supported; save it to a file first`);
  }
  if (typeof module === 'string') {
    // A relative path would be resolved against the working directory, not
    // against the file that names it: the module would be found or not
    // depending on where the program was started.
    const shown = module.startsWith('.') ? module : `./${module}`;
    throw new TypeError(
      `${expected('module', what, module).message}: a relative path would depend on the working directory; ` +
        `resolve it against your file with \`new URL('${shown}', import.meta.url)\``,
    );
  }
  throw expected('module', what, module);
}

/** Options every backend shares, filled in. */
let poolCount = 0;
/** `warmpool-<n>`, for pools not given a `name`. */
export function defaultPoolName(): string {
  return `warmpool-${++poolCount}`;
}

export interface CommonOptions {
  name: string;
  workers: number;
  minWorkers: number;
  idleTimeout: number;
  maxTasksPerWorker: number;
  initializer: string | null;
  initArgs: readonly unknown[];
  maxQueued: number;
  timeout: number;
  cancelGrace: number;
  startTimeout: number;
}

export function resolveCommon(input: unknown): CommonOptions {
  const o = checkObject('options', input);
  checkKeys(o, POOL_KEYS);
  const workers = o.workers === undefined ? availableParallelism() : checkInteger('workers', o.workers, 1);
  const minWorkers = o.minWorkers === undefined ? workers : checkInteger('minWorkers', o.minWorkers, 0);
  if (minWorkers > workers) {
    throw new RangeError(`Expected \`minWorkers\` to be at most \`workers\` (${workers}), got \`${minWorkers}\` (number)`);
  }
  if (o.initializer !== undefined && typeof o.initializer !== 'string') throw expected('initializer', 'the name of an export (a string)', o.initializer);
  if (o.initArgs !== undefined && !Array.isArray(o.initArgs)) throw expected('initArgs', 'an array', o.initArgs);
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length === 0)) throw expected('name', 'a non-empty string', o.name);
  return {
    name: o.name ?? defaultPoolName(),
    workers,
    minWorkers,
    idleTimeout: o.idleTimeout === undefined ? Infinity : checkMs('idleTimeout', o.idleTimeout),
    maxTasksPerWorker: o.maxTasksPerWorker === undefined ? Infinity : checkInteger('maxTasksPerWorker', o.maxTasksPerWorker, 1, true),
    initializer: (o.initializer) ?? null,
    initArgs: (o.initArgs as unknown[] | undefined) ?? [],
    maxQueued: o.maxQueued === undefined ? Infinity : checkInteger('maxQueued', o.maxQueued, 0, true),
    timeout: o.timeout === undefined ? Infinity : checkMs('timeout', o.timeout),
    cancelGrace: o.cancelGrace === undefined ? 0 : checkMs('cancelGrace', o.cancelGrace, false),
    startTimeout: o.startTimeout === undefined ? 60_000 : checkMs('startTimeout', o.startTimeout),
  };
}

/** The filled-in per-task options. */
export interface ResolvedSubmitOptions {
  priority: number;
  timeout: number;
  signal: AbortSignal | undefined;
  transfer: readonly TransferListItem[] | undefined;
}

export function resolveSubmit(input: unknown, poolTimeout: number): ResolvedSubmitOptions {
  if (input === undefined) return { priority: 0, timeout: poolTimeout, signal: undefined, transfer: undefined };
  const o = checkObject('options', input);
  checkKeys(o, SUBMIT_KEYS);
  if (o.priority !== undefined && !(typeof o.priority === 'number' && Number.isFinite(o.priority))) {
    throw expected('priority', 'a finite number', o.priority);
  }
  if (o.transfer !== undefined && !Array.isArray(o.transfer)) throw expected('transfer', 'an array', o.transfer);
  return {
    priority: (o.priority) ?? 0,
    timeout: o.timeout === undefined ? poolTimeout : checkMs('timeout', o.timeout),
    signal: checkSignal('signal', o.signal),
    transfer: o.transfer as TransferListItem[] | undefined,
  };
}

export interface ResolvedMapOptions {
  chunksize: number | undefined;
  timeout: number;
  signal: AbortSignal | undefined;
  concurrency: number;
  onProgress: ((done: number, total: number | undefined) => void) | undefined;
}

export function resolveMap(input: unknown, poolTimeout: number): ResolvedMapOptions {
  const o = checkObject('options', input);
  checkKeys(o, MAP_KEYS);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw expected('onProgress', 'a function', o.onProgress);
  return {
    chunksize: o.chunksize === undefined ? undefined : checkInteger('chunksize', o.chunksize, 1),
    timeout: o.timeout === undefined ? poolTimeout : checkMs('timeout', o.timeout),
    signal: checkSignal('signal', o.signal),
    concurrency: o.concurrency === undefined ? Infinity : checkInteger('concurrency', o.concurrency, 1, true),
    onProgress: o.onProgress as ResolvedMapOptions['onProgress'],
  };
}
