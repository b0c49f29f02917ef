// Every error warmpool raises itself. Each class has a stable `name` (the
// class name, also after minification) and a stable `code`, so callers can
// branch on either without string-matching messages.

/**
 * Base of every error raised by warmpool itself (never of a task's own
 * error, which comes back as the task threw it). Catch it to tell the pool's
 * errors from the task's; branch on `code` or `instanceof` for the kind.
 *
 * Every subclass has a stable `name` (the class name, kept under
 * minification) and `code`, both on its prototype and so not enumerable, as
 * with the built-in errors.
 *
 * - `name`: `'WarmpoolError'` (each subclass: its own class name)
 * - `code`: `'ERR_WARMPOOL'` (each subclass: its own, below)
 *
 * @group Errors
 */
export class WarmpoolError extends Error {
  // Declared, not initialised: a class field would put an own `code` on every
  // instance and hide the subclass's `code` on its prototype.
  /** A stable string naming the kind of error, such as `'ERR_WARMPOOL_CANCELLED'`. */
  declare readonly code: string;
  /**
   * @param message - what happened.
   * @param options - `cause`: the error underneath, if any.
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** `1 task`, `2 tasks`, `1,000 tasks`: a count in a message, in grammatical English. */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? noun : plural}`;
}

function defineCode(cls: { prototype: object }, name: string, code: string): void {
  // On the prototype, not per instance: keeps instances small and `name`/`code`
  // non-enumerable, like the built-in errors' `name`.
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
  Object.defineProperty(cls.prototype, 'code', { value: code, writable: true, configurable: true });
}
defineCode(WarmpoolError, 'WarmpoolError', 'ERR_WARMPOOL');

/**
 * The future was cancelled: by `future.cancel()`, by its `signal` aborting,
 * or by `shutdown({ cancelFutures: true })`. Also the reason of the task's
 * `taskSignal()` when it is cancelled, and what a map-family call rejects
 * with when its `signal` aborts.
 *
 * - `name`: `'CancelledError'`
 * - `code`: `'ERR_WARMPOOL_CANCELLED'`
 *
 * @group Errors
 */
export class CancelledError extends WarmpoolError {
  /** Always `'ERR_WARMPOOL_CANCELLED'`. */
  declare readonly code: 'ERR_WARMPOOL_CANCELLED';
  constructor(message = 'The task was cancelled') {
    super(message);
  }
}
defineCode(CancelledError, 'CancelledError', 'ERR_WARMPOOL_CANCELLED');

/**
 * A task ran longer than its `timeout` (counted from its start on a worker;
 * the worker was stopped), `future.result(timeoutMs)` expired (the task goes
 * on), or `asCompleted`'s `timeout` passed. Also the reason of the task's
 * `taskSignal()` when it times out.
 *
 * - `name`: `'TimeoutError'`
 * - `code`: `'ERR_WARMPOOL_TIMEOUT'`
 * - `timeout`: the limit that expired, in ms
 * - `index` (map family only, not enumerable): the input position of the
 *   first item of the chunk that overran
 *
 * @group Errors
 */
export class TimeoutError extends WarmpoolError {
  /** Always `'ERR_WARMPOOL_TIMEOUT'`. */
  declare readonly code: 'ERR_WARMPOOL_TIMEOUT';
  /** The limit that expired, in ms. */
  readonly timeout: number;
  /**
   * @param message - what timed out.
   * @param timeout - the limit that expired, in ms.
   */
  constructor(message: string, timeout: number) {
    super(message);
    this.timeout = timeout;
  }
}
defineCode(TimeoutError, 'TimeoutError', 'ERR_WARMPOOL_TIMEOUT');

/**
 * The worker running the task died under it: the process exited or was
 * killed, the worker ran out of memory (`maxMemoryMb`), an uncaught error or
 * unhandled rejection outside the task ended it. Only that task fails; the
 * worker is replaced and the pool goes on (there is no "broken pool").
 * Counted as `crashed` in `stats()`.
 *
 * - `name`: `'WorkerCrashedError'`
 * - `code`: `'ERR_WARMPOOL_WORKER_CRASHED'`
 * - `exitCode`, `signal`: how the worker ended (also in the message)
 * - `cause`: the uncaught error that killed the worker, when one did
 *
 * @group Errors
 */
export class WorkerCrashedError extends WarmpoolError {
  /** Always `'ERR_WARMPOOL_WORKER_CRASHED'`. */
  declare readonly code: 'ERR_WARMPOOL_WORKER_CRASHED';
  /** The worker's exit code, or `null` when it was ended by a signal. */
  readonly exitCode: number | null;
  /** The signal that ended the worker process (such as `'SIGKILL'`), or `null`; always `null` for a thread. */
  readonly signal: string | null;
  /**
   * @param exitCode - the worker's exit code, or `null`.
   * @param signal - the signal that ended it, or `null`.
   * @param detail - what else is known (the uncaught error, running out of memory), added to the message.
   */
  constructor(exitCode: number | null, signal: string | null, detail?: string) {
    super(`The worker running the task died (exit code ${String(exitCode)}, signal ${String(signal)})` + (detail ? `: ${detail}` : ''));
    this.exitCode = exitCode;
    this.signal = signal;
  }
}
defineCode(WorkerCrashedError, 'WorkerCrashedError', 'ERR_WARMPOOL_WORKER_CRASHED');

/**
 * A new worker could not start: the task module failed to import, the
 * initializer threw, the worker exited while starting, or `startTimeout`
 * passed. `ready()` rejects with it, and so do the tasks waiting for a worker
 * when no other worker is running. The pool does not retry by itself: the
 * next `submit` tries once more (never a spawn loop). Counted as `crashed` in
 * `stats()`.
 *
 * - `name`: `'WorkerStartError'`
 * - `code`: `'ERR_WARMPOOL_WORKER_START'`
 * - `cause`: the original error (the import's or the initializer's)
 *
 * @group Errors
 */
export class WorkerStartError extends WarmpoolError {
  /** Always `'ERR_WARMPOOL_WORKER_START'`. */
  declare readonly code: 'ERR_WARMPOOL_WORKER_START';
}
defineCode(WorkerStartError, 'WorkerStartError', 'ERR_WARMPOOL_WORKER_START');

/**
 * The task module has no function export of the name given to `submit` or
 * the map family (classes and other values are not tasks); the message lists the function exports it has. It fails
 * that task only (counted as `failed` in `stats()`). When the pool is typed
 * by the module, such a call does not compile.
 *
 * - `name`: `'TaskNotFoundError'`
 * - `code`: `'ERR_WARMPOOL_TASK_NOT_FOUND'`
 * - `task`: the name that was asked for
 *
 * @group Errors
 */
export class TaskNotFoundError extends WarmpoolError {
  /** Always `'ERR_WARMPOOL_TASK_NOT_FOUND'`. */
  declare readonly code: 'ERR_WARMPOOL_TASK_NOT_FOUND';
  /** The task name that was asked for. */
  readonly task: string;
  /**
   * @param task - the name that was asked for.
   * @param available - the module's function exports, listed in the message.
   * @param hint - what to do, when the module's shape suggests it (a default-exported object of tasks).
   */
  constructor(task: string, available: readonly string[], hint?: string) {
    super(
      `Expected \`${task}\` to be a function exported by the task module, ` +
        `got ${available.length ? `only: ${available.map((n) => `\`${n}\``).join(', ')}` : 'no function exports'}` +
        (hint === undefined ? '' : `; ${hint}`),
    );
    this.task = task;
  }
}
defineCode(TaskNotFoundError, 'TaskNotFoundError', 'ERR_WARMPOOL_TASK_NOT_FOUND');

/**
 * An argument or a result could not be sent between threads or processes by
 * the structured clone algorithm (a function, a symbol, a class instance
 * with private state, ...). The message says which argument. It fails that
 * task only (counted as `failed` in `stats()`); the worker lives on.
 * `LocalPool` never raises it: it passes values by reference.
 *
 * - `name`: `'DataCloneError'`
 * - `code`: `'ERR_WARMPOOL_DATA_CLONE'`
 * - `cause`: the runtime's own clone error, when there is one
 *
 * @group Errors
 */
export class DataCloneError extends WarmpoolError {
  /** Always `'ERR_WARMPOOL_DATA_CLONE'`. */
  declare readonly code: 'ERR_WARMPOOL_DATA_CLONE';
}
defineCode(DataCloneError, 'DataCloneError', 'ERR_WARMPOOL_DATA_CLONE');

/**
 * Thrown by `submit` (at once: no future is made) when the task would make
 * more than `maxQueued` tasks wait for a worker (a task a free worker takes
 * at once does not wait). A map-family call waits for one of its own chunks
 * to finish instead, and rejects with it only when none of them is in flight.
 *
 * - `name`: `'QueueFullError'`
 * - `code`: `'ERR_WARMPOOL_QUEUE_FULL'`
 *
 * @group Errors
 */
export class QueueFullError extends WarmpoolError {
  /** Always `'ERR_WARMPOOL_QUEUE_FULL'`. */
  declare readonly code: 'ERR_WARMPOOL_QUEUE_FULL';
  /** @param maxQueued - the pool's limit, given in the message. */
  constructor(maxQueued: number) {
    super(`The queue is full: ${count(maxQueued, 'task')} ${maxQueued === 1 ? 'is' : 'are'} already waiting for a worker (maxQueued)`);
  }
}
defineCode(QueueFullError, 'QueueFullError', 'ERR_WARMPOOL_QUEUE_FULL');

/**
 * Thrown by `submit` (at once: no future is made), and the rejection of a
 * map-family call, after `shutdown()` was called.
 *
 * - `name`: `'PoolClosedError'`
 * - `code`: `'ERR_WARMPOOL_POOL_CLOSED'`
 *
 * @group Errors
 */
export class PoolClosedError extends WarmpoolError {
  /** Always `'ERR_WARMPOOL_POOL_CLOSED'`. */
  declare readonly code: 'ERR_WARMPOOL_POOL_CLOSED';
  constructor() {
    super('The pool is shut down and accepts no more tasks');
  }
}
defineCode(PoolClosedError, 'PoolClosedError', 'ERR_WARMPOOL_POOL_CLOSED');

/**
 * RemotePool only: Redis or BullMQ lost the task or could not take it — a job
 * that could not be added, a job gone from Redis (restarted without
 * persistence, flushed, or its result expired after `resultTtl`), a job
 * BullMQ failed on its own (stalled more often than `maxStalledCount`).
 * Counted as `crashed` in `stats()`.
 *
 * - `name`: `'BrokerError'`
 * - `code`: `'ERR_WARMPOOL_BROKER'`
 * - `cause`: the underlying error, if any
 *
 * @group Errors
 */
export class BrokerError extends WarmpoolError {
  /** Always `'ERR_WARMPOOL_BROKER'`. */
  declare readonly code: 'ERR_WARMPOOL_BROKER';
}
defineCode(BrokerError, 'BrokerError', 'ERR_WARMPOOL_BROKER');

/**
 * `send()` on a `TaskStream` whose task can take no more messages: the caller
 * has called `end()`, or the task has ended (`cause` is the task's error when
 * it failed, was cancelled or timed out).
 *
 * - `name`: `'StreamClosedError'`
 * - `code`: `'ERR_WARMPOOL_STREAM_CLOSED'`
 *
 * @group Errors
 */
export class StreamClosedError extends WarmpoolError {
  /** Always `'ERR_WARMPOOL_STREAM_CLOSED'`. */
  declare readonly code: 'ERR_WARMPOOL_STREAM_CLOSED';
}
defineCode(StreamClosedError, 'StreamClosedError', 'ERR_WARMPOOL_STREAM_CLOSED');

/** Errors that a worker may send back by code and that are rebuilt as these classes. */
export const errorClassesByCode: Readonly<Record<string, new (...args: any[]) => Error>> = {
  ERR_WARMPOOL_TASK_NOT_FOUND: TaskNotFoundError,
  ERR_WARMPOOL_DATA_CLONE: DataCloneError,
  ERR_WARMPOOL_CANCELLED: CancelledError,
  ERR_WARMPOOL_TIMEOUT: TimeoutError,
  // A remote host's local pool raises these; they cross Redis as task outcomes.
  ERR_WARMPOOL_WORKER_CRASHED: WorkerCrashedError,
  ERR_WARMPOOL_WORKER_START: WorkerStartError,
};
