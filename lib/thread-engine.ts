/*
 * The engine behind ThreadPool: warmpool's queue and futures over piscina's
 * threads.
 *
 *   submit() ──▶ ThreadTask + Future ──▶ TaskQueue (priority, then FIFO)
 *                                            │  #dispatch, once per microtask,
 *                                            │  while fewer runs than threads:
 *                                            ▼  one task, or a batch of short ones
 *     piscina.run([control, name, kind, args, name, ...], { signal, transferList })
 *                                            │
 *        piscina: an idle warm thread ◀──────┘  (its queue stays empty)
 *                 runtime/thread/entry.ts runs the tasks in order
 *                                            │
 *     #onReply ◀── [Results, threadId, retire, status, value, runTime, ...]
 *        settle each Future, free the run, dispatch again
 *
 *     control (SharedArrayBuffer, when a run needs one):
 *        Begun ── thread → engine: which task it has begun (a timeout's clock starts)
 *        Abort ── engine → thread: abort the task's taskSignal() (cancelGrace)
 *        Skip  ── engine → thread: a batched task was cancelled; do not begin it
 *
 * Submit. As in the ProcessPool scheduler: `submit` queues the task and
 * schedules a dispatch in a microtask; no future is made when the pool is
 * closed or full.
 *
 * Scheduler. piscina runs the threads (start, Atomics wake-ups, idle
 * timeout, resourceLimits, terminate on abort, replacement). warmpool keeps
 * the queue, because piscina's has no priorities and warmpool batches from
 * it: at most one run per thread is in flight, so piscina always has an idle
 * thread for a run and never queues. When the queue is deeper than the free
 * threads, a run carries several tasks whose measured run time adds up to at
 * most PIPELINE_MS and that have no timeout, no transfer list: one message
 * for many tasks is what makes small tasks cheap. Results of a batch come
 * back together; the budget keeps that wait short. A task of unknown cost (or
 * a map chunk, which is already a batch) goes alone.
 *
 * Timeouts and cancel. A task with a timeout goes alone; its clock starts
 * when the thread writes Begun (an Atomics.waitAsync here), not when it was
 * queued, which is what piscina's own abort signal would count. At the
 * deadline, or on cancel, the future settles at once; the task's signal is
 * aborted in the thread, and after `cancelGrace` ms (at once when 0) the
 * run's AbortSignal makes piscina terminate the thread (a synchronous loop
 * stops too) and start another. A cancelled task of a batch that has not
 * begun is skipped; one that has is short by construction and its result is
 * dropped, unless it is still running when the others are done (a wrong
 * estimate), and then the thread is stopped after the grace.
 *
 * Threads. A thread that dies (process.exit, an uncaught error in a callback,
 * out of memory) fails its running task with WorkerCrashedError; the tasks of
 * its batch that had not begun go back to the queue. The task module is
 * imported at the top of the thread's entry module, before piscina marks the
 * thread ready; the entry never throws, it reports (ThreadNote.Started) and
 * answers every run with the start error, so piscina never respawns in a
 * loop: the engine destroys that piscina instance and makes a new one only
 * when a new task is submitted.
 */

import { performance } from 'node:perf_hooks';
import { deserialize } from 'node:v8';
import type { TransferListItem } from './types.js';
import { createRequire } from 'node:module';
import type { Piscina } from 'piscina';
import { DataCloneError, PoolClosedError, QueueFullError, TimeoutError, WorkerCrashedError, WorkerStartError } from './errors.js';
import { futureInternals, type Future, type FutureOwner } from './future.js';
import { cancelQueued, Costs, drainQueue, enqueue, Outcomes, releaseTask, Waiters } from './engine-parts.js';
import { Status, TaskKind } from './messages.js';
import { MAX_TIMER_MS } from './options.js';
import { TaskQueue } from './queue.js';
import { cloneFailure } from './runtime/thread/clone-check.js';
import { AbortReason, Control, REPLY_HEAD, REPLY_STRIDE, Reply, RETIRED_SLOTS, ThreadNote, type ThreadInit } from './runtime/thread/protocol.js';
import { ChunkFailure, type Engine, type TaskOptions } from './scheduler.js';
import type { PoolStats } from './stats.js';
import { decodeError } from './wire-error.js';

/** Filled-in options, from ThreadPool. */
export interface ThreadEngineOptions {
  readonly moduleHref: string;
  readonly workers: number;
  readonly minWorkers: number;
  readonly idleTimeout: number;
  readonly maxTasksPerWorker: number;
  readonly initializer: string | null;
  readonly initArgs: readonly unknown[];
  readonly maxQueued: number;
  readonly cancelGrace: number;
  readonly startTimeout: number;
  readonly env: NodeJS.ProcessEnv | undefined;
  readonly execArgv: string[] | undefined;
  readonly maxMemoryMb: number | undefined;
}

/** How much work, in ms of measured run time, one run may carry. */
const PIPELINE_MS = 2;
/** Most tasks in one run. */
const MAX_BATCH = 256;
/** The least time a batch whose running task was cancelled has to return before its thread is stopped. */
const BATCH_STOP_GRACE_MS = 20;

const ENTRY = new URL('./runtime/thread/entry.js', import.meta.url);

/**
 * piscina, loaded when the first ThreadPool needs it: importing warmpool for a
 * ProcessPool or a LocalPool should not pay piscina's load time (13 ms on its
 * own in docs/benchmarks.md, section 7). It is a CommonJS package, so
 * require() loads it synchronously.
 */
let piscinaClass: typeof Piscina | undefined;
function loadPiscina(): typeof Piscina {
  return (piscinaClass ??= (createRequire(import.meta.url)('piscina') as { Piscina: typeof Piscina }).Piscina);
}

class ThreadTask {
  where: 'queued' | 'sent' | 'gone' = 'queued';
  run: Run | undefined = undefined;
  /** Its index in the run. */
  index = 0;
  deadline = Infinity;
  runTime = 0;
  /** Never batched again: one of its values could not be sent in a batch. */
  solo = false;
  future!: Future<any>;
  onAbort: (() => void) | undefined = undefined;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly kind: TaskKind,
    public args: readonly unknown[],
    readonly priority: number,
    readonly timeout: number,
    readonly signal: AbortSignal | undefined,
    readonly transfer: readonly TransferListItem[] | undefined,
    readonly submittedAt: number,
  ) {}
}

/**
 * One piscina.run in flight. It is also the run's abort signal: piscina
 * accepts an EventEmitter-style one (`aborted`, `once`, `removeListener`),
 * which costs nothing per run, where an AbortController and piscina's
 * addEventListener on it cost more than the rest of a round trip.
 */
class Run {
  /** Set when the engine aborts the run; piscina then terminates its thread. */
  aborted = false;
  readonly reason = 'stopped by warmpool (cancel or timeout)';
  #onAbort: (() => void) | undefined = undefined;
  /** Once the run's promise settled, or the engine gave up on it. */
  over = false;
  timer: NodeJS.Timeout | undefined = undefined;
  /** What a dying thread could tell of this batch (ThreadNote.Partial): the reply so far. */
  partial: unknown[] | undefined = undefined;

  constructor(
    readonly tasks: ThreadTask[],
    readonly control: Int32Array | null,
    readonly piscina: Piscina,
  ) {}

  once(_event: 'abort', listener: () => void): void {
    this.#onAbort = listener;
  }

  removeListener(_event: 'abort', _listener: () => void): void {
    this.#onAbort = undefined;
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listener = this.#onAbort;
    this.#onAbort = undefined;
    listener?.();
  }
}

export class ThreadEngine implements Engine, FutureOwner {
  readonly #opts: ThreadEngineOptions;
  readonly #queue = new TaskQueue<ThreadTask>((t) => t.where === 'queued');
  readonly #runs = new Set<Run>();
  #piscina: Piscina | undefined;
  /** Threads that reported a good start and have not exited, by threadId. */
  readonly #started = new Set<number>();
  /** Slot 0: how many threads of the current piscina instance have started (see ThreadInit.started). */
  #startedCount = new Int32Array(new SharedArrayBuffer(4));
  /** Threads past maxTasksPerWorker, as they wrote themselves (see ThreadInit.retired). */
  #retired = new Int32Array(new SharedArrayBuffer(4 * (RETIRED_SLOTS + 1)));
  /** Threads that failed to start while others had: skipped until a new submit retries them. */
  readonly #broken = new Set<number>();
  /** Threads past maxTasksPerWorker, being terminated: no run may go to them. */
  readonly #retiring = new Set<number>();
  #startTimer: NodeJS.Timeout | undefined;
  /** Threads not yet started, by threadId: when the engine first saw them (performance.now()). */
  readonly #firstSeen = new Map<number, number>();
  #startFailure: WorkerStartError | undefined;
  #nextTaskId = 1;
  #dispatchScheduled = false;
  readonly #dispatchBound = () => this.#dispatch();
  readonly #costs = new Costs();
  #closed = false;
  #readyWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  readonly #drainWaiters = new Waiters();
  #destroyed: Promise<void> | undefined;
  /** Instances let go after a start failure, still ending their threads: shutdown() waits for them too. */
  readonly #letGo = new Set<Promise<void>>();
  readonly #outcomes = new Outcomes();

  constructor(opts: ThreadEngineOptions) {
    this.#opts = opts;
    this.#pool();
  }

  get workers(): number {
    return this.#opts.workers;
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ── threads ───────────────────────────────────────────────────────────

  /** The piscina instance, made on first need (again after a start failure). */
  #pool(): Piscina {
    if (this.#piscina !== undefined) return this.#piscina;
    const o = this.#opts;
    this.#startedCount = new Int32Array(new SharedArrayBuffer(4));
    this.#retired = new Int32Array(new SharedArrayBuffer(4 * (RETIRED_SLOTS + 1)));
    this.#broken.clear();
    const init: ThreadInit = {
      moduleHref: o.moduleHref,
      initializer: o.initializer,
      initArgs: o.initArgs,
      maxTasks: o.maxTasksPerWorker,
      started: this.#startedCount,
      retired: this.#retired,
    };
    const PiscinaClass = loadPiscina();
    const piscina = new PiscinaClass({
      filename: ENTRY.href,
      minThreads: o.minWorkers,
      maxThreads: o.workers,
      idleTimeout: o.idleTimeout,
      concurrentTasksPerWorker: 1,
      // warmpool's queue holds what waits; piscina's must never fill.
      maxQueue: Infinity,
      workerData: init,
      env: o.env,
      execArgv: o.execArgv,
      resourceLimits: o.maxMemoryMb === undefined ? undefined : { maxOldGenerationSizeMb: o.maxMemoryMb },
      recordTiming: false,
      // An idle thread that is retiring must not be given a run.
      loadBalancer: (_task, threads) => {
        for (const t of threads) if (t.currentUsage === 0 && this.#usable(t.id)) return t;
        return null;
      },
    });
    piscina.on('message', (msg: unknown) => this.#onNote(piscina, msg));
    // Errors of threads with no run in flight; those with one reject the run.
    piscina.on('error', () => {});
    this.#piscina = piscina;
    this.#firstSeen.clear();
    this.#watchStarts();
    return piscina;
  }

  /** Not retiring (as the engine or the thread itself says), not broken. */
  #usable(threadId: number): boolean {
    if (this.#retiring.has(threadId) || this.#broken.has(threadId)) return false;
    const r = this.#retired;
    if (Atomics.load(r, 0) === 0) return true;
    for (let i = 1; i <= RETIRED_SLOTS; i++) if (Atomics.load(r, i) === threadId) return false;
    return true;
  }

  /** Whether any thread of the current piscina instance has started (it may have exited since). */
  #anyStarted(): boolean {
    return Atomics.load(this.#startedCount, 0) > 0;
  }

  /**
   * Every new thread has startTimeout ms to import the module and run the
   * initializer, from when the engine first sees it in piscina's list (after
   * the pool is made, a run is posted, or a thread exits: the moments piscina
   * starts threads). One timer, for the earliest deadline.
   */
  #watchStarts(): void {
    const ms = this.#opts.startTimeout;
    const piscina = this.#piscina;
    if (ms === Infinity || piscina === undefined) return;
    const now = performance.now();
    for (const w of piscina.threads) {
      const id = w.threadId;
      if (id >= 0 && !this.#started.has(id) && !this.#broken.has(id) && !this.#firstSeen.has(id)) this.#firstSeen.set(id, now);
    }
    this.#armStartTimer();
  }

  #armStartTimer(): void {
    if (this.#startTimer !== undefined || this.#firstSeen.size === 0) return;
    let first = Infinity;
    for (const seen of this.#firstSeen.values()) first = Math.min(first, seen);
    const due = first + this.#opts.startTimeout;
    this.#startTimer = setTimeout(() => this.#onStartTimer(), Math.min(MAX_TIMER_MS, Math.max(0, due - performance.now())));
    this.#startTimer.unref();
  }

  #onStartTimer(): void {
    this.#startTimer = undefined;
    const piscina = this.#piscina;
    if (piscina === undefined) return;
    const ms = this.#opts.startTimeout;
    const now = performance.now();
    const late: number[] = [];
    const alive = new Set(piscina.threads.map((w) => w.threadId));
    for (const [id, seen] of this.#firstSeen) {
      if (!alive.has(id)) this.#firstSeen.delete(id); // died while starting: its runs said so
      else if (now + 1 >= seen + ms) late.push(id);
    }
    if (late.length > 0) {
      const cause = new Error(`A new thread did not import the module and run the initializer within ${ms} ms (startTimeout)`);
      for (const id of late) this.#firstSeen.delete(id);
      if (this.#started.size === 0) {
        // No thread can run what waits: it all fails, and the instance goes.
        this.#failStart(cause);
        return;
      }
      // Others serve on; the late ones are set aside and stopped.
      for (const id of late) {
        this.#onThreadBroken(id, cause);
        for (const w of piscina.threads) if (w.threadId === id) void w.terminate();
      }
    }
    this.#armStartTimer();
  }

  #onNote(piscina: Piscina, msg: unknown): void {
    if (!Array.isArray(msg) || piscina !== this.#piscina) return;
    const threadId = msg[1] as number;
    if (msg[0] === ThreadNote.Partial) {
      for (const run of this.#runs) if (run.control !== null && Atomics.load(run.control, Control.Thread) === threadId) run.partial = msg[2] as unknown[];
      return;
    }
    if (msg[0] !== ThreadNote.Started) return;
    if (msg[2] !== null) {
      const cause = decodeError(msg[2]);
      if (this.#anyStarted()) this.#onThreadBroken(threadId, cause);
      else this.#failStart(cause);
      return;
    }
    // It may have exited since it posted this.
    const worker = piscina.threads.find((w) => w.threadId === threadId);
    if (worker === undefined) return;
    // Its own 'exit' listener: piscina's workerDestroy event names the
    // thread by worker.threadId, which reads -1 once the thread has exited.
    worker.once('exit', () => this.#onThreadGone(piscina, threadId));
    this.#started.add(threadId);
    this.#firstSeen.delete(threadId);
    this.#settleReadyWaiters();
  }

  #onThreadGone(piscina: Piscina, threadId: number): void {
    if (piscina !== this.#piscina) return;
    this.#started.delete(threadId);
    const r = this.#retired;
    for (let i = 1; i <= RETIRED_SLOTS; i++) {
      if (Atomics.compareExchange(r, i, threadId, 0) === threadId) {
        Atomics.sub(r, 0, 1);
        break;
      }
    }
    this.#firstSeen.delete(threadId);
    if (this.#retiring.delete(threadId)) this.#scheduleDispatch();
    // piscina starts a replacement as it sees the exit (its listener runs before this one).
    this.#watchStarts();
  }

  /**
   * One thread failed to start while others of the pool have: the others
   * serve on (as in a ProcessPool). That thread is skipped, not replaced
   * (a replacement would fail the same way: a loop), until a new submit.
   */
  #onThreadBroken(threadId: number, cause: unknown): void {
    this.#broken.add(threadId);
    const message = `The task module ${this.#opts.moduleHref} failed to start in a new thread: ${cause instanceof Error ? cause.message : String(cause)}`;
    this.#startFailure = new WorkerStartError(message, { cause });
    this.#settleReadyWaiters();
    this.#startFailure = undefined;
    this.#scheduleDispatch();
  }

  /** No thread of the current piscina instance can start: fail what waits, let the instance go. */
  #failStart(cause: unknown, alsoFail: readonly ThreadTask[] = []): void {
    const piscina = this.#piscina;
    const message = `The task module ${this.#opts.moduleHref} failed to start in a new thread: ${cause instanceof Error ? cause.message : String(cause)}`;
    this.#startFailure = new WorkerStartError(message, { cause });
    clearTimeout(this.#startTimer);
    this.#startTimer = undefined;
    this.#firstSeen.clear();
    // No thread of this instance can run anything: let it go, with what it holds.
    this.#piscina = undefined;
    this.#started.clear();
    this.#retiring.clear();
    for (const run of [...this.#runs]) {
      if (run.piscina !== piscina) continue;
      this.#endRun(run);
      for (const task of run.tasks) if (task.where !== 'gone') this.#outcomes.fail(task, new WorkerStartError(message, { cause }), 'crashed');
    }
    for (const task of alsoFail) if (task.where !== 'gone') this.#outcomes.fail(task, new WorkerStartError(message, { cause }), 'crashed');
    for (const task of drainQueue(this.#queue)) this.#outcomes.fail(task, new WorkerStartError(message, { cause }), 'crashed');
    if (piscina !== undefined) {
      const ending = piscina.destroy().finally(() => this.#letGo.delete(ending));
      this.#letGo.add(ending);
    }
    this.#settleReadyWaiters();
    this.#checkDrained();
  }

  // ── submit ────────────────────────────────────────────────────────────

  submit(name: string, args: readonly unknown[], kind: TaskKind, options: TaskOptions): Future<unknown> {
    if (this.#closed) throw new PoolClosedError();
    if (this.#opts.maxQueued !== Infinity && this.#queue.size >= this.#opts.maxQueued + this.#freeThreads()) {
      throw new QueueFullError(this.#opts.maxQueued);
    }
    const transfer = options.transfer;
    const task = new ThreadTask(
      this.#nextTaskId++,
      name,
      kind,
      args,
      options.priority,
      options.timeout,
      options.signal,
      transfer !== undefined && transfer.length > 0 ? transfer : undefined,
      performance.now(),
    );
    if (!enqueue(this, this.#queue, task)) return task.future;
    // A new task is a new reason to try starting threads after a start failure.
    this.#startFailure = undefined;
    if (this.#broken.size > 0) this.#retryBroken();
    if (!this.#dispatchScheduled) {
      this.#dispatchScheduled = true;
      queueMicrotask(this.#dispatchBound);
    }
    return task.future;
  }

  /** Lets the threads that failed to start go, so that piscina starts others (once). */
  #retryBroken(): void {
    const piscina = this.#piscina;
    const ids = [...this.#broken];
    this.#broken.clear();
    if (piscina === undefined) return;
    for (const w of piscina.threads) if (ids.includes(w.threadId)) void w.terminate();
  }

  /** Threads that could take a run now (or soon, if still to be started). */
  #freeThreads(): number {
    return Math.max(0, this.#opts.workers - this.#runs.size - this.#retiring.size - this.#broken.size);
  }

  runTimeOf(future: Future<unknown>): number {
    return futureInternals.taskOf<ThreadTask>(future)?.runTime ?? 0;
  }

  onCancel(t: unknown, wasRunning: boolean): void {
    const task = t as ThreadTask;
    this.#outcomes.counts.cancelled++;
    if (task.where === 'gone') return;
    if (task.where === 'queued') {
      this.#queue.forgetOne();
      releaseTask(task);
      this.#checkDrained();
      return;
    }
    const run = task.run!;
    if (run.tasks.length === 1) {
      if (wasRunning) this.#stop(run, task, AbortReason.Cancel);
      else releaseTask(task);
      return;
    }
    // In a batch: skipped if not begun. If it is the one running now, the
    // rest of the batch is skipped too (and queued again when the run
    // returns), and the thread is stopped unless the run returns within the
    // grace: a batched task is short by its measured cost, so it normally does.
    releaseTask(task);
    const control = run.control!;
    Atomics.store(control, Control.Skip + task.index, 1);
    if (Atomics.load(control, Control.Begun) === task.index + 1) {
      for (let j = task.index + 1; j < run.tasks.length; j++) Atomics.store(control, Control.Skip + j, 1);
      this.#stop(run, task, AbortReason.Cancel, BATCH_STOP_GRACE_MS);
    }
  }

  // ── dispatch ──────────────────────────────────────────────────────────

  #scheduleDispatch(): void {
    if (!this.#dispatchScheduled && this.#queue.size > 0) {
      this.#dispatchScheduled = true;
      queueMicrotask(this.#dispatchBound);
    }
  }

  /** Measured mean run time of a call by this name, ms; Infinity when unknown, and for chunks. */
  #estimate(task: ThreadTask): number {
    if (task.kind !== TaskKind.Call || task.timeout !== Infinity || task.transfer !== undefined || task.solo) return Infinity;
    return this.#costs.of(task.name);
  }

  #dispatch(): void {
    this.#dispatchScheduled = false;
    if (this.#closed && this.#queue.size === 0) return;
    const queue = this.#queue;
    while (queue.size > 0) {
      const free = this.#freeThreads();
      if (free === 0) break;
      let piscina: Piscina;
      try {
        piscina = this.#pool();
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

  #post(piscina: Piscina, tasks: ThreadTask[]): void {
    const first = tasks[0];
    const batch = tasks.length > 1;
    const control =
      batch || first.timeout !== Infinity || this.#opts.cancelGrace > 0
        ? new Int32Array(new SharedArrayBuffer((Control.Skip + (batch ? tasks.length : 0)) * 4))
        : null;
    const run = new Run(tasks, control, piscina);
    const now = performance.now();
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i];
      task.where = 'sent';
      task.run = run;
      task.index = i;
      this.#outcomes.waitTime.add(now - task.submittedAt);
    }
    let msg: unknown[];
    if (control === null && !batch && first.kind === TaskKind.Call) {
      // The short form (runtime/thread/protocol.ts): [name, ...args].
      const args = first.args;
      msg = new Array<unknown>(args.length + 1);
      msg[0] = first.name;
      for (let i = 0; i < args.length; i++) msg[i + 1] = args[i];
    } else {
      msg = [control];
      for (const task of tasks) msg.push(task.name, task.kind, task.args);
    }
    this.#runs.add(run);
    // The first task is running from the user's point of view; the others
    // of a batch stay pending (cancellable, skipped) until their results.
    // A task queued again (behind a crash, a cancel, a retiring thread) is running already.
    if (first.future.state === 'pending') futureInternals.setRunningOrNotifyCancel(first.future);
    if (first.timeout !== Infinity) this.#clockOnBegin(run, first);
    let reply: Promise<unknown[]>;
    try {
      reply = piscina.run(msg, { signal: run as unknown as AbortSignal, transferList: first.transfer as TransferListItem[] | undefined });
    } catch (err) {
      // piscina starts a thread inside run() when it needs one, and
      // new Worker() throws there for options Node refuses (an execArgv
      // flag threads do not accept): no thread can start.
      this.#failStart(err);
      return;
    }
    reply.then(
      (r) => this.#onReply(run, r),
      (err: unknown) => this.#onRunFailed(run, err),
    );
    // piscina may have started a thread for it. (Skipped while every thread is started: piscina.threads copies a list.)
    if (this.#started.size < this.#opts.workers) this.#watchStarts();
  }

  /** Starts the task's timeout when the thread begins it. */
  #clockOnBegin(run: Run, task: ThreadTask): void {
    const control = run.control!;
    const arm = () => {
      if (run.over || task.where === 'gone') return;
      task.deadline = performance.now() + task.timeout;
      this.#armDeadline(run, task);
    };
    const waiting = Atomics.waitAsync(control, Control.Begun, 0);
    if (waiting.async) void waiting.value.then(arm);
    else arm();
  }

  #armDeadline(run: Run, task: ThreadTask): void {
    clearTimeout(run.timer);
    run.timer = setTimeout(() => {
      run.timer = undefined;
      if (run.over || task.where === 'gone') return;
      if (performance.now() + 1 < task.deadline) {
        this.#armDeadline(run, task);
        return;
      }
      this.#outcomes.counts.timedOut++;
      futureInternals.setException(
        task.future,
        new TimeoutError(`Task \`${task.name}\` did not finish within ${task.timeout} ms; its thread was stopped`, task.timeout),
      );
      this.#stop(run, task, AbortReason.Timeout);
    }, Math.min(MAX_TIMER_MS, Math.max(0, task.deadline - performance.now())));
    run.timer.unref();
  }

  /** Aborts the task's signal in the thread; terminates the thread unless the run ends within cancelGrace. */
  #stop(run: Run, task: ThreadTask, reason: AbortReason, leastGrace = 0): void {
    releaseTask(task);
    if (run.over) return;
    const grace = Math.max(this.#opts.cancelGrace, leastGrace);
    clearTimeout(run.timer);
    if (grace > 0 && run.control !== null) {
      Atomics.store(run.control, Control.Abort, reason + 4 * (task.index + 1));
      Atomics.notify(run.control, Control.Abort);
      run.timer = setTimeout(() => {
        run.timer = undefined;
        if (!run.over) run.abort();
      }, grace);
      run.timer.unref();
    } else {
      run.abort();
    }
  }

  // ── replies ───────────────────────────────────────────────────────────

  /** The run is no longer in flight: before futures settle, so stats() agrees with them. */
  #endRun(run: Run): boolean {
    if (run.over) return false;
    run.over = true;
    clearTimeout(run.timer);
    this.#runs.delete(run);
    return true;
  }

  #onReply(run: Run, reply: unknown[]): void {
    if (!this.#endRun(run)) return;
    if (reply.length === 2) {
      this.#onShortReply(run.tasks[0], reply[0], reply[1] as number);
      return;
    }
    if (reply[0] === Reply.StartError) {
      // Threads report a start error at once, too; this covers a reply that wins the race.
      const cause = decodeError(reply[2]);
      if (this.#anyStarted()) {
        this.#onThreadBroken(reply[1] as number, cause);
        this.#requeue(run.tasks.filter((t) => t.where !== 'gone'));
        this.#scheduleDispatch();
      } else this.#failStart(cause, run.tasks);
      return;
    }
    if (reply[2] === true) this.#retire(run.piscina, reply[1] as number);
    const tasks = run.tasks;
    const settle: [ThreadTask, Status, unknown][] = [];
    let again: ThreadTask[] | undefined;
    for (let i = REPLY_HEAD, k = 0; i < reply.length; i += REPLY_STRIDE, k++) {
      const task = tasks[k];
      const status = reply[i] as Status;
      if (status === Status.Skipped) {
        // Not begun: cancelled, or behind a cancelled one; the latter run later.
        if (task.where !== 'gone') (again ??= []).push(task);
        continue;
      }
      const runTime = reply[i + 2] as number;
      task.runTime = runTime;
      if (task.kind === TaskKind.Call) this.#costs.add(task.name, runTime);
      if (task.where === 'gone') continue;
      this.#outcomes.runTime.add(runTime);
      releaseTask(task);
      settle.push([task, status, reply[i + 1]]);
    }
    if (again !== undefined) this.#requeue(again);
    this.#scheduleDispatch();
    for (const [task, status, value] of settle) this.#settle(task, status, value);
    this.#checkDrained();
  }

  /** The short form of a reply (runtime/thread/protocol.ts): one call, fulfilled. */
  #onShortReply(task: ThreadTask, value: unknown, runTime: number): void {
    task.runTime = runTime;
    this.#costs.add(task.name, runTime);
    this.#scheduleDispatch();
    if (task.where === 'gone') return;
    this.#outcomes.runTime.add(runTime);
    releaseTask(task);
    this.#outcomes.counts.completed++;
    futureInternals.setResult(task.future, value);
    this.#checkDrained();
  }

  #settle(task: ThreadTask, status: Status, value: unknown): void {
    if (status === Status.Ok || status === Status.Serialized) {
      let result = value;
      if (status === Status.Serialized) {
        try {
          result = deserialize(value as Uint8Array);
        } catch (err) {
          this.#outcomes.counts.failed++;
          futureInternals.setException(task.future, new DataCloneError(`The result of task \`${task.name}\` could not be read back: ${String(err)}`));
          return;
        }
      }
      this.#outcomes.counts.completed++;
      futureInternals.setResult(task.future, result);
      return;
    }
    this.#outcomes.counts.failed++;
    futureInternals.setException(
      task.future,
      status === Status.ChunkError
        ? new ChunkFailure((value as [number, unknown])[0], decodeError((value as [number, unknown])[1]))
        : decodeError(value),
    );
  }

  #onRunFailed(run: Run, err: unknown): void {
    const stoppedByUs = run.aborted;
    if (!this.#endRun(run)) return;
    const tasks = run.tasks;
    const begun = run.control === null ? 0 : Atomics.load(run.control, Control.Begun);
    // piscina could not post the run: a value of one of its tasks cannot be
    // cloned, and nothing began. In a batch, each goes again alone, so that
    // only the culprit fails.
    if (!stoppedByUs && isDataCloneError(err) && begun === 0) {
      if (tasks.length > 1) {
        for (const task of tasks) task.solo = true;
        this.#requeue(tasks.filter((t) => t.where !== 'gone'));
      } else if (tasks[0].where !== 'gone') {
        this.#outcomes.fail(tasks[0], argumentCloneError(tasks[0], err), 'failed');
      }
      this.#scheduleDispatch();
      this.#checkDrained();
      return;
    }
    if (!stoppedByUs && begun === 0 && !this.#anyStarted() && run.piscina === this.#piscina) {
      // The thread died before any thread of this instance had started:
      // process.exit or an uncaught error while importing the module.
      this.#failStart(err, tasks);
      return;
    }
    // Tasks the thread never began run elsewhere. The one it was running
    // fails (or was stopped by the engine, and has settled already). Those it
    // had finished keep their results when the dying thread could send them
    // (ThreadNote.Partial: process.exit, an uncaught error); otherwise they
    // fail with it after a crash, never running twice, and run again after
    // the engine stopped the thread (the bystander rule in docs/guide.md).
    const again: ThreadTask[] = [];
    const failed: ThreadTask[] = [];
    const done: [ThreadTask, Status, unknown][] = [];
    const partial = run.partial;
    for (const task of tasks) {
      if (task.where === 'gone') continue;
      if (run.control !== null && task.index >= begun) again.push(task);
      else if (run.control !== null && task.index < begun - 1) {
        const at = REPLY_HEAD + task.index * REPLY_STRIDE;
        if (partial !== undefined && partial.length > at && partial[at] !== Status.Skipped) {
          task.runTime = partial[at + 2] as number;
          this.#outcomes.runTime.add(task.runTime);
          releaseTask(task);
          done.push([task, partial[at] as Status, partial[at + 1]]);
        } else if (stoppedByUs) again.push(task);
        else failed.push(task);
      } else if (stoppedByUs) again.push(task);
      else failed.push(task);
    }
    this.#requeue(again);
    this.#scheduleDispatch();
    for (const [task, status, value] of done) this.#settle(task, status, value);
    for (const task of failed) this.#outcomes.fail(task, crashError(err), 'crashed');
    this.#checkDrained();
  }

  #requeue(tasks: ThreadTask[]): void {
    if (tasks.length === 0) return;
    for (const task of tasks) {
      task.where = 'queued';
      task.run = undefined;
    }
    this.#queue.requeueFront(tasks);
  }

  #retire(piscina: Piscina, threadId: number): void {
    const worker = piscina.threads.find((w) => w.threadId === threadId);
    if (worker === undefined) return;
    this.#retiring.add(threadId);
    // piscina sees the exit, drops the thread and starts a replacement (up to minThreads).
    void worker.terminate();
  }


  // ── lifecycle ─────────────────────────────────────────────────────────

  ready(): Promise<void> {
    if (this.#started.size >= this.#opts.minWorkers && this.#piscina !== undefined) return Promise.resolve();
    if (this.#startFailure !== undefined) return Promise.reject(this.#startFailure);
    if (this.#closed && this.#piscina === undefined) return Promise.resolve();
    try {
      this.#pool();
    } catch (err) {
      this.#failStart(err);
      return Promise.reject(this.#startFailure);
    }
    return new Promise((resolve, reject) => {
      this.#readyWaiters.push({ resolve, reject });
      this.#settleReadyWaiters();
    });
  }

  #settleReadyWaiters(): void {
    if (this.#readyWaiters.length === 0) return;
    const failure = this.#startFailure;
    if (failure === undefined && this.#started.size < this.#opts.minWorkers) return;
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const w of waiters) {
      if (failure !== undefined) w.reject(failure);
      else w.resolve();
    }
  }

  stats(): PoolStats {
    const workers = this.#piscina?.threads.length ?? 0;
    const busy = Math.min(workers, this.#runs.size);
    return this.#outcomes.stats(workers, busy, workers - busy, this.#queue.size);
  }

  shutdown(wait: boolean, cancelFutures: boolean): Promise<void> {
    this.#closed = true;
    if (cancelFutures) {
      cancelQueued(this.#queue);
      // Tasks of batches in flight that have not been reached are pending too.
      for (const run of [...this.#runs]) for (const task of run.tasks.slice(1)) if (task.where !== 'gone') task.future.cancel();
    }
    const drained = this.#drainWaiters.wait();
    this.#checkDrained();
    return wait ? drained : Promise.resolve();
  }

  #checkDrained(): void {
    if (!this.#closed || this.#queue.size > 0 || this.#runs.size > 0 || !this.#drainWaiters.any) return;
    this.#destroyed ??= this.#destroy();
    void this.#destroyed.then(() => this.#drainWaiters.release());
  }

  async #destroy(): Promise<void> {
    clearTimeout(this.#startTimer);
    const piscina = this.#piscina;
    this.#piscina = undefined;
    if (piscina !== undefined) await piscina.destroy();
    // A ready() still waiting will not see a thread start any more; as with
    // a ProcessPool, it resolves (the pool is closed, not broken).
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const w of waiters) w.resolve();
    await Promise.allSettled(this.#letGo);
  }
}

function isDataCloneError(err: unknown): boolean {
  return err instanceof Error && err.name === 'DataCloneError';
}

/** Names the argument that cannot be cloned (a failure path: cost does not matter). */
function argumentCloneError(task: ThreadTask, err: unknown): DataCloneError {
  const args = task.kind === TaskKind.Call ? task.args : [];
  for (let i = 0; i < args.length; i++) {
    const why = cloneFailure(args[i]);
    if (why !== undefined) return new DataCloneError(`Argument ${i} of task \`${task.name}\` cannot be sent to a thread: ${why}`, { cause: err });
  }
  return new DataCloneError(`The arguments of task \`${task.name}\` cannot be sent to a thread: ${errorText(err)}`, { cause: err });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What piscina rejects a run with when its thread dies, as a WorkerCrashedError. */
function crashError(err: unknown): WorkerCrashedError {
  const text = errorText(err);
  const exit = /exited with code:? (-?\d+)/.exec(text);
  const code = exit === null ? null : Number(exit[1]);
  const oom = err instanceof Error && (err as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY';
  const detail = oom ? `the thread ran out of memory (maxMemoryMb): ${text}` : text;
  const crash = new WorkerCrashedError(code, null, detail);
  Object.defineProperty(crash, 'cause', { value: err, enumerable: false, writable: true, configurable: true });
  return crash;
}
