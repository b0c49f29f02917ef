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
 *  send: tasks while what the worker holds stays within PIPELINE_MS; one of
 *        unknown cost goes alone, nothing behind it ─▶ [Run, id, name, kind(+HOLD), args, …]
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
  }

  /**
   * Sends `w` queued tasks in one message: the first one whatever it is if
   * `w` is idle, then more only while the measured run time of what `w` has
   * in hand stays within PIPELINE_MS. A task whose cost is unknown (never
   * measured, or a map chunk) is never sent behind another, nor anything
   * behind it, so a long task cannot hold short ones hostage while another
   * worker is free.
   */
  #send(w: WorkerRecord, most: number): void {
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
      if (!(wasEmpty && sent === 0) && (w.aheadUnknown > 0 || !(w.aheadMs + cost <= PIPELINE_MS))) break;
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
