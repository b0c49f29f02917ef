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
 *        ─▶ then one ahead (see #oneAhead): a worker running exactly one
 *           task is sent the queue's next task behind it, one, never more,
 *           while after it at least two tasks per worker still wait here:
 *             a measured call behind a measured call, if the running one
 *             is expected to end within AHEAD_WAIT × the next one's own
 *             run time + PIPELINE_MS and is no straggler (mayWaitBehind);
 *             the next map chunk of the same function behind a chunk
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
 * A call sent ahead waits behind the running one for at most about this many
 * times its own measured run time (plus PIPELINE_MS), by the estimates: a
 * short call is not held behind a long one while another worker would have
 * taken it sooner (see mayWaitBehind).
 */
const AHEAD_WAIT = 2;

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
 * Whether `next` (measured at `nextCost` ms, Infinity when unknown) may be
 * sent ahead to wait behind `running`, which its worker began at
 * `running.startedAt`. A map chunk: the next chunk of the same function
 * (chunkBehind). A call: both measured (`running.cost` is finite only for a
 * call of known cost, Dispatch's estimate when it was sent), of any name,
 * and
 * - `running` is no straggler: it has not run longer than AHEAD_WAIT times
 *   its estimate plus PIPELINE_MS. Past that the estimate was wrong for this
 *   call and how long it still runs is anyone's guess;
 * - what `running` has left by its estimate is within AHEAD_WAIT times
 *   `next`'s own run time plus PIPELINE_MS: a call waits behind one about as
 *   long as itself or shorter, never a 1 ms call behind a 500 ms one (it
 *   would wait 500 ms while another worker frees up within a few).
 * A burst of one function always qualifies; a timeout does not matter, its
 * clock starts when the worker begins the call (./engine.ts #startHead).
 */
function mayWaitBehind(running: Task, next: Task, nextCost: number, now: number): boolean {
  if (running.kind === TaskKind.Chunk || running.kind === TaskKind.StarChunk) return chunkBehind(running, next);
  if (running.cost === Infinity || nextCost === Infinity || running.where !== 'sent') return false;
  const elapsed = now - running.startedAt;
  return elapsed <= AHEAD_WAIT * running.cost + PIPELINE_MS && running.cost - elapsed <= AHEAD_WAIT * nextCost + PIPELINE_MS;
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
    this.#oneAhead(takers);
  }

  /**
   * A task the PIPELINE_MS batches do not cover costs a round trip between
   * tasks: the worker sends its result, the parent (woken on a core the
   * other workers keep busy) delivers it and sends the next, and the worker
   * waits for that (0.3–0.5 ms after each task on this 2-core machine, with
   * bursts of 1–3 ms calls; about 0.5 ms a 4 ms map chunk). So a worker
   * running exactly one task is sent the next queued task behind it when
   * that one may wait there (mayWaitBehind:
   * a measured call behind a measured call, the next chunk of the same
   * function behind a chunk), and begins it the moment it sends the result.
   * One ahead, never more, and only while, after it, at least two tasks per
   * worker still wait in the parent: at the tail of a burst or a map the
   * last tasks stay in the parent, so a worker that frees up takes the next
   * one instead of sitting idle while a task waits behind another. (A task
   * sent ahead earlier makes another worker idle only if that worker gets
   * through the two or more tasks each left in the parent before this one's
   * worker finishes its running task; map-run.ts also shrinks chunks near
   * the end.) What a task sent ahead is, is what any task sent ahead is,
   * through the same code: not running, so its clock has not started (its
   * deadline counts from when the worker began it, ./engine.ts #startHead);
   * cancelled, it is taken out and the worker told to drop it (engine.ts
   * cancelSent); if its worker dies it never began, so it goes back to the
   * front of the queue (./exit.ts), unless both it and the running one were
   * measured within PIPELINE_MS (HOLD) and the worker died without a word:
   * then it may have run behind a held result and fails with the running
   * one, never running twice, as in any batch of short tasks. A task of higher
   * priority queued after it waits for it on that worker: at most one task
   * more.
   */
  #oneAhead(takers: number): void {
    const queue = this.#core.queue;
    let now = 0;
    for (const w of this.#workers) {
      if (queue.size <= 2 * takers) return;
      if (w.inflight.length !== 1 || !w.takesTasks()) continue;
      const next = queue.peek();
      if (next === undefined) return;
      if (now === 0) now = performance.now();
      if (!mayWaitBehind(w.inflight[0], next, this.#estimate(next), now)) continue;
      this.#send(w, 1, true);
    }
  }

  /**
   * Sends `w` queued tasks in one message: the first one whatever it is if
   * `w` is idle, then more only while the measured run time of what `w` has
   * in hand stays within PIPELINE_MS. A task whose cost is unknown (never
   * measured, or a map chunk) is never sent behind another, nor anything
   * behind it, so a long task cannot hold short ones hostage while another
   * worker is free; `oneAhead`: the one task #oneAhead sends behind a
   * running one, whatever the budget.
   */
  #send(w: WorkerRecord, most: number, oneAhead = false): void {
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
      if (oneAhead) {
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
