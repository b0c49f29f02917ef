// RemotePool's take-backs: a job whose task the pool settled (cancel,
// queueTimeout, shutdown with cancelFutures) is removed from Redis if it
// waits, else stopped on its host; and the Redis commands whose effect must
// land though no task waits on them any more (these, and the adds), which
// the close of the connections waits for. Apart from ./engine.ts because it
// outlives the tasks: the engine forgets a task when its future settles,
// this keeps its job's last commands going until Redis has them.
//
//   takeBack(task) ─▶ adding: cancel once the add returns (the engine's #add)
//                  ─▶ added: remove ─▶ removed, or ─▶ publish the id on the
//                     queue's cancel channel: the host holding it cancels it
//   track(command) ─▶ in flight ─▶ landed() resolves once none is
//
// A waiting job's removal is atomic in BullMQ: it fails when a worker holds
// the job's lock. A job that could not be removed is running, or about to:
// the host that holds it cancels the local task, or, if its processor has not
// started it yet, refuses it when it does. Either way the job fails as
// unrecoverable (no retry).

import { cancelChannel } from './codec.js';
import type { Connections } from './connections.js';
import type { Task } from './engine.js';

export class TakeBacks {
  readonly #link: Connections;
  readonly #channel: string;
  /**
   * Redis commands whose effect must land though no task waits on them any
   * more: job adds (a task cancelled meanwhile has its job taken back when
   * the add returns) and take-backs (remove, else publish on the cancel
   * channel). The connections close only once these have settled: a cancel
   * cut off by the close ("Connection is closed") left its job running on
   * its host for good, holding one of the host's concurrency slots, so the
   * next pool's jobs on that queue did not start.
   */
  readonly #inFlight = new Set<Promise<void>>();

  constructor(link: Connections, prefix: string, queue: string) {
    this.#link = link;
    this.#channel = cancelChannel(prefix, queue);
  }

  /** Keeps the connections open until `work` settles (see #inFlight). */
  track(work: Promise<unknown>): void {
    const settled = work.then(
      () => {},
      () => {},
    );
    this.#inFlight.add(settled);
    void settled.then(() => this.#inFlight.delete(settled));
  }

  /** Resolves once no tracked command is in flight, including those started by the ones awaited (a returning add cancels). */
  async landed(): Promise<void> {
    // First let the caller's synchronous run end: a task failed by the pool
    // may have its job taken back just after (the engine's expired()).
    await Promise.resolve();
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  /** A task settled by the pool (cancel, queueTimeout): its job is removed, or stopped on its host. */
  takeBack(task: Task): void {
    const job = task.slot!;
    if (job.state === 'adding') job.cancelWhenAdded = true;
    else if (job.state === 'added' && !job.removed) this.cancelJob(job.id);
  }

  /** Removes the job if it waits; otherwise asks the hosts to stop it. The future is already settled. */
  cancelJob(id: string): void {
    const conn = this.#link.conn;
    if (conn === undefined) return;
    this.track(
      conn.queue.remove(id).then((removed) => {
        if (removed === 1) return;
        return conn.redis.publish(this.#channel, id);
      }),
    );
  }

  /** shutdown({ cancelFutures }): the task is cancelled if its job could be removed; a job a host holds runs on. */
  cancelIfWaiting(task: Task): void {
    const job = task.slot!;
    this.#link.conn!.queue.remove(job.id).then(
      (removed) => {
        if (removed !== 1 || task.future.state !== 'pending') return;
        job.removed = true;
        task.future.cancel();
      },
      () => {},
    );
  }
}
