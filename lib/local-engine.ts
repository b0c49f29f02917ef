// The engine behind LocalPool: tasks run in the calling thread, at most
// `workers` at once, bounded by p-limit.
//
//   submit() ──▶ Task + Future ──▶ TaskQueue (priority, then FIFO)
//                                      │  #pump: while p-limit has a free slot
//                                      ▼
//                        limit(#run, task): fn(...args) in this thread
//                                      │
//                    settle the Future, free the slot, pump again
//
// The queue is warmpool's own because p-limit's is first-in first-out and
// knows nothing of priorities or cancellation; p-limit is fed only when it
// has a free slot, so its own queue stays empty and it bounds what runs.
//
// What cannot be done in one thread: synchronous code cannot be stopped. A
// timeout or a cancel settles the future at once and aborts the task's
// `taskSignal()`; after `cancelGrace` ms the task is abandoned: its slot goes
// to the next task, though its code may still be running.

import pLimit, { type LimitFunction } from 'p-limit';
import { performance } from 'node:perf_hooks';
import { CancelledError, PoolClosedError, QueueFullError, TimeoutError, WorkerStartError } from './errors.js';
import { futureInternals, type Future, type FutureOwner } from './future.js';
import { TaskKind } from './messages.js';
import type { CommonOptions } from './options.js';
import { TaskQueue } from './queue.js';
import { ChunkFailure, type Engine, type TaskOptions } from './scheduler.js';
import type { PoolStats } from './stats.js';
import { cancelQueued, drainQueue, enqueue, Outcomes, releaseTask, Waiters } from './engine-parts.js';
import { existingTaskStorage, type TaskContext } from './task-context.js';
import { isThenable, runChunk, runInitializer, taskNotFound, type Fn } from './worker-runtime.js';

class LocalTask {
  where: 'queued' | 'running' | 'gone' = 'queued';
  future!: Future<any>;
  onAbort: (() => void) | undefined = undefined;
  context: TaskContext | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  /** Frees the slot before the task ends (after cancel or timeout, and cancelGrace). */
  abandon: (() => void) | undefined = undefined;
  runTime = 0;

  constructor(
    readonly name: string,
    readonly kind: TaskKind,
    public args: readonly unknown[],
    readonly priority: number,
    readonly timeout: number,
    readonly signal: AbortSignal | undefined,
    readonly submittedAt: number,
  ) {}
}

export class LocalEngine implements Engine, FutureOwner {
  readonly #opts: CommonOptions;
  readonly #limit: LimitFunction;
  readonly #queue = new TaskQueue<LocalTask>((t) => t.where === 'queued');
  #module: Record<string, unknown> | undefined;
  #loaded: Promise<void>;
  #startFailure: WorkerStartError | undefined;
  #running = 0;
  #closed = false;
  #pumpScheduled = false;
  readonly #pumpBound = () => this.#pump();
  readonly #drainWaiters = new Waiters();
  readonly #outcomes = new Outcomes();

  constructor(opts: CommonOptions, load: () => Promise<Record<string, unknown>>, describe: string) {
    this.#opts = opts;
    this.#limit = pLimit(opts.workers);
    this.#loaded = (async () => {
      try {
        const mod = await load();
        await runInitializer(mod, opts.initializer, opts.initArgs, describe);
        this.#module = mod;
      } catch (cause) {
        const message = cause instanceof Error ? cause.message : String(cause);
        this.#startFailure = new WorkerStartError(`The task module ${describe} failed to load: ${message}`, { cause });
        for (const task of drainQueue(this.#queue)) this.#outcomes.fail(task, this.#startFailure, 'crashed');
        this.#checkDrained();
      }
      this.#pump();
    })();
  }

  get workers(): number {
    return this.#opts.workers;
  }

  get closed(): boolean {
    return this.#closed;
  }

  submit(name: string, args: readonly unknown[], kind: TaskKind, options: TaskOptions): Future<unknown> {
    if (this.#closed) throw new PoolClosedError();
    const free = Math.max(0, this.#opts.workers - this.#running);
    if (this.#opts.maxQueued !== Infinity && this.#queue.size >= this.#opts.maxQueued + free) throw new QueueFullError(this.#opts.maxQueued);
    const task = new LocalTask(name, kind, args, options.priority, options.timeout, options.signal, performance.now());
    if (this.#startFailure !== undefined) {
      task.future = futureInternals.create<unknown>(this, task);
      this.#outcomes.fail(task, this.#startFailure, 'crashed');
      return task.future;
    }
    if (!enqueue(this, this.#queue, task)) return task.future;
    if (!this.#pumpScheduled) {
      this.#pumpScheduled = true;
      queueMicrotask(this.#pumpBound);
    }
    return task.future;
  }

  runTimeOf(future: Future<unknown>): number {
    return futureInternals.taskOf<LocalTask>(future)?.runTime ?? 0;
  }

  onCancel(t: unknown, wasRunning: boolean): void {
    const task = t as LocalTask;
    this.#outcomes.counts.cancelled++;
    if (task.where === 'queued') {
      this.#queue.forgetOne();
      releaseTask(task);
      this.#checkDrained();
    } else if (wasRunning) {
      this.#stop(task, new CancelledError());
    }
  }

  #pump(): void {
    this.#pumpScheduled = false;
    if (this.#module === undefined) return; // still loading; the load pumps when done
    while (this.#running < this.#opts.workers) {
      const task = this.#queue.shift();
      if (task === undefined) break;
      this.#running++;
      task.where = 'running';
      void this.#limit(() => this.#run(task));
    }
  }

  async #run(task: LocalTask): Promise<void> {
    // p-limit starts it a microtask or more after #pump: it may have been
    // cancelled in between, and then must not run.
    if (!futureInternals.setRunningOrNotifyCancel(task.future)) {
      this.#vacate(task);
      this.#pump();
      this.#checkDrained();
      return;
    }
    const start = performance.now();
    this.#outcomes.waitTime.add(start - task.submittedAt);
    const storage = existingTaskStorage();
    const ctx: TaskContext | undefined = storage === undefined ? undefined : { controller: undefined };
    task.context = ctx;
    if (task.timeout !== Infinity) {
      task.timer = setTimeout(() => {
        this.#outcomes.counts.timedOut++;
        futureInternals.setException(task.future, new TimeoutError(`Task \`${task.name}\` did not finish within ${task.timeout} ms`, task.timeout));
        this.#stop(task, new TimeoutError('The task timed out', task.timeout));
      }, task.timeout);
    }
    const abandoned = new Promise<void>((resolve) => (task.abandon = resolve));
    await Promise.race([this.#execute(task, storage, ctx, start), abandoned]);
    this.#vacate(task);
    this.#pump();
    this.#checkDrained();
  }

  /**
   * The task's slot is free: called when it ends, or when it is abandoned,
   * before its future settles, so that stats() and maxQueued agree with the
   * future when its callbacks run.
   */
  #vacate(task: LocalTask): void {
    if (task.where === 'gone') return;
    clearTimeout(task.timer);
    releaseTask(task);
    this.#running--;
  }

  async #execute(task: LocalTask, storage: ReturnType<typeof existingTaskStorage>, ctx: TaskContext | undefined, start: number): Promise<void> {
    let ok = true;
    let value: unknown;
    try {
      const fn = this.#module![task.name];
      if (typeof fn !== 'function') throw taskNotFound(task.name, this.#module!);
      if (task.kind === TaskKind.Call) {
        value = ctx === undefined ? (fn as Fn)(...task.args) : storage!.run(ctx, fn as Fn, ...task.args);
        if (isThenable(value)) value = await value;
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
    task.runTime = performance.now() - start;
    if (task.future.done()) return; // timed out or cancelled meanwhile
    this.#vacate(task);
    this.#outcomes.runTime.add(task.runTime);
    if (ok) {
      this.#outcomes.counts.completed++;
      futureInternals.setResult(task.future, value);
    } else {
      this.#outcomes.counts.failed++;
      futureInternals.setException(task.future, value);
    }
  }

  /** Cancel or timeout of a running task: abort its signal, and free its slot after cancelGrace. */
  #stop(task: LocalTask, reason: Error): void {
    clearTimeout(task.timer);
    if (task.context !== undefined) (task.context.controller ??= new AbortController()).abort(reason);
    const grace = this.#opts.cancelGrace;
    const abandon = () => {
      this.#vacate(task);
      task.abandon?.();
    };
    if (grace > 0) task.timer = setTimeout(abandon, grace);
    else abandon();
  }

  async ready(): Promise<void> {
    await this.#loaded;
    if (this.#startFailure !== undefined) throw this.#startFailure;
  }

  stats(): PoolStats {
    return this.#outcomes.stats(this.#opts.workers, this.#running, this.#opts.workers - this.#running, this.#queue.size);
  }

  shutdown(wait: boolean, cancelFutures: boolean): Promise<void> {
    this.#closed = true;
    if (cancelFutures) cancelQueued(this.#queue);
    const drained = this.#drainWaiters.wait();
    this.#checkDrained();
    return wait ? drained : Promise.resolve();
  }

  #checkDrained(): void {
    if (!this.#closed || this.#queue.size > 0 || this.#running > 0 || !this.#drainWaiters.any) return;
    this.#drainWaiters.release();
  }
}
