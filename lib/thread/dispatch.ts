// What goes in a thread's next run, and which thread it goes to: a batch of
// short calls for a deep queue (take), and runs sent ahead (docs/design.md,
// "Map chunks": ThreadPool sends a run ahead): while every thread is busy
// and the queue is deep, the thread whose begun run of known cost ends first
// gets the next run, held in its port; when the queue runs dry, a free
// thread takes back what a held run has not begun; a begun held run is
// stopped only once the reply of the run before it is in. The engine
// (./engine.ts) posts and settles runs; this keeps which run is held behind
// which, and decides, and cancels a task sent in a batch or held.
//
//   engine.dispatch ─▶ take: one task, or a batch of short ones (PIPELINE_MS) ─▶ engine.#post
//                      send: target = begun run of known cost ending first ─▶ host.post(…, behind)
//   engine.#post ────▶ placed: piscina gave it that thread? link (held++) : not placed? abort
//   cancel of a sent task ▶ cancel: its Skip slot claimed first? skipped : stopped (a batch's rest skipped)
//   a run ends ──────▶ ended: unlink; a held run waiting to be stopped is stopped now
//                      takeBack (queue empty, a thread free): claimBack the latest held run's tail ─▶ requeue

import { TaskKind } from '../core/contract.js';
import type { EngineCore } from '../core/engine-core.js';
import type { TaskQueue } from '../core/queue.js';
import type { TaskRecord } from '../core/task.js';
import { Costs, MAX_BATCH, PIPELINE_MS } from '../core/transport.js';
import { Claim, claim, Control } from './protocol.js';
import type { Run } from './run.js';
import type { Piscina, Threads } from './threads.js';

type Task = TaskRecord<Run>;

/**
 * A run is sent ahead to a busy thread only while more than this many tasks
 * per thread still wait in the queue after it (Dispatch.send). A map keeps
 * WINDOW_CHUNKS (4) chunks per worker read ahead, so a deeper rule would
 * leave a map's threads waiting on the parent between chunks; a held run
 * that turns out not to be needed is taken back (Dispatch.takeBack).
 */
const AHEAD_DEPTH = 1;

/**
 * How long a held run that has begun waits for the reply of the run it was
 * held behind before its thread is stopped (Dispatch.stopLater). The reply was
 * posted before the held run began (entry.ts, afterReply), so it normally
 * is in at once.
 */
const LEADER_REPLY_MS = 100;

/** The least time a batch whose running task was cancelled has to return before its thread is stopped. */
const BATCH_STOP_GRACE_MS = 20;

/** What Dispatch needs of the engine. */
export interface DispatchHost {
  readonly queue: TaskQueue<Task>;
  readonly runs: ReadonlySet<Run>;
  readonly workers: number;
  readonly threads: Threads;
  readonly core: EngineCore<Run>;
  freeThreads(): number;
  post(piscina: Piscina, tasks: Task[], behind: Run): void;
  /** Ends the run's thread for one of its tasks. */
  kill(run: Run, reason: 'cancel' | 'timeout'): void;
}

export class Dispatch {
  /** Runs held behind another in their thread (Run.behind set): in the engine's runs, but their thread is counted once. */
  held = 0;
  /** Measured run time per item of map chunks, by task name (costOf). */
  readonly #chunkCosts = new Costs();
  readonly #host: DispatchHost;

  constructor(host: DispatchHost) {
    this.#host = host;
  }

  /** Measured mean run time of a call by this name, ms; Infinity when unknown, and for chunks. */
  estimate(task: Task): number {
    if (task.kind !== TaskKind.Call || task.timeout !== Infinity || task.transfer !== undefined || task.alone) return Infinity;
    return this.#host.core.costs.of(task.name);
  }

  /**
   * The next run's tasks, taken from the queue: one, or a batch of short
   * ones when the queue holds more than one for each of `threads`; at most `most`.
   */
  take(threads: number, most = MAX_BATCH): Task[] {
    const queue = this.#host.queue;
    // Batches only for a deep queue: otherwise every task gets a thread to itself.
    const share = queue.size > threads ? Math.min(most, MAX_BATCH, Math.ceil(queue.size / threads)) : 1;
    const first = queue.shift()!;
    const tasks = [first];
    let cost = this.estimate(first);
    if (share > 1 && cost <= PIPELINE_MS) {
      while (tasks.length < share) {
        const next = queue.peek();
        if (next === undefined) break;
        const c = this.estimate(next);
        if (!(cost + c <= PIPELINE_MS)) break;
        queue.shift();
        cost += c;
        tasks.push(next);
      }
    }
    return tasks;
  }

  /** After a run is taken, more than AHEAD_DEPTH tasks per thread still wait: a run may go ahead (behind one of known cost). */
  get deep(): boolean {
    return this.#host.queue.size > AHEAD_DEPTH * this.#host.workers + 1;
  }

  /**
   * What a run of this task is expected to cost, ms, for sending one ahead
   * behind it: a call's measured cost, or a map chunk's items times the
   * cost per item its earlier chunks came back with. Infinity when unknown,
   * and for a task with a timeout or a transfer list.
   */
  costOf(task: Task): number {
    if (task.kind === TaskKind.Call) return this.estimate(task);
    if ((task.kind !== TaskKind.Chunk && task.kind !== TaskKind.StarChunk) || task.timeout !== Infinity || task.transfer !== undefined)
      return Infinity;
    return this.#chunkCosts.of(task.name) * (task.args as unknown[]).length;
  }

  /** A task came back with its run time: a map chunk's cost per item is kept (costOf). */
  measured(task: Task, runTime: number): void {
    if (task.kind === TaskKind.Chunk || task.kind === TaskKind.StarChunk) {
      const items = (task.args as unknown[]).length;
      if (items > 0) this.#chunkCosts.add(task.name, runTime / items);
    }
  }

  /** A sent task is cancelled (EngineCore's cancelSent): skipped if its thread has not begun it, else stopped. */
  cancel(task: Task, wasRunning: boolean): void {
    const run = task.slot!;
    const control = run.control;
    // A task of a batch, or of a run sent ahead, has a slot to claim: won,
    // the thread never begins it (it reports it skipped, and it is not
    // queued again: it is gone).
    if (control !== null && control.length > Control.Skip + task.index && !run.over) {
      if (claim(control, task.index, Claim.Skipped) === Claim.Open) {
        this.#host.core.release(task);
        return;
      }
      // The thread began it: it is running (its future may not say so yet, for a run sent ahead).
      wasRunning = true;
    }
    if (run.tasks.length === 1) {
      if (wasRunning) this.#host.core.stop(task, 'cancel');
      else this.#host.core.release(task);
      return;
    }
    // In a batch, begun. If it is the one running now, the rest of the batch
    // is skipped too (and queued again when the run returns), and the thread
    // is stopped unless the run returns within the grace: a batched task is
    // short by its measured cost, so it normally does.
    this.#host.core.release(task);
    if (Atomics.load(control!, Control.Begun) === task.index + 1) {
      for (let j = task.index + 1; j < run.tasks.length; j++) claim(control!, j, Claim.Skipped);
      this.#host.core.stop(task, 'cancel', BATCH_STOP_GRACE_MS);
    }
  }

  /**
   * Every thread is busy and the queue is deep: a thread whose run is of
   * known cost and has begun gets its next run now, held in its port, so it
   * does not wait a round trip through the parent between the two. Picked
   * by the earliest expected end; a run goes ahead only while more than
   * AHEAD_DEPTH tasks per thread would still wait after it, so that a run
   * held behind a long one never leaves another thread without work.
   */
  send(): void {
    const host = this.#host;
    const queue = host.queue;
    while (this.deep) {
      let target: Run | undefined;
      for (const run of host.runs) {
        if (run.ahead !== undefined || run.behind !== undefined || run.thread === 0 || run.control === null || !(run.cost < Infinity))
          continue;
        if (run.piscina !== host.threads.instance || run.aborted || !host.threads.usable(run.thread)) continue;
        // Begun: the thread has read it from its port, so a run sent now
        // cannot be read in the same turn and run before this one's reply leaves.
        if (Atomics.load(run.control, Control.Begun) === 0) continue;
        if (target === undefined || run.sentAt + run.cost < target.sentAt + target.cost) target = run;
      }
      if (target === undefined) return;
      const next = queue.peek()!;
      // A stream or a call with progress carries a port for its thread: never held.
      if (next.kind === TaskKind.Stream || next.kind === TaskKind.Progress) return;
      // As much as leaves the queue deep.
      host.post(target.piscina, this.take(host.workers, queue.size - AHEAD_DEPTH * host.workers - 1), target);
    }
  }

  /**
   * Where piscina put a run sent ahead behind `behind` (run.thread): on that
   * thread, it is held; nowhere (its thread became unusable meanwhile: it
   * marked itself retired), it is not left in piscina's queue, where it
   * would go to the next thread before what warmpool's queue holds.
   * Aborting a run piscina has not placed only takes it out of that queue;
   * it fails as stopped by the engine, never begun, and goes back to the
   * front of the queue (replies.ts).
   */
  placed(run: Run, behind: Run): void {
    if (run.thread === behind.thread && !behind.over) {
      run.behind = behind;
      behind.ahead = run;
      this.held++;
    } else if (run.thread === 0) run.abort();
  }

  /**
   * The run ended. Held behind it: its thread is on that one now, and one
   * waiting to be stopped (stopLater) is stopped now that this reply is in.
   * Held itself: it ended first (its thread died, or was stopped).
   */
  ended(run: Run): void {
    const ahead = run.ahead;
    if (ahead !== undefined) {
      run.ahead = undefined;
      ahead.behind = undefined;
      this.held--;
      if (ahead.stopFor !== undefined) {
        clearTimeout(ahead.timer);
        this.#host.kill(ahead, ahead.stopFor);
      }
    }
    const behind = run.behind;
    if (behind !== undefined) {
      run.behind = undefined;
      behind.ahead = undefined;
      this.held--;
    }
  }

  /**
   * A held run that has begun: its thread posted the reply of the run it was
   * held behind first (entry.ts), and the engine has not read it. Ended
   * now, the thread takes that reply with it (piscina closes the port and
   * rejects both runs), and that run's finished tasks would run again as
   * bystanders. So it is stopped once the reply is in (ended), or after
   * LEADER_REPLY_MS if it does not come. True when the stop waits.
   */
  stopLater(run: Run, reason: 'cancel' | 'timeout'): boolean {
    const control = run.control!;
    if (run.behind === undefined) return false;
    if (Atomics.load(control, Control.Begun) === 0 && (Atomics.load(control, Control.Skip) as Claim) !== Claim.Begun) return false;
    run.stopFor = reason;
    clearTimeout(run.timer);
    run.timer = setTimeout(() => {
      run.timer = undefined;
      this.#host.kill(run, reason);
    }, LEADER_REPLY_MS);
    return true;
  }

  /**
   * A thread is free, the queue is empty, and runs are held behind others:
   * the free threads take back the not-yet-begun tasks of those expected to
   * wait longest. Claimed through their Control.Skip slots (Claim), the last
   * first: the thread claims from the first on, so what the engine wins is
   * a tail of the run that the thread will skip, and goes back to the front
   * of the queue, for a free thread.
   */
  takeBack(): void {
    let free = this.#host.freeThreads();
    while (free > 0 && this.held > 0) {
      let latest: Run | undefined;
      for (const run of this.#host.runs) {
        const behind = run.behind;
        if (behind === undefined || run.takenBack) continue;
        if (latest === undefined || behind.sentAt + behind.cost > latest.behind!.sentAt + latest.behind!.cost) latest = run;
      }
      if (latest === undefined) return;
      const back = this.claimBack(latest);
      if (back.length === 0) continue;
      this.#host.core.requeue(back);
      this.#host.core.schedule();
      free--;
    }
  }

  /**
   * Claims what the held run has not begun, from its last task back
   * (takeBack), and returns those tasks, in run order, for the caller to
   * queue again. The thread will skip them; its reply for them is ignored
   * (their slot is no longer this run).
   */
  claimBack(held: Run): Task[] {
    const back: Task[] = [];
    if (held.takenBack) return back;
    held.takenBack = true;
    const control = held.control!;
    let all = true;
    for (let k = held.tasks.length - 1; k >= 0; k--) {
      const task = held.tasks[k];
      const was = claim(control, k, Claim.Skipped);
      if (was === Claim.Begun) {
        all = false;
        break;
      }
      // Claim.Skipped already: cancelled, gone.
      if (was === Claim.Open && task.where !== 'gone') back.unshift(task);
    }
    // Nothing of it left to run: its thread only skips it (not busy, Engine.occupancy).
    held.emptied = all;
    // What waits for Begun on this run lets go (its tasks are no longer its own).
    if (back[0] === held.tasks[0]) Atomics.notify(control, Control.Begun);
    return back;
  }
}
