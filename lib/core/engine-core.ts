/*
 * What every engine shares, written once: the task lifecycle and the pool's
 * books. A backend composes one EngineCore and hands it a Transport — the
 * three things that differ per backend: how queued tasks reach a worker, how
 * a running task is told to stop, how its worker is stopped. Results arrive
 * through the transport too, and it settles them here. The core is the
 * Engine the pool talks to (submit, stream, ready, stats, shutdown), so a
 * backend writes no method that only passes a call on.
 *
 *   pool.submit ─▶ core.submit: closed? full? ─▶ TaskRecord + Future ─▶ TaskQueue
 *                                                   signal watched      │
 *                           a microtask, once per tick, however many submits
 *                                                                        ▼
 *                                                      transport.dispatch()
 *                                                   (tasks out of the queue, `sent`)
 *   worker result ─▶ transport ─▶ core.settle(task, status, value, runTime)
 *                                   released, counted, Future settled (./outcome.ts)
 *   deadline      ─▶ core.timeOut(task) ─▶ core.stop(task) ─▶ transport.abort(task)
 *   cancel()      ─▶ core.cancel(task)  ─▶ (queued: out of the queue)  │ cancelGrace
 *                                        ─▶ transport.cancelSent(task) ▼
 *                                                          transport.kill(task)
 *
 * Not a base class: each engine keeps its own fields private and calls the
 * core, so the lifecycle cannot be bent by an override. Every transition of a
 * future goes through here or through `futureInternals`.
 */

import { performance } from 'node:perf_hooks';
import { CallerChannel } from './caller-channel.js';
import { Status, TaskKind, type Engine, type TaskOptions } from './contract.js';
import {
  publishTaskAsyncStart,
  publishTaskStart,
  publishWorker,
  type WorkerEvent,
  type WorkerExitReason,
  type WorkerId,
} from './diagnostics.js';
import { PoolClosedError, QueueFullError, TimeoutError, type CancelledError } from './errors.js';
import { futureInternals, type Future } from './future.js';
import { fulfilTask, OUTCOME, publishEnd, readResult, rejectTask, type FailureCount, type OutcomeCounts } from './outcome.js';
import { TaskQueue } from './queue.js';
import type { TaskStream } from './stream.js';
import { Distribution, type PoolStats } from './stats.js';
import { TaskRecord, type TaskOwner } from './task.js';
import { captureTraceContext } from './trace-context.js';
import { Costs, type Transport } from './transport.js';
import { Waiters } from './waiters.js';

/**
 * Least grace, in ms, of a stopped stream task: a generator waiting for
 * credit is closed at once (its `finally` runs, its worker stays warm), which
 * `cancelGrace`'s default of 0 would never let happen.
 */
export const STREAM_STOP_GRACE_MS = 1_000;

/** The pool's options the core reads (a backend passes its own, which have them). */
export interface CoreOptions {
  /** The pool's name in diagnostics messages. */
  readonly name: string;
  readonly maxQueued: number;
  readonly cancelGrace: number;
}

const NO_ARGS: readonly unknown[] = Object.freeze([]);

/**
 * Dispatch runs as a reaction to this promise rather than by queueMicrotask:
 * Node's queueMicrotask makes an AsyncResource and a bound function per call
 * (lib/internal/process/task_queues.js), a resolved promise's `then` one
 * reaction, and a warm round trip schedules a dispatch twice (at submit and
 * after the result). Same queue, same order; the reaction runs in the
 * caller's async context as the AsyncResource did.
 */
const RESOLVED = Promise.resolve();

export class EngineCore<S> implements Engine, TaskOwner<S> {
  readonly name: string;
  readonly queue = new TaskQueue<TaskRecord<S>>((t) => t.where === 'queued');
  /** Outcome counts (disjoint) and the run/wait time distributions behind stats(). */
  readonly counts: OutcomeCounts = { completed: 0, failed: 0, cancelled: 0, timedOut: 0, crashed: 0 };
  readonly runTime = new Distribution();
  readonly waitTime = new Distribution();
  readonly costs = new Costs();
  /** After shutdown(): submit throws PoolClosedError. */
  closed = false;
  /** shutdown({ wait: true }) callers: released by the transport once its workers are gone. */
  readonly drained = new Waiters();
  readonly #idle = new Waiters();
  readonly #transport: Transport<S>;
  readonly #maxQueued: number;
  readonly #cancelGrace: number;
  readonly #measureCosts: boolean;
  #nextId = 1;
  /** Accepted and not yet released: what onIdle() waits on. */
  #live = 0;
  /** Streams accepted and not yet released: what shutdown({ cancelFutures }) cancels, running or not. */
  readonly #streams = new Set<TaskRecord<S>>();
  #dispatchScheduled = false;
  readonly #dispatchBound: () => void;

  /** `measureCosts`: keep the measured run time per task name (for batching). */
  constructor(transport: Transport<S>, opts: CoreOptions, measureCosts: boolean) {
    this.#transport = transport;
    this.name = opts.name;
    this.#maxQueued = opts.maxQueued;
    this.#cancelGrace = opts.cancelGrace;
    this.#measureCosts = measureCosts;
    this.#dispatchBound = () => {
      this.#dispatchScheduled = false;
      try {
        transport.dispatch();
      } catch (err) {
        // Reported as queueMicrotask would have: an uncaught exception, not a rejection nobody handles.
        queueMicrotask(() => {
          throw err;
        });
      }
    };
  }

  get workers(): number {
    return this.#transport.workers;
  }

  get channels(): boolean {
    return this.#transport.toTask !== undefined;
  }

  // ── queued ────────────────────────────────────────────────────────────

  /** Accepts a task: throws, making no future, when the pool is closed or full. */
  submit(name: string, args: readonly unknown[], kind: TaskKind, options: TaskOptions): Future<unknown> {
    return this.#submit(name, args, kind, options, undefined).future;
  }

  /**
   * `pool.stream`: a task of kind Stream whose values, progress and messages
   * go through a TaskStream. What the stream sends before the task starts
   * waits in the stream (`started()` in begin); after the task is gone it is
   * dropped, the stream having ended.
   */
  stream(name: string, args: readonly unknown[], options: TaskOptions, highWaterMark: number): TaskStream<unknown, unknown> {
    // The sink's calls come only after this returns: the record is set by then.
    const ref: { task?: TaskRecord<S> } = {};
    const { stream, channel } = CallerChannel.forStream(highWaterMark, options.onProgress, {
      id: () => ref.task!.id,
      toTask: (message) => {
        const task = ref.task!;
        if (task.where === 'sent') this.#transport.toTask!(task, message);
      },
      cancel: () => ref.task!.future.cancel(),
    });
    const task = (ref.task = this.#submit(name, [highWaterMark, args], TaskKind.Stream, options, channel));
    if (task.where !== 'gone') this.#streams.add(task);
    return stream;
  }

  #submit(name: string, args: readonly unknown[], kind: TaskKind, options: TaskOptions, channel: CallerChannel | undefined): TaskRecord<S> {
    if (this.closed) throw new PoolClosedError();
    if (this.#maxQueued !== Infinity && this.#transport.backlog() >= this.#maxQueued) throw new QueueFullError(this.#maxQueued);
    const transfer = options.transfer;
    const task = new TaskRecord<S>(
      this,
      this.#nextId++,
      name,
      kind,
      args,
      options.priority,
      options.timeout,
      options.signal,
      transfer !== undefined && transfer.length > 0 ? transfer : undefined,
      performance.now(),
    );
    task.future = futureInternals.create<unknown>(task);
    task.channel = channel ?? (options.onProgress === undefined ? undefined : new CallerChannel(undefined, options.onProgress));
    this.queue.push(task);
    this.#live++;
    // Accepted: `start` goes out in the caller's synchronous call (so a
    // subscriber sees its active context), before a signal that aborted
    // already can end the task.
    task.diag = publishTaskStart(this.name, task.id, name);
    task.trace = captureTraceContext(task.diag) ?? options.trace;
    if (!this.#watchSignal(task) || !this.#transport.accepted(task)) return task;
    if (!this.#dispatchScheduled) {
      this.#dispatchScheduled = true;
      void RESOLVED.then(this.#dispatchBound);
    }
    return task;
  }

  /** An aborting signal cancels the task's future, as cancel() would. False when it had aborted already. */
  #watchSignal(task: TaskRecord<S>): boolean {
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

  /** Dispatch in a microtask if anything waits: after a result, an exit, a requeue. */
  schedule(): void {
    if (!this.#dispatchScheduled && this.queue.size > 0) {
      this.#dispatchScheduled = true;
      void RESOLVED.then(this.#dispatchBound);
    }
  }

  /** Tasks sent but never started (their worker died, or could not take them) go back to the front, in order. */
  requeue(tasks: readonly TaskRecord<S>[]): void {
    if (tasks.length === 0) return;
    for (const task of tasks) {
      task.where = 'queued';
      task.slot = undefined;
      task.startedAt = 0;
      task.deadline = Infinity;
    }
    this.queue.requeueFront(tasks);
  }

  /**
   * Takes every live task out of the queue, each released before the caller
   * settles any: settling one runs its done callbacks, which may cancel
   * another, and that one must not be counted out of the queue a second time.
   */
  drainQueue(): TaskRecord<S>[] {
    const tasks = this.queue.drain();
    for (const task of tasks) this.release(task);
    return tasks;
  }

  // ── sent, running ────────────────────────────────────────────────────

  /**
   * A worker starts the task: its future is running (false when it was
   * cancelled meanwhile), its wait is counted, and `asyncStart` names the
   * worker when the transport knows it now (else it calls `began` later).
   */
  begin(task: TaskRecord<S>, now: number, worker?: WorkerId): boolean {
    const started = futureInternals.setRunningOrNotifyCancel(task.future);
    task.startedAt = now;
    if (started) task.channel?.stream?.started();
    this.waitTime.add(now - task.submittedAt);
    if (task.diag !== undefined && worker !== undefined) publishTaskAsyncStart(task.diag, worker, now - task.submittedAt);
    return started;
  }

  /**
   * `asyncStart` for a task whose worker the transport learns after it began
   * (ThreadPool: a reply names its thread); `at` is when it began, as far as
   * the transport knows. Publishes at most once per task.
   */
  began(task: TaskRecord<S>, worker: WorkerId, at: number): void {
    if (task.diag !== undefined) publishTaskAsyncStart(task.diag, worker, Math.max(0, at - task.submittedAt));
  }

  /** The user cancelled the task (its future settles right after). */
  cancel(task: TaskRecord<S>, wasRunning: boolean, error: CancelledError): void {
    this.counts.cancelled++;
    publishEnd(task, 'cancelled', error);
    task.channel?.abandon(error);
    if (task.where === 'gone') {
      // Out of the engine's hands but not settled: taken out of the queue by
      // shutdown({ cancelFutures }), or ended on its worker while its channel
      // still delivers what came before the result (a slow async onProgress,
      // ThreadPool's port). Nothing runs it any more: its stream is done.
      this.letGo(task);
      return;
    }
    if (task.where === 'queued') {
      // Left in place; the queue skips it when it reaches the front.
      this.queue.forgetOne();
      this.release(task);
      this.#transport.dequeued(task);
      // It never reached a worker: its stream's `done` resolves now.
      this.letGo(task);
      return;
    }
    this.#transport.cancelSent(task, wasRunning);
  }

  /** The running task's deadline passed: it fails with TimeoutError, and is stopped. */
  timeOut(task: TaskRecord<S>, stopped: string): void {
    this.counts.timedOut++;
    const error = new TimeoutError(`Task \`${task.name}\` did not finish within ${task.timeout} ms${stopped}`, task.timeout);
    publishEnd(task, 'timedOut', error);
    task.channel?.abandon(error);
    futureInternals.setException(task.future, error);
    this.stop(task, 'timeout');
  }

  /**
   * Cancel or timeout of a running task, whose future has settled: its
   * signal is aborted in the worker and, unless it ends within `cancelGrace`
   * ms (at least `leastGrace`), its worker is stopped.
   */
  stop(task: TaskRecord<S>, reason: 'cancel' | 'timeout', leastGrace = 0): void {
    this.release(task);
    const grace = Math.max(this.#cancelGrace, leastGrace, task.kind === TaskKind.Stream ? STREAM_STOP_GRACE_MS : 0);
    const transport = this.#transport;
    if (grace > 0 && transport.abort(task, reason)) {
      clearTimeout(task.timer);
      task.timer = setTimeout(() => {
        task.timer = undefined;
        transport.kill(task, reason);
      }, grace);
    } else {
      transport.kill(task, reason);
    }
  }

  // ── settled ───────────────────────────────────────────────────────────

  /** Out of the engine's hands: gone, its arguments let go, its signal no longer watched. */
  release(task: TaskRecord<S>): void {
    if (task.where === 'gone') return;
    task.where = 'gone';
    task.args = NO_ARGS;
    if (task.kind === TaskKind.Stream) this.#streams.delete(task);
    if (task.onAbort !== undefined) {
      task.signal!.removeEventListener('abort', task.onAbort);
      task.onAbort = undefined;
    }
    if (--this.#live === 0 && this.#idle.any) this.#idle.release();
  }

  /**
   * The task ran to an end in a worker: its run time is kept, and true is
   * returned when the caller is to settle it (false: settled already, by a
   * timeout or a cancel, and the late outcome is dropped).
   */
  finish(task: TaskRecord<S>, runTime: number): boolean {
    task.runTime = runTime;
    if (this.#measureCosts && task.kind === TaskKind.Call) this.costs.add(task.name, runTime);
    if (task.where === 'gone') {
      this.letGo(task);
      return false;
    }
    this.runTime.add(runTime);
    this.release(task);
    return true;
  }

  /**
   * A result from a worker, in the wire's form (./outcome.ts, readResult).
   * `sent`: the messages the task sent its channel on another line than its
   * result (ThreadPool's port), which settling waits for. An error counts as
   * `countOf` says (RemotePool: a host's timeouts and crashes), else `failed`.
   */
  settle(
    task: TaskRecord<S>,
    status: Status,
    value: unknown,
    runTime: number,
    sent?: number,
    countOf?: (error: unknown) => FailureCount,
  ): void {
    if (!this.finish(task, runTime)) return;
    const result = readResult(task.name, status, value, countOf);
    if (result.ok) this.fulfil(task, result.value, sent);
    else this.reject(task, result.error, result.count, sent);
  }

  /** Fulfils a finished task's future (through its channel: ./outcome.ts, fulfilTask). */
  fulfil(task: TaskRecord<S>, value: unknown, sent?: number): void {
    fulfilTask(this.counts, task, value, sent);
  }

  /** Rejects a finished task's future with its own error (through its channel, as fulfil). */
  reject(task: TaskRecord<S>, error: unknown, count: FailureCount = 'failed', sent?: number): void {
    rejectTask(this.counts, task, error, count, sent);
  }

  /** The worker has let go of a task that was stopped (its late result came, its worker exited, its slot was given up): its stream's `done` resolves. */
  letGo(task: TaskRecord<S>): void {
    task.channel?.stream?.exited();
  }

  /** Fails a task that did not run to an end of its own (no run time): a crash, a start failure, a value that cannot be sent. */
  fail(task: TaskRecord<S>, error: unknown, count: FailureCount): void {
    // Already settled: cancelled by a done callback of a task failed just before it.
    if (task.future.done()) {
      this.release(task);
      this.letGo(task);
      return;
    }
    this.counts[count]++;
    this.release(task);
    task.channel?.abandon(error);
    publishEnd(task, OUTCOME[count], error);
    futureInternals.setException(task.future, error);
    this.letGo(task);
  }

  // ── the pool ──────────────────────────────────────────────────────────

  ready(): Promise<void> {
    return this.#transport.ready();
  }

  /** Resolves when nothing is queued or running. */
  onIdle(): Promise<void> {
    return this.#live === 0 ? Promise.resolve() : this.#idle.wait();
  }

  /** shutdown(): no new tasks; with `cancelFutures`, what has not started is cancelled. Resolves (when `wait`) once the transport releases `drained`. */
  shutdown(wait: boolean, cancelFutures: boolean): Promise<void> {
    this.closed = true;
    if (cancelFutures) {
      for (const task of this.drainQueue()) {
        this.#transport.dequeued(task);
        task.future.cancel();
      }
      // A running stream is work done only as its caller reads: the values
      // not yet produced are not yet started, and a stream nobody reads any
      // more would hold shutdown forever (docs/guide.md, the decision
      // "shutdown() and a running stream").
      for (const task of [...this.#streams]) task.future.cancel();
    }
    const done = this.drained.wait();
    this.#transport.closing(cancelFutures);
    return wait ? done : Promise.resolve();
  }

  stats(): PoolStats {
    const { workers, busy, idle, queued = this.queue.size } = this.#transport.occupancy();
    return { workers, busy, idle, queued, ...this.counts, runTime: this.runTime.summary(), waitTime: this.waitTime.summary() };
  }

  /**
   * Publishes a worker's start, ready, exit or recycle on `warmpool:worker`
   * (./diagnostics.ts); free when nobody subscribes. `exit` carries the exit
   * code, the signal and, where the transport knows it, why the worker went.
   */
  workerEvent(worker: number, event: WorkerEvent, exitCode?: number | null, signal?: string | null, reason?: WorkerExitReason): void {
    if (event !== 'exit') publishWorker(this.name, worker, event);
    else publishWorker(this.name, worker, event, reason === undefined ? { exitCode, signal } : { exitCode, signal, reason });
  }
}
