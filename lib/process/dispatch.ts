/*
 * ProcessPool's dispatch: which queued tasks go to which worker process, and
 * how many in one message (docs/design.md, "Batching"). Apart from
 * ./engine.ts because it is a policy of its own, the one place that decides
 * what a worker holds; the engine's dispatch (once per microtask, and when a
 * worker becomes ready) calls `run`, and a list's new head starts its clock
 * through `startHead`.
 *
 *  queue ─▶ idle workers first, each up to its share of the queue
 *        ─▶ then busy ones topped up (a deep queue only), never behind a
 *           head already past PIPELINE_MS
 *        ─▶ then a worker running one map chunk gets the next chunk of the
 *           same function, one ahead, while more than two tasks per worker
 *           wait (see #chunkAhead)
 *  send: tasks while what the worker holds stays within PIPELINE_MS; one of
 *        unknown cost goes alone, nothing behind it but that one chunk
 *        ─▶ [Run, id, name, kind(+HOLD), args, …]
 */

import { performance } from 'node:perf_hooks';
import { TaskKind } from '../core/contract.js';
import type { EngineCore } from '../core/engine-core.js';
import { MAX_BATCH, PIPELINE_MS, wireArgs, wireKind } from '../core/transport.js';
import type { TaskRecord } from '../core/task.js';
import { HOLD, RUN_STRIDE, ToWorker } from './protocol.js';
import type { WorkerRecord } from './worker.js';

type Task = TaskRecord<WorkerRecord>;

/**
 * Whether `next` may wait in a worker behind `running`: both chunks of a map
 * over the same function (the next chunk of the same map, as a rule: the
 * queue is FIFO within a priority), so neither holds the other's map
 * hostage, and they carry about the same work.
 */
function chunkBehind(running: Task, next: Task): boolean {
  return (
    (running.kind === TaskKind.Chunk || running.kind === TaskKind.StarChunk) &&
    next.kind === running.kind &&
    next.name === running.name &&
    !next.alone
  );
}

/**
 * Whether the worker may hold `task`'s result behind the next task (HOLD in
 * ./protocol.ts): measured short (a call of known cost within PIPELINE_MS;
 * Dispatch's estimate is Infinity for anything else) and no timeout, whose
 * clock must start from what the parent sees.
 */
export function holds(task: Task): boolean {
  return task.cost <= PIPELINE_MS && task.timeout === Infinity;
}

export class Dispatch {
  readonly #core: EngineCore<WorkerRecord>;
  readonly #workers: readonly WorkerRecord[];
  readonly #maxTasksPerWorker: number;
  readonly #startHead: (w: WorkerRecord) => void;

  /** `workers`: the live list of the pool's workers (ProcessWorkers.list). */
  constructor(
    core: EngineCore<WorkerRecord>,
    workers: readonly WorkerRecord[],
    maxTasksPerWorker: number,
    startHead: (w: WorkerRecord) => void,
  ) {
    this.#core = core;
    this.#workers = workers;
    this.#maxTasksPerWorker = maxTasksPerWorker;
    this.#startHead = startHead;
  }

  /** The measured mean run time of a task by this name, ms; Infinity when unknown, and for map chunks. */
  #estimate(task: Task): number {
    if (task.kind !== TaskKind.Call || task.alone) return Infinity;
    return this.#core.costs.of(task.name);
  }

  /** Sends what is queued to the workers that take tasks. */
  run(): void {
    const queue = this.#core.queue;
    if (queue.size === 0) return;
    const workers = this.#workers;
    let takers = 0;
    for (const w of workers) if (w.takesTasks()) takers++;
    // Idle workers first, each up to its fair share of the queue; then top
    // up busy ones. Sending ahead is for a deep queue only: with no more
    // tasks waiting than there are workers, each waits in the parent, where
    // priorities and cancellation act on it, for no more than a round trip.
    const deep = queue.size > takers;
    const share = Math.ceil(queue.size / Math.max(1, takers));
    for (const w of workers) {
      if (queue.size === 0) break;
      if (w.inflight.length === 0 && w.takesTasks()) this.#send(w, deep ? share : 1);
    }
    if (deep && queue.size > 0) {
      const now = performance.now();
      for (const w of workers) {
        if (queue.size === 0) break;
        // Not behind a task that has already run longer than the budget:
        // whatever the estimate said, it is a long one.
        if (!w.takesTasks() || w.inflight.length === 0) continue;
        if (now - w.inflight[0].startedAt > PIPELINE_MS) continue;
        this.#send(w, share);
      }
    }
    this.#chunkAhead(takers);
  }

  /**
   * A map chunk costs a round trip between chunks: the worker sends its
   * result, the parent delivers it, cuts and sends the next, and the worker
   * waits for that (about 0.5 ms a chunk on this 2-core machine, a tenth of
   * a 4 ms chunk). So a worker running exactly one chunk is sent the next
   * chunk of the same function behind it, and begins it the moment it sends
   * the result. One ahead, never more, and only while, after it, at least
   * two tasks per worker still wait in the parent: at the tail of a map the
   * last chunks stay in the parent, so a worker that frees up takes the next
   * one instead of sitting idle while a chunk waits behind another. (A chunk
   * sent ahead earlier makes another worker idle only if that worker gets
   * through the two or more chunks each left in the parent before this one
   * finishes its running chunk; map-run.ts also shrinks chunks near the end.)
   * What a chunk sent ahead is, is what any task sent ahead is, through the
   * same code: not running, so its clock has not started (its deadline
   * counts from when the worker began it, ./engine.ts #startHead); cancelled,
   * it is taken out and the worker told to drop it (engine.ts cancelSent);
   * if its worker dies it never began (a chunk is never HOLD), so it goes
   * back to the front of the queue (./exit.ts). A task of higher priority
   * queued after it waits for it on that worker: at most one chunk more.
   */
  #chunkAhead(takers: number): void {
    const queue = this.#core.queue;
    for (const w of this.#workers) {
      if (queue.size <= 2 * takers) return;
      if (w.inflight.length !== 1 || !w.takesTasks()) continue;
      const next = queue.peek();
      if (next === undefined || !chunkBehind(w.inflight[0], next)) continue;
      this.#send(w, 1, true);
    }
  }

  /**
   * Sends `w` queued tasks in one message: the first one whatever it is if
   * `w` is idle, then more only while the measured run time of what `w` has
   * in hand stays within PIPELINE_MS. A task whose cost is unknown (never
   * measured, or a map chunk) is never sent behind another, nor anything
   * behind it, so a long task cannot hold short ones hostage while another
   * worker is free; `chunkAhead`: the one chunk #chunkAhead sends behind a
   * running chunk.
   */
  #send(w: WorkerRecord, most: number, chunkAhead = false): void {
    const queue = this.#core.queue;
    const inflight = w.inflight;
    const first = inflight.length;
    const wasEmpty = first === 0;
    const limit = Math.min(most, MAX_BATCH, this.#maxTasksPerWorker - w.dispatched);
    // Sized for the most it can carry and cut to what was sent: pushing one
    // field at a time regrew the array several times per message.
    const msg: unknown[] = new Array<unknown>(1 + RUN_STRIDE * Math.max(1, Math.min(limit, queue.size)));
    msg[0] = ToWorker.Run;
    let sent = 0;
    while (sent < limit) {
      const task = queue.peek();
      if (task === undefined) break;
      const cost = this.#estimate(task);
      if (chunkAhead) {
        if (sent > 0) break;
      } else if (!(wasEmpty && sent === 0) && (w.aheadUnknown > 0 || !(w.aheadMs + cost <= PIPELINE_MS))) break;
      queue.shift();
      w.addAhead(cost);
      task.cost = cost;
      task.where = 'sent';
      task.slot = w;
      inflight.push(task);
      const at = 1 + RUN_STRIDE * sent;
      msg[at] = task.id;
      msg[at + 1] = task.name;
      msg[at + 2] = holds(task) ? wireKind(task) + HOLD : wireKind(task);
      msg[at + 3] = wireArgs(task);
      sent++;
    }
    if (sent === 0) return;
    msg.length = 1 + RUN_STRIDE * sent;
    let unsendable: [Task, Error][] | undefined;
    try {
      w.handle.send(msg);
    } catch (err) {
      const batch = inflight.splice(first);
      for (const task of batch) w.removeAhead(task.cost);
      unsendable = w.sendOneByOne(batch, err);
    }
    w.dispatched += inflight.length - first;
    if (w.dispatched >= this.#maxTasksPerWorker && !w.retiring) {
      w.retiring = true;
      w.exitReason ??= 'recycle';
      this.#core.workerEvent(w.id, 'recycle');
    }
    if (wasEmpty && inflight.length > 0) this.#startHead(w);
    if (unsendable !== undefined) {
      // Settled last: their done callbacks may cancel or submit, and must
      // find the worker's list and head in order.
      for (const [task, error] of unsendable) this.#core.fail(task, error, 'failed');
      // The worker may still be free for what is queued behind.
      this.#core.schedule();
    }
  }
}
