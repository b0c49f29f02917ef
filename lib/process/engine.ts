/*
 * ProcessPool's transport over the engine core (lib/core/engine-core.ts):
 * how queued tasks reach a worker process, how a running one is stopped, how
 * results come back. Which tasks go to which worker is ./dispatch.ts; what a
 * worker's exit means for its tasks, ./exit.ts; workers themselves (start,
 * ready, exit, close) are ./workers.ts; the worker's side is ./loop.ts.
 *
 *  caller          EngineCore            ProcessEngine               worker process
 *  pool.submit ─▶ TaskRecord+Future ─▶ TaskQueue
 *                 a microtask ────────▶ dispatch (./dispatch.ts): per worker,
 *                                       one task, or a batch of short ones (PIPELINE_MS)
 *                                       [Run, id, name, kind(+HOLD), args, …] ─ fd 3 ─▶ WorkerLoop
 *                                       head: core.begin, deadline armed        runs them in order,
 *                                                                               holds HOLD results
 *  onProgress ◀── head.channel ◀─────── message ◀─── [Progress, id, value] ─ fd 4 (before its result)
 *                 core.settle ◀──────── onResults ◀── [Results, sentAt, id, status, value, start, end, …] ─ fd 4
 *                 (each in turn; the    (worker clock + offset: when        sent before a task without
 *                 next head begins)      the next head really began)        HOLD, an await, a yield, idle
 *  await future ◀ fulfilled/rejected    next head begins, more is sent
 *  cancel/timeout ─▶ core.stop ───────▶ abort: [Abort, id] ─────────────────▶ taskSignal() aborts
 *                    (cancelGrace) ───▶ kill: the worker is terminated, then replaced
 *                 core.fail/requeue ◀── exited (./exit.ts) ◀──────────────── the process exits
 *
 * Batching. Each worker runs one task at a time. When the queue is deeper
 * than the free workers, a worker is sent several tasks in one message as
 * long as the measured run time of what it holds stays within PIPELINE_MS. A
 * task of unknown cost (never measured, or a map chunk) goes alone and
 * nothing is sent behind it, except that a worker running one map chunk may
 * hold the next chunk of the same function. While the queue is deep, a
 * worker running one task holds the next one (./dispatch.ts #oneAhead): a
 * measured call behind a measured call, a chunk behind a chunk, one ahead,
 * so it begins it without waiting for the parent. Only the head of a worker's in-flight list is
 * `running`; cancelling one behind it tells the worker to drop it. Results
 * of tasks marked HOLD (measured short, no timeout) come back several to a
 * message (./protocol.ts, docs/design.md "Batching"), each with the worker's
 * start and end.
 *
 * Deadlines count from the task's start, checked by one lazily re-armed
 * timer per worker. When a worker exits (./exit.ts), its running task fails
 * with WorkerCrashedError (unless the pool stopped it), with the HOLD tasks
 * after it whose results it may have held if it died without a word (never
 * run twice), and the tasks it cannot have started go back to the front of
 * the queue.
 */

import { performance } from 'node:perf_hooks';
import type { Engine, Status, WorkerOptions } from '../core/contract.js';
import { EngineCore } from '../core/engine-core.js';
import type { Occupancy, Transport } from '../core/transport.js';
import { Waiters } from '../core/waiters.js';
import type { TaskQueue } from '../core/queue.js';
import { WorkerStartError } from '../core/errors.js';
import type { TaskRecord } from '../core/task.js';
import { decodeError } from '../core/wire-error.js';
import type { SpawnWorker } from './handle.js';
import { Dispatch, holds } from './dispatch.js';
import { settleInflightOnExit } from './exit.js';
import { FromWorker, RESULT_HEAD, RESULT_STRIDE, ToWorker } from './protocol.js';
import type { WorkerRecord } from './worker.js';
import { ProcessWorkers, type WorkersOwner } from './workers.js';

/** Options as the engine gets them: validated and filled in by the public class. */
export interface ProcessEngineOptions extends WorkerOptions {
  readonly name: string;
  readonly maxQueued: number;
  readonly cancelGrace: number;
}

type Task = TaskRecord<WorkerRecord>;

/** The least time a cancelled task whose result the worker may be holding has to show it before the worker is stopped. */
const HELD_STOP_GRACE_MS = 20;

export class ProcessEngine implements Transport<WorkerRecord>, WorkersOwner {
  readonly #opts: ProcessEngineOptions;
  readonly #core: EngineCore<WorkerRecord>;
  readonly #queue: TaskQueue<Task>;
  readonly #workers: ProcessWorkers;
  readonly #readyWaiters = new Waiters();
  readonly #dispatch: Dispatch;

  constructor(opts: ProcessEngineOptions, spawn: SpawnWorker) {
    this.#opts = opts;
    this.#core = new EngineCore<WorkerRecord>(this, opts, true);
    this.#queue = this.#core.queue;
    this.#workers = new ProcessWorkers(opts, spawn, this.#core, this);
    this.#dispatch = new Dispatch(this.#core, this.#workers.list, opts.maxTasksPerWorker, (w) => this.#startHead(w));
    this.#workers.grow(0);
  }

  /** What the pool talks to: the engine core over this transport. */
  get core(): Engine {
    return this.#core;
  }

  get workers(): number {
    return this.#opts.workers;
  }

  // ── submit ────────────────────────────────────────────────────────────

  /** Credit and messages of a stream go on the same channel as the runs: serialized now, so an unclonable message throws here. */
  toTask(task: Task, message: unknown[]): void {
    const w = task.slot!;
    if (w.state === 'ready' && w.inflight[0] === task) w.handle.send(message);
  }

  accepted(): boolean {
    // A new task is a new reason to try starting a worker after a start failure.
    this.#workers.startFailure = undefined;
    return true;
  }

  /**
   * Queued tasks beyond the started workers with nothing in flight. Dispatch
   * runs a microtask after submit, so the queue briefly holds tasks these
   * workers are about to take: those never wait, and do not count against
   * maxQueued.
   */
  backlog(): number {
    let idle = 0;
    for (const w of this.#workers.list) if (w.takesTasks() && w.inflight.length === 0) idle++;
    return this.#queue.size - idle;
  }

  dequeued(): void {
    this.#checkDrained();
  }

  cancelSent(task: Task, wasRunning: boolean): void {
    const w = task.slot!;
    if (wasRunning) {
      // A held result shows up within a few ms (the worker sends what it
      // holds before it reads the Abort): a task already finished is not
      // worth a worker, nor the short tasks behind it running twice.
      this.#core.stop(task, 'cancel', holds(task) ? HELD_STOP_GRACE_MS : 0);
      return;
    }
    // Sent ahead but not started: take it out of the list and tell the
    // worker to skip it. If the worker started it meanwhile (its result is
    // already on the way), the result is dropped when it arrives.
    const i = w.inflight.indexOf(task);
    if (i !== -1) {
      w.inflight.splice(i, 1);
      w.removeAhead(task.cost);
    }
    this.#core.release(task);
    w.trySend([ToWorker.Drop, task.id]);
    if (i === 0) {
      if (w.inflight.length > 0) this.#startHead(w);
      else this.#onIdle(w);
    }
  }

  // ── dispatch (./dispatch.ts) ──────────────────────────────────────────

  dispatch(): void {
    this.#dispatch.run();
    this.#workers.grow(this.#queue.size);
    this.#workers.updateRefs();
  }

  /**
   * The first task in the list starts its clock: now, or at `at` (parent
   * clock) when the worker's own times say it began earlier (it ran behind
   * results that came together).
   */
  #startHead(w: WorkerRecord, at?: number): void {
    const task = w.inflight[0];
    // A killed worker starts nothing; its exit re-queues what it held.
    if (task === undefined || task.startedAt !== 0 || w.state === 'killed') return;
    let now = performance.now();
    if (at !== undefined && at < now) now = at;
    this.#core.begin(task, now, w.id);
    if (task.timeout !== Infinity) {
      task.deadline = now + task.timeout;
      w.armDeadline(task.deadline, this.#onDeadlineBound);
    }
  }

  readonly #onDeadlineBound = (w: WorkerRecord) => this.#onDeadline(w);

  #onDeadline(w: WorkerRecord): void {
    const task = w.inflight[0];
    if (task === undefined || task.future.done() || task.deadline === Infinity) return;
    // Timers may fire a little early in performance.now() terms; allow 1 ms.
    if (performance.now() + 1 < task.deadline) {
      w.armDeadline(task.deadline, this.#onDeadlineBound);
      return;
    }
    this.#core.timeOut(task, '; its worker was stopped');
  }

  abort(task: Task, reason: 'cancel' | 'timeout'): boolean {
    const w = task.slot!;
    if (w.state !== 'ready') return false;
    w.stopping = task;
    w.trySend([ToWorker.Abort, task.id, reason]);
    return true;
  }

  kill(task: Task, reason: 'cancel' | 'timeout'): void {
    const w = task.slot!;
    // Gone already, or the task ended within the grace (its result cleared `stopping`).
    if (w.state === 'killed' || (w.stopping !== undefined && w.stopping !== task)) return;
    w.stoppedForTask = true;
    w.exitReason ??= reason;
    this.#workers.kill(w);
  }

  // ── results ───────────────────────────────────────────────────────────

  message(w: WorkerRecord, msg: unknown[]): void {
    switch (msg[0]) {
      case FromWorker.Results:
        this.#onResults(w, msg);
        break;
      case FromWorker.Ready:
        this.#workers.onReady(w);
        break;
      case FromWorker.StartError:
        this.#workers.onStartFailure(w, decodeError(msg[1]));
        break;
      case FromWorker.Fatal:
        w.fatal = decodeError(msg[1]);
        w.told = true;
        break;
      case FromWorker.Exiting:
        w.told = true;
        break;
      default: {
        // A running task's progress (lib/core/stream-protocol.ts, FromTask): only the head runs.
        const head = w.inflight[0];
        if (head !== undefined && head.id === msg[1]) head.channel?.receive(msg);
      }
    }
  }

  /**
   * Results, in the order the worker ran them, with the worker's own start
   * and end of each (./protocol.ts): the task after one starts its clock
   * when the worker began it, not when the results arrived, so a timeout is
   * judged by when the task ran. (A task with a timeout never runs behind a
   * held result: the worker sends those first, so its clock starts from an
   * arrival anyway.)
   */
  #onResults(w: WorkerRecord, msg: unknown[]): void {
    const inflight = w.inflight;
    const core = this.#core;
    const arrival = performance.now();
    const offset = Math.min(w.clockOffset, arrival - (msg[1] as number));
    w.clockOffset = offset;
    for (let i = RESULT_HEAD; i < msg.length; i += RESULT_STRIDE) {
      const head = inflight[0];
      // Not the head: a task dropped after cancel, or given up on. Ignore it.
      if (head === undefined || head.id !== msg[i]) continue;
      inflight.shift();
      w.removeAhead(head.cost);
      if (w.stopping === head) {
        // It ended within cancelGrace: the worker stays.
        w.stopping = undefined;
        clearTimeout(head.timer);
        head.timer = undefined;
      }
      // The next task starts before this one settles: done callbacks that run
      // on settling (a map cancelling its other chunks, say) see it running.
      // It began when this one ended, or, if its result is here too, at its own start.
      const end = msg[i + 4] as number;
      if (inflight.length > 0) {
        const j = i + RESULT_STRIDE;
        this.#startHead(w, (j < msg.length && msg[j] === inflight[0].id ? (msg[j + 3] as number) : end) + offset);
      }
      core.settle(head, msg[i + 1] as Status, msg[i + 2], end - (msg[i + 3] as number));
    }
    if (inflight.length === 0) this.#onIdle(w);
    core.schedule();
    if (this.#queue.size === 0) this.#workers.updateRef(w);
  }

  #onIdle(w: WorkerRecord): void {
    if (w.retiring || this.#core.closed) {
      if (w.retiring || this.#queue.size === 0) {
        w.exitReason ??= 'shutdown';
        this.#workers.close(w);
      }
      this.#checkDrained();
      return;
    }
    this.#workers.idle(w);
  }

  // ── workers (./workers.ts) ────────────────────────────────────────────

  workerReady(w: WorkerRecord): void {
    if (this.#core.closed && this.#queue.size === 0) {
      w.exitReason ??= 'shutdown';
      this.#workers.close(w);
      this.#checkDrained();
      return;
    }
    this.#settleReadyWaiters();
    this.dispatch();
    if (w.inflight.length === 0) this.#onIdle(w);
    this.#workers.updateRef(w);
  }

  startFailed(): void {
    // With no worker able to run them, the waiting tasks would wait forever.
    // Each gets an error of its own: callers (map) annotate the ones they get.
    const failure = this.#workers.startFailure!;
    if (!this.#workers.list.some((x) => x.state === 'ready')) {
      for (const task of this.#core.drainQueue())
        this.#core.fail(task, new WorkerStartError(failure.message, { cause: failure.cause }), 'crashed');
    }
    this.#settleReadyWaiters();
    this.#checkDrained();
  }

  exited(w: WorkerRecord, code: number | null, signal: string | null, error: Error | undefined, outOfMemory: string | undefined): void {
    const workers = this.#workers;
    settleInflightOnExit(this.#core, w, code, signal, error, outOfMemory);
    // The last worker that could serve the queue is gone while a start
    // failure stands: try one start again (bounded — if it fails with no
    // worker ready, the queue fails with it) rather than leave tasks waiting.
    if (
      workers.startFailure !== undefined &&
      this.#queue.size > 0 &&
      !workers.list.some((x) => x.state === 'ready' || x.state === 'starting')
    ) {
      workers.startFailure = undefined;
    }
    workers.grow(this.#queue.size);
    this.#core.schedule();
    workers.updateRefs();
    this.#checkDrained();
  }

  holdsLoop(w: WorkerRecord): boolean {
    // While a shutdown is awaited every worker, even one already killed, holds
    // the loop until it has exited: otherwise the loop could empty first and
    // the awaited shutdown never settle.
    return this.#core.drained.any || (w.state === 'starting' && (this.#queue.size > 0 || this.#readyWaiters.any));
  }

  // ── ready, stats, shutdown ────────────────────────────────────────────

  ready(): Promise<void> {
    const ready = this.#readyWaiters.wait();
    this.#settleReadyWaiters();
    this.#workers.updateRefs();
    return ready;
  }

  #settleReadyWaiters(): void {
    if (!this.#readyWaiters.any) return;
    let ready = 0;
    for (const w of this.#workers.list) if (w.state === 'ready') ready++;
    const failure = this.#workers.startFailure;
    if (failure === undefined && ready < this.#opts.minWorkers && !this.#core.closed) return;
    if (failure !== undefined && ready < this.#opts.minWorkers) this.#readyWaiters.reject(failure);
    else this.#readyWaiters.release();
  }

  occupancy(): Occupancy {
    let busy = 0;
    let idle = 0;
    for (const w of this.#workers.list) {
      if (w.state !== 'ready') continue;
      if (w.inflight.length > 0) busy++;
      else idle++;
    }
    return { workers: this.#workers.list.length, busy, idle };
  }

  closing(cancelFutures: boolean): void {
    if (cancelFutures) {
      for (const w of this.#workers.list) {
        for (const task of w.inflight.slice(1)) task.future.cancel();
      }
    }
    this.#settleReadyWaiters();
    this.#checkDrained();
    this.#workers.updateRefs();
  }

  /** After shutdown: once no task is left, close every worker; once every worker exited, resolve. */
  #checkDrained(): void {
    if (!this.#core.closed) return;
    if (this.#queue.size > 0) return;
    for (const w of this.#workers.list) if (w.inflight.length > 0) return;
    for (const w of [...this.#workers.list]) {
      w.exitReason ??= 'shutdown';
      this.#workers.close(w);
    }
    if (this.#workers.list.length === 0) this.#core.drained.release();
  }
}
