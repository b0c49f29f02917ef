// RemotePool's watch over the jobs it has not heard the end of: reading job
// hashes directly for what BullMQ's events do not bring (the poll of tasks
// not heard of for a while, large results), and queueTimeout.
//
//   every pollInterval, while tasks are outstanding:
//     jobs added and due ──▶ one pipeline of HMGET (name, finishedOn, returnvalue,
//                            failedReason, processedOn, pb) ──▶ per job:
//       gone from Redis ──────────────▶ engine.fail(BrokerError)
//       finished with a return value ─▶ engine.completed   (as the event would)
//       failed ───────────────────────▶ engine.failed
//       started ──────────────────────▶ engine.start(host), and read again later
//   a return value of RESULT_ELSEWHERE ──▶ HGET of the result field, then the
//                                          job removed ──▶ engine.settleWith
//   queueTimeout: one timer, for the oldest task not seen started ──▶ engine.expired
//
// Events. BullMQ's events are a capped Redis stream read with XREAD: under a
// burst the stream is trimmed before a slow reader sees every entry, and a
// reader that reconnects may miss some. So a task not heard of for
// `pollInterval` ms has its job read here, and again at growing intervals
// (half its age, at most POLL_BACKOFF intervals), so a long task costs few
// reads; a job gone from Redis fails its future with BrokerError.
//
// Large results. BullMQ copies a job's return value into the events stream
// as well as the job hash. A host puts a result over LARGE_RESULT_BYTES in a
// field of the job hash instead (./codec.ts) and returns a marker; the pool
// reads the field once and removes the job, so the value is in Redis once,
// and only until it is read (or until resultTtl, which the host sets as a
// Redis TTL on the job hash).

import { deserialize } from 'node:v8';
import { performance } from 'node:perf_hooks';
import type { FailureCount } from '../core/outcome.js';
import { BrokerError } from '../core/errors.js';
import { readEnvelope, RESULT_FIELD, type Envelope } from './codec.js';
import type { Connections } from './connections.js';
import type { Task } from './engine.js';

/** Most job hashes read in one poll. */
const POLL_BATCH = 2000;
/** A task waits at most this many poll intervals between two reads of its job. */
const POLL_BACKOFF = 10;

/** What the reader calls back into (./engine.ts). */
export interface JobReaderOwner {
  /** Every task whose future has not settled, by job id, in submission order. */
  readonly tasks: ReadonlyMap<string, Task>;
  start(task: Task, host?: string): void;
  completed(jobId: string, returnvalue: unknown): void;
  failed(jobId: string, failedReason: string): void;
  fail(task: Task, error: unknown, count: FailureCount): void;
  settleWith(task: Task, envelope: Envelope): void;
  /** No host started the task within queueTimeout. */
  expired(task: Task): void;
}

export class JobReader {
  readonly #owner: JobReaderOwner;
  readonly #link: Connections;
  readonly #interval: number;
  readonly #queueTimeout: number;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  /** Fires for the oldest task not seen started when its queueTimeout passes. */
  #queueTimer: NodeJS.Timeout | undefined;

  constructor(owner: JobReaderOwner, link: Connections, opts: { readonly pollInterval: number; readonly queueTimeout: number }) {
    this.#owner = owner;
    this.#link = link;
    this.#interval = opts.pollInterval;
    this.#queueTimeout = opts.queueTimeout;
  }

  /** The poll runs while tasks are outstanding; its timer holds the event loop only then. */
  arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.#poll(), this.#interval);
  }

  /** Stops the poll; with `all`, the queueTimeout timer too (the pool is done). */
  stop(all = false): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (!all) return;
    clearTimeout(this.#queueTimer);
    this.#queueTimer = undefined;
  }

  /** queueTimeout: one timer, for the oldest task not seen started (deadlines grow in submission order). */
  armQueueTimer(): void {
    const bound = this.#queueTimeout;
    if (bound === Infinity || this.#queueTimer !== undefined) return;
    for (const task of this.#owner.tasks.values()) {
      if (task.future.state !== 'pending') continue;
      this.#queueTimer = setTimeout(() => this.#expireWaiting(), Math.max(0, task.submittedAt + bound - performance.now()));
      return;
    }
  }

  #expireWaiting(): void {
    this.#queueTimer = undefined;
    const now = performance.now();
    for (const task of [...this.#owner.tasks.values()]) {
      if (task.future.state !== 'pending') continue;
      if (task.submittedAt + this.#queueTimeout > now) break;
      this.#owner.expired(task);
    }
    this.armQueueTimer();
  }

  async #poll(): Promise<void> {
    const owner = this.#owner;
    if (owner.tasks.size === 0) return this.stop();
    const conn = this.#link.conn;
    if (conn === undefined || this.#polling) return;
    const now = performance.now();
    const due: Task[] = [];
    for (const task of owner.tasks.values()) {
      const job = task.slot!;
      if (job.state === 'added' && job.checkAt <= now) {
        due.push(task);
        if (due.length === POLL_BATCH) break;
      }
    }
    if (due.length === 0) return;
    this.#polling = true;
    try {
      const pipeline = conn.redis.pipeline();
      for (const task of due)
        pipeline.hmget(conn.queue.toKey(task.slot!.id), 'name', 'finishedOn', 'returnvalue', 'failedReason', 'processedOn', 'pb');
      const replies = (await pipeline.exec()) ?? [];
      const after = performance.now();
      for (let i = 0; i < due.length; i++) {
        const task = due[i];
        if (task.where === 'gone') continue; // settled meanwhile
        const id = task.slot!.id;
        const [err, fields] = replies[i] ?? [new Error('no reply')];
        if (err !== null) continue;
        const [name, finishedOn, returnvalue, failedReason, processedOn, host] = fields as (string | null)[];
        if (name === null) {
          owner.fail(
            task,
            new BrokerError(
              `Job ${id} is no longer in Redis (was Redis restarted without persistence, or flushed, or did its result outlive \`resultTtl\`?)`,
            ),
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
          owner.completed(id, value);
          continue;
        }
        if (finishedOn !== null && failedReason !== null) {
          owner.failed(id, failedReason);
          continue;
        }
        if (processedOn !== null && task.future.state === 'pending') owner.start(task, host ?? undefined);
        const waited = after - task.submittedAt;
        task.slot!.checkAt = after + Math.min(this.#interval * POLL_BACKOFF, Math.max(this.#interval, waited / 2));
      }
    } catch {
      // Redis is away: the next tick tries again.
    } finally {
      this.#polling = false;
    }
  }

  /**
   * Reads a large result from its job hash (./codec.ts), once, then removes
   * the job: the value leaves Redis as soon as it has been read. A failed read
   * (Redis away) leaves the task to the poll, which comes back here.
   */
  fetchLargeResult(task: Task): void {
    const conn = this.#link.conn;
    const job = task.slot!;
    if (conn === undefined || job.fetching || task.where === 'gone') return;
    job.fetching = true;
    conn.redis.hgetBuffer(conn.queue.toKey(job.id), RESULT_FIELD).then(
      (bytes) => {
        job.fetching = false;
        if (task.where === 'gone') return;
        if (bytes === null) {
          this.#owner.fail(
            task,
            new BrokerError(`The result of job ${job.id} is no longer in Redis (did it outlive \`resultTtl\`?)`),
            'crashed',
          );
          return;
        }
        const envelope = readEnvelope(job.id, bytes, deserialize);
        if (envelope instanceof BrokerError) {
          this.#owner.fail(task, envelope, 'crashed');
          return;
        }
        conn.queue.remove(job.id).catch(() => {});
        this.#owner.settleWith(task, envelope);
      },
      () => {
        job.fetching = false;
        job.checkAt = 0;
      },
    );
  }
}
