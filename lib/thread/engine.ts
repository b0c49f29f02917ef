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
 *                                       #sendAhead, every thread busy and the
 *                                       queue deep: the next run to the thread
 *                                       whose begun run of known cost ends first ─▶ held in its port;
 *                                       it begins when the run in hand returns      entry.ts runs them one after the other
 *                 a run ends ─────────▶ #takeBack, the queue empty and a thread
 *                                       free: what a held run has not begun goes
 *                                       back to the queue (its Skip slots claimed)
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
 * it (sent ahead, while more than AHEAD_DEPTH tasks per thread wait after
 * it): piscina's balancer (./threads.ts) gives a run to a free thread, and
 * to a busy one only the run the engine sends ahead to it, so piscina never
 * queues and warmpool's queue keeps priorities and cancellation. A task with
 * a timeout or a transfer list, a map chunk, or one of unknown cost goes
 * alone. A thread that dies fails its running task with WorkerCrashedError;
 * what it had not begun (the rest of a batch, a held run) goes back to the
 * front of the queue, and a task of a held run begins its timeout when the
 * thread begins it.
 */

import { performance } from 'node:perf_hooks';
import { MessageChannel } from 'node:worker_threads';
import type { TransferListItem } from '../core/types.js';
import { TaskKind, type Engine } from '../core/contract.js';
import { EngineCore } from '../core/engine-core.js';
import { Costs, wireArgs, wireKind, MAX_BATCH, PIPELINE_MS, type Occupancy, type Transport } from '../core/transport.js';
import { Waiters } from '../core/waiters.js';
import { WorkerStartError } from '../core/errors.js';
import type { TaskQueue } from '../core/queue.js';
import type { TaskRecord } from '../core/task.js';
import { AbortReason, Claim, claim, Control } from './protocol.js';
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

/**
 * A run is sent ahead to a busy thread only while more than this many tasks
 * per thread still wait in the queue after it (#sendAhead). A map keeps
 * WINDOW_CHUNKS (4) chunks per worker read ahead, so a deeper rule would
 * leave a map's threads waiting on the parent between chunks; a held run
 * that turns out not to be needed is taken back (#takeBack).
 */
const AHEAD_DEPTH = 1;

/**
 * How long a held run that has begun waits for the reply of the run it was
 * held behind before its thread is stopped (ThreadEngine.kill). The reply
 * was posted before the held run began, so it normally is in at once.
 */
const LEADER_REPLY_MS = 100;

/** The least time a batch whose running task was cancelled has to return before its thread is stopped. */
const BATCH_STOP_GRACE_MS = 20;

type Task = TaskRecord<Run>;

export class ThreadEngine implements Transport<Run> {
  readonly #opts: ThreadEngineOptions;
  readonly #core: EngineCore<Run>;
  readonly #queue: TaskQueue<Task>;
  readonly #threads: Threads;
  readonly #runs = new Set<Run>();
  /** Measured run time per item of map chunks, by task name (#costOf). */
  readonly #chunkCosts = new Costs();
  /** Runs sent ahead and held behind another in their thread (Run.behind set): in #runs, but their thread is counted once. */
  #held = 0;
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
    this.#replies = {
      core,
      threads: this.#threads,
      endRun: (run) => {
        // A retiring thread skips everything after its last task, a run it holds too: taken back now, to queue after the run's own skipped tasks.
        const held = run.ahead;
        if (!this.#endRun(run)) return false;
        if (this.#held > 0 && this.#queue.size === 0) this.#takeBack();
        return held ?? true;
      },
      claimBack: (held) => this.#claimBack(held),
      failStart: (cause, alsoFail) => this.#failStart(cause, alsoFail),
      checkDrained: () => this.#checkDrained(),
      measured: (task, runTime) => this.#measured(task, runTime),
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
    return Math.max(0, this.#opts.workers - (this.#runs.size - this.#held) - this.#threads.unavailable);
  }

  backlog(): number {
    return this.#queue.size - this.#freeThreads();
  }

  dequeued(): void {
    this.#checkDrained();
  }

  cancelSent(task: Task, wasRunning: boolean): void {
    const run = task.slot!;
    const control = run.control;
    // A task of a batch, or of a run sent ahead, has a slot to claim: won,
    // the thread never begins it (it reports it skipped, and it is not
    // queued again: it is gone).
    if (control !== null && control.length > Control.Skip + task.index && !run.over) {
      if (claim(control, task.index, Claim.Skipped) === Claim.Open) {
        this.#core.release(task);
        return;
      }
      // The thread began it: it is running (its future may not say so yet, for a run sent ahead).
      wasRunning = true;
    }
    if (run.tasks.length === 1) {
      if (wasRunning) this.#core.stop(task, 'cancel');
      else this.#core.release(task);
      return;
    }
    // In a batch, begun. If it is the one running now, the rest of the batch
    // is skipped too (and queued again when the run returns), and the thread
    // is stopped unless the run returns within the grace: a batched task is
    // short by its measured cost, so it normally does.
    this.#core.release(task);
    if (Atomics.load(control!, Control.Begun) === task.index + 1) {
      for (let j = task.index + 1; j < run.tasks.length; j++) claim(control!, j, Claim.Skipped);
      this.#core.stop(task, 'cancel', BATCH_STOP_GRACE_MS);
    }
  }

  // ── dispatch ──────────────────────────────────────────────────────────

  /** Measured mean run time of a call by this name, ms; Infinity when unknown, and for chunks. */
  #estimate(task: Task): number {
    if (task.kind !== TaskKind.Call || task.timeout !== Infinity || task.transfer !== undefined || task.alone) return Infinity;
    return this.#core.costs.of(task.name);
  }

  /**
   * What a run of this task is expected to cost, ms, for sending one ahead
   * behind it: a call's measured cost (#estimate), or a map chunk's items
   * times the cost per item its earlier chunks came back with. Infinity
   * when unknown, and for a task with a timeout or a transfer list.
   */
  #costOf(task: Task): number {
    if (task.kind === TaskKind.Call) return this.#estimate(task);
    if ((task.kind !== TaskKind.Chunk && task.kind !== TaskKind.StarChunk) || task.timeout !== Infinity || task.transfer !== undefined)
      return Infinity;
    return this.#chunkCosts.of(task.name) * (task.args as unknown[]).length;
  }

  /** A task came back with its run time: a map chunk's cost per item is kept (#costOf). */
  #measured(task: Task, runTime: number): void {
    if (task.kind === TaskKind.Chunk || task.kind === TaskKind.StarChunk) {
      const items = (task.args as unknown[]).length;
      if (items > 0) this.#chunkCosts.add(task.name, runTime / items);
    }
  }

  dispatch(): void {
    if (this.#core.closed && this.#queue.size === 0) return;
    const queue = this.#queue;
    while (queue.size > 0) {
      const free = this.#freeThreads();
      if (free === 0) break;
      const piscina = this.#pool();
      if (piscina === undefined) return;
      this.#post(piscina, this.#take(free), undefined);
    }
    if (queue.size > AHEAD_DEPTH * this.#opts.workers + 1) this.#sendAhead();
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

  /**
   * The next run's tasks, taken from the queue: one, or a batch of short
   * ones when the queue holds more than one for each of `threads`; at most `most`.
   */
  #take(threads: number, most = MAX_BATCH): Task[] {
    const queue = this.#queue;
    // Batches only for a deep queue: otherwise every task gets a thread to itself.
    const share = queue.size > threads ? Math.min(most, MAX_BATCH, Math.ceil(queue.size / threads)) : 1;
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
    return tasks;
  }

  /**
   * Every thread is busy and the queue is deep: a thread whose run is of
   * known cost and has begun gets its next run now, held in its port, so it
   * does not wait a round trip through the parent between the two. Picked
   * by the earliest expected end; a run goes ahead only while more than
   * AHEAD_DEPTH tasks per thread would still wait after it, so that a run
   * held behind a long one never leaves another thread without work.
   */
  #sendAhead(): void {
    const queue = this.#queue;
    const workers = this.#opts.workers;
    // After it, more than AHEAD_DEPTH per thread still wait.
    while (queue.size > AHEAD_DEPTH * workers + 1) {
      let target: Run | undefined;
      for (const run of this.#runs) {
        if (run.ahead !== undefined || run.behind !== undefined || run.thread === 0 || run.control === null || !(run.cost < Infinity))
          continue;
        if (run.piscina !== this.#threads.instance || run.aborted || !this.#threads.usable(run.thread)) continue;
        // Begun: the thread has read it from its port, so a run sent now
        // cannot be read in the same turn and run before this one's reply leaves.
        if (Atomics.load(run.control, Control.Begun) === 0) continue;
        if (target === undefined || run.sentAt + run.cost < target.sentAt + target.cost) target = run;
      }
      if (target === undefined) return;
      const next = queue.peek()!;
      // A stream or a call with progress carries a port for its thread: never held.
      if (next.kind === TaskKind.Stream || next.kind === TaskKind.Progress) return;
      // As much as leaves the queue deep.
      const tasks = this.#take(workers, queue.size - AHEAD_DEPTH * workers - 1);
      this.#post(target.piscina, tasks, target);
    }
  }

  /**
   * A thread is free, the queue is empty, and runs are held behind others:
   * the free threads take back the not-yet-begun tasks of those expected to
   * wait longest. Claimed through their Control.Skip slots (Claim), the last
   * first: the thread claims from the first on, so what the engine wins is
   * a tail of the run that the thread will skip, and goes back to the front
   * of the queue, for a free thread.
   */
  #takeBack(): void {
    let free = this.#freeThreads();
    while (free > 0 && this.#held > 0) {
      let latest: Run | undefined;
      for (const run of this.#runs) {
        const behind = run.behind;
        if (behind === undefined || run.takenBack) continue;
        if (latest === undefined || behind.sentAt + behind.cost > latest.behind!.sentAt + latest.behind!.cost) latest = run;
      }
      if (latest === undefined) return;
      const back = this.#claimBack(latest);
      if (back.length === 0) continue;
      this.#core.requeue(back);
      this.#core.schedule();
      free--;
    }
  }

  /**
   * Claims what the held run has not begun, from its last task back
   * (#takeBack), and returns those tasks, in run order, for the caller to
   * queue again. The thread will skip them; its reply for them is ignored
   * (their slot is no longer this run).
   */
  #claimBack(held: Run): Task[] {
    const back: Task[] = [];
    if (held.takenBack) return back;
    held.takenBack = true;
    const control = held.control!;
    for (let k = held.tasks.length - 1; k >= 0; k--) {
      const task = held.tasks[k];
      const was = claim(control, k, Claim.Skipped);
      if (was === Claim.Begun) break;
      // Claim.Skipped already: cancelled, gone.
      if (was === Claim.Open && task.where !== 'gone') back.unshift(task);
    }
    // What waits for Begun on this run lets go (its tasks are no longer its own).
    if (back[0] === held.tasks[0]) Atomics.notify(control, Control.Begun);
    return back;
  }

  /** `behind`: the run it is sent ahead behind, in that run's thread (#sendAhead). */
  #post(piscina: Piscina, tasks: Task[], behind: Run | undefined): void {
    const first = tasks[0];
    const batch = tasks.length > 1;
    let cost = 0;
    for (const task of tasks) cost += this.#costOf(task);
    // After it, the queue still deep: it may have a run sent ahead behind it, when it has begun (#sendAhead).
    const mayLead = cost < Infinity && behind === undefined && this.#queue.size > AHEAD_DEPTH * this.#opts.workers + 1;
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
    if (behind !== undefined && run.thread === behind.thread && !behind.over) {
      run.behind = behind;
      behind.ahead = run;
      this.#held++;
    } else if (behind !== undefined && run.thread === 0) {
      // Its thread became unusable meanwhile (it marked itself retired): not
      // left in piscina's queue, where it would go to the next thread before
      // what warmpool's queue holds. Aborting a run piscina has not placed
      // only takes it out of that queue; it fails as stopped by the engine,
      // never begun, and goes back to the front of the queue (replies.ts).
      run.abort();
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
    if (run.over || run.stopFor !== undefined) return;
    const leader = run.behind;
    const control = run.control!;
    if (
      leader !== undefined &&
      (Atomics.load(control, Control.Begun) !== 0 || (Atomics.load(control, Control.Skip) as Claim) === Claim.Begun)
    ) {
      // Held, and begun: its thread posted the reply of the run it was held
      // behind first (entry.ts), and the engine has not read it. Ended now,
      // the thread takes that reply with it (piscina closes the port and
      // rejects both runs), and the leader's finished tasks would run again
      // as bystanders. Stopped once the reply is in (#endRun), or after
      // LEADER_REPLY_MS if it does not come: held behind this run, when the
      // leader's task wrote to process.stdout (design.md, Batching).
      run.stopFor = reason;
      clearTimeout(run.timer);
      run.timer = setTimeout(() => {
        run.timer = undefined;
        this.#kill(run, reason);
      }, LEADER_REPLY_MS);
      return;
    }
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
    // Held behind this one: its thread is on it now. Held itself: it ended
    // first (its thread died, or was stopped), and no longer counts as held.
    const ahead = run.ahead;
    if (ahead !== undefined) {
      run.ahead = undefined;
      ahead.behind = undefined;
      this.#held--;
      // Its reply is in: the held run waiting to be stopped (kill) is stopped now.
      if (ahead.stopFor !== undefined) {
        clearTimeout(ahead.timer);
        this.#kill(ahead, ahead.stopFor);
      }
    }
    const behind = run.behind;
    if (behind !== undefined) {
      run.behind = undefined;
      behind.ahead = undefined;
      this.#held--;
    }
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
    const busy = Math.min(workers, this.#runs.size - this.#held);
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
