// RemotePool's transport over the engine core (lib/core/engine-core.ts):
// tasks become BullMQ jobs on a Redis queue, `warmpool worker` hosts run them
// in their own warm local pools (./host.ts), and the outcome comes back in
// the job's return value. Connections: ./connection.ts.
//
//  caller          EngineCore           RemoteEngine                      Redis / host
//  pool.submit ─▶ TaskRecord+Future ─▶ TaskQueue, job id made here
//                 queueMicrotask ─────▶ dispatch: addBulk, ADD_BATCH a call ─▶ queue ─▶ BullMQ Worker
//                                                                               host's local pool
//                 core.settle ◀──────── QueueEvents 'completed' (fast path) ◀── [status, value, runTime]
//  await future ◀ fulfilled/rejected  ◀ poll: HMGET of long-waiting jobs     (v8, base64)
//  cancel ─▶ core.cancel ─────────────▶ remove the waiting job, else publish ─▶ host cancels its task
//
// Events are a capped stream read with XREAD: a burst trims entries before a
// slow reader sees them, and a reconnecting reader may miss some. So they are
// only the fast path: a task not heard of for `pollInterval` ms has its job
// hash read directly, and a job gone from Redis fails with BrokerError. The
// reader starts at the stream's last entry as read before the first job is
// added, so no event of this pool's jobs comes before it. Job ids
// (`<pool id>-<task id>`) are made here, so events of other producers' jobs
// are ignored by a map lookup. Cancel removes a waiting job (atomic in
// BullMQ); a job already held is cancelled by its host, and fails as
// unrecoverable (no retry). The future is cancelled at once, whatever Redis says.

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { BrokerError, TimeoutError, WorkerCrashedError, WorkerStartError } from '../core/errors.js';
import type { Future } from '../core/future.js';
import type { TaskRecord } from '../core/task.js';
import { ChunkFailure, Status, type Engine, type TaskKind, type TaskOptions } from '../core/contract.js';
import type { PoolStats } from '../core/stats.js';
import { EngineCore, type Transport } from '../core/engine-core.js';
import { decodeError } from '../core/wire-error.js';
import { bullPriority, cancelChannel, decodeValue, encodeJob, type Envelope, type JobData } from './codec.js';
import { connect, type ConnectionSettings, type Connected } from './connection.js';

export interface RemoteEngineOptions {
  readonly name: string;
  readonly connection: ConnectionSettings;
  readonly queue: string;
  readonly prefix: string;
  readonly workers: number;
  readonly maxQueued: number;
  readonly pollInterval: number;
  readonly resultTtl: number;
  readonly eventsMaxLen: number;
}

/** Most jobs in one addBulk call. */
const ADD_BATCH = 1000;
/** Most job hashes read in one poll. */
const POLL_BATCH = 2000;
/** A task waits at most this many poll intervals between two reads of its job. */
const POLL_BACKOFF = 10;

/** A task's job, from submit until its future settles. */
class Job {
  /** In Redis: addBulk has resolved. */
  added = false;
  /** When the job's hash is to be read next, if nothing was heard of it before. */
  checkAt = 0;
  /** Set when the future was cancelled while its job was being added: cancel the job once it is in. */
  cancelWhenAdded = false;
  /** Its job was removed from Redis already (shutdown with cancelFutures). */
  removed = false;

  constructor(readonly id: string) {}
}

type RemoteTask = TaskRecord<Job>;

export class RemoteEngine implements Engine, Transport<Job> {
  readonly #opts: RemoteEngineOptions;
  readonly #core: EngineCore<Job>;
  readonly #poolId = randomBytes(6).toString('hex');
  /** Every task whose future is not settled, by job id, in submission order. */
  readonly #tasks = new Map<string, RemoteTask>();
  /** Tasks known to have started on a host. */
  #running = 0;
  #conn: Connected | undefined;
  readonly #connecting: Promise<Connected>;
  #startFailure: unknown;
  #pollTimer: NodeJS.Timeout | undefined;
  #polling = false;
  #disposed: Promise<void> | undefined;

  constructor(opts: RemoteEngineOptions) {
    this.#opts = opts;
    this.#core = new EngineCore<Job>(this, { name: opts.name, maxQueued: opts.maxQueued, cancelGrace: 0, measureCosts: false });
    this.#connecting = connect(opts, {
      active: (jobId) => this.#onActive(jobId),
      completed: (jobId, returnvalue) => this.#onCompleted(jobId, returnvalue),
      failed: (jobId, failedReason) => this.#onFailed(jobId, failedReason),
    });
    this.#connecting.then(
      (conn) => {
        this.#conn = conn;
        if (this.#core.closed && this.#tasks.size === 0) void this.#dispose();
        else this.dispatch();
      },
      (err: unknown) => {
        this.#startFailure = err;
        const failure = new BrokerError(`RemotePool could not connect to queue \`${opts.queue}\`: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        for (const task of [...this.#tasks.values()]) this.#settleFailure(task, failure, 'crashed');
        this.#checkDrained();
      },
    );
    // ready() reports it; nobody else needs to.
    this.#connecting.catch(() => {});
  }

  get workers(): number {
    return this.#opts.workers;
  }

  submit(name: string, args: readonly unknown[], kind: TaskKind, options: TaskOptions): Future<unknown> {
    return this.#core.submit(name, args, kind, options);
  }

  accepted(task: RemoteTask): boolean {
    if (this.#startFailure !== undefined) {
      this.#core.queue.forgetOne();
      this.#core.fail(task, new BrokerError(`RemotePool could not connect to queue \`${this.#opts.queue}\``, { cause: this.#startFailure }), 'crashed');
      return false;
    }
    // Job ids are made here, so events of other producers' jobs are ignored by a map lookup.
    const job = new Job(`${this.#poolId}-${task.id}`);
    task.slot = job;
    this.#tasks.set(job.id, task);
    this.#armPoll();
    return true;
  }

  /** Accepted and not known to have started on a host: what maxQueued bounds. */
  backlog(): number {
    return this.#tasks.size - this.#running;
  }

  /** Adds the queued tasks' jobs, in batches of ADD_BATCH, in queue order. */
  dispatch(): void {
    const conn = this.#conn;
    const queue = this.#core.queue;
    if (conn === undefined) return;
    while (queue.size > 0) {
      const batch: RemoteTask[] = [];
      let task: RemoteTask | undefined;
      while (batch.length < ADD_BATCH && (task = queue.shift()) !== undefined) batch.push(task);
      this.#add(conn, batch);
    }
  }

  #add(conn: Connected, batch: RemoteTask[]): void {
    const jobs: { name: string; data: JobData; opts: Record<string, unknown> }[] = [];
    const sent: RemoteTask[] = [];
    const keep = { age: this.#opts.resultTtl };
    for (const task of batch) {
      let data: JobData;
      try {
        data = encodeJob(task.name, task.kind, task.args, task.timeout);
      } catch (err) {
        this.#settleFailure(task, err, 'failed');
        continue;
      }
      task.where = 'sent';
      task.args = [];
      jobs.push({ name: task.name, data, opts: { jobId: task.slot!.id, priority: bullPriority(task.priority), removeOnComplete: keep, removeOnFail: keep } });
      sent.push(task);
    }
    if (jobs.length === 0) return;
    conn.queue.addBulk(jobs).then(
      () => {
        const checkAt = performance.now() + this.#opts.pollInterval;
        for (const task of sent) {
          const job = task.slot!;
          job.added = true;
          if (job.cancelWhenAdded) this.#cancelJob(job.id);
          else job.checkAt = checkAt;
        }
      },
      (err: unknown) => {
        const failure = new BrokerError(`The job could not be added to queue \`${this.#opts.queue}\`: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        for (const task of sent) this.#settleFailure(task, failure, 'crashed');
      },
    );
  }

  dequeued(task: RemoteTask): void {
    this.#forget(task);
  }

  cancelSent(task: RemoteTask): void {
    const job = task.slot!;
    this.#forget(task);
    this.#core.release(task);
    if (!job.added) job.cancelWhenAdded = true;
    else if (!job.removed) this.#cancelJob(job.id);
  }

  /** Hosts enforce timeouts and stop cancelled tasks: nothing is stopped from here. */
  abort(): boolean {
    return false;
  }

  kill(): void {}

  /** Removes the job if it waits; otherwise asks the hosts to stop it. The future is already settled. */
  #cancelJob(id: string): void {
    const conn = this.#conn;
    if (conn === undefined) return;
    conn.queue.remove(id).then(
      (removed) => {
        if (removed === 1) return;
        return conn.redis.publish(cancelChannel(this.#opts.prefix, this.#opts.queue), id).then(() => {});
      },
      () => {},
    ).catch(() => {});
  }

  /**
   * shutdown({ cancelFutures }): cancels the task only if its job still waits
   * in Redis. A job a host holds runs on, even if the pool has not heard yet
   * that it started.
   */
  #cancelIfWaiting(task: RemoteTask): void {
    const conn = this.#conn!;
    const job = task.slot!;
    conn.queue.remove(job.id).then(
      (removed) => {
        if (removed !== 1 || task.future.state !== 'pending') return;
        job.removed = true;
        task.future.cancel();
      },
      () => {},
    );
  }

  #onActive(jobId: string): void {
    const task = this.#tasks.get(jobId);
    if (task === undefined || task.future.state !== 'pending') return;
    this.#start(task);
  }

  #start(task: RemoteTask): void {
    if (this.#core.begin(task, performance.now())) this.#running++;
  }

  #onCompleted(jobId: string, returnvalue: unknown): void {
    const task = this.#tasks.get(jobId);
    if (task === undefined) return;
    if (typeof returnvalue !== 'string') {
      this.#settleFailure(task, new BrokerError(`Job ${jobId} completed without a warmpool result: was it run by something other than \`warmpool worker\`?`), 'crashed');
      return;
    }
    let envelope: Envelope;
    try {
      envelope = decodeValue(returnvalue) as Envelope;
    } catch (err) {
      this.#settleFailure(task, new BrokerError(`The result of job ${jobId} could not be read`, { cause: err }), 'crashed');
      return;
    }
    const [status, value, runTime] = envelope;
    if (task.future.state === 'pending') this.#start(task);
    this.#forget(task);
    if (!this.#core.finish(task, runTime)) return;
    if (status === Status.Ok) {
      this.#core.fulfil(task, value);
    } else {
      const error =
        status === Status.ChunkError ? new ChunkFailure((value as [number, unknown])[0], decodeError((value as [number, unknown])[1])) : decodeError(value);
      // The host's local pool timed out or crashed: counted as such here too.
      const cause = error instanceof ChunkFailure ? error.error : error;
      this.#core.reject(
        task,
        error,
        cause instanceof TimeoutError ? 'timedOut' : cause instanceof WorkerCrashedError || cause instanceof WorkerStartError ? 'crashed' : 'failed',
      );
    }
    this.#checkDrained();
  }

  #onFailed(jobId: string, failedReason: string): void {
    const task = this.#tasks.get(jobId);
    if (task === undefined) return;
    // Jobs fail in BullMQ only when no host could give an outcome: a task's
    // own errors come back as completed jobs carrying the error.
    this.#settleFailure(task, new BrokerError(`Job ${jobId} failed in BullMQ: ${failedReason}`), 'crashed');
  }

  /** A failure that did not come from running the task to an end (so no run time). */
  #settleFailure(task: RemoteTask, error: unknown, count: 'failed' | 'crashed'): void {
    if (task.where === 'gone') return;
    this.#forget(task);
    this.#core.fail(task, error, count);
    this.#checkDrained();
  }

  /** The task leaves the engine's books (before its future settles, so stats() agrees with it). */
  #forget(task: RemoteTask): void {
    const job = task.slot;
    if (job === undefined || !this.#tasks.delete(job.id)) return;
    if (task.startedAt !== 0) this.#running--;
  }

  /** The poll runs while tasks are outstanding; its timer holds the event loop only then. */
  #armPoll(): void {
    if (this.#pollTimer !== undefined) return;
    this.#pollTimer = setInterval(() => void this.#poll(), this.#opts.pollInterval);
  }

  async #poll(): Promise<void> {
    if (this.#tasks.size === 0) {
      clearInterval(this.#pollTimer);
      this.#pollTimer = undefined;
      return;
    }
    const conn = this.#conn;
    if (conn === undefined || this.#polling) return;
    const now = performance.now();
    const due: RemoteTask[] = [];
    for (const task of this.#tasks.values()) {
      const job = task.slot!;
      if (job.added && task.where !== 'gone' && job.checkAt <= now) {
        due.push(task);
        if (due.length === POLL_BATCH) break;
      }
    }
    if (due.length === 0) return;
    this.#polling = true;
    try {
      const pipeline = conn.redis.pipeline();
      for (const task of due) pipeline.hmget(conn.queue.toKey(task.slot!.id), 'name', 'finishedOn', 'returnvalue', 'failedReason', 'processedOn');
      const replies = (await pipeline.exec()) ?? [];
      const after = performance.now();
      for (let i = 0; i < due.length; i++) {
        const task = due[i];
        if (task.where === 'gone') continue; // settled meanwhile
        const job = task.slot!;
        const [err, fields] = replies[i] ?? [new Error('no reply')];
        if (err !== null) continue;
        const [name, finishedOn, returnvalue, failedReason, processedOn] = fields as (string | null)[];
        if (name === null) {
          this.#settleFailure(
            task,
            new BrokerError(`Job ${job.id} is no longer in Redis (was Redis restarted without persistence, or flushed, or did its result outlive \`resultTtl\`?)`),
            'crashed',
          );
          continue;
        }
        if (finishedOn !== null && returnvalue !== null && failedReason === null) {
          let value: unknown;
          try {
            value = JSON.parse(returnvalue);
          } catch {
            value = undefined;
          }
          this.#onCompleted(job.id, value);
          continue;
        }
        if (finishedOn !== null && failedReason !== null) {
          this.#onFailed(job.id, failedReason);
          continue;
        }
        if (processedOn !== null && task.future.state === 'pending') this.#start(task);
        const waited = after - task.submittedAt;
        job.checkAt = after + Math.min(this.#opts.pollInterval * POLL_BACKOFF, Math.max(this.#opts.pollInterval, waited / 2));
      }
    } catch {
      // Redis is away: the next tick tries again.
    } finally {
      this.#polling = false;
    }
  }

  async ready(): Promise<void> {
    try {
      await this.#connecting;
    } catch (err) {
      throw new BrokerError(`RemotePool could not connect to queue \`${this.#opts.queue}\`: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  onIdle(): Promise<void> {
    return this.#core.onIdle();
  }

  stats(): PoolStats {
    return this.#core.stats(this.#opts.workers, this.#running, Math.max(0, this.#opts.workers - this.#running), this.#tasks.size - this.#running);
  }

  shutdown(wait: boolean, cancelFutures: boolean): Promise<void> {
    return this.#core.shutdown(wait, cancelFutures);
  }

  closing(cancelFutures: boolean): void {
    if (cancelFutures) {
      for (const task of [...this.#tasks.values()]) {
        if (task.future.state !== 'pending') continue;
        if (task.slot!.added) this.#cancelIfWaiting(task);
        else task.future.cancel();
      }
    }
    this.#checkDrained();
  }

  /** After shutdown, once every task has settled: the connections close, then shutdown() resolves. */
  #checkDrained(): void {
    const core = this.#core;
    if (!core.closed || this.#tasks.size > 0 || !core.drained.any) return;
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    void this.#dispose().then(() => core.drained.release());
  }

  /** Closes the connections, once; waits for a connection still being made. */
  #dispose(): Promise<void> {
    this.#disposed ??= this.#connecting.then(
      async ({ queue, events, redis }) => {
        await Promise.allSettled([events.close(), queue.close(), redis.quit()]);
      },
      () => {},
    );
    return this.#disposed;
  }
}
