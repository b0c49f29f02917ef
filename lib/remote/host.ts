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

import { performance } from 'node:perf_hooks';
import { CancelledError } from '../core/errors.js';
import { engineOf, type Executor } from '../core/executor.js';
import { futureInternals, type Future } from '../core/future.js';
import { ChunkFailure, Status, type Engine } from '../core/contract.js';
import { encodeError } from '../core/wire-error.js';
import { cancelChannel, decodeValue, encodeValue, isJobData, type Envelope } from './codec.js';
import type { ConnectionSettings } from './connection.js';
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
}

/** How long a cancel for a job this host has not started yet is remembered. */
const EARLY_CANCEL_MS = 60_000;

export class WorkerHost {
  readonly #opts: HostOptions;
  readonly #pool: Executor;
  readonly #engine: Engine;
  /** Local futures of the jobs being run, by job id. */
  readonly #running = new Map<string, Future<unknown>>();
  /** Cancels that arrived before their job reached this host's processor (it may never: another host may hold it). */
  readonly #earlyCancels = new Map<string, number>();
  #closing: Promise<void> | undefined;
  #worker: { close(force?: boolean): Promise<void> } | undefined;
  #subscriber: { quit(): Promise<unknown> } | undefined;
  #UnrecoverableError: new (message?: string) => Error = Error;
  #forced = false;

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
    await this.#pool.ready();
    const { url, ...rest } = this.#opts.connection;
    const connection = url === undefined ? rest : { url, ...rest };
    const subOptions = { ...rest, maxRetriesPerRequest: null };
    const subscriber = url === undefined ? new Redis(subOptions) : new Redis(url, subOptions);
    subscriber.on('error', () => {}); // it reconnects and resubscribes by itself
    subscriber.on('message', (_channel: string, id: string) => this.#onCancel(id));
    this.#subscriber = subscriber;
    await subscriber.subscribe(cancelChannel(this.#opts.prefix, this.#opts.queue));
    const worker = new bullmq.Worker(this.#opts.queue, (job) => this.#process(job.id ?? '', job.data), {
      connection: { ...connection, maxRetriesPerRequest: null },
      prefix: this.#opts.prefix,
      concurrency: this.#opts.concurrency,
      lockDuration: this.#opts.lockDuration,
      stalledInterval: this.#opts.stalledInterval,
      maxStalledCount: this.#opts.maxStalledCount,
      autorun: false,
    });
    worker.on('error', (err) => process.emitWarning(`warmpool worker: ${err instanceof Error ? err.message : String(err)}`, { type: 'WarmpoolWarning' }));
    this.#worker = worker;
    void worker.run().catch((err: unknown) => process.emitWarning(`warmpool worker stopped taking jobs: ${String(err)}`, { type: 'WarmpoolWarning' }));
    await worker.waitUntilReady();
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

  async #process(id: string, data: unknown): Promise<string> {
    if (!isJobData(data)) throw new this.#UnrecoverableError('The job is not a warmpool task (its data has no name, kind, args and timeout)');
    if (this.#earlyCancels.delete(id)) throw new this.#UnrecoverableError('The task was cancelled by its producer');
    const args = decodeValue(data.a) as unknown[];
    const future = this.#engine.submit(data.n, args, data.k, { priority: 0, timeout: data.t === 0 ? Infinity : data.t, signal: undefined });
    this.#running.set(id, future);
    try {
      await new Promise<void>((resolve) => future.addDoneCallback(() => resolve()));
    } finally {
      this.#running.delete(id);
    }
    const runTime = futureInternals.ownerOf(future)?.runTime ?? 0;
    let envelope: Envelope;
    switch (future.state) {
      case 'fulfilled':
        envelope = [Status.Ok, futureInternals.valueOf(future), runTime];
        break;
      case 'cancelled':
        throw new this.#UnrecoverableError(
          this.#forced ? 'The host was stopped by a second signal while the task ran' : 'The task was cancelled by its producer',
        );
      default: {
        const error = future.exception();
        envelope =
          error instanceof ChunkFailure ? [Status.ChunkError, [error.index, encodeError(error.error)], runTime] : [Status.Error, encodeError(error), runTime];
        if (error instanceof CancelledError) throw new this.#UnrecoverableError('The task was cancelled');
      }
    }
    return encodeValue(envelope);
  }

  /**
   * Stops taking jobs, lets the running ones finish, then stops the local
   * pool. With `force` (also on a later call, a second signal) the running
   * ones are cancelled, and their jobs fail.
   */
  close(force = false): Promise<void> {
    if (force && !this.#forced) {
      this.#forced = true;
      for (const future of this.#running.values()) future.cancel();
    }
    this.#closing ??= (async () => {
      await this.#worker?.close();
      await this.#subscriber?.quit().catch(() => {});
      await this.#pool.shutdown({ cancelFutures: true });
    })();
    return this.#closing;
  }
}
