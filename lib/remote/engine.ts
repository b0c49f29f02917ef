// The engine behind RemotePool: tasks become BullMQ jobs on a Redis queue,
// `warmpool worker` hosts run them in their own warm local pools, and the
// outcome comes back in the job's return value.
//
//   submit() ──▶ Task + Future ──▶ #pending (one addBulk per tick) ──▶ Redis queue
//                                                                          │
//                       warmpool worker host: BullMQ Worker ◀──────────────┘
//                       processor ──▶ local ProcessPool/ThreadPool (timeout, cancel)
//                                  ◀── [status, value, runTime] (v8, base64)
//                       job completed ──▶ events stream
//   QueueEvents 'completed' ──▶ settle the Future            (fast path)
//     └ return value RESULT_ELSEWHERE ──▶ HGET the job's result field, remove the job ──▶ settle
//   poll of long-waiting tasks: HMGET of the job hash ──▶ settle  (when an event was dropped)
//   queueTimeout: a task no host started in time ──▶ TimeoutError, its job removed or cancelled
//
//   shutdown() ──▶ wait for the tasks (bounded only while Redis is unreachable:
//                  after closeTimeout of outage the rest fail with BrokerError)
//              ──▶ close the connections (connections.ts: graceful within
//                  closeTimeout, then dropped) ──▶ resolved
//
// Large results. BullMQ copies a job's return value into the events stream
// as well as the job hash. A host puts a result over LARGE_RESULT_BYTES in a
// field of the job hash instead (codec.ts) and returns a marker; the pool
// reads the field once and removes the job, so the value is in Redis once,
// and only until it is read (or until resultTtl, which the host sets as a
// Redis TTL on the job hash).
//
// Events. BullMQ's events are a capped Redis stream read with XREAD: under a
// burst the stream is trimmed before a slow reader sees every entry, and a
// reader that reconnects may miss some. So events are only the fast path:
// a task not heard of for `pollInterval` ms has its job hash read directly,
// and a job that is gone from Redis fails its future with BrokerError. A
// future never waits on an event alone. The QueueEvents reader starts at the
// stream's last entry as read before the first job is added, so no event of
// this pool's jobs can come before its start position.
//
// Ids. Job ids are made here (`<pool id>-<sequence>`), so a task is known by
// its id before its job is added, and events of other producers' jobs are
// ignored by a map lookup.
//
// Cancel. A waiting job is removed (atomic in BullMQ: it fails when a worker
// holds the job's lock). A job that could not be removed is running, or about
// to: its id is published on the queue's cancel channel, and the host that
// holds it cancels the local task, or, if its processor has not started it
// yet, refuses it when it does. Either way the job fails as unrecoverable
// (no retry). The future is cancelled at once, whatever Redis says.

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { BrokerError, PoolClosedError, QueueFullError, TimeoutError, WorkerCrashedError, WorkerStartError } from '../core/errors.js';
import { futureInternals, type Future, type FutureOwner } from '../core/future.js';
import { ChunkFailure, Status, type Engine, type TaskKind, type TaskOptions } from '../core/contract.js';
import type { PoolStats } from '../core/stats.js';
import { Outcomes, releaseTask, watchSignal } from './bookkeeping.js';
import { decodeError } from '../core/wire-error.js';
import { bullPriority, cancelChannel, decodeValue, encodeJob, RESULT_ELSEWHERE, RESULT_FIELD, type Envelope, type JobData } from './codec.js';
import { deserialize } from 'node:v8';
import { dropConnections, redisAddress, settledWithin } from './connections.js';
import { loadPeers } from './peers.js';

/** Redis connection settings as BullMQ and ioredis take them; a URL is given as `{ url }`. */
export type ConnectionSettings = Record<string, unknown> & { url?: string };

export interface RemoteEngineOptions {
  readonly connection: ConnectionSettings;
  readonly queue: string;
  readonly prefix: string;
  readonly workers: number;
  readonly maxQueued: number;
  readonly pollInterval: number;
  readonly resultTtl: number;
  readonly eventsMaxLen: number;
  /** ms the first connection may take; Infinity waits for Redis indefinitely. */
  readonly connectTimeout: number;
  /** ms shutdown waits on an unreachable Redis, and on a graceful close, before it gives up and drops the connections. */
  readonly closeTimeout: number;
  /** ms from submit within which a host must start a task; Infinity for no bound. */
  readonly queueTimeout: number;
}

/** Most jobs in one addBulk call. */
const ADD_BATCH = 1000;
/** Most job hashes read in one poll. */
const POLL_BATCH = 2000;
/** A task waits at most this many poll intervals between two reads of its job. */
const POLL_BACKOFF = 10;

class RemoteTask implements FutureOwner {
  where: 'queued' | 'adding' | 'added' | 'gone' = 'queued';
  future!: Future<any>;
  onAbort: (() => void) | undefined = undefined;
  runTime = 0;
  /** When the job's hash is to be read next, if nothing was heard of it before. */
  checkAt = 0;
  /** Set when the future was cancelled while its job was being added: cancel the job once it is in. */
  cancelWhenAdded = false;
  /** Its job was removed from Redis already (shutdown with cancelFutures). */
  removed = false;
  /** Its large result is being read from the job hash. */
  fetching = false;

  constructor(
    readonly owner: RemoteEngine,
    readonly id: string,
    readonly name: string,
    readonly kind: TaskKind,
    public args: readonly unknown[],
    readonly priority: number,
    readonly timeout: number,
    readonly signal: AbortSignal | undefined,
    readonly submittedAt: number,
  ) {}

  onCancel(wasRunning: boolean): void {
    this.owner.onCancel(this, wasRunning);
  }
}

/** What of a BullMQ Queue and QueueEvents this engine uses. */
interface Queue {
  getBackend(): unknown;
  addBulk(jobs: { name: string; data: JobData; opts: Record<string, unknown> }[]): Promise<unknown>;
  remove(id: string): Promise<number>;
  toKey(type: string): string;
  close(): Promise<void>;
}
interface QueueEvents {
  getBackend(): unknown;
  close(): Promise<void>;
}
type Redis = InstanceType<Awaited<ReturnType<typeof loadPeers>>['Redis']>;

interface Connected {
  queue: Queue;
  events: QueueEvents;
  redis: Redis;
}

export class RemoteEngine implements Engine {
  readonly #opts: RemoteEngineOptions;
  readonly #poolId = randomBytes(6).toString('hex');
  #seq = 0;
  /** Every task whose future is not settled, by job id, in submission order. */
  readonly #tasks = new Map<string, RemoteTask>();
  /** Tasks not yet given to addBulk. */
  #pending: RemoteTask[] = [];
  #flushScheduled = false;
  /** Accepted and not known to have started on a host: what maxQueued bounds. */
  #queued = 0;
  #running = 0;
  #closed = false;
  #conn: Connected | undefined;
  readonly #connecting: Promise<Connected>;
  #startFailure: unknown;
  #pollTimer: NodeJS.Timeout | undefined;
  #polling = false;
  #drainWaiters: (() => void)[] = [];
  #disposed: Promise<void> | undefined;
  readonly #outcomes = new Outcomes();
  /** onIdle() callers: released when no task is left unsettled. */
  #idleWaiters: (() => void)[] = [];
  /** What #connect has made so far, so that a connection given up on can be dropped. */
  readonly #made: { queue?: Queue; events?: QueueEvents; redis?: Redis } = {};
  /** The last error a connection reported, for the message when connecting fails. */
  #lastError: unknown;
  /** Our own client is connected (it reconnects with the others; it stands for them). */
  #reachable = false;
  /** Runs while the pool is shut down and Redis unreachable: when it fires, the pool gives up on Redis. */
  #outageTimer: NodeJS.Timeout | undefined;
  /** Set once #connectWithin has failed: #connect makes nothing more. */
  #gaveUp = false;
  /** Rejects #connecting when the pool gives up on a connection still being made. */
  #abandonConnect: (err: unknown) => void = () => {};
  /** Fires for the oldest task not seen started when its queueTimeout passes. */
  #queueTimer: NodeJS.Timeout | undefined;

  constructor(opts: RemoteEngineOptions) {
    this.#opts = opts;
    this.#connecting = this.#connectWithin();
    this.#connecting.then(
      (conn) => {
        this.#conn = conn;
        if (this.#closed && this.#tasks.size === 0) void this.#dispose();
        else this.#flush();
      },
      (err: unknown) => {
        this.#startFailure = err;
        for (const task of this.#pending) this.#settleFailure(task, err, 'crashed');
        this.#pending = [];
        this.#checkDrained();
      },
    );
    // ready() reports it; nobody else needs to.
    this.#connecting.catch(() => {});
  }

  /** #connect bounded by connectTimeout; rejects with the BrokerError that ready() and the futures get. */
  async #connectWithin(): Promise<Connected> {
    const bound = this.#opts.connectTimeout;
    let timer: NodeJS.Timeout | undefined;
    const givenUp = new Promise<never>((_, reject) => {
      this.#abandonConnect = reject;
      if (bound !== Infinity) timer = setTimeout(() => reject(new Error(`no connection within ${bound} ms (\`connectTimeout\`)`)), bound);
    });
    const attempt = this.#connect();
    try {
      return await Promise.race([attempt, givenUp]);
    } catch (err) {
      this.#gaveUp = true;
      this.#dropAll();
      // What #connect makes after this (it stops at its next step) is dropped too.
      attempt.finally(() => this.#dropAll()).catch(() => {});
      const last = this.#lastError instanceof Error && this.#lastError !== err ? `; last error: ${this.#lastError.message}` : '';
      throw new BrokerError(
        `RemotePool could not connect to Redis at ${redisAddress(this.#opts.connection)} for queue \`${this.#opts.queue}\`: ${err instanceof Error ? err.message : String(err)}${last}`,
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
      this.#abandonConnect = () => {};
    }
  }

  async #connect(): Promise<Connected> {
    const { bullmq, Redis } = await loadPeers();
    if (this.#gaveUp) throw new Error('given up');
    const { url, ...rest } = this.#opts.connection;
    const connection = url === undefined ? rest : { url, ...rest };
    const prefix = this.#opts.prefix;
    const onError = (err: unknown) => {
      this.#lastError = err;
    };
    const queue = new bullmq.Queue(this.#opts.queue, {
      connection,
      prefix,
      streams: { events: { maxLen: this.#opts.eventsMaxLen } },
    });
    this.#made.queue = queue;
    // Our own client for what BullMQ has no call for: reading the events
    // stream's position, reading job hashes in one pipeline, publishing cancels.
    // Commands fail at once while Redis is away instead of queueing: the
    // poll simply tries again at its next tick. Its state stands for the
    // reachability of Redis (shutdown's bound).
    const redisOptions = { ...rest, enableOfflineQueue: true, maxRetriesPerRequest: 1, lazyConnect: false };
    const redis = url === undefined ? new Redis(redisOptions) : new Redis(url, redisOptions);
    this.#made.redis = redis;
    redis.on('error', onError); // reconnects by itself; failed commands are retried by the poll
    redis.on('ready', () => this.#onReachable(true));
    redis.on('close', () => this.#onReachable(false));
    queue.on('error', onError);
    await queue.waitUntilReady();
    const last = (await redis.xrevrange(queue.keys.events, '+', '-', 'COUNT', 1)) as [string, string[]][];
    const lastEventId = last.length > 0 ? last[0][0] : '0-0';
    if (this.#gaveUp) throw new Error('given up');
    const events = new bullmq.QueueEvents(this.#opts.queue, { connection, prefix, lastEventId, autorun: false });
    this.#made.events = events;
    events.on('error', onError);
    events.on('active', ({ jobId }) => this.#onActive(jobId));
    events.on('completed', ({ jobId, returnvalue }) => this.#onCompleted(jobId, returnvalue as unknown));
    events.on('failed', ({ jobId, failedReason }) => this.#onFailed(jobId, failedReason));
    void events.run().catch(() => {});
    await events.waitUntilReady();
    this.#reachable = redis.status === 'ready';
    return { queue, events, redis };
  }

  /** Drops every connection made so far at once (connections.ts). */
  #dropAll(): void {
    const { queue, events, redis } = this.#made;
    // close() first: it stops QueueEvents' read loop, which would otherwise
    // retry on the dropped connection forever.
    events?.close().catch(() => {});
    dropConnections(events);
    dropConnections(queue);
    redis?.disconnect();
  }

  #onReachable(reachable: boolean): void {
    this.#reachable = reachable;
    if (reachable) {
      clearTimeout(this.#outageTimer);
      this.#outageTimer = undefined;
    } else if (this.#closed) {
      this.#armOutageTimer();
    }
  }

  get workers(): number {
    return this.#opts.workers;
  }

  submit(name: string, args: readonly unknown[], kind: TaskKind, options: TaskOptions): Future<unknown> {
    if (this.#closed) throw new PoolClosedError();
    if (this.#opts.maxQueued !== Infinity && this.#queued >= this.#opts.maxQueued) throw new QueueFullError(this.#opts.maxQueued);
    const task = new RemoteTask(this, `${this.#poolId}-${++this.#seq}`, name, kind, args, options.priority, options.timeout, options.signal, performance.now());
    const future = futureInternals.create<unknown>(task);
    task.future = future;
    if (this.#startFailure !== undefined) {
      this.#outcomes.fail(task, this.#startFailure, 'crashed');
      return future;
    }
    this.#tasks.set(task.id, task);
    this.#queued++;
    this.#pending.push(task);
    if (!watchSignal(task)) return future;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
    this.#armPoll();
    this.#armQueueTimer();
    return future;
  }

  /** Adds the pending tasks' jobs, in batches, in submission order. */
  #flush(): void {
    this.#flushScheduled = false;
    const conn = this.#conn;
    if (conn === undefined || this.#pending.length === 0) return;
    const tasks = this.#pending;
    this.#pending = [];
    for (let i = 0; i < tasks.length; i += ADD_BATCH) this.#add(conn, tasks.slice(i, i + ADD_BATCH));
  }

  #add(conn: Connected, batch: RemoteTask[]): void {
    const jobs: { name: string; data: JobData; opts: Record<string, unknown> }[] = [];
    const sent: RemoteTask[] = [];
    const keep = { age: this.#opts.resultTtl };
    for (const task of batch) {
      if (task.where !== 'queued') continue; // cancelled before it was sent
      let data: JobData;
      try {
        data = encodeJob(task.name, task.kind, task.args, task.timeout);
      } catch (err) {
        this.#settleFailure(task, err, 'failed');
        continue;
      }
      task.where = 'adding';
      task.args = [];
      jobs.push({ name: task.name, data, opts: { jobId: task.id, priority: bullPriority(task.priority), removeOnComplete: keep, removeOnFail: keep } });
      sent.push(task);
    }
    if (jobs.length === 0) return;
    conn.queue.addBulk(jobs).then(
      () => {
        const checkAt = performance.now() + this.#opts.pollInterval;
        for (const task of sent) {
          if (task.cancelWhenAdded) {
            this.#cancelJob(task.id);
            continue;
          }
          if (task.where !== 'adding') continue;
          task.where = 'added';
          task.checkAt = checkAt;
        }
      },
      (err: unknown) => {
        const failure = new BrokerError(`The job could not be added to queue \`${this.#opts.queue}\`: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        for (const task of sent) this.#settleFailure(task, failure, 'crashed');
      },
    );
  }

  onCancel(task: RemoteTask, wasRunning: boolean): void {
    this.#outcomes.counts.cancelled++;
    const where = task.where;
    this.#forget(task, wasRunning);
    if (where === 'adding') task.cancelWhenAdded = true;
    else if (where === 'added' && !task.removed) this.#cancelJob(task.id);
    // shutdown({ cancelFutures }) may have been waiting for just this task.
    this.#checkDrained();
  }

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
    conn.queue.remove(task.id).then(
      (removed) => {
        if (removed !== 1 || task.future.state !== 'pending') return;
        task.removed = true;
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
    if (!futureInternals.setRunningOrNotifyCancel(task.future)) return;
    this.#queued--;
    this.#running++;
    this.#outcomes.waitTime.add(performance.now() - task.submittedAt);
  }

  #onCompleted(jobId: string, returnvalue: unknown): void {
    const task = this.#tasks.get(jobId);
    if (task === undefined) return;
    if (returnvalue === RESULT_ELSEWHERE) {
      this.#fetchLargeResult(task);
      return;
    }
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
    this.#settleWith(task, envelope);
  }

  /**
   * Reads a large result from its job hash (codec.ts), once, then removes
   * the job: the value leaves Redis as soon as it has been read. A failed read
   * (Redis away) leaves the task to the poll, which comes back here.
   */
  #fetchLargeResult(task: RemoteTask): void {
    const conn = this.#conn;
    if (conn === undefined || task.fetching || task.where === 'gone') return;
    task.fetching = true;
    const key = conn.queue.toKey(task.id);
    conn.redis.hgetBuffer(key, RESULT_FIELD).then(
      (bytes) => {
        task.fetching = false;
        if (task.where === 'gone') return;
        if (bytes === null) {
          this.#settleFailure(task, new BrokerError(`The result of job ${task.id} is no longer in Redis (did it outlive \`resultTtl\`?)`), 'crashed');
          return;
        }
        let envelope: Envelope;
        try {
          envelope = deserialize(bytes) as Envelope;
        } catch (err) {
          this.#settleFailure(task, new BrokerError(`The result of job ${task.id} could not be read`, { cause: err }), 'crashed');
          return;
        }
        conn.queue.remove(task.id).catch(() => {});
        this.#settleWith(task, envelope);
      },
      () => {
        task.fetching = false;
        task.checkAt = 0;
      },
    );
  }

  #settleWith(task: RemoteTask, envelope: Envelope): void {
    const [status, value, runTime] = envelope;
    task.runTime = runTime;
    const future = task.future;
    if (future.state === 'pending') this.#start(task);
    this.#forget(task, true);
    this.#outcomes.runTime.add(runTime);
    if (status === Status.Ok) {
      this.#outcomes.counts.completed++;
      futureInternals.setResult(future, value);
    } else {
      const error =
        status === Status.ChunkError ? new ChunkFailure((value as [number, unknown])[0], decodeError((value as [number, unknown])[1])) : decodeError(value);
      const cause = error instanceof ChunkFailure ? error.error : error;
      this.#outcomes.counts[
        cause instanceof TimeoutError ? 'timedOut' : cause instanceof WorkerCrashedError || cause instanceof WorkerStartError ? 'crashed' : 'failed'
      ]++;
      futureInternals.setException(future, error);
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
    const wasRunning = task.future.state === 'running';
    this.#forget(task, wasRunning);
    this.#outcomes.counts[count]++;
    futureInternals.setException(task.future, error);
    this.#checkDrained();
  }

  /** The task leaves the engine's books (before its future settles, so stats() agrees with it). */
  #forget(task: RemoteTask, wasRunning: boolean): void {
    if (task.where === 'gone') return;
    if (wasRunning) this.#running--;
    else this.#queued--;
    this.#tasks.delete(task.id);
    if (this.#tasks.size === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
    releaseTask(task);
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
      if (task.where === 'added' && task.checkAt <= now) {
        due.push(task);
        if (due.length === POLL_BATCH) break;
      }
    }
    if (due.length === 0) return;
    this.#polling = true;
    try {
      const pipeline = conn.redis.pipeline();
      for (const task of due) pipeline.hmget(conn.queue.toKey(task.id), 'name', 'finishedOn', 'returnvalue', 'failedReason', 'processedOn');
      const replies = (await pipeline.exec()) ?? [];
      const after = performance.now();
      for (let i = 0; i < due.length; i++) {
        const task = due[i];
        if (task.where !== 'added') continue; // settled meanwhile
        const [err, fields] = replies[i] ?? [new Error('no reply')];
        if (err !== null) continue;
        const [name, finishedOn, returnvalue, failedReason, processedOn] = fields as (string | null)[];
        if (name === null) {
          this.#settleFailure(
            task,
            new BrokerError(`Job ${task.id} is no longer in Redis (was Redis restarted without persistence, or flushed, or did its result outlive \`resultTtl\`?)`),
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
          this.#onCompleted(task.id, value);
          continue;
        }
        if (finishedOn !== null && failedReason !== null) {
          this.#onFailed(task.id, failedReason);
          continue;
        }
        if (processedOn !== null && task.future.state === 'pending') this.#start(task);
        const waited = after - task.submittedAt;
        task.checkAt = after + Math.min(this.#opts.pollInterval * POLL_BACKOFF, Math.max(this.#opts.pollInterval, waited / 2));
      }
    } catch {
      // Redis is away: the next tick tries again.
    } finally {
      this.#polling = false;
    }
  }

  /** queueTimeout: one timer, for the oldest task not seen started (deadlines grow in submission order). */
  #armQueueTimer(): void {
    const bound = this.#opts.queueTimeout;
    if (bound === Infinity || this.#queueTimer !== undefined) return;
    for (const task of this.#tasks.values()) {
      if (task.future.state !== 'pending') continue;
      this.#queueTimer = setTimeout(() => this.#expireWaiting(), Math.max(0, task.submittedAt + bound - performance.now()));
      return;
    }
  }

  /** Fails the tasks no host started within queueTimeout, and takes their jobs back. */
  #expireWaiting(): void {
    this.#queueTimer = undefined;
    const bound = this.#opts.queueTimeout;
    const now = performance.now();
    for (const task of [...this.#tasks.values()]) {
      if (task.future.state !== 'pending') continue;
      if (task.submittedAt + bound > now) break;
      const where = task.where;
      this.#forget(task, false);
      this.#outcomes.counts.timedOut++;
      futureInternals.setException(
        task.future,
        new TimeoutError(
          `No host started the task within ${bound} ms (\`queueTimeout\`): is a \`warmpool worker\` serving queue \`${this.#opts.queue}\` on Redis at ${redisAddress(this.#opts.connection)}?`,
          bound,
        ),
      );
      // As for cancel(): a job taken meanwhile is stopped on its host.
      if (where === 'adding') task.cancelWhenAdded = true;
      else if (where === 'added') this.#cancelJob(task.id);
    }
    this.#checkDrained();
    this.#armQueueTimer();
  }

  async ready(): Promise<void> {
    await this.#connecting;
  }

  onIdle(): Promise<void> {
    if (this.#tasks.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  stats(): PoolStats {
    return this.#outcomes.stats(this.#opts.workers, this.#running, Math.max(0, this.#opts.workers - this.#running), this.#queued);
  }

  shutdown(wait: boolean, cancelFutures: boolean): Promise<void> {
    this.#closed = true;
    if (cancelFutures) {
      for (const task of [...this.#tasks.values()]) {
        if (task.future.state !== 'pending') continue;
        if (task.where === 'added' && this.#reachable) this.#cancelIfWaiting(task);
        else task.future.cancel();
      }
    }
    const drained = new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
    if (!this.#reachable) this.#armOutageTimer();
    this.#checkDrained();
    const closed = drained.then(() => this.#dispose());
    return wait ? closed : Promise.resolve();
  }

  /**
   * Shutdown waits for its tasks while Redis can be reached; once it has been
   * unreachable for closeTimeout, the pool gives up: the tasks still
   * outstanding fail with BrokerError (their outcome cannot be known), and the
   * connections are dropped.
   */
  #armOutageTimer(): void {
    if (this.#outageTimer !== undefined || this.#disposed !== undefined) return;
    this.#outageTimer = setTimeout(() => {
      this.#outageTimer = undefined;
      if (this.#reachable) return;
      const failure = new BrokerError(
        `Redis at ${redisAddress(this.#opts.connection)} was unreachable for ${this.#opts.closeTimeout} ms (\`closeTimeout\`) while the pool shut down: the outcome of the task is unknown`,
      );
      this.#pending = [];
      for (const task of [...this.#tasks.values()]) this.#settleFailure(task, failure, 'crashed');
      this.#checkDrained();
    }, this.#opts.closeTimeout);
  }

  #checkDrained(): void {
    if (!this.#closed || this.#tasks.size > 0 || this.#drainWaiters.length === 0) return;
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Closes the connections, once (connections.ts): gracefully within
   * closeTimeout while Redis is reachable, then by force. A connection still
   * being made is given up.
   */
  #dispose(): Promise<void> {
    this.#disposed ??= (async () => {
      clearTimeout(this.#outageTimer);
      clearTimeout(this.#queueTimer);
      this.#outageTimer = this.#queueTimer = undefined;
      let conn = this.#conn;
      if (conn === undefined) {
        this.#abandonConnect(new Error('the pool was shut down before it connected'));
        // Undefined when it was given up (#connectWithin dropped what it made).
        conn = await this.#connecting.catch(() => undefined);
        if (conn === undefined) return;
      }
      if (this.#reachable) {
        const { queue, events, redis } = conn;
        await settledWithin(Promise.allSettled([events.close(), queue.close(), redis.quit()]), this.#opts.closeTimeout);
      }
      this.#dropAll();
    })();
    return this.#disposed;
  }
}
