/*
 * The engine behind ProcessPool: queue, workers, dispatch, timeouts, faults.
 *
 *   submit() ──▶ Task + Future ──▶ TaskQueue (priority, then FIFO)
 *                                      │
 *                                      │  #dispatch, once per microtask:
 *                                      │  one task, or a batch of short ones
 *                                      ▼
 *     ┌───────── WorkerRecord.inflight: [running, waiting, waiting ...] ───────┐
 *     │  handle.send([Run, id, name, kind, args, id, ...])                      │
 *     │                                                                         ▼
 *     │                                 worker: runs them one at a time, sends
 *     │                                 each result the moment it has it
 *     │  #onResults  ◀── [Results, id, status, value, runTime] ─────────────────┘
 *     ▼
 *   setResult / setException on each Future, next task becomes "running",
 *   the deadline timer moves to it, more work is sent.
 *
 * Submit. `submit` only queues the task and schedules a dispatch in a
 * microtask, so a loop of submits costs one message per worker rather than
 * one per task. No future is made when the pool is closed or full: those
 * throw at once.
 *
 * Scheduler. Each worker runs one task at a time. The run time of every
 * call is measured in the worker and kept per task name. When the queue is
 * deeper than the number of free workers, a worker is sent several tasks in
 * one message, as long as the measured run time of what it has in hand stays
 * within PIPELINE_MS: one message carries many tasks, and the worker never
 * waits for the parent between them. Results come back one by one, at once
 * (see worker-runtime.ts for why), and are read together. A task of unknown cost (never
 * measured, or a map chunk) goes alone, and nothing is sent behind it, so a
 * long task cannot hold short ones while another worker is free. Only the
 * first task of a worker's in-flight list is `running`; the others are still
 * `pending` to the user, and cancelling one tells the worker to skip it.
 * Otherwise a worker gets a task only when it is free, and the queue stays in
 * the parent, where priorities and cancellation act on it.
 *
 * Timeouts count from the start of the task: the deadline of the running task
 * is checked by one lazily re-armed timer per worker. At the deadline (or on
 * cancel of a running task) the task's signal is aborted in the worker and,
 * after `cancelGrace` ms if it has not ended by itself, the worker is killed.
 * The future settles at once in both cases; only the worker's fate waits.
 *
 * Worker. When a worker exits, its running task (if still unsettled) fails
 * with WorkerCrashedError, and the tasks it had been sent but never started go
 * back to the front of the queue. A worker that cannot start fails the queued
 * tasks with WorkerStartError and no replacement is spawned until a new task
 * asks for one: a module that throws at import cannot cause a spawn loop.
 *
 * The event loop. A worker keeps the parent alive only while it has tasks in
 * flight, or while it is starting and someone waits for it; idle workers are
 * unref'd, so a script that forgets `shutdown` still exits.
 */

import { performance } from 'node:perf_hooks';
import type { TransferListItem } from './types.js';
import { serialize } from 'node:v8';
import {
  DataCloneError,
  PoolClosedError,
  QueueFullError,
  TimeoutError,
  WorkerCrashedError,
  WorkerStartError,
} from './errors.js';
import { futureInternals, type Future, type FutureOwner } from './future.js';
import { FromWorker, RESULT_STRIDE, Status, TaskKind, ToWorker } from './messages.js';
import { TaskQueue } from './queue.js';
import type { SpawnWorker } from './runtime/handle.js';
import { MAX_TIMER_MS } from './options.js';
import type { PoolStats } from './stats.js';
import { cancelQueued, Costs, drainQueue, enqueue, Outcomes, releaseTask, Waiters } from './engine-parts.js';
import { Task } from './task-record.js';
import { decodeError } from './wire-error.js';
import { WorkerRecord } from './worker-record.js';

/** Options as the engine gets them: validated and filled in by the public class. */
export interface EngineOptions {
  readonly moduleHref: string;
  readonly workers: number;
  readonly minWorkers: number;
  readonly idleTimeout: number;
  readonly maxTasksPerWorker: number;
  readonly initializer: string | null;
  readonly initArgs: readonly unknown[];
  readonly maxQueued: number;
  readonly timeout: number;
  readonly cancelGrace: number;
  readonly startTimeout: number;
}

/** Per-task options, validated. */
export interface TaskOptions {
  readonly priority: number;
  /** ms, Infinity for none. */
  readonly timeout: number;
  readonly signal: AbortSignal | undefined;
  /** ThreadPool: ArrayBuffers (and ports) to move rather than copy. Others ignore it. */
  readonly transfer?: readonly TransferListItem[] | undefined;
}

/** How the map family sees an engine: enough to size chunks. */
export interface Engine {
  readonly workers: number;
  submit(name: string, args: readonly unknown[], kind: TaskKind, options: TaskOptions): Future<unknown>;
  /** The run time measured in the worker for a settled future of this engine, ms; 0 if unknown. */
  runTimeOf(future: Future<unknown>): number;
  ready(): Promise<void>;
  stats(): PoolStats;
  shutdown(wait: boolean, cancelFutures: boolean): Promise<void>;
  readonly closed: boolean;
}

/** A chunk whose item `index` threw `error`; map turns it into the item's error. */
export class ChunkFailure {
  constructor(
    readonly index: number,
    readonly error: unknown,
  ) {}
}

/** How much work, in ms of measured run time, a worker is sent ahead. */
const PIPELINE_MS = 2;
/** Most tasks in one Run message. */
const MAX_PIPELINE = 256;
/** How long a closing worker has to exit by itself before it is killed. */
const CLOSE_KILL_MS = 5000;

export class Scheduler implements Engine, FutureOwner {
  readonly #opts: EngineOptions;
  readonly #spawn: SpawnWorker;
  readonly #queue = new TaskQueue<Task>((t) => t.where === 'queued');
  readonly #workers: WorkerRecord[] = [];
  #nextTaskId = 1;
  #dispatchScheduled = false;
  readonly #dispatchBound = () => this.#dispatch();
  /** Measured run time per task name (calls only), for sending ahead. */
  readonly #costs = new Costs();
  #startFailure: WorkerStartError | undefined;
  #closed = false;
  #readyWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  readonly #exitWaiters = new Waiters();
  readonly #outcomes = new Outcomes();

  constructor(opts: EngineOptions, spawn: SpawnWorker) {
    this.#opts = opts;
    this.#spawn = spawn;
    this.#grow();
  }

  get workers(): number {
    return this.#opts.workers;
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ── submit ────────────────────────────────────────────────────────────

  submit(name: string, args: readonly unknown[], kind: TaskKind, options: TaskOptions): Future<unknown> {
    if (this.#closed) throw new PoolClosedError();
    if (this.#opts.maxQueued !== Infinity && this.#queue.size >= this.#opts.maxQueued + this.#idleWorkers()) {
      throw new QueueFullError(this.#opts.maxQueued);
    }
    const task = new Task(
      this.#nextTaskId++,
      name,
      kind,
      args,
      options.priority,
      options.timeout,
      options.signal,
      performance.now(),
    );
    if (!enqueue(this, this.#queue, task)) return task.future;
    // A new task is a new reason to try starting a worker after a start failure.
    this.#startFailure = undefined;
    if (!this.#dispatchScheduled) {
      this.#dispatchScheduled = true;
      queueMicrotask(this.#dispatchBound);
    }
    return task.future;
  }

  /**
   * Started workers with nothing in flight. Dispatch runs a microtask after
   * submit, so the queue briefly holds tasks these workers are about to take:
   * those never wait, and do not count against maxQueued.
   */
  #idleWorkers(): number {
    let n = 0;
    for (const w of this.#workers) if (w.state === 'ready' && !w.retiring && w.stopping === undefined && w.inflight.length === 0) n++;
    return n;
  }

  runTimeOf(future: Future<unknown>): number {
    return futureInternals.taskOf<Task>(future)?.runTime ?? 0;
  }

  onCancel(t: unknown, wasRunning: boolean): void {
    const task = t as Task;
    this.#outcomes.counts.cancelled++;
    if (task.where === 'gone') return;
    if (task.where === 'queued') {
      // Left in place; the queue skips it when it reaches the front.
      this.#queue.forgetOne();
      releaseTask(task);
      this.#checkDrained();
      return;
    }
    const w = task.worker!;
    if (!wasRunning) {
      // Sent ahead but not started: take it out of the list and tell the
      // worker to skip it. If the worker started it meanwhile (its result is
      // already on the way), the result is dropped when it arrives.
      const i = w.inflight.indexOf(task);
      if (i !== -1) {
        w.inflight.splice(i, 1);
        removeAhead(w, task.cost);
      }
      releaseTask(task);
      this.#trySend(w, [ToWorker.Drop, task.id]);
      if (i === 0) {
        if (w.inflight.length > 0) this.#startHead(w);
        else this.#onIdle(w);
      }
      return;
    }
    this.#stopRunning(w, task, 'cancel');
  }

  // ── dispatch ──────────────────────────────────────────────────────────

  #scheduleDispatch(): void {
    if (!this.#dispatchScheduled && this.#queue.size > 0) {
      this.#dispatchScheduled = true;
      queueMicrotask(this.#dispatchBound);
    }
  }

  /** The measured mean run time of a task by this name, ms; Infinity when unknown, and for map chunks. */
  #estimate(task: Task): number {
    if (task.kind !== TaskKind.Call) return Infinity;
    return this.#costs.of(task.name);
  }

  #dispatch(): void {
    this.#dispatchScheduled = false;
    const queue = this.#queue;
    if (queue.size > 0) {
      const workers = this.#workers;
      let takers = 0;
      for (const w of workers) if (w.state === 'ready' && !w.retiring && w.stopping === undefined) takers++;
      // Idle workers first, each up to its fair share of the queue; then top
      // up busy ones. Sending ahead is for a deep queue only: with no more
      // tasks waiting than there are workers, each waits in the parent, where
      // priorities and cancellation act on it, for no more than a round trip.
      const deep = queue.size > takers;
      const share = Math.ceil(queue.size / Math.max(1, takers));
      for (const w of workers) {
        if (queue.size === 0) break;
        if (w.inflight.length === 0 && w.state === 'ready' && !w.retiring && w.stopping === undefined) this.#send(w, deep ? share : 1);
      }
      if (deep && queue.size > 0) {
        const now = performance.now();
        for (const w of workers) {
          if (queue.size === 0) break;
          // Not behind a task that has already run longer than the budget:
          // whatever the estimate said, it is a long one.
          if (w.state !== 'ready' || w.retiring || w.stopping !== undefined || w.inflight.length === 0) continue;
          if (now - w.inflight[0].startedAt > PIPELINE_MS) continue;
          this.#send(w, share);
        }
      }
    }
    this.#grow();
    this.#updateRefs();
  }

  /**
   * Sends `w` queued tasks in one message: the first one whatever it is if
   * `w` is idle, then more only while the measured run time of what `w` has
   * in hand stays within PIPELINE_MS. A task whose cost is unknown (never
   * measured, or a map chunk) is never sent behind another, nor anything
   * behind it, so a long task cannot hold short ones hostage while another
   * worker is free.
   */
  #send(w: WorkerRecord, most: number): void {
    const queue = this.#queue;
    const inflight = w.inflight;
    const first = inflight.length;
    const wasEmpty = first === 0;
    const limit = Math.min(most, MAX_PIPELINE, this.#opts.maxTasksPerWorker - w.dispatched);
    const msg: unknown[] = [ToWorker.Run];
    let sent = 0;
    while (sent < limit) {
      const task = queue.peek();
      if (task === undefined) break;
      const cost = this.#estimate(task);
      if (!(wasEmpty && sent === 0) && (w.aheadUnknown > 0 || !(w.aheadMs + cost <= PIPELINE_MS))) break;
      queue.shift();
      addAhead(w, cost);
      task.cost = cost;
      task.where = 'sent';
      task.worker = w;
      inflight.push(task);
      msg.push(task.id, task.name, task.kind, task.args);
      sent++;
    }
    if (sent === 0) return;
    let unsendable: [Task, Error][] | undefined;
    try {
      w.handle.send(msg);
    } catch (err) {
      const batch = inflight.splice(first);
      for (const task of batch) removeAhead(w, task.cost);
      unsendable = this.#sendOneByOne(w, batch, err);
    }
    w.dispatched += inflight.length - first;
    if (w.dispatched >= this.#opts.maxTasksPerWorker) w.retiring = true;
    if (wasEmpty && inflight.length > 0) this.#startHead(w);
    if (unsendable !== undefined) {
      // Settled last: their done callbacks may cancel or submit, and must
      // find the worker's list and head in order.
      for (const [task, error] of unsendable) this.#outcomes.fail(task, error, 'failed');
      // The worker may still be free for what is queued behind.
      this.#scheduleDispatch();
    }
  }

  /**
   * A batch failed to serialize: find the tasks whose values cannot be sent
   * and fail only those. Rare, so it may be slow.
   */
  #sendOneByOne(w: WorkerRecord, tasks: Task[], batchError: unknown): [Task, Error][] {
    const failed: [Task, Error][] = [];
    for (const task of tasks) {
      try {
        w.handle.send([ToWorker.Run, task.id, task.name, task.kind, task.args]);
        w.inflight.push(task);
        addAhead(w, task.cost);
      } catch (err) {
        failed.push([task, cloneError(task, err ?? batchError)]);
      }
    }
    return failed;
  }

  /** The first task in the list starts its clock. */
  #startHead(w: WorkerRecord): void {
    const task = w.inflight[0];
    // A killed worker starts nothing; its exit re-queues what it held.
    if (task === undefined || task.startedAt !== 0 || w.state === 'killed') return;
    futureInternals.setRunningOrNotifyCancel(task.future);
    const now = performance.now();
    task.startedAt = now;
    this.#outcomes.waitTime.add(now - task.submittedAt);
    if (task.timeout !== Infinity) {
      task.deadline = now + task.timeout;
      this.#armDeadline(w, task.deadline);
    }
  }

  /**
   * One timer per worker. Re-arming it for every task would cost a timer per
   * task; instead a timer due later than the new deadline is replaced, and
   * one due earlier re-checks and re-arms itself when it fires.
   */
  #armDeadline(w: WorkerRecord, deadline: number): void {
    if (w.deadlineTimer !== undefined && w.deadlineTimerDue <= deadline) return;
    clearTimeout(w.deadlineTimer);
    w.deadlineTimerDue = deadline;
    // A deadline past what a timer can wait is re-checked when the capped timer fires.
    w.deadlineTimer = setTimeout(() => this.#onDeadline(w), Math.min(MAX_TIMER_MS, Math.max(0, deadline - performance.now())));
    w.deadlineTimer.unref();
  }

  #onDeadline(w: WorkerRecord): void {
    w.deadlineTimer = undefined;
    w.deadlineTimerDue = Infinity;
    const task = w.inflight[0];
    if (task === undefined || task.future.done() || task.deadline === Infinity) return;
    // Timers may fire a little early in performance.now() terms; allow 1 ms.
    if (performance.now() + 1 < task.deadline) {
      this.#armDeadline(w, task.deadline);
      return;
    }
    this.#outcomes.counts.timedOut++;
    futureInternals.setException(
      task.future,
      new TimeoutError(`Task \`${task.name}\` did not finish within ${task.timeout} ms; its worker was stopped`, task.timeout),
    );
    this.#stopRunning(w, task, 'timeout');
  }

  /** Aborts the running task's signal in the worker, then kills the worker unless the task ends within cancelGrace. */
  #stopRunning(w: WorkerRecord, task: Task, reason: 'cancel' | 'timeout'): void {
    releaseTask(task);
    if (w.state === 'killed') return;
    const grace = this.#opts.cancelGrace;
    if (grace > 0 && w.state === 'ready') {
      w.stopping = task;
      this.#trySend(w, [ToWorker.Abort, task.id, reason]);
      clearTimeout(w.timer);
      w.timer = setTimeout(() => {
        w.timer = undefined;
        if (w.stopping !== task) return;
        w.stoppedForTask = true;
        this.#kill(w);
      }, grace);
    } else {
      w.stoppedForTask = true;
      this.#kill(w);
    }
  }

  // ── results ───────────────────────────────────────────────────────────

  #onMessage(w: WorkerRecord, msg: unknown[]): void {
    switch (msg[0]) {
      case FromWorker.Results:
        this.#onResults(w, msg);
        break;
      case FromWorker.Ready:
        this.#onReady(w);
        break;
      case FromWorker.StartError:
        this.#onStartFailure(w, decodeError(msg[1]));
        break;
      case FromWorker.Fatal:
        w.fatal = decodeError(msg[1]);
        break;
    }
  }

  #onResults(w: WorkerRecord, msg: unknown[]): void {
    const inflight = w.inflight;
    for (let i = 1; i < msg.length; i += RESULT_STRIDE) {
      const head = inflight[0];
      // Not the head: a task dropped after cancel, or given up on. Ignore it.
      if (head === undefined || head.id !== msg[i]) continue;
      inflight.shift();
      removeAhead(w, head.cost);
      if (w.stopping === head) {
        // It ended within cancelGrace: the worker stays.
        w.stopping = undefined;
        clearTimeout(w.timer);
        w.timer = undefined;
      }
      // The next task starts before this one settles: done callbacks that run
      // on settling (a map cancelling its other chunks, say) see it running.
      if (inflight.length > 0) this.#startHead(w);
      const runTime = msg[i + 3] as number;
      head.runTime = runTime;
      if (head.kind === TaskKind.Call) this.#costs.add(head.name, runTime);
      if (head.where === 'gone') continue; // settled already (timeout, cancel)
      this.#outcomes.runTime.add(runTime);
      releaseTask(head);
      const status = msg[i + 1] as Status;
      const value = msg[i + 2];
      if (status === Status.Ok) {
        this.#outcomes.counts.completed++;
        futureInternals.setResult(head.future, value);
      } else {
        this.#outcomes.counts.failed++;
        futureInternals.setException(
          head.future,
          status === Status.ChunkError
            ? new ChunkFailure((value as [number, unknown])[0], decodeError((value as [number, unknown])[1]))
            : decodeError(value),
        );
      }
    }
    if (inflight.length === 0) this.#onIdle(w);
    this.#scheduleDispatch();
    if (this.#queue.size === 0) this.#updateRef(w);
  }


  #onIdle(w: WorkerRecord): void {
    if (w.retiring || this.#closed) {
      if (w.retiring || this.#queue.size === 0) this.#close(w);
      this.#checkDrained();
      return;
    }
    const opts = this.#opts;
    if (opts.idleTimeout !== Infinity && this.#liveCount() > opts.minWorkers) {
      clearTimeout(w.timer);
      w.timer = setTimeout(() => {
        w.timer = undefined;
        if (w.state === 'ready' && w.inflight.length === 0 && this.#liveCount() > this.#opts.minWorkers) this.#close(w);
      }, opts.idleTimeout);
      w.timer.unref();
    }
  }

  // ── workers ───────────────────────────────────────────────────────────

  /** Workers that count towards `workers`: not retiring, not on their way out. */
  #liveCount(): number {
    let n = 0;
    for (const w of this.#workers) if ((w.state === 'starting' || w.state === 'ready') && !w.retiring) n++;
    return n;
  }

  /** Starts workers up to what the queue and minWorkers ask for, never past `workers`. */
  #grow(): void {
    const opts = this.#opts;
    let live = 0;
    let busy = 0;
    for (const w of this.#workers) {
      if ((w.state === 'starting' || w.state === 'ready') && !w.retiring) {
        live++;
        if (w.inflight.length > 0) busy++;
      }
    }
    // After a start failure nothing starts until a new task asks (submit
    // clears the failure): replacing a worker that failed to start with
    // another would be a spawn loop.
    if (this.#startFailure !== undefined) return;
    // A starting worker will take a queued task, so it is not counted as busy.
    const floor = this.#closed ? 0 : opts.minWorkers;
    const want = Math.min(opts.workers, Math.max(floor, busy + this.#queue.size));
    for (let i = live; i < want; i++) this.#startWorker();
  }

  #startWorker(): void {
    const w = new WorkerRecord();
    this.#workers.push(w);
    w.handle = this.#spawn({
      message: (msg) => this.#onMessage(w, msg),
      exit: (code, signal, error) => this.#onExit(w, code, signal, error),
    });
    const opts = this.#opts;
    this.#trySend(w, [ToWorker.Init, opts.moduleHref, opts.initializer, opts.initArgs]);
    if (opts.startTimeout !== Infinity) {
      w.timer = setTimeout(() => {
        w.timer = undefined;
        if (w.state !== 'starting') return;
        this.#onStartFailure(
          w,
          new Error(`The worker did not import the module and run the initializer within ${opts.startTimeout} ms (startTimeout)`),
        );
      }, opts.startTimeout);
      w.timer.unref();
    }
    w.refed = true;
    this.#updateRef(w);
  }

  #onReady(w: WorkerRecord): void {
    if (w.state !== 'starting') return;
    w.state = 'ready';
    clearTimeout(w.timer);
    w.timer = undefined;
    this.#startFailure = undefined;
    if (this.#closed && this.#queue.size === 0) {
      this.#close(w);
      this.#checkDrained();
      return;
    }
    this.#settleReadyWaiters();
    this.#dispatch();
    if (w.inflight.length === 0) this.#onIdle(w);
    this.#updateRef(w);
  }

  #onStartFailure(w: WorkerRecord, cause: unknown): void {
    if (w.state !== 'starting') return;
    this.#kill(w);
    this.#failStart(cause);
  }

  #failStart(cause: unknown): void {
    const message = `The task module ${this.#opts.moduleHref} failed to start in a new worker: ${cause instanceof Error ? cause.message : String(cause)}`;
    this.#startFailure = new WorkerStartError(message, { cause });
    // With no worker able to run them, the waiting tasks would wait forever.
    // Each gets an error of its own: callers (map) annotate the ones they get.
    if (!this.#workers.some((x) => x.state === 'ready')) {
      for (const task of drainQueue(this.#queue)) this.#outcomes.fail(task, new WorkerStartError(message, { cause }), 'crashed');
    }
    this.#settleReadyWaiters();
    this.#checkDrained();
  }

  #onExit(w: WorkerRecord, code: number | null, signal: string | null, error: Error | undefined): void {
    const i = this.#workers.indexOf(w);
    if (i === -1) return;
    this.#workers.splice(i, 1);
    clearTimeout(w.timer);
    clearTimeout(w.deadlineTimer);
    const wasStarting = w.state === 'starting';
    w.state = 'killed';
    if (wasStarting) {
      // Exited before Ready or StartError: bad execArgv, process.exit or a
      // native crash during import.
      this.#failStart(w.fatal ?? error ?? new Error(`The worker exited during start (exit code ${String(code)}, signal ${String(signal)})`));
    }
    const inflight = w.inflight.splice(0);
    const head = inflight[0];
    // A worker the pool killed to stop a task (cancel, timeout) blames no
    // one else: if that task had in fact just finished, its result read
    // before the exit, the head now is a bystander sent ahead with it, which
    // may have begun. It runs again elsewhere rather than failing for
    // another task's sake (see "at most once" in docs/guide.md).
    if (head !== undefined && head.where !== 'gone' && !w.stoppedForTask) {
      const detail = w.fatal instanceof Error ? `${w.fatal.name}: ${w.fatal.message}` : error?.message;
      const crash = new WorkerCrashedError(code, signal, detail);
      if (w.fatal !== undefined) Object.defineProperty(crash, 'cause', { value: w.fatal, writable: true, configurable: true });
      this.#outcomes.fail(head, crash, 'crashed');
    }
    // The others never started: they keep their place at the front of the queue.
    const unstarted = inflight.slice(w.stoppedForTask ? 0 : 1).filter((t) => t.where === 'sent');
    for (const t of unstarted) {
      t.where = 'queued';
      t.worker = undefined;
      t.startedAt = 0;
      t.deadline = Infinity;
    }
    this.#queue.requeueFront(unstarted);
    // The last worker that could serve the queue is gone while a start
    // failure stands: try one start again (bounded — if it fails with no
    // worker ready, the queue fails with it) rather than leave tasks waiting.
    if (this.#startFailure !== undefined && this.#queue.size > 0 && !this.#workers.some((x) => x.state === 'ready' || x.state === 'starting')) {
      this.#startFailure = undefined;
    }
    this.#grow();
    this.#scheduleDispatch();
    this.#updateRefs();
    this.#checkDrained();
  }

  #kill(w: WorkerRecord): void {
    if (w.state === 'killed') return;
    w.state = 'killed';
    clearTimeout(w.timer);
    w.timer = undefined;
    w.handle.terminate();
    this.#updateRef(w);
  }

  #close(w: WorkerRecord): void {
    if (w.state === 'killed' || w.state === 'closing') return;
    if (w.state === 'starting') return this.#kill(w);
    w.state = 'closing';
    clearTimeout(w.timer);
    w.handle.close();
    // A worker whose event loop is stuck would never exit by itself.
    w.timer = setTimeout(() => this.#kill(w), CLOSE_KILL_MS);
    w.timer.unref();
    this.#updateRef(w);
  }

  #trySend(w: WorkerRecord, msg: unknown[]): void {
    try {
      w.handle.send(msg);
    } catch {
      // Only task values can fail to serialize; a dead channel shows up as an exit.
    }
  }

  // ── the event loop ────────────────────────────────────────────────────

  #updateRef(w: WorkerRecord): void {
    // While a shutdown is awaited every worker, even one already killed, holds
    // the loop until it has exited: otherwise the loop could empty first and
    // the awaited shutdown never settle.
    const want =
      w.inflight.length > 0 ||
      w.state === 'closing' ||
      this.#exitWaiters.any ||
      (w.state === 'starting' && (this.#queue.size > 0 || this.#readyWaiters.length > 0));
    if (want === w.refed) return;
    w.refed = want;
    if (want) w.handle.ref();
    else w.handle.unref();
  }

  #updateRefs(): void {
    for (const w of this.#workers) this.#updateRef(w);
  }

  // ── ready, stats, shutdown ────────────────────────────────────────────

  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#readyWaiters.push({ resolve, reject });
      this.#settleReadyWaiters();
      this.#updateRefs();
    });
  }

  #settleReadyWaiters(): void {
    if (this.#readyWaiters.length === 0) return;
    let ready = 0;
    for (const w of this.#workers) if (w.state === 'ready') ready++;
    const failure = this.#startFailure;
    if (failure === undefined && ready < this.#opts.minWorkers && !this.#closed) return;
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const waiter of waiters) {
      if (failure !== undefined && ready < this.#opts.minWorkers) waiter.reject(failure);
      else waiter.resolve();
    }
  }

  stats(): PoolStats {
    let busy = 0;
    let idle = 0;
    for (const w of this.#workers) {
      if (w.state !== 'ready') continue;
      if (w.inflight.length > 0) busy++;
      else idle++;
    }
    return this.#outcomes.stats(this.#workers.length, busy, idle, this.#queue.size);
  }

  shutdown(wait: boolean, cancelFutures: boolean): Promise<void> {
    this.#closed = true;
    if (cancelFutures) {
      cancelQueued(this.#queue);
      for (const w of this.#workers) {
        for (const task of w.inflight.slice(1)) task.future.cancel();
      }
    }
    const done = this.#exitWaiters.wait();
    this.#settleReadyWaiters();
    this.#checkDrained();
    this.#updateRefs();
    return wait ? done : Promise.resolve();
  }

  /** After shutdown: once no task is left, close every worker; once every worker exited, resolve. */
  #checkDrained(): void {
    if (!this.#closed) return;
    if (this.#queue.size > 0) return;
    for (const w of this.#workers) if (w.inflight.length > 0) return;
    for (const w of [...this.#workers]) this.#close(w);
    if (this.#workers.length === 0) this.#exitWaiters.release();
  }
}

function addAhead(w: WorkerRecord, cost: number): void {
  if (cost === Infinity) w.aheadUnknown++;
  else w.aheadMs += cost;
}

function removeAhead(w: WorkerRecord, cost: number): void {
  if (cost === Infinity) w.aheadUnknown--;
  else w.aheadMs -= cost;
  // Keep float sums from drifting: an empty list holds nothing.
  if (w.inflight.length === 0) {
    w.aheadMs = 0;
    w.aheadUnknown = 0;
  }
}

function cloneError(task: Task, err: unknown): Error {
  const args = task.kind === TaskKind.Call ? task.args : [];
  for (let i = 0; i < args.length; i++) {
    try {
      serialize(args[i]);
    } catch (argErr) {
      return new DataCloneError(
        `Argument ${i} of task \`${task.name}\` cannot be sent to a worker: ${argErr instanceof Error ? argErr.message : String(argErr)}`,
        { cause: argErr },
      );
    }
  }
  return new DataCloneError(
    `The arguments of task \`${task.name}\` cannot be sent to a worker: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
}
