// Every error warmpool raises itself. Each class has a stable `name` (the
// class name, also after minification) and a stable `code`, so callers can
// branch on either without string-matching messages.

/** Base of every error raised by warmpool itself (never of a task's own error). */
export class WarmpoolError extends Error {
  // Declared, not initialised: a class field would put an own `code` on every
  // instance and hide the subclass's `code` on its prototype.
  declare readonly code: string;
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

/** The future was cancelled, by `cancel()`, an aborted `signal`, or `shutdown({ cancelFutures: true })`. */
export class CancelledError extends WarmpoolError {
  declare readonly code: 'ERR_WARMPOOL_CANCELLED';
  constructor(message = 'The task was cancelled') {
    super(message);
  }
}
defineCode(CancelledError, 'CancelledError', 'ERR_WARMPOOL_CANCELLED');

/** A task ran longer than its `timeout`, or `future.result(timeoutMs)` expired. */
export class TimeoutError extends WarmpoolError {
  declare readonly code: 'ERR_WARMPOOL_TIMEOUT';
  /** The limit that expired, in ms. */
  readonly timeout: number;
  constructor(message: string, timeout: number) {
    super(message);
    this.timeout = timeout;
  }
}
defineCode(TimeoutError, 'TimeoutError', 'ERR_WARMPOOL_TIMEOUT');

/** The worker running the task died. Only that task fails; the worker is replaced. */
export class WorkerCrashedError extends WarmpoolError {
  declare readonly code: 'ERR_WARMPOOL_WORKER_CRASHED';
  readonly exitCode: number | null;
  readonly signal: string | null;
  constructor(exitCode: number | null, signal: string | null, detail?: string) {
    super(
      `The worker running the task died (exit code ${String(exitCode)}, signal ${String(signal)})` +
        (detail ? `: ${detail}` : ''),
    );
    this.exitCode = exitCode;
    this.signal = signal;
  }
}
defineCode(WorkerCrashedError, 'WorkerCrashedError', 'ERR_WARMPOOL_WORKER_CRASHED');

/** The task module, or the initializer, failed in a new worker. `cause` is the original error. */
export class WorkerStartError extends WarmpoolError {
  declare readonly code: 'ERR_WARMPOOL_WORKER_START';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
defineCode(WorkerStartError, 'WorkerStartError', 'ERR_WARMPOOL_WORKER_START');

/** The task module has no function export of that name (classes and other values are not tasks). */
export class TaskNotFoundError extends WarmpoolError {
  declare readonly code: 'ERR_WARMPOOL_TASK_NOT_FOUND';
  readonly task: string;
  /** @param hint what to do, when the module's shape suggests it (a default-exported object of tasks) */
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
 * An argument or a result could not be sent between threads or processes
 * (a function, a symbol, a class instance with private state, ...).
 */
export class DataCloneError extends WarmpoolError {
  declare readonly code: 'ERR_WARMPOOL_DATA_CLONE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
defineCode(DataCloneError, 'DataCloneError', 'ERR_WARMPOOL_DATA_CLONE');

/** `submit` found more than `maxQueued` tasks waiting for a worker. */
export class QueueFullError extends WarmpoolError {
  declare readonly code: 'ERR_WARMPOOL_QUEUE_FULL';
  constructor(maxQueued: number) {
    super(`The queue is full: ${count(maxQueued, 'task')} ${maxQueued === 1 ? 'is' : 'are'} already waiting for a worker (maxQueued)`);
  }
}
defineCode(QueueFullError, 'QueueFullError', 'ERR_WARMPOOL_QUEUE_FULL');

/** `submit` after `shutdown()`. */
export class PoolClosedError extends WarmpoolError {
  declare readonly code: 'ERR_WARMPOOL_POOL_CLOSED';
  constructor() {
    super('The pool is shut down and accepts no more tasks');
  }
}
defineCode(PoolClosedError, 'PoolClosedError', 'ERR_WARMPOOL_POOL_CLOSED');

/**
 * RemotePool: Redis or BullMQ lost the task or could not take it — a job that
 * could not be added, a job gone from Redis (restarted without persistence,
 * flushed, or its result expired), a job BullMQ failed on its own (stalled
 * more often than `maxStalledCount`). `cause` is the underlying error, if any.
 */
export class BrokerError extends WarmpoolError {
  declare readonly code: 'ERR_WARMPOOL_BROKER';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
defineCode(BrokerError, 'BrokerError', 'ERR_WARMPOOL_BROKER');

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
