// RemotePool's transport over the engine core (lib/core/engine-core.ts):
// tasks become BullMQ jobs on a Redis queue, `warmpool worker` hosts run them
// in their own warm local pools (./host.ts), and the outcome comes back in the
// job's return value. The connections (made within connectTimeout, closed
// within closeTimeout) are ./connections.ts; the watch over jobs not heard
// of (the poll, large results, queueTimeout) is ./poll.ts; taking jobs back
// (cancel) and the commands the close waits for are ./cancel.ts.
//
//  caller          EngineCore            RemoteEngine                    Redis / host
//  pool.submit ─▶ TaskRecord+Future ─▶ TaskQueue  (trace context captured)
//                 a microtask ────────▶ dispatch: once connected, the queue's
//                                       tasks as jobs, one addBulk per 1,000 ─▶ queue
//                                       { n, k, a, t, c: trace carrier }          │
//                                                 warmpool worker: BullMQ Worker ◀┘
//                                                 processor ─▶ its local pool, under
//                                                 the carrier's trace context
//                 core.begin ◀───────── QueueEvents 'active' (the host's name: an
//                 (asyncStart)          HGET of the job's `pb`, only when observed)
//                 core.settle ◀──────── QueueEvents 'completed' ◀── [status, value, runTime, host]
//                                        └ RESULT_ELSEWHERE: HGET the result field,
//                                          remove the job ──▶ core.settle
//                 core.settle ◀──────── poll (./poll.ts): HMGET of long-unheard jobs
//  cancel ──────▶ core.cancel ────────▶ cancelSent ─▶ takeBack (./cancel.ts): remove the
//                                       job if it waits, else publish its id: the host cancels it
//  queueTimeout ────────────────────── a task no host started in time ──▶ TimeoutError,
//                                       its job removed or cancelled as for cancel()
//  shutdown ────▶ core.shutdown ──────▶ closing: wait for the tasks (bounded only while
//                                       Redis is unreachable: after closeTimeout of
//                                       outage the rest fail with BrokerError)
//                                       ──▶ adds and cancels in flight land (bounded)
//                                       ──▶ connections closed ──▶ core.drained
//
// The core never stops a task here: timeouts are the host's (it stops its
// local worker and sends the TimeoutError back), and a cancel goes to the
// host through `cancelSent`. So `abort` and `kill` have nothing to do.
//
// Events are only the fast path: BullMQ's events stream is capped, so under
// a burst some never arrive; a task not heard of for `pollInterval` ms has
// its job hash read (./poll.ts), and a future never waits on an event alone.
// A result over 1 KiB is not in the event at all but in a field of the job
// hash, read once (./poll.ts, ./codec.ts).
//
// Ids. Job ids are made here (`<pool key>-<task id>`), so a task is known by
// its id before its job is added, and events of other producers' jobs are
// ignored by a map lookup.
//
// Cancel. A waiting job is removed; one that could not be removed is
// running, or about to, and its id is published for its host to cancel it
// (./cancel.ts). The future is cancelled at once, whatever Redis says.

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Engine } from '../core/contract.js';
import { EngineCore } from '../core/engine-core.js';
import { argumentCloneError, type Occupancy, type Transport } from '../core/transport.js';
import type { FailureCount } from '../core/outcome.js';
import { BrokerError, TimeoutError, WorkerCrashedError, WorkerStartError } from '../core/errors.js';
import type { TaskQueue } from '../core/queue.js';
import type { TaskRecord } from '../core/task.js';
import { serializeFailure } from '../core/wire-error.js';
import { bullPriority, decodeValue, encodeJob, readEnvelope, RESULT_ELSEWHERE, type Envelope, type JobData } from './codec.js';
import { Connections, redisAddress, settledWithin, type ConnectOptions, type Connected } from './connections.js';
import { TakeBacks } from './cancel.js';
import { JobReader, type JobReaderOwner } from './poll.js';

export interface RemoteEngineOptions extends ConnectOptions {
  /** The pool's name in diagnostics messages. */
  readonly name: string;
  readonly workers: number;
  readonly maxQueued: number;
  readonly pollInterval: number;
  readonly resultTtl: number;
  /** ms from submit within which a host must start a task; Infinity for no bound. */
  readonly queueTimeout: number;
}

/** Most jobs in one addBulk call. */
const ADD_BATCH = 1000;

/** A task's job: its slot in the task record, made when the task is accepted. */
export class RemoteJob {
  /** Not yet given to addBulk; being added; in Redis. */
  state: 'queued' | 'adding' | 'added' = 'queued';
  /** A host was heard to have started it. */
  started = false;
  /** When the job's hash is to be read next, if nothing was heard of it before (./poll.ts). */
  checkAt = 0;
  /** The task settled while its job was being added: cancel the job once it is in. */
  cancelWhenAdded = false;
  /** Its job was removed from Redis already (shutdown with cancelFutures). */
  removed = false;
  /** Its large result is being read from the job hash. */
  fetching = false;

  constructor(readonly id: string) {}
}

export type Task = TaskRecord<RemoteJob>;

/** The error counted `timedOut` or `crashed` when a host sends it back, as the host's own pool counted it. */
function countOf(error: unknown): FailureCount {
  if (error instanceof TimeoutError) return 'timedOut';
  return error instanceof WorkerCrashedError || error instanceof WorkerStartError ? 'crashed' : 'failed';
}

export class RemoteEngine implements Transport<RemoteJob>, JobReaderOwner {
  readonly #opts: RemoteEngineOptions;
  readonly #core: EngineCore<RemoteJob>;
  readonly #queue: TaskQueue<Task>;
  readonly #link: Connections;
  readonly #reader: JobReader;
  readonly #takeBacks: TakeBacks;
  readonly #poolKey = randomBytes(6).toString('hex');
  /** Every accepted task whose future has not settled, by job id, in submission order. */
  readonly tasks = new Map<string, Task>();
  /** Jobs added (or being added) and not heard started: with the queue, what maxQueued bounds. */
  #waiting = 0;
  #running = 0;
  #startFailure: unknown;
  /** The connections closing, once shut down and drained; set once. */
  #closed: Promise<void> | undefined;

  constructor(opts: RemoteEngineOptions) {
    this.#opts = opts;
    // cancelGrace 0: the core never stops a task here (see the header).
    this.#core = new EngineCore<RemoteJob>(this, { name: opts.name, maxQueued: opts.maxQueued, cancelGrace: 0 }, false);
    this.#queue = this.#core.queue;
    this.#link = new Connections(opts, {
      active: (jobId) => this.#onActive(jobId),
      completed: (jobId, returnvalue) => this.completed(jobId, returnvalue),
      failed: (jobId, failedReason) => this.failed(jobId, failedReason),
    });
    this.#reader = new JobReader(this, this.#link, opts);
    this.#takeBacks = new TakeBacks(this.#link, opts.prefix, opts.queue);
    this.#link.connecting.then(
      () => {
        if (!this.#checkDrained()) this.dispatch();
      },
      (err: unknown) => {
        this.#startFailure = err;
        this.#failAll(err);
      },
    );
    // ready() reports it; nobody else needs to.
    this.#link.connecting.catch(() => {});
  }

  /** What the pool talks to: the engine core over this transport. */
  get core(): Engine {
    return this.#core;
  }

  get workers(): number {
    return this.#opts.workers;
  }

  // ── submit, dispatch ──────────────────────────────────────────────────

  accepted(task: Task): boolean {
    const job = (task.slot = new RemoteJob(`${this.#poolKey}-${task.id}`));
    if (this.#startFailure !== undefined) {
      this.#queue.forgetOne();
      this.#core.fail(task, this.#startFailure, 'crashed');
      return false;
    }
    this.tasks.set(job.id, task);
    this.#reader.armQueueTimer();
    return true;
  }

  backlog(): number {
    return this.#queue.size + this.#waiting;
  }

  /** Adds the queued tasks' jobs, in batches, in queue order (priority, then submission). */
  dispatch(): void {
    const conn = this.#link.conn;
    if (conn === undefined) return;
    const keep = { age: this.#opts.resultTtl };
    let jobs: { name: string; data: JobData; opts: Record<string, unknown> }[] = [];
    let sent: Task[] = [];
    for (let task = this.#queue.shift(); task !== undefined; task = this.#queue.shift()) {
      const job = task.slot!;
      let data: JobData;
      try {
        data = encodeJob(task.name, task.kind, task.args, task.timeout, task.trace);
      } catch (err) {
        this.tasks.delete(job.id);
        this.#core.fail(task, argumentCloneError(task, err, 'remote worker', serializeFailure), 'failed');
        continue;
      }
      task.where = 'sent';
      task.args = [];
      job.state = 'adding';
      this.#waiting++;
      jobs.push({
        name: task.name,
        data,
        opts: { jobId: job.id, priority: bullPriority(task.priority), removeOnComplete: keep, removeOnFail: keep },
      });
      sent.push(task);
      if (jobs.length === ADD_BATCH) {
        this.#add(conn, jobs, sent);
        jobs = [];
        sent = [];
      }
    }
    if (jobs.length > 0) this.#add(conn, jobs, sent);
    this.#checkDrained();
  }

  #add(conn: Connected, jobs: { name: string; data: JobData; opts: Record<string, unknown> }[], sent: Task[]): void {
    this.#reader.arm();
    this.#takeBacks.track(
      conn.queue.addBulk(jobs).then(
        () => {
          const checkAt = performance.now() + this.#opts.pollInterval;
          for (const task of sent) {
            const job = task.slot!;
            if (job.cancelWhenAdded) {
              this.#takeBacks.cancelJob(job.id);
              continue;
            }
            if (task.where === 'gone') continue;
            job.state = 'added';
            job.checkAt = checkAt;
          }
        },
        (err: unknown) => {
          const failure = new BrokerError(
            `The job could not be added to queue \`${this.#opts.queue}\`: ${err instanceof Error ? err.message : String(err)}`,
            { cause: err },
          );
          for (const task of sent) this.fail(task, failure, 'crashed');
        },
      ),
    );
  }

  // ── started, settled ──────────────────────────────────────────────────

  #onActive(jobId: string): void {
    const task = this.tasks.get(jobId);
    if (task !== undefined && task.future.state === 'pending') this.start(task);
  }

  /**
   * A host was heard to have started the task. `host` names it when the
   * caller knows it; otherwise, and only when someone listens on
   * `warmpool:task`, it is read from the job's `processedBy` field.
   */
  start(task: Task, host?: string): void {
    const job = task.slot!;
    if (job.started || !this.#core.begin(task, performance.now(), host)) return;
    job.started = true;
    this.#waiting--;
    this.#running++;
    const conn = this.#link.conn;
    if (host !== undefined || task.diag === undefined || conn === undefined) return;
    conn.redis.hget(conn.queue.toKey(job.id), 'pb').then(
      (name) => {
        if (name !== null) this.#core.began(task, name, task.startedAt);
      },
      () => {},
    );
  }

  /** The job completed: its return value is an envelope, or says where the large one is. */
  completed(jobId: string, returnvalue: unknown): void {
    const task = this.tasks.get(jobId);
    if (task === undefined) return;
    if (returnvalue === RESULT_ELSEWHERE) {
      this.#reader.fetchLargeResult(task);
      return;
    }
    if (typeof returnvalue !== 'string') {
      this.fail(
        task,
        new BrokerError(`Job ${jobId} completed without a warmpool result: was it run by something other than \`warmpool worker\`?`),
        'crashed',
      );
      return;
    }
    const envelope = readEnvelope(jobId, returnvalue, decodeValue);
    if (envelope instanceof BrokerError) this.fail(task, envelope, 'crashed');
    else this.settleWith(task, envelope);
  }

  settleWith(task: Task, [status, value, runTime, host]: Envelope): void {
    if (task.future.state === 'pending') this.start(task, host);
    else if (host !== undefined) this.#core.began(task, host, task.startedAt);
    this.#vacate(task);
    this.#core.settle(task, status, value, runTime, undefined, countOf);
    this.#checkDrained();
  }

  failed(jobId: string, failedReason: string): void {
    const task = this.tasks.get(jobId);
    if (task === undefined) return;
    // Jobs fail in BullMQ only when no host could give an outcome: a task's
    // own errors come back as completed jobs carrying the error.
    this.fail(task, new BrokerError(`Job ${jobId} failed in BullMQ: ${failedReason}`), 'crashed');
  }

  /** A failure that did not come from running the task to an end (so no run time). */
  fail(task: Task, error: unknown, count: FailureCount): void {
    if (task.where === 'gone') return;
    if (task.where === 'queued') this.#queue.forgetOne();
    this.#vacate(task);
    this.#core.fail(task, error, count);
    this.#checkDrained();
  }

  /** Fails every task outstanding: no connection could be made, or Redis stayed away during shutdown. */
  #failAll(error: unknown): void {
    for (const task of [...this.tasks.values()]) this.fail(task, error, 'crashed');
    this.#checkDrained();
  }

  /** The task leaves the engine's books, before its future settles (so stats() agrees with it). */
  #vacate(task: Task): void {
    const job = task.slot!;
    if (!this.tasks.delete(job.id) || job.state === 'queued') return;
    if (job.started) this.#running--;
    else this.#waiting--;
  }

  // ── cancel, queueTimeout ──────────────────────────────────────────────

  dequeued(task: Task): void {
    if (task.slot !== undefined) this.tasks.delete(task.slot.id);
    this.#checkDrained();
  }

  cancelSent(task: Task): void {
    this.#vacate(task);
    this.#core.release(task);
    this.#takeBacks.takeBack(task);
    // shutdown({ cancelFutures }) may have been waiting for just this task.
    this.#checkDrained();
  }

  /** The core never stops a remote task itself (see the header). */
  abort(): boolean {
    return false;
  }

  kill(): void {}

  /** No host started the task within queueTimeout (./poll.ts): it fails, and its job is taken back as for cancel(). */
  expired(task: Task): void {
    const bound = this.#opts.queueTimeout;
    const where = `queue \`${this.#opts.queue}\` on Redis at ${redisAddress(this.#opts.connection)}`;
    // Taken back first: failing the last task of a pool shut down starts closing its connections (#checkDrained).
    this.#takeBacks.takeBack(task);
    this.fail(
      task,
      new TimeoutError(`No host started the task within ${bound} ms (\`queueTimeout\`): is a \`warmpool worker\` serving ${where}?`, bound),
      'timedOut',
    );
  }

  // ── the pool ──────────────────────────────────────────────────────────

  async ready(): Promise<void> {
    await this.#link.connecting;
  }

  occupancy(): Occupancy {
    return {
      workers: this.#opts.workers,
      busy: this.#running,
      idle: Math.max(0, this.#opts.workers - this.#running),
      queued: this.backlog(),
    };
  }

  /**
   * shutdown(): with `cancelFutures`, a job still waiting in Redis is removed
   * and its task cancelled; a job a host holds runs on, even if the pool has
   * not heard yet that it started. Then the tasks are waited for while Redis
   * can be reached (./connections.ts `guardShutdown`).
   */
  closing(cancelFutures: boolean): void {
    if (cancelFutures) {
      for (const task of [...this.tasks.values()]) {
        if (task.future.state !== 'pending') continue;
        if (task.slot!.state === 'added' && this.#link.reachable) this.#takeBacks.cancelIfWaiting(task);
        else task.future.cancel();
      }
    }
    this.#link.guardShutdown(() =>
      this.#failAll(
        new BrokerError(
          `Redis at ${redisAddress(this.#opts.connection)} was unreachable for ${this.#opts.closeTimeout} ms (\`closeTimeout\`) while the pool shut down: the outcome of the task is unknown`,
        ),
      ),
    );
    this.#checkDrained();
  }

  /**
   * Once shut down with nothing outstanding: the adds and take-backs in
   * flight land, then the connections are closed (./connections.ts; each
   * step bounded by closeTimeout) and then `drained` released. True when so.
   * Called again by a later shutdown(), it releases that caller too.
   */
  #checkDrained(): boolean {
    const core = this.#core;
    if (!core.closed || this.tasks.size > 0) return false;
    this.#reader.stop(true);
    // Commands still in flight (a cancel on its way to a host) land first,
    // within closeTimeout like the rest of the close.
    this.#closed ??= settledWithin(this.#takeBacks.landed(), this.#opts.closeTimeout).then(() => this.#link.close());
    void this.#closed.then(() => core.drained.release());
    return true;
  }
}
