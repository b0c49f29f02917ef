// The observability contract (SPEC "Observability") as code: the names of
// warmpool's `node:diagnostics_channel` channels, the messages published on
// them, and the functions the engine core calls to publish. Nothing here
// imports @opentelemetry/api; `warmpool/otel` (otel.ts) is one subscriber.
//
//  caller         core (one place for every backend)             subscribers
//  ──────         ──────────────────────────────────             ───────────
//  submit ──────▶ record made ── publishTaskStart ─────────────▶ start      { pool, id, task }
//                 carrier = captureTraceContext(message) (./trace-context.ts)
//                 a worker begins ── publishTaskAsyncStart ────▶ asyncStart + { worker, waitMs }
//                 it settles ─────── publishTaskEnd ───────────▶ error      + { runMs, outcome, error }  (all but 'fulfilled')
//                                                           └─▶ asyncEnd   + { runMs, outcome }
//                 worker life ────── publishWorker ────────────▶ warmpool:worker { pool, worker, event, ... }
//
// One message object per task travels through every event of that task, as
// with Node's own TracingChannel users (`tracePromise` hands the same context
// to start, asyncStart and asyncEnd): a subscriber keys its state on the
// object (a WeakMap), and each event adds fields to it.
//
// Free when nobody subscribes: `publishTaskStart` checks `hasSubscribers`
// once and returns `undefined` without making an object; every later call
// for that task returns at its first line. The check is a property read
// (bench/diagnostics.ts measures it).

import { channel, tracingChannel, type Channel } from 'node:diagnostics_channel';
import type { TraceCarrier } from './trace-context.js';

/** The `TracingChannel` around every task. */
export const TASK_CHANNEL = 'warmpool:task';
/** The channel of worker lifecycle events. */
export const WORKER_CHANNEL = 'warmpool:worker';

/**
 * How a task ended. `'rejected'`: the task threw (or could not be run: an
 * unknown name, a value that cannot be sent). `'crashed'`: its worker died
 * under it, or no worker could start.
 */
export type TaskOutcome = 'fulfilled' | 'rejected' | 'cancelled' | 'timedOut' | 'crashed';

/**
 * A worker, as the backend names it: ProcessPool a process id, ThreadPool a
 * thread id, RemotePool the `warmpool worker` host that ran the task
 * (`<hostname>:<pid>`); unique within a pool for the pool's life.
 */
export type WorkerId = number | string;

/**
 * The one context object of a task, published on every event of
 * `warmpool:task` and filled in as the task proceeds. Subscribers read it;
 * the only field a subscriber may write is `traceContext`, in `start`.
 */
export interface TaskMessage {
  /** The pool's `name` option (default `warmpool-<n>`). */
  readonly pool: string;
  /** The task's id, unique within its pool (RemotePool: its job's id ends in `-<id>`). */
  readonly id: number | string;
  /** The task's name (the export it runs). */
  readonly task: string;
  /** Set at `asyncStart`: the worker running the task. */
  worker?: WorkerId;
  /**
   * Set at `asyncStart`, in ms: from `submit` until a worker began the task.
   * A task that never began (cancelled while queued, or no worker could
   * start) has it set at `asyncEnd` to the time it waited until it settled.
   */
  waitMs?: number;
  /** Set at `error`/`asyncEnd`, in ms: run time measured where the task ran; 0 if it never began. */
  runMs?: number;
  /** Set at `error`/`asyncEnd`. */
  outcome?: TaskOutcome;
  /** Set at `error` (every outcome but `'fulfilled'`): the error the future rejects with. */
  error?: unknown;
  /**
   * A subscriber of `start` may set this to choose the trace context the task
   * runs under in its worker (`warmpool/otel` sets its task span here, so
   * spans made inside the task are its children). Left unset, the core uses
   * the span active at `submit`, if any.
   */
  traceContext?: TraceCarrier;
}

/** `start`: published at `submit`, once the task is accepted (a `submit` that throws publishes nothing). */
export type TaskStartMessage = Pick<TaskMessage, 'pool' | 'id' | 'task' | 'traceContext'>;
/** `asyncStart`: a worker began the task. Not published for a task that never began. */
export type TaskAsyncStartMessage = TaskStartMessage & Required<Pick<TaskMessage, 'worker' | 'waitMs'>>;
/** `asyncEnd`: the task settled, whatever the outcome; the last event of a task. */
export type TaskAsyncEndMessage = TaskStartMessage &
  Required<Pick<TaskMessage, 'waitMs' | 'runMs' | 'outcome'>> &
  Pick<TaskMessage, 'worker' | 'error'>;
/** `error`: published just before `asyncEnd` for every outcome but `'fulfilled'`. */
export type TaskErrorMessage = TaskAsyncEndMessage & {
  /** The error the future rejects with. */
  error: unknown;
  /** Every outcome but `'fulfilled'`. */
  outcome: Exclude<TaskOutcome, 'fulfilled'>;
};

/**
 * `'start'`: a worker is being started; `'ready'`: it imported the module and
 * ran the initializer; `'recycle'`: it is retired after `maxTasksPerWorker`
 * tasks (its `'exit'` follows); `'exit'`: it is gone.
 */
export type WorkerEvent = 'start' | 'ready' | 'exit' | 'recycle';

/**
 * Why a worker exited (on `'exit'` only). The first five are restarts: the
 * pool replaces the worker. `'idle'`: above `minWorkers` for `idleTimeout`;
 * `'shutdown'`: the pool shut down; `'startFailed'`: the module or
 * initializer failed to load.
 */
export type WorkerExitReason = 'crash' | 'timeout' | 'cancel' | 'memory' | 'recycle' | 'idle' | 'shutdown' | 'startFailed';

/** The exit reasons that are restarts, as `warmpool/otel` counts them. */
export const RESTART_REASONS: ReadonlySet<WorkerExitReason> = new Set(['crash', 'timeout', 'cancel', 'memory', 'recycle']);

/** A message of `warmpool:worker`. */
export interface WorkerMessage {
  /** The pool's `name` option (default `warmpool-<n>`). */
  readonly pool: string;
  /** The worker: a process id (ProcessPool), a thread id (ThreadPool). */
  readonly worker: WorkerId;
  /** What happened to it. */
  readonly event: WorkerEvent;
  /** On `'exit'` of a process or thread: its exit code, `null` when a signal ended it. */
  readonly exitCode?: number | null;
  /** On `'exit'` of a process ended by a signal: its name (`'SIGKILL'`). */
  readonly signal?: string | null;
  /** On `'exit'`: why the worker went. */
  readonly reason?: WorkerExitReason;
}

/** Handlers for the events of `warmpool:task`, each given the task's message as it stands then. */
export interface TaskSubscribers {
  /** At `submit`, in the caller's synchronous call (its active context is current). */
  start?(message: TaskStartMessage): void;
  /** A worker began the task. */
  asyncStart?(message: TaskAsyncStartMessage): void;
  /** The task ended otherwise than fulfilled; `asyncEnd` follows. */
  error?(message: TaskErrorMessage): void;
  /** The task settled, whatever the outcome: its last event. */
  asyncEnd?(message: TaskAsyncEndMessage): void;
}

const taskChannel = tracingChannel<unknown, TaskMessage>(TASK_CHANNEL);
const workerChannel: Channel = channel(WORKER_CHANNEL);
const { start, end, asyncStart, asyncEnd, error } = taskChannel;

// `TracingChannel#hasSubscribers` came in Node 20.13 and 22.0
// (https://nodejs.org/api/diagnostics_channel.html#tracingchannelhassubscribers);
// `tracingChannel` itself is older (19.9, 18.19). Before 20.13 the property
// is undefined, so the same answer is built from the five channels. Decided
// once: the check stays one property read on current Node.
const nativeHasSubscribers = typeof (taskChannel as { hasSubscribers?: unknown }).hasSubscribers === 'boolean';

/** True when anything listens on `warmpool:task`. */
export function taskObserved(): boolean {
  return nativeHasSubscribers
    ? taskChannel.hasSubscribers
    : start.hasSubscribers || end.hasSubscribers || asyncStart.hasSubscribers || asyncEnd.hasSubscribers || error.hasSubscribers;
}

/** True when anything listens on `warmpool:worker`. */
export function workerObserved(): boolean {
  return workerChannel.hasSubscribers;
}

/**
 * For the core, at `submit`, once the task is accepted: publishes `start`
 * and returns the message to keep on the task record and pass to the later
 * calls; `undefined`, at the cost of one property read, when nobody listens.
 * Call it in the caller's synchronous `submit`, so subscribers see the
 * caller's active context (warmpool/otel takes the span's parent from it).
 */
export function publishTaskStart(pool: string, id: number | string, task: string): TaskMessage | undefined {
  if (!taskObserved()) return undefined;
  const message: TaskMessage = { pool, id, task };
  start.publish(message);
  return message;
}

/** For the core, when a worker has begun the task (where the backend first knows it). */
export function publishTaskAsyncStart(message: TaskMessage | undefined, worker: WorkerId, waitMs: number): void {
  if (message === undefined || message.worker !== undefined || message.outcome !== undefined) return;
  message.worker = worker;
  message.waitMs = waitMs;
  asyncStart.publish(message);
}

/**
 * For the core, when the task's future settles: `error` (all outcomes but
 * `'fulfilled'`) then `asyncEnd`. Only the first call for a task publishes,
 * as only the first outcome settles a future. `waitedMs` is the time since
 * `submit`, used as `waitMs` of a task that never began.
 */
export function publishTaskEnd(
  message: TaskMessage | undefined,
  outcome: TaskOutcome,
  runMs: number,
  err?: unknown,
  waitedMs?: number,
): void {
  if (message === undefined || message.outcome !== undefined) return;
  message.outcome = outcome;
  message.runMs = message.worker === undefined ? 0 : runMs;
  message.waitMs ??= waitedMs ?? 0;
  if (outcome !== 'fulfilled') {
    message.error = err;
    error.publish(message);
  }
  asyncEnd.publish(message);
}

/** For the core, at each worker event. Nothing is made when nobody listens. */
export function publishWorker(
  pool: string,
  worker: WorkerId,
  event: WorkerEvent,
  exit?: { exitCode?: number | null; signal?: string | null; reason?: WorkerExitReason },
): void {
  if (!workerChannel.hasSubscribers) return;
  workerChannel.publish(exit === undefined ? { pool, worker, event } : { pool, worker, event, ...exit });
}

/**
 * Subscribes to `warmpool:task`; returns the function that unsubscribes.
 * A handler that throws is reported by Node as an uncaught exception (the
 * diagnostics_channel rule), so handlers should not throw.
 */
export function subscribeTasks(handlers: TaskSubscribers): () => void {
  // Only the events asked for: an empty channel keeps its own check false.
  // The object passed to subscribe is the key unsubscribe needs.
  const subscribers: Record<string, unknown> = {};
  for (const [event, handler] of Object.entries(handlers)) if (typeof handler === 'function') subscribers[event] = handler;
  taskChannel.subscribe(subscribers as never);
  return () => {
    taskChannel.unsubscribe(subscribers as never);
  };
}

/** Subscribes to `warmpool:worker`; returns the function that unsubscribes. */
export function subscribeWorkers(handler: (message: WorkerMessage) => void): () => void {
  const listener = (message: unknown) => handler(message as WorkerMessage);
  workerChannel.subscribe(listener);
  return () => {
    workerChannel.unsubscribe(listener);
  };
}
