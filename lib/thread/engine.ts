/*
 * ThreadPool's transport over the engine core (lib/core/engine-core.ts):
 * warmpool's queue, batches and futures over piscina's threads. Everything
 * about piscina (making it, thread starts, retiring, letting go) is behind
 * ./threads.ts; a run in flight is ./run.ts; reading its reply (and recovering
 * a batch whose thread died) is ./replies.ts; the thread's side is ./entry.ts.
 *
 *  caller          EngineCore            ThreadEngine                    thread (piscina)
 *  pool.submit ─▶ TaskRecord+Future ─▶ TaskQueue
 *                 a microtask ────────▶ dispatch, while fewer runs than
 *                                       threads: one task, or a batch of
 *                                       short ones (PIPELINE_MS)
 *                                       piscina.run([control, name, kind, args, …]) ─▶ entry.ts
 *                                         short form: [name, ...args]                   runs them in order
 *                 core.settle ◀──────── onReply (replies.ts) ◀── [Results, threadId, retire, status, value, runTime, …]
 *  await future ◀ fulfilled/rejected      short form: [value, runTime]
 *                 core.settle ◀──────── onFlushed (replies.ts) ◀── [Flushed, tag, from, status, value, runTime, …]
 *                                         a batch's results ahead of its reply (parentPort): before
 *                                         the thread awaits a task, or after FLUSH_MS of results waiting
 *  cancel/timeout ─▶ core.stop ───────▶ abort: Control.Abort (Atomics) ─────────────▶ taskSignal() aborts
 *                    (cancelGrace) ───▶ kill: the run's signal; piscina terminates the thread
 *
 *  control block (SharedArrayBuffer, when a run needs one): Begun (thread →
 *  engine: a timeout's clock starts), Abort (engine → thread), Skip (engine →
 *  thread: a batched task was cancelled; do not begin it), and a batch's tag
 *  last (its Flushed notes name it).
 *
 * At most one run per thread is in flight, so piscina always has an idle
 * thread for a run and never queues: warmpool's queue keeps priorities and
 * cancellation. A task with a timeout or a transfer list, a map chunk, or one
 * of unknown cost goes alone. A thread that dies fails its running task with
 * WorkerCrashedError; what it had not begun goes back to the queue.
 */

import { performance } from 'node:perf_hooks';
import { MessageChannel } from 'node:worker_threads';
import type { TransferListItem } from '../core/types.js';
import { TaskKind, type Engine } from '../core/contract.js';
import { EngineCore } from '../core/engine-core.js';
import { wireArgs, wireKind, MAX_BATCH, PIPELINE_MS, type Occupancy, type Transport } from '../core/transport.js';
import { Waiters } from '../core/waiters.js';
import { WorkerStartError } from '../core/errors.js';
import type { TaskQueue } from '../core/queue.js';
import type { TaskRecord } from '../core/task.js';
import { AbortReason, Control } from './protocol.js';
import { onFlushed, onReply, onRunFailed, type ReplyHandling } from './replies.js';
import { Run } from './run.js';
import type { WorkerExitReason } from '../core/diagnostics.js';
import { Threads, type Piscina, type ThreadsOptions } from './threads.js';

/** Filled-in options, from ThreadPool. */
export interface ThreadEngineOptions extends ThreadsOptions {
  readonly name: string;
  readonly maxQueued: number;
  readonly cancelGrace: number;
}

/** The least time a batch whose running task was cancelled has to return before its thread is stopped. */
const BATCH_STOP_GRACE_MS = 20;

type Task = TaskRecord<Run>;

export class ThreadEngine implements Transport<Run> {
  readonly #opts: ThreadEngineOptions;
  readonly #core: EngineCore<Run>;
  readonly #queue: TaskQueue<Task>;
  readonly #threads: Threads;
  readonly #runs = new Set<Run>();
  /** Threads the engine stopped for a task (cancelGrace over), and why: their `exit` says so. */
  readonly #stopped = new Map<number, 'cancel' | 'timeout'>();
  #startFailure: WorkerStartError | undefined;
  /** The last batch tag given (ThreadNote.Flushed); never 0. */
  #lastTag = 0;
  readonly #readyWaiters = new Waiters();
  #destroyed: Promise<void> | undefined;
  /** What ./replies.ts needs of the engine to settle a run's results. */
  readonly #replies: ReplyHandling;

  constructor(opts: ThreadEngineOptions) {
    this.#opts = opts;
    this.#core = new EngineCore<Run>(this, opts, true);
    this.#queue = this.#core.queue;
    const core = this.#core;
    this.#threads = new Threads(opts, {
      spawned: (id) => core.workerEvent(id, 'start'),
      started: (id) => {
        core.workerEvent(id, 'ready');
        this.#settleReadyWaiters();
      },
      broken: (_id, cause) => {
        this.#startFailure = this.#startError(cause);
        this.#settleReadyWaiters();
        this.#startFailure = undefined;
        core.schedule();
      },
      failed: (cause) => this.#failStart(cause),
      exited: (id, code, retired, died) => {
        core.workerEvent(id, 'exit', code, null, this.#exitReason(id, retired) ?? died);
        if (retired) core.schedule();
      },
      flushed: (note) => onFlushed(core, this.#runs, note),
      partial: (threadId, reply) => {
        for (const run of this.#runs)
          if (run.control !== null && Atomics.load(run.control, Control.Thread) === threadId) run.partial = reply;
      },
    });
    this.#replies = {
      core,
      threads: this.#threads,
      endRun: (run) => this.#endRun(run),
      failStart: (cause, alsoFail) => this.#failStart(cause, alsoFail),
      checkDrained: () => this.#checkDrained(),
    };
    this.#threads.pool();
  }

  /** What the pool talks to: the engine core over this transport. */
  get core(): Engine {
    return this.#core;
  }

  get workers(): number {
    return this.#opts.workers;
  }

  #startError(cause: unknown): WorkerStartError {
    const message = `The task module ${this.#opts.moduleHref} failed to start in a new thread: ${cause instanceof Error ? cause.message : String(cause)}`;
    return new WorkerStartError(message, { cause });
  }

  /** No thread of the current piscina instance can start: fail what waits, let the instance go. */
  #failStart(cause: unknown, alsoFail: readonly Task[] = []): void {
    const core = this.#core;
    const piscina = this.#threads.instance;
    this.#startFailure = this.#startError(cause);
    // No thread of this instance can run anything: let it go, with what it holds.
    this.#threads.letGo();
    for (const run of [...this.#runs]) {
      if (run.piscina !== piscina) continue;
      this.#endRun(run);
      run.port?.close();
      for (const task of run.tasks) if (task.where !== 'gone') core.fail(task, this.#startError(cause), 'crashed');
    }
    for (const task of alsoFail) if (task.where !== 'gone') core.fail(task, this.#startError(cause), 'crashed');
    for (const task of core.drainQueue()) core.fail(task, this.#startError(cause), 'crashed');
    this.#settleReadyWaiters();
    this.#checkDrained();
  }

  // ── submit ────────────────────────────────────────────────────────────

  /** A stream's credit, messages and end, on the task's own port (./protocol.ts); postMessage throws, sending nothing, for a value it cannot clone. */
  toTask(task: Task, message: unknown[]): void {
    task.slot!.port?.postMessage(message);
  }

  accepted(): boolean {
    // A new task is a new reason to try starting threads after a start failure.
    this.#startFailure = undefined;
    this.#threads.retryBroken();
    return true;
  }

  /** Threads that could take a run now (or soon, if still to be started). */
  #freeThreads(): number {
    return Math.max(0, this.#opts.workers - this.#runs.size - this.#threads.unavailable);
  }

  backlog(): number {
    return this.#queue.size - this.#freeThreads();
  }

  dequeued(): void {
    this.#checkDrained();
  }

  cancelSent(task: Task, wasRunning: boolean): void {
    const run = task.slot!;
    if (run.tasks.length === 1) {
      if (wasRunning) this.#core.stop(task, 'cancel');
      else this.#core.release(task);
      return;
    }
    // In a batch: skipped if not begun. If it is the one running now, the
    // rest of the batch is skipped too (and queued again when the run
    // returns), and the thread is stopped unless the run returns within the
    // grace: a batched task is short by its measured cost, so it normally does.
    this.#core.release(task);
    const control = run.control!;
    Atomics.store(control, Control.Skip + task.index, 1);
    if (Atomics.load(control, Control.Begun) === task.index + 1) {
      for (let j = task.index + 1; j < run.tasks.length; j++) Atomics.store(control, Control.Skip + j, 1);
      this.#core.stop(task, 'cancel', BATCH_STOP_GRACE_MS);
    }
  }

  // ── dispatch ──────────────────────────────────────────────────────────

  /** Measured mean run time of a call by this name, ms; Infinity when unknown, and for chunks. */
  #estimate(task: Task): number {
    if (task.kind !== TaskKind.Call || task.timeout !== Infinity || task.transfer !== undefined || task.alone) return Infinity;
    return this.#core.costs.of(task.name);
  }

  dispatch(): void {
    if (this.#core.closed && this.#queue.size === 0) return;
    const queue = this.#queue;
    while (queue.size > 0) {
      const free = this.#freeThreads();
      if (free === 0) break;
      let piscina: Piscina;
      try {
        piscina = this.#threads.pool();
      } catch (err) {
        this.#failStart(err); // new Worker() refused the options
        return;
      }
      // Batches only for a deep queue: otherwise every task gets a thread to itself.
      const share = queue.size > free ? Math.min(MAX_BATCH, Math.ceil(queue.size / free)) : 1;
      const first = queue.shift()!;
      const tasks = [first];
      let cost = this.#estimate(first);
      if (share > 1 && cost <= PIPELINE_MS) {
        while (tasks.length < share) {
          const next = queue.peek();
          if (next === undefined) break;
          const c = this.#estimate(next);
          if (!(cost + c <= PIPELINE_MS)) break;
          queue.shift();
          cost += c;
          tasks.push(next);
        }
      }
      this.#post(piscina, tasks);
    }
  }

  #post(piscina: Piscina, tasks: Task[]): void {
    const first = tasks[0];
    const batch = tasks.length > 1;
    // A stream or a call with progress: alone (its cost is never estimated), with a port of its own.
    const line = first.kind === TaskKind.Stream || first.kind === TaskKind.Progress ? new MessageChannel() : undefined;
    const control =
      // Observed (a `warmpool:task` subscriber at submit): the control block
      // tells which thread began the task, for `asyncStart`. Traced: the
      // short form has no kind to flag the carrier with. A stream is always
      // stopped through Abort first (STREAM_STOP_GRACE_MS).
      batch ||
      first.timeout !== Infinity ||
      this.#opts.cancelGrace > 0 ||
      first.diag !== undefined ||
      first.trace !== undefined ||
      line !== undefined
        ? new Int32Array(new SharedArrayBuffer((Control.Skip + (batch ? tasks.length + 1 : 0)) * 4))
        : null;
    const run = new Run(tasks, control, piscina);
    if (batch) {
      this.#lastTag = (this.#lastTag % 0x7fffffff) + 1;
      run.tag = control![control!.length - 1] = this.#lastTag;
    }
    let transfer = first.transfer as TransferListItem[] | undefined;
    if (line !== undefined) {
      const port = (run.port = line.port1);
      // A message for a task already settled is dropped by its channel.
      port.on('message', (message: unknown[]) => first.channel?.receive(message));
      transfer = transfer === undefined ? [line.port2] : [...transfer, line.port2];
    }
    const now = performance.now();
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i];
      task.where = 'sent';
      task.slot = run;
      task.index = i;
    }
    let msg: unknown[];
    if (control === null && !batch && first.kind === TaskKind.Call) {
      // The short form (protocol.ts): [name, ...args].
      const args = first.args;
      msg = new Array<unknown>(args.length + 1);
      msg[0] = first.name;
      for (let i = 0; i < args.length; i++) msg[i + 1] = args[i];
    } else {
      msg = [control];
      for (const task of tasks) msg.push(task.name, wireKind(task), wireArgs(task));
      if (line !== undefined) msg.push(line.port2);
    }
    this.#runs.add(run);
    // The first task is running from the user's point of view; the others
    // of a batch stay pending (cancellable, skipped) until their results.
    // A task queued again (behind a crash, a cancel, a retiring thread) is running already.
    const core = this.#core;
    if (first.future.state === 'pending') core.begin(first, now);
    for (let i = 1; i < tasks.length; i++) core.waitTime.add(now - tasks[i].submittedAt);
    if (first.timeout !== Infinity) run.clockOnBegin(first, this.#onDeadline);
    if (first.diag !== undefined) run.onBegun((thread, at) => core.began(first, thread, at));
    let reply: Promise<unknown[]>;
    try {
      reply = piscina.run(msg, { signal: run as unknown as AbortSignal, transferList: transfer }) as Promise<unknown[]>;
    } catch (err) {
      run.port?.close();
      // piscina starts a thread inside run() when it needs one, and
      // new Worker() throws there for options Node refuses (an execArgv
      // flag threads do not accept): no thread can start.
      this.#failStart(err);
      return;
    }
    reply.then(
      (r) => onReply(this.#replies, run, r),
      (err: unknown) => onRunFailed(this.#replies, run, err),
    );
    // piscina may have started a thread for it.
    this.#threads.watchStarts();
  }

  readonly #onDeadline = (task: Task) => this.#core.timeOut(task, '; its thread was stopped');

  /** Aborts the task's signal in the thread; false when the run has no control block to say it through. */
  abort(task: Task, reason: 'cancel' | 'timeout'): boolean {
    const run = task.slot!;
    if (run.over) return true; // it answered already: nothing to stop
    clearTimeout(run.timer);
    if (run.control === null) return false;
    Atomics.store(run.control, Control.Abort, (reason === 'cancel' ? AbortReason.Cancel : AbortReason.Timeout) + 4 * (task.index + 1));
    Atomics.notify(run.control, Control.Abort);
    return true;
  }

  /** The run's AbortSignal makes piscina terminate the thread (a synchronous loop stops too) and start another. */
  kill(task: Task, reason: 'cancel' | 'timeout'): void {
    const run = task.slot!;
    if (run.over) return;
    // Which thread: written by it when it began the run (0 before, or in the short form).
    const thread = run.control === null ? 0 : Atomics.load(run.control, Control.Thread);
    if (thread !== 0) this.#stopped.set(thread, reason);
    run.abort();
  }

  /**
   * Why a thread exited, where the engine knows: stopped for a task, retired,
   * the pool shut down. Otherwise undefined, and Threads says whether the
   * thread died (a crash, out of memory) or piscina ended it (idle: no reason).
   */
  #exitReason(thread: number, retired: boolean): WorkerExitReason | undefined {
    const stopped = this.#stopped.get(thread);
    if (stopped !== undefined) {
      this.#stopped.delete(thread);
      return stopped;
    }
    if (retired) return 'recycle';
    return this.#core.closed ? 'shutdown' : undefined;
  }

  // ── replies (./replies.ts reads them) ──────────────────────────────────

  /** The run is no longer in flight: before futures settle, so stats() agrees with them. */
  #endRun(run: Run): boolean {
    if (!run.end()) return false;
    this.#runs.delete(run);
    return true;
  }

  // ── lifecycle ─────────────────────────────────────────────────────────

  ready(): Promise<void> {
    if (this.#threads.startedCount >= this.#opts.minWorkers && this.#threads.instance !== undefined) return Promise.resolve();
    if (this.#startFailure !== undefined) return Promise.reject(this.#startFailure);
    if (this.#core.closed && this.#threads.instance === undefined) return Promise.resolve();
    try {
      this.#threads.pool();
    } catch (err) {
      this.#failStart(err);
      return Promise.reject(this.#startFailure);
    }
    const ready = this.#readyWaiters.wait();
    this.#settleReadyWaiters();
    return ready;
  }

  #settleReadyWaiters(): void {
    if (!this.#readyWaiters.any) return;
    const failure = this.#startFailure;
    if (failure !== undefined) this.#readyWaiters.reject(failure);
    else if (this.#threads.startedCount >= this.#opts.minWorkers) this.#readyWaiters.release();
  }

  occupancy(): Occupancy {
    const workers = this.#threads.alive;
    const busy = Math.min(workers, this.#runs.size);
    return { workers, busy, idle: workers - busy };
  }

  closing(cancelFutures: boolean): void {
    // Tasks of batches in flight that have not been reached are pending too.
    if (cancelFutures)
      for (const run of [...this.#runs]) for (const task of run.tasks.slice(1)) if (task.where !== 'gone') task.future.cancel();
    this.#checkDrained();
  }

  #checkDrained(): void {
    const core = this.#core;
    if (!core.closed || this.#queue.size > 0 || this.#runs.size > 0 || !core.drained.any) return;
    this.#destroyed ??= this.#destroy();
    void this.#destroyed.then(() => core.drained.release());
  }

  async #destroy(): Promise<void> {
    await this.#threads.destroy();
    // A ready() still waiting will not see a thread start any more; as with
    // a ProcessPool, it resolves (the pool is closed, not broken).
    this.#readyWaiters.release();
  }
}
