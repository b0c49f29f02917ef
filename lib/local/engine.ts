// The engine behind LocalPool: tasks run in the calling thread, at most
// `workers` at once, bounded by p-limit.
//
//   submit ─▶ EngineCore: TaskRecord + Future ─▶ TaskQueue (priority, then FIFO)
//                                                    │
//              dispatch (microtask): a p-limit job per queued task, at most `workers` waiting
//                                                    ▼
//   p-limit: at most `workers` jobs running ──▶ job starts: takes the queue's
//                                               next live task, runs
//                                               fn(...args) in this thread
//                                                    │
//   core.finish + fulfil/reject ◀── value or throw ──┘  (the job ends, and
//                                                        p-limit starts the next)
//
// p-limit decides when a task runs (its running count is the bound); the
// queue decides which (priority, cancellation): a job takes its task when it
// starts, not when it is queued, because p-limit's own queue is first-in
// first-out and knows nothing of either. The engine still counts its running
// tasks, but only for stats() and maxQueued: p-limit frees a slot a few
// microtasks after the task ends, and a done callback must see the pool as
// its future does.
//
// What cannot be done in one thread: synchronous code cannot be stopped. A
// timeout or a cancel settles the future at once and aborts the task's
// `taskSignal()`; after `cancelGrace` ms the task is abandoned: its slot goes
// to the next task, though its code may still be running.

import pLimit, { type LimitFunction } from 'p-limit';
import { performance } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';
import { ChunkFailure, TaskKind, type Engine } from '../core/contract.js';
import { EngineCore } from '../core/engine-core.js';
import type { Occupancy, Transport } from '../core/transport.js';
import { CancelledError, TimeoutError, WorkerStartError } from '../core/errors.js';
import type { CommonOptions } from '../core/options.js';
import type { TaskQueue } from '../core/queue.js';
import type { TaskRecord } from '../core/task.js';
import { existingTaskStorage, type TaskContext } from '../worker/context.js';
import { runChunk, runInitializer, taskNotFound, type Fn } from '../worker/run.js';
import { collectGenerator, driveStreamTask, isGenerator, withChannel } from '../worker/stream.js';
import { TaskChannel } from '../worker/task-channel.js';

/** A task while it holds one of the `workers` slots. */
class LocalRun {
  context: TaskContext | undefined = undefined;
  /** The task's side of its channel (a stream, or a call with progress); the caller's side is the core's CallerChannel. */
  channel: TaskChannel | undefined = undefined;
  /** Frees the slot before the task ends (after cancel or timeout, and cancelGrace). */
  abandon: (() => void) | undefined = undefined;
  vacated = false;
}

type Task = TaskRecord<LocalRun>;

export class LocalEngine implements Transport<LocalRun> {
  readonly #opts: CommonOptions;
  readonly #core: EngineCore<LocalRun>;
  readonly #queue: TaskQueue<Task>;
  readonly #limit: LimitFunction;
  #module: Record<string, unknown> | undefined;
  readonly #loaded: Promise<void>;
  #startFailure: WorkerStartError | undefined;
  /** Tasks holding a slot (see the header for why not p-limit's count). */
  #running = 0;
  /** p-limit jobs queued and not yet started. */
  #jobs = 0;
  readonly #runNextBound = () => this.#runNext();

  constructor(opts: CommonOptions, load: () => Promise<Record<string, unknown>>, describe: string) {
    this.#opts = opts;
    this.#core = new EngineCore<LocalRun>(this, opts, false);
    this.#queue = this.#core.queue;
    this.#limit = pLimit(opts.workers);
    const core = this.#core;
    this.#loaded = (async () => {
      try {
        const mod = await load();
        await runInitializer(mod, opts.initializer, opts.initArgs, describe);
        this.#module = mod;
      } catch (cause) {
        const message = cause instanceof Error ? cause.message : String(cause);
        this.#startFailure = new WorkerStartError(`The task module ${describe} failed to load: ${message}`, { cause });
        for (const task of core.drainQueue()) core.fail(task, this.#startFailure, 'crashed');
        this.#checkDrained();
      }
      this.dispatch();
    })();
  }

  /** What the pool talks to: the engine core over this transport. */
  get core(): Engine {
    return this.#core;
  }

  get workers(): number {
    return this.#opts.workers;
  }

  /** A stream's credit, messages and end, handed to the running task's channel by a direct call (values by reference). */
  toTask(task: Task, message: unknown[]): void {
    task.slot!.channel?.receive(message);
  }

  accepted(task: Task): boolean {
    if (this.#startFailure === undefined) return true;
    this.#queue.forgetOne();
    this.#core.fail(task, this.#startFailure, 'crashed');
    return false;
  }

  backlog(): number {
    return this.#queue.size - Math.max(0, this.#opts.workers - this.#running);
  }

  /**
   * A p-limit job for each queued task that has none, at most `workers` of
   * them waiting in p-limit: a deep queue stays in the TaskQueue (one record
   * per task), and each job that ends tops p-limit up again.
   */
  dispatch(): void {
    if (this.#module === undefined) return; // still loading; the load dispatches when done
    const most = Math.min(this.#queue.size, this.#opts.workers);
    while (this.#jobs < most) {
      this.#jobs++;
      void this.#limit(this.#runNextBound);
    }
  }

  /**
   * A p-limit job has a slot: it runs the queue's next live task, if any is
   * left. The job holds the slot until the task ends or is abandoned; one
   * promise per task says which came first (an async function awaiting a
   * Promise.race with a promise per task for the abandonment cost three
   * more, in the path of every LocalPool task).
   */
  #runNext(): Promise<void> | undefined {
    this.#jobs--;
    const task = this.#queue.shift();
    if (task === undefined) return undefined;
    const run = new LocalRun();
    task.slot = run;
    task.where = 'sent';
    this.#running++;
    // Before begin: a stream's sends held until it starts go to this channel
    // from there. Its posts reach the caller's side synchronously, in order,
    // so the result's settlement (CallerChannel.finish) comes after them.
    if (task.kind === TaskKind.Stream || task.kind === TaskKind.Progress) {
      run.channel = new TaskChannel(
        task.id,
        (message) => task.channel?.receive(message),
        task.kind === TaskKind.Stream ? (task.args[0] as number) : 1,
      );
    }
    const start = performance.now();
    this.#core.begin(task, start, threadId);
    const storage = existingTaskStorage();
    const ctx: TaskContext | undefined = storage === undefined ? undefined : { controller: undefined, channel: undefined };
    run.context = ctx;
    if (task.timeout !== Infinity) task.timer = setTimeout(() => this.#core.timeOut(task, ''), task.timeout);
    return new Promise<void>((releaseSlot) => {
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        this.#vacate(task);
        this.#checkDrained();
        this.dispatch();
        releaseSlot();
      };
      // Abandoned (kill): the slot goes on in a microtask, after kill() has let go of the task.
      run.abandon = () => queueMicrotask(end);
      this.#execute(task, storage, ctx, start).then(end, end);
    });
  }

  /**
   * The task's slot is free: called when it ends, or when it is abandoned,
   * before its future settles, so that stats() and maxQueued agree with the
   * future when its callbacks run.
   */
  #vacate(task: Task): void {
    const run = task.slot!;
    if (run.vacated) return;
    run.vacated = true;
    clearTimeout(task.timer);
    this.#running--;
  }

  async #execute(task: Task, storage: ReturnType<typeof existingTaskStorage>, ctx: TaskContext | undefined, start: number): Promise<void> {
    let ok = true;
    let value: unknown;
    try {
      const fn = this.#module![task.name];
      if (typeof fn !== 'function') throw taskNotFound(task.name, this.#module!);
      if (task.kind === TaskKind.Call) {
        value = await this.#call(task, fn as Fn, storage, ctx);
      } else if (task.kind === TaskKind.Progress) {
        value = await this.#runWithProgress(task, fn as Fn, storage, ctx);
      } else if (task.kind === TaskKind.Stream) {
        value = await this.#runStream(task, fn as Fn, storage, ctx);
      } else {
        const out = await runChunk(fn as Fn, task.args as unknown[], task.kind === TaskKind.StarChunk, storage, ctx);
        if (out.failed) {
          ok = false;
          value = new ChunkFailure(out.index, out.error);
        } else value = out.results;
      }
    } catch (err) {
      ok = false;
      value = err;
    }
    const runTime = performance.now() - start;
    if (task.future.done()) {
      // Timed out or cancelled meanwhile: the task has now let go (a stream's `done`).
      this.#core.finish(task, runTime);
      return;
    }
    this.#vacate(task);
    if (!this.#core.finish(task, runTime)) return;
    if (ok) this.#core.fulfil(task, value);
    else this.#core.reject(task, value);
  }

  /**
   * A call with `onProgress`: the task's side of the channel posts straight
   * to the caller's (same thread, values by reference), and is closed before
   * the result, so the last value is handed over before the future settles.
   */
  #runWithProgress(task: Task, fn: Fn, storage: ReturnType<typeof existingTaskStorage>, ctx: TaskContext | undefined): Promise<unknown> {
    // A progress value that could not be handed over fails the task, as in a worker.
    return withChannel(task.slot!.channel!, ctx, () => this.#call(task, fn, storage, ctx));
  }

  /** `fn(...args)`; `submit` of a generator task gives the array of its values, as in a worker. */
  #call(task: Task, fn: Fn, storage: ReturnType<typeof existingTaskStorage>, ctx: TaskContext | undefined): unknown {
    if (ctx === undefined) {
      const value = fn(...task.args);
      return isGenerator(value) ? collectGenerator(value, undefined) : value;
    }
    const value = storage!.run(ctx, fn, ...task.args);
    return isGenerator(value) ? storage!.run(ctx, collectGenerator, value, ctx) : value;
  }

  /** A stream task: its generator driven by the task's channel, as in a worker; its return value is the result. */
  #runStream(task: Task, fn: Fn, storage: ReturnType<typeof existingTaskStorage>, ctx: TaskContext | undefined): Promise<unknown> {
    const [, args] = task.args as [number, unknown[]];
    return driveStreamTask(task.name, fn, args, storage, ctx, task.slot!.channel!);
  }

  dequeued(): void {
    this.#checkDrained();
  }

  cancelSent(task: Task, wasRunning: boolean): void {
    if (wasRunning) this.#core.stop(task, 'cancel');
    else this.#core.release(task);
  }

  /** Aborts the task's `taskSignal()`; its slot is freed after cancelGrace (kill). */
  abort(task: Task, reason: 'cancel' | 'timeout'): boolean {
    const run = task.slot!;
    const ctx = run.context;
    const error = reason === 'cancel' ? new CancelledError() : new TimeoutError('The task timed out', task.timeout);
    if (ctx !== undefined && !ctx.controller?.signal.aborted) (ctx.controller ??= new AbortController()).abort(error);
    // A module that never loaded warmpool/task has no context: its stream stops here.
    run.channel?.cancel(error);
    return true;
  }

  /** Gives up on the task: its code may still run, but its slot goes to the next task. */
  kill(task: Task): void {
    // With no grace the signal is aborted here: in one thread, that is all a stop can do.
    this.abort(task, task.future.exception() instanceof TimeoutError ? 'timeout' : 'cancel');
    this.#vacate(task);
    task.slot!.abandon?.();
    // Its code may still run, but the pool has let go of it: a stream's `done` resolves.
    this.#core.letGo(task);
  }

  async ready(): Promise<void> {
    await this.#loaded;
    if (this.#startFailure !== undefined) throw this.#startFailure;
  }

  occupancy(): Occupancy {
    return { workers: this.#opts.workers, busy: this.#running, idle: this.#opts.workers - this.#running };
  }

  closing(): void {
    this.#checkDrained();
  }

  #checkDrained(): void {
    const core = this.#core;
    if (!core.closed || this.#queue.size > 0 || this.#running > 0 || !core.drained.any) return;
    core.drained.release();
  }
}
