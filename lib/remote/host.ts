// The host side of RemotePool, run by `warmpool worker`: a BullMQ Worker
// whose processor hands each job to a local warm pool of the one task module
// the host was started with.
//
// Why not BullMQ's sandboxed processors: they cannot hard-kill a busy child
// (a timeout or cancel would leave it running) and leave orphans when the
// host dies. The local pool kills and replaces a worker on timeout or cancel,
// gives tasks the same taskSignal(), and its children die with the host. The
// processor only awaits a future, so the host's event loop stays free to
// renew job locks however long and CPU-bound the task: a healthy host's job
// is never declared stalled.
//
// Outcomes. A task that ran to an outcome (a value, its own error, a timeout,
// a crash of the local worker) completes the job, the outcome inside the
// return value (codec.ts), so BullMQ never retries a task because it threw.
// A job fails in BullMQ only when cancelled (UnrecoverableError: no retry),
// when its data is not a warmpool job, or when it stalled too often.
// A job whose hash left Redis while it ran (Redis restarted empty, or
// flushed) has nowhere to record its outcome: BullMQ reports that twice
// ("Missing key for job … moveToFinished": the complete, then its fallback
// fail), the host says it once, and the pool's poll fails the task.
//
// Results. A result over LARGE_RESULT_BYTES is written to a field of the job
// hash and the job returns a marker (codec.ts), so that BullMQ does not copy
// it into the events stream; the pool reads it once and removes the job.
// Whatever the outcome, the job hash gets a Redis TTL of the producer's
// resultTtl (its `removeOnComplete.age`), and the queue's events stream and
// completed/failed sets at least as long: values leave Redis after resultTtl
// even when no BullMQ process is left to clean up.
//
// Stopping (close):
//   first signal ──▶ BullMQ Worker.close(): no new jobs, running ones finish
//     ├─ done ──────────────────────────────────────────────┐
//     ├─ local jobs done, then closeTimeout passes ─────────┤ (Redis away:
//     │                                                      │  Worker.close() hangs)
//     └─ second signal: running tasks cancelled, so done ───┤
//        at once; their failures recorded if Redis is there  │
//                                                            ▼
//        drop every Redis connection (connections.ts) ──▶ local pool shut down
//        (its workers stopped) ──▶ close() resolves

import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { serialize } from 'node:v8';
import { CancelledError } from '../core/errors.js';
import { Waiters } from '../core/waiters.js';
import { engineOf, type Executor } from '../core/executor.js';
import { futureInternals, type Future } from '../core/future.js';
import { ChunkFailure, Status, type Engine } from '../core/contract.js';
import { runWithTraceContext } from '../core/trace-context.js';
import { encodeError } from '../core/wire-error.js';
import { cancelChannel, decodeValue, isJobData, LARGE_RESULT_BYTES, RESULT_ELSEWHERE, RESULT_FIELD, type Envelope } from './codec.js';
import { dropConnections, redisAddress, settledWithin, type BullClass } from './connections.js';
import type { ConnectionSettings } from './pool.js';
import { loadPeers } from './peers.js';

export interface HostOptions {
  readonly connection: ConnectionSettings;
  readonly queue: string;
  readonly prefix: string;
  /** Jobs this host takes at once. */
  readonly concurrency: number;
  /** BullMQ's `lockDuration`: ms a job's lock lasts without renewal; a dead host's jobs are taken back after about this. */
  readonly lockDuration: number;
  /** BullMQ's `stalledInterval`: ms between checks for jobs whose lock expired. */
  readonly stalledInterval: number;
  /** BullMQ's `maxStalledCount`: times a job may be taken back from a dead host before it fails. */
  readonly maxStalledCount: number;
  /**
   * ms a stop waits, once the local jobs are done, for BullMQ to close
   * gracefully (record the outcomes, release the connections) before the
   * connections are dropped.
   */
  readonly closeTimeout: number;
  /** Where the host's status lines go (while Redis cannot be reached, and when it is back). */
  readonly log: (line: string) => void;
}

/** TTL in seconds for a job whose options carry no resultTtl (`removeOnComplete.age`): one not made by a RemotePool. */
const DEFAULT_TTL_S = 3600;
/** While Redis stays unreachable, the host says so again this often (ms). */
const WARN_EVERY_MS = 30_000;
/**
 * Sets a TTL of ARGV[1] ms on the job hash (KEYS[1]) and at least that long
 * on the queue-wide keys (KEYS[2..]), which other jobs' TTLs may have set
 * longer. Not EXPIRE's GT/NX flags: they need Redis 7.
 */
const EXPIRE_LUA = `
local ms = tonumber(ARGV[1])
redis.call('PEXPIRE', KEYS[1], ms)
for i = 2, #KEYS do
  local t = redis.call('PTTL', KEYS[i])
  if t == -1 or (t >= 0 and t < ms) then redis.call('PEXPIRE', KEYS[i], ms) end
end
return 0`;

/** Errors that mean "Redis cannot be reached now" (ioredis retries them by itself). */
function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|EPIPE)$/.test(code))
    return true;
  return err instanceof Error && /Connection is closed|connect ETIMEDOUT|Stream isn't writeable/i.test(err.message);
}

interface JobLike {
  readonly id?: string;
  readonly data: unknown;
  readonly opts: { removeOnComplete?: unknown; removeOnFail?: unknown };
}

type Redis = InstanceType<Awaited<ReturnType<typeof loadPeers>>['Redis']>;
type HostRedis = Redis & {
  warmpoolExpire(jobKey: string, events: string, completed: string, failed: string, ms: number): Promise<unknown>;
};

/** How long a cancel for a job this host has not started yet is remembered. */
const EARLY_CANCEL_MS = 60_000;
/**
 * BullMQ's error when the job hash is gone as the host records the outcome
 * (Redis restarted empty or flushed, or the job removed by hand): the pool's
 * own removals never reach a job a host holds (removeJob refuses a locked
 * job; a large result is removed only once its job has finished).
 */
const VANISHED_JOB = /^Missing key for job (.+)\. moveToFinished$/;
/** Vanished jobs already reported, so that each is said once; forgotten past this many. */
const VANISHED_KEPT = 1000;

export class WorkerHost {
  /**
   * This host's name, `<hostname>:<pid>`: BullMQ keeps it with each job it
   * takes (`processedBy`), and it comes back in the result, so a RemotePool
   * names it as the `worker` of its `warmpool:task` messages.
   */
  readonly name = `${hostname()}:${process.pid}`;
  readonly #opts: HostOptions;
  readonly #pool: Executor;
  readonly #engine: Engine;
  /** Local futures of the jobs being run, by job id. */
  readonly #running = new Map<string, Future<unknown>>();
  /** Cancels that arrived before their job reached this host's processor (it may never: another host may hold it). */
  readonly #earlyCancels = new Map<string, number>();
  #closing: Promise<void> | undefined;
  #worker: (BullClass & { close(force?: boolean): Promise<void>; toKey(type: string): string; keys: Record<string, string> }) | undefined;
  #subscriber: Redis | undefined;
  /** Commands: large results and TTLs (the subscriber cannot run commands). */
  #redis: HostRedis | undefined;
  #UnrecoverableError: new (message?: string) => Error = Error;
  #forced = false;
  /** close() waiting for the last running job to end. */
  readonly #idle = new Waiters();
  /** When Redis was last reported unreachable, and when that was last said; undefined while reachable. */
  #outage: { since: number; said: number } | undefined;
  /** Jobs reported gone from Redis: BullMQ reports each twice (its complete fails, then its fallback fail). */
  readonly #vanished = new Set<string>();

  constructor(pool: Executor, opts: HostOptions) {
    this.#opts = opts;
    this.#pool = pool;
    this.#engine = engineOf(pool);
  }

  /** Jobs being run now. */
  get running(): number {
    return this.#running.size;
  }

  /** Starts the local pool (waits for it to be ready), listens for cancels, then takes jobs. */
  async start(): Promise<void> {
    const { bullmq, Redis } = await loadPeers();
    this.#UnrecoverableError = bullmq.UnrecoverableError;
    const { url, ...rest } = this.#opts.connection;
    const connection = url === undefined ? rest : { url, ...rest };
    const subOptions = { ...rest, maxRetriesPerRequest: null };
    const subscriber = url === undefined ? new Redis(subOptions) : new Redis(url, subOptions);
    // It reconnects and resubscribes by itself; it also stands for the
    // host's connections in the "cannot reach Redis" lines.
    subscriber.on('error', (err: unknown) => this.#onError(err));
    subscriber.on('ready', () => this.#onReady());
    subscriber.on('message', (_channel: string, id: string) => this.#onCancel(id));
    this.#subscriber = subscriber;
    const redisOptions = { ...rest, maxRetriesPerRequest: 1 };
    const redis = (url === undefined ? new Redis(redisOptions) : new Redis(url, redisOptions)) as HostRedis;
    redis.on('error', () => {}); // the subscriber's lines speak for it
    redis.defineCommand('warmpoolExpire', { numberOfKeys: 4, lua: EXPIRE_LUA });
    this.#redis = redis;
    // Both at once: a host without Redis says so while its pool starts.
    await Promise.all([this.#pool.ready(), subscriber.subscribe(cancelChannel(this.#opts.prefix, this.#opts.queue))]);
    if (this.#closing !== undefined) return;
    const worker = new bullmq.Worker(this.#opts.queue, (job) => this.#process(job), {
      connection: { ...connection, maxRetriesPerRequest: null },
      prefix: this.#opts.prefix,
      concurrency: this.#opts.concurrency,
      lockDuration: this.#opts.lockDuration,
      stalledInterval: this.#opts.stalledInterval,
      maxStalledCount: this.#opts.maxStalledCount,
      autorun: false,
      name: this.name,
    });
    worker.on('error', (err) => this.#onError(err));
    this.#worker = worker;
    void worker
      .run()
      .catch((err: unknown) => process.emitWarning(`warmpool worker stopped taking jobs: ${String(err)}`, { type: 'WarmpoolWarning' }));
    await worker.waitUntilReady();
  }

  #onError(err: unknown): void {
    const vanished = err instanceof Error ? VANISHED_JOB.exec(err.message) : null;
    if (vanished !== null) {
      const id = vanished[1];
      if (this.#vanished.has(id)) return;
      if (this.#vanished.size >= VANISHED_KEPT) this.#vanished.clear();
      this.#vanished.add(id);
      this.#opts.log(
        `job ${id} is no longer in Redis (Redis restarted without persistence, was flushed, or the job was removed), so its outcome could not be recorded; a pool still waiting for it fails the task with BrokerError`,
      );
      return;
    }
    if (!isConnectionError(err)) {
      process.emitWarning(`warmpool worker: ${err instanceof Error ? err.message : String(err)}`, { type: 'WarmpoolWarning' });
      return;
    }
    if (this.#closing !== undefined) return;
    const now = performance.now();
    const reason = err instanceof Error ? err.message : String(err);
    if (this.#outage === undefined) {
      this.#outage = { since: now, said: now };
      this.#opts.log(`cannot reach Redis at ${redisAddress(this.#opts.connection)} (${reason}); retrying, jobs wait in Redis meanwhile`);
    } else if (now - this.#outage.said >= WARN_EVERY_MS) {
      this.#outage.said = now;
      this.#opts.log(
        `still cannot reach Redis at ${redisAddress(this.#opts.connection)} after ${Math.round((now - this.#outage.since) / 1000)} s (${reason})`,
      );
    }
  }

  #onReady(): void {
    if (this.#outage === undefined) return;
    this.#outage = undefined;
    this.#opts.log(`connected to Redis at ${redisAddress(this.#opts.connection)} again`);
  }

  #onCancel(id: string): void {
    const future = this.#running.get(id);
    if (future !== undefined) {
      future.cancel();
      return;
    }
    const now = performance.now();
    for (const [key, at] of this.#earlyCancels) {
      if (now - at < EARLY_CANCEL_MS) break;
      this.#earlyCancels.delete(key);
    }
    this.#earlyCancels.set(id, now);
  }

  async #process(job: JobLike): Promise<string> {
    const id = job.id ?? '';
    try {
      return await this.#run(id, job.data);
    } finally {
      this.#expire(id, job);
    }
  }

  async #run(id: string, data: unknown): Promise<string> {
    if (!isJobData(data))
      throw new this.#UnrecoverableError('The job is not a warmpool task (its data has no name, kind, args and timeout)');
    if (this.#earlyCancels.delete(id)) throw new this.#UnrecoverableError('The task was cancelled by its producer');
    const args = decodeValue(data.a) as unknown[];
    // The producer's trace context goes on with the task (`trace`), and is
    // also the context of the local submit, so that a host that registered
    // OpenTelemetry itself (instrument()) makes its task span a child of it.
    const carrier = data.c;
    const options = { priority: 0, timeout: data.t === 0 ? Infinity : data.t, signal: undefined, trace: carrier };
    const future = runWithTraceContext(carrier, () => this.#engine.submit(data.n, args, data.k, options));
    this.#running.set(id, future);
    try {
      await new Promise<void>((resolve) => future.addDoneCallback(() => resolve()));
    } finally {
      this.#running.delete(id);
      if (this.#running.size === 0) this.#idle.release();
    }
    const runTime = futureInternals.ownerOf(future)?.runTime ?? 0;
    let envelope: Envelope;
    switch (future.state) {
      case 'fulfilled':
        envelope = [Status.Ok, futureInternals.valueOf(future), runTime, this.name];
        break;
      case 'cancelled':
        throw new this.#UnrecoverableError(
          this.#forced ? 'The host was stopped by a second signal while the task ran' : 'The task was cancelled by its producer',
        );
      default: {
        const error = future.exception();
        envelope =
          error instanceof ChunkFailure
            ? [Status.ChunkError, [error.index, encodeError(error.error)], runTime, this.name]
            : [Status.Error, encodeError(error), runTime, this.name];
        if (error instanceof CancelledError) throw new this.#UnrecoverableError('The task was cancelled');
      }
    }
    const bytes = serialize(envelope);
    if (bytes.length <= LARGE_RESULT_BYTES) return bytes.toString('base64');
    // Written, and acknowledged, before BullMQ completes the job and announces it.
    await this.#redis!.hset(this.#worker!.toKey(id), RESULT_FIELD, bytes);
    return RESULT_ELSEWHERE;
  }

  /** Gives the job hash its TTL of resultTtl, and the queue-wide keys at least that (see the top of this file). Best effort. */
  #expire(id: string, job: JobLike): void {
    const worker = this.#worker;
    const redis = this.#redis;
    if (worker === undefined || redis === undefined || id === '') return;
    const age =
      (job.opts.removeOnComplete as { age?: unknown } | undefined)?.age ?? (job.opts.removeOnFail as { age?: unknown } | undefined)?.age;
    const seconds = typeof age === 'number' && age > 0 ? age : DEFAULT_TTL_S;
    redis
      .warmpoolExpire(worker.toKey(id), worker.keys.events, worker.keys.completed, worker.keys.failed, Math.round(seconds * 1000))
      .catch(() => {});
  }

  #whenIdle(): Promise<void> {
    if (this.#running.size === 0) return Promise.resolve();
    return this.#idle.wait();
  }

  /**
   * Stops taking jobs, lets the running ones finish, then stops the local
   * pool. With `force` (also on a later call, a second signal) the running
   * ones are cancelled, and their jobs fail. Ends at most closeTimeout after
   * the local jobs are done, whatever Redis does, and at once when forced.
   */
  close(force = false): Promise<void> {
    if (force && !this.#forced) {
      this.#forced = true;
      for (const future of this.#running.values()) future.cancel();
    }
    this.#closing ??= this.#stop();
    return this.#closing;
  }

  async #stop(): Promise<void> {
    const worker = this.#worker;
    const subscriber = this.#subscriber;
    const redis = this.#redis;
    const graceful = (async () => {
      await worker?.close();
      await Promise.allSettled([subscriber?.quit(), redis?.quit()]);
    })();
    // Once the local jobs are done (at once when forced: they are
    // cancelled), BullMQ has closeTimeout to record their outcomes; no time
    // at all if Redis cannot be reached now (their jobs are taken back by
    // another host once their locks expire).
    const reachable = () => subscriber?.status === 'ready';
    await Promise.race([
      graceful,
      this.#whenIdle().then(() => (reachable() ? settledWithin(graceful, this.#opts.closeTimeout) : undefined)),
    ]);
    // Whatever the graceful close did, nothing may keep reconnecting.
    worker?.close(true).catch(() => {});
    dropConnections(worker);
    subscriber?.disconnect();
    redis?.disconnect();
    await this.#pool.shutdown({ cancelFutures: true });
  }
}
