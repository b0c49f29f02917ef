// Reading what comes back from a ThreadPool run (./engine.ts, whose diagram
// shows where): its reply, the Flushed notes that settle a batch's results
// ahead of it, and the rejection of a run whose thread died, with the
// partial-batch recovery that follows (what the thread finished is settled
// from its last partial reply, what it had not begun goes back to the queue,
// the task it was running fails). Apart from the engine, which decides what
// to send where; these only settle, requeue and report.

import { performance } from 'node:perf_hooks';
import { receiveMessageOnPort } from 'node:worker_threads';
import { Status } from '../core/contract.js';
import type { EngineCore } from '../core/engine-core.js';
import { argumentCloneError } from '../core/transport.js';
import type { TaskRecord } from '../core/task.js';
import { decodeError } from '../core/wire-error.js';
import { cloneFailure } from './clone-check.js';
import { Claim, Control, REPLY_HEAD, REPLY_STRIDE, Reply } from './protocol.js';
import type { Run } from './run.js';
import { crashError, isDataCloneError, type Threads } from './threads.js';

type Task = TaskRecord<Run>;

/** What reading a reply needs of the engine. */
export interface ReplyHandling {
  readonly core: EngineCore<Run>;
  readonly threads: Threads;
  /**
   * The run is no longer in flight (before its futures settle, so stats()
   * agrees with them); false when it ended already, else the run that was
   * held behind it, if any, or true.
   */
  endRun(run: Run): Run | boolean;
  /** Takes back what a held run has not begun; its tasks, in run order. */
  claimBack(held: Run): Task[];
  /** No thread of the current piscina instance can start: fail what waits (and `alsoFail`), let the instance go. */
  failStart(cause: unknown, alsoFail?: readonly Task[]): void;
  /** Releases shutdown({ wait }) once the pool is closed and nothing is left. */
  checkDrained(): void;
  /** A task came back with its run time (before it settles: core.settle lets its arguments go). */
  measured(task: Task, runTime: number): void;
}

/** A run's reply (its promise fulfilled): its tasks settled, the skipped ones queued again, a retiring thread let go. */
export function onReply(engine: ReplyHandling, run: Run, reply: unknown[]): void {
  const ended = engine.endRun(run);
  if (ended === false) return;
  const core = engine.core;
  if (reply.length === 2) {
    // The short form (protocol.ts): one call, fulfilled.
    core.schedule();
    core.settle(run.tasks[0], Status.Ok, reply[0], reply[1] as number);
    engine.checkDrained();
    return;
  }
  if (reply[0] === Reply.StartError) {
    // Threads report a start error at once, too; this covers a reply that wins the race.
    const cause = decodeError(reply[2]);
    if (engine.threads.anyStarted()) {
      engine.threads.setAside(reply[1] as number, cause);
      core.requeue(run.tasks.filter((t) => t.where !== 'gone'));
      core.schedule();
    } else engine.failStart(cause, run.tasks);
    return;
  }
  let heldBack: Task[] | undefined;
  if (reply[2] === true) {
    // Once per thread: a run it held behind its last one comes back with the flag too.
    if (engine.threads.retire(run.piscina, reply[1] as number)) core.workerEvent(reply[1] as number, 'recycle');
    // The thread will skip the run it holds: its tasks queue after this run's skipped ones, in order.
    if (ended !== true) heldBack = engine.claimBack(ended);
  }
  const tasks = run.tasks;
  // A task with a port: the messages it sent there, which its channel waits for before settling.
  const sent = run.port === undefined ? undefined : (reply.pop() as number);
  let again: Task[] | undefined;
  let settle: number[] | undefined;
  for (let i = REPLY_HEAD, k = 0; i < reply.length; i += REPLY_STRIDE, k++) {
    const task = tasks[k];
    if (reply[i] === Status.Skipped) {
      // Not begun: cancelled, or behind a cancelled one; the latter run later.
      if (task.where !== 'gone' && task.slot === run) (again ??= []).push(task);
    } else if (k < run.flushed) {
      // Settled already from a Flushed note.
    } else {
      (settle ??= []).push(k, i);
      // The rest of a batch began in that thread one after another; the
      // engine learns of each only now (a no-op for one announced already).
      if (task.diag !== undefined) core.began(task, reply[1] as number, task.startedAt || performance.now() - (reply[i + 2] as number));
    }
  }
  if (heldBack !== undefined && heldBack.length > 0) (again ??= []).push(...heldBack);
  if (again !== undefined) core.requeue(again);
  core.schedule();
  // Settled after the requeue: done callbacks may cancel or submit.
  if (settle !== undefined) {
    for (let j = 0; j < settle.length; j += 2) {
      const i = settle[j + 1];
      engine.measured(tasks[settle[j]], reply[i + 2] as number);
      core.settle(tasks[settle[j]], reply[i] as Status, reply[i + 1], reply[i + 2] as number, sent);
    }
  }
  engine.checkDrained();
}

/**
 * Results of a batch sent ahead of its reply (ThreadNote.Flushed), in run
 * order from task `from` on: settled now, so a short task's result does
 * not wait for the rest of its batch. A note for a run already over is
 * dropped (its reply, or the death of its thread, said the same).
 */
export function onFlushed(core: EngineCore<Run>, runs: Iterable<Run>, note: unknown[]): void {
  let run: Run | undefined;
  for (const r of runs) if (r.tag === note[1]) run = r;
  if (run === undefined) return;
  const thread = Atomics.load(run.control!, Control.Thread);
  let k = note[2] as number;
  const settle: [Task, number][] = [];
  for (let i = 3; i < note.length; i += REPLY_STRIDE, k++) {
    // Skipped ones go back to the queue with the reply.
    if (note[i] === Status.Skipped) continue;
    const task = run.tasks[k];
    if (task.diag !== undefined) core.began(task, thread, task.startedAt || performance.now() - (note[i + 2] as number));
    settle.push([task, i]);
  }
  run.flushed = k;
  // Settled last: done callbacks may cancel or submit, and must find the run as it stands.
  for (const [task, i] of settle) core.settle(task, note[i] as Status, note[i + 1], note[i + 2] as number);
}

/** A run's promise rejected: its thread died, the engine stopped it, or piscina could not post it. */
export function onRunFailed(engine: ReplyHandling, run: Run, err: unknown): void {
  // Stopped by the engine, for one of its tasks or for the other run its thread held.
  const stoppedByUs = run.aborted || run.bystander;
  if (engine.endRun(run) === false) return;
  const core = engine.core;
  const tasks = run.tasks;
  if (run.port !== undefined) {
    // The thread is gone (or the run never reached it): nothing more comes
    // on the port, but what it posted before it died may not have been
    // delivered yet ('message' events come in a later turn than piscina's
    // rejection). Those values and progress are the caller's, before the
    // crash: taken now, synchronously, then the port closes.
    if (!stoppedByUs) {
      const channel = tasks[0].channel;
      for (let m = receiveMessageOnPort(run.port); m !== undefined; m = receiveMessageOnPort(run.port))
        channel?.receive(m.message as unknown[]);
    }
    run.port.close();
  }
  // A task stopped by the engine has settled already; its stream's `done` resolves now.
  for (const task of tasks) if (task.where === 'gone') core.letGo(task);
  let begun = run.control === null ? 0 : Atomics.load(run.control, Control.Begun);
  // The thread claims a task's slot just before it writes Begun: claimed, it may have begun.
  if (
    begun < tasks.length &&
    run.control !== null &&
    run.control.length > Control.Skip + begun &&
    (Atomics.load(run.control, Control.Skip + begun) as Claim) === Claim.Begun
  )
    begun++;
  // piscina could not post the run: a value of one of its tasks cannot be
  // cloned, and nothing began. In a batch, each goes again alone, so that
  // only the culprit fails.
  if (!stoppedByUs && isDataCloneError(err) && begun === 0) {
    if (tasks.length > 1) {
      for (const task of tasks) task.alone = true;
      core.requeue(tasks.filter((t) => t.where !== 'gone'));
    } else if (tasks[0].where !== 'gone') {
      core.fail(tasks[0], argumentCloneError(tasks[0], err, 'thread', cloneFailure), 'failed');
    }
    core.schedule();
    engine.checkDrained();
    return;
  }
  if (!stoppedByUs && begun === 0 && !engine.threads.anyStarted() && run.piscina === engine.threads.instance) {
    // The thread died before any thread of this instance had started:
    // process.exit or an uncaught error while importing the module.
    engine.failStart(err, tasks);
    return;
  }
  // The one it was running fails (or was stopped by the engine, and has settled already).
  const { again, failed, done } = run.sortAfterDeath(begun, stoppedByUs);
  const partial = run.partial;
  core.requeue(again);
  core.schedule();
  for (const task of done) {
    const at = REPLY_HEAD + task.index * REPLY_STRIDE;
    core.settle(task, partial![at] as Status, partial![at + 1], partial![at + 2] as number);
  }
  for (const task of failed) core.fail(task, crashError(err), 'crashed');
  engine.checkDrained();
}
