/*
 * ThreadPool's transport over the engine core (lib/core/engine-core.ts):
 * warmpool's queue, batches and futures over piscina's threads. Everything
 * about piscina (making it, thread starts, retiring, letting go) is behind
 * ./threads.ts; a run in flight is ./run.ts; reading its reply (and recovering
 * a batch whose thread died) is ./replies.ts; the thread's side is ./entry.ts.
 *
 *  caller          EngineCore            ThreadEngine                    thread (piscina)
 *  pool.submit ─▶ TaskRecord+Future ─▶ TaskQueue
 *                 a microtask ────────▶ dispatch (./dispatch.ts): one task, or a batch of short ones
 *                                       (PIPELINE_MS), per free thread; with every thread busy and
 *                                       the queue deep, the next run to the thread whose begun run
 *                                       of known cost ends first (Dispatch.send), held in its port
 *                                       piscina.run([control, name, kind, args, …]) ─▶ entry.ts
 *                                         short form: [name, ...args]                   runs them in order, a held run after
 *                 a run ends ─────────▶ the queue empty, a thread free: what a held run has not
 *                                       begun goes back to the queue (Dispatch.takeBack)
 *                 core.settle ◀──────── onReply (replies.ts) ◀── [Results, threadId, retire, status, value, runTime, …]
 *  await future ◀ fulfilled/rejected      short form: [value, runTime]
 *                 core.settle ◀──────── onFlushed (replies.ts) ◀── [Flushed, tag, from, status, value, runTime, …]
 *                                         a batch's results ahead of its reply (parentPort): before
 *                                         the thread awaits a task, or after FLUSH_MS of results waiting
 *  cancel/timeout ─▶ core.stop ───────▶ abort: Control.Abort (Atomics) ─────────────▶ taskSignal() aborts
 *                    (cancelGrace) ───▶ kill: the run's signal; piscina terminates the thread
 *
 *  control block (SharedArrayBuffer, when a run needs one): Begun (thread →
 *  engine: a timeout's clock starts, a run may go ahead behind it), Abort
 *  (engine → thread), Skip (one slot per task of a batch or of a run sent
 *  ahead, claimed by whichever comes first: the thread to begin the task, the
 *  engine to cancel it or take it back), and a batch's tag last (its Flushed
 *  and Partial notes name it).
 *
 * At most one run per thread is running, and at most one more held behind
 * it: piscina's balancer (./threads.ts) gives a run to a free thread, and to
 * a busy one only a run sent ahead to it, so piscina never queues and
 * warmpool's queue keeps priorities and cancellation. A task with a timeout
 * or a transfer list, a map chunk, or one of unknown cost goes alone. A
 * thread that dies fails its running task with WorkerCrashedError; what it
 * had not begun (the rest of a batch, a held run) goes back to the front of
 * the queue.
 */

import { performance } from 'node:perf_hooks';
import { MessageChannel } from 'node:worker_threads';
import type { TransferListItem } from '../core/types.js';
import { TaskKind, type Engine } from '../core/contract.js';
import { EngineCore } from '../core/engine-core.js';
import type { Occupancy, Transport } from '../core/transport.js';
import { Waiters } from '../core/waiters.js';
import { WorkerStartError } from '../core/errors.js';
import type { TaskQueue } from '../core/queue.js';
import type { TaskRecord } from '../core/task.js';
import { AbortReason, Control } from './protocol.js';
import { onFlushed, onReply, onRunFailed, type ReplyHandling } from './replies.js';
import { Run } from './run.js';
import { Dispatch } from './dispatch.js';
import type { WorkerExitReason } from '../core/diagnostics.js';
import { Threads, type Piscina, type ThreadsOptions } from './threads.js';

/** Filled-in options, from ThreadPool. */
export interface ThreadEngineOptions extends ThreadsOptions {
  readonly name: string;
  readonly maxQueued: number;
  readonly cancelGrace: number;
}

type Task = TaskRecord<Run>;

export class ThreadEngine implements Transport<Run> {
  readonly #opts: ThreadEngineOptions;
  readonly #core: EngineCore<Run>;
  readonly #queue: TaskQueue<Task>;
  readonly #threads: Threads;
  readonly #runs = new Set<Run>();
  /** Runs sent ahead: which is held behind which, and the choices (./dispatch.ts). */
  readonly #dispatch: Dispatch;
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
      // By the batch's tag, not its thread: a thread may hold a second run, sent ahead.
      partial: (tag, reply) => {
        for (const run of this.#runs) if (run.tag === tag) run.partial = reply;
      },
    });
    this.#dispatch = new Dispatch({
      queue: this.#queue,
      runs: this.#runs,
      workers: opts.workers,
      threads: this.#threads,
      core,
      freeThreads: () => this.#freeThreads(),
      post: (piscina, tasks, behind) => this.#post(piscina, tasks, behind),
      kill: (run, reason) => this.#kill(run, reason),
    });
    this.#replies = {
      core,
      threads: this.#threads,
      endRun: (run) => {
        // A retiring thread skips everything after its last task, a run it holds too: taken back now, to queue after the run's own skipped tasks.
        const held = run.ahead;
        if (!this.#endRun(run)) return false;
        if (this.#dispatch.held > 0 && this.#queue.size === 0) this.#dispatch.takeBack();
        return held ?? true;
      },
      claimBack: (held) => this.#dispatch.claimBack(held),
      failStart: (cause, alsoFail) => this.#failStart(cause, alsoFail),
      checkDrained: () => this.#checkDrained(),
      measured: (task, runTime) => this.#dispatch.measured(task, runTime),
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
    return Math.max(0, this.#opts.workers - (this.#runs.size - this.#dispatch.held) - this.#threads.unavailable);
  }

  backlog(): number {
    return this.#queue.size - this.#freeThreads();
  }

  dequeued(): void {
    this.#checkDrained();
  }

  cancelSent(task: Task, wasRunning: boolean): void {
    this.#dispatch.cancel(task, wasRunning);
  }

  // ── dispatch ──────────────────────────────────────────────────────────

  dispatch(): void {
    if (this.#core.closed && this.#queue.size === 0) return;
    const queue = this.#queue;
    while (queue.size > 0) {
      const free = this.#freeThreads();
      if (free === 0) break;
      const piscina = this.#pool();
      if (piscina === undefined) return;
      this.#post(piscina, this.#dispatch.take(free), undefined);
    }
    if (this.#dispatch.deep) this.#dispatch.send();
  }

  /** The piscina instance, made on first need; undefined when new Worker() refused the options (what waits has failed). */
  #pool(): Piscina | undefined {
    try {
      return this.#threads.pool();
    } catch (err) {
      this.#failStart(err);
      return undefined;
    }
  }

  /** `behind`: the run it is sent ahead behind, in that run's thread (Dispatch.send). */
  #post(piscina: Piscina, tasks: Task[], behind: Run | undefined): void {
    const first = tasks[0];
    const batch = tasks.length > 1;
    let cost = 0;
    for (const task of tasks) cost += this.#dispatch.costOf(task);
    // After it, the queue still deep: it may have a run sent ahead behind it, when it has begun (Dispatch.send).
    const mayLead = cost < Infinity && behind === undefined && this.#dispatch.deep;
    // A stream or a call with progress: alone (its cost is never estimated), with a port of its own.
    const line = first.kind === TaskKind.Stream || first.kind === TaskKind.Progress ? new MessageChannel() : undefined;
    const control =
      // Observed (a `warmpool:task` subscriber at submit): the control block
      // tells which thread began the task, for `asyncStart`. Traced: the
      // short form has no kind to flag the carrier with. A stream is always
      // stopped through Abort first (STREAM_STOP_GRACE_MS). Sent ahead, or
      // may have one sent ahead behind it: Begun says when it begins.
      batch ||
      behind !== undefined ||
      mayLead ||
      first.timeout !== Infinity ||
      this.#opts.cancelGrace > 0 ||
      first.diag !== undefined ||
      first.trace !== undefined ||
      line !== undefined
        ? new Int32Array(new SharedArrayBuffer((Control.Skip + (batch ? tasks.length + 1 : behind !== undefined ? 1 : 0)) * 4))
        : null;
    const run = new Run(tasks, control, piscina);
    run.cost = cost;
    if (behind !== undefined) control![Control.Held] = 1;
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
    const msg = run.message(line?.port2);
    this.#runs.add(run);
    run.sentAt = now;
    // The first task is running from the user's point of view; the others
    // of a batch stay pending (cancellable, skipped) until their results.
    // A task queued again (behind a crash, a cancel, a retiring thread) is
    // running already. A run sent ahead is pending until its thread begins it.
    const core = this.#core;
    if (behind === undefined) {
      if (first.future.state === 'pending') core.begin(first, now);
      if (first.diag !== undefined) run.onBegun((thread, at) => core.began(first, thread, at));
    } else {
      run.onBegun((thread, at) => {
        if (first.slot !== run || first.where === 'gone') return;
        if (first.future.state === 'pending') core.begin(first, at);
        if (first.diag !== undefined) core.began(first, thread, at);
      });
    }
    for (let i = behind === undefined ? 1 : 0; i < tasks.length; i++) core.waitTime.add(now - tasks[i].submittedAt);
    if (first.timeout !== Infinity) run.clockOnBegin(first, this.#onDeadline);
    // Once begun, another run may go ahead behind it.
    if (mayLead) run.onBegun(() => core.schedule());
    let reply: Promise<unknown[]>;
    const threads = this.#threads;
    threads.aheadTo = behind?.thread ?? 0;
    threads.picked = 0;
    try {
      reply = piscina.run(msg, { signal: run as unknown as AbortSignal, transferList: transfer }) as Promise<unknown[]>;
    } catch (err) {
      run.port?.close();
      // piscina starts a thread inside run() when it needs one, and
      // new Worker() throws there for options Node refuses (an execArgv
      // flag threads do not accept): no thread can start.
      this.#failStart(err);
      return;
    } finally {
      threads.aheadTo = 0;
    }
    // Where piscina put it: the thread asked for, or a free one (the reply
    // of the run there may have reached piscina and not yet the engine); 0
    // when piscina queued it, a thread being started.
    run.thread = threads.picked;
    if (behind !== undefined) this.#dispatch.placed(run, behind);
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
    if (run.over || run.stopFor !== undefined) return;
    // A held run that has begun: once the reply of the run before it is in.
    if (this.#dispatch.stopLater(run, reason)) return;
    this.#kill(run, reason);
  }

  #kill(run: Run, reason: 'cancel' | 'timeout'): void {
    if (run.over) return;
    // Which thread: written by it when it began the run (0 before, or in the short form).
    const thread = run.control === null ? run.thread : Atomics.load(run.control, Control.Thread) || run.thread;
    if (thread !== 0) this.#stopped.set(thread, reason);
    // The other run in that thread's hands fails with it (piscina rejects
    // every run of a thread it ends): not begun, it goes back to the queue;
    // begun or done, it runs again, as a bystander of the stop.
    if (run.ahead !== undefined) run.ahead.bystander = true;
    if (run.behind !== undefined) run.behind.bystander = true;
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
    this.#dispatch.ended(run);
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
    // Not a held run, nor one taken back whole (its futures settle elsewhere; its thread only skips it).
    let running = 0;
    for (const run of this.#runs) if (run.behind === undefined && !run.emptied) running++;
    const busy = Math.min(workers, running);
    return { workers, busy, idle: workers - busy };
  }

  closing(cancelFutures: boolean): void {
    // Tasks of batches in flight that have not been reached are pending too, as are those of a run sent ahead.
    if (cancelFutures)
      for (const run of [...this.#runs])
        for (let i = 0; i < run.tasks.length; i++) {
          const task = run.tasks[i];
          if (task.where !== 'gone' && (i > 0 || task.future.state === 'pending')) task.future.cancel();
        }
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
