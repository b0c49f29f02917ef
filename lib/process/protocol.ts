// The protocol between ProcessPool's engine and its worker processes
// (lib/process/channel.ts carries it). Messages are arrays with the type
// first: cheaper to serialize and to read than objects with keys, and several
// tasks travel in one message (see the engine's notes on batching). Task
// kinds and result statuses are every backend's: lib/core/contract.ts.

export const enum ToWorker {
  /** [Init, moduleHref, initializer | null, initArgs] — always the first message. */
  Init = 0,
  /**
   * [Run, id, name, kind, args, id, name, kind, args, ...] — runs in order,
   * one at a time. `kind` plus HOLD: the task's result may wait in the worker
   * behind the next task (see HOLD).
   */
  Run = 1,
  /** [Drop, id] — a task sent ahead but cancelled before it started: skip it. */
  Drop = 2,
  /** [Abort, id, reason] — abort the running task's `taskSignal()`; the engine may stop the worker after `cancelGrace`. */
  Abort = 3,
}

export const enum FromWorker {
  /** [Ready] — module imported and initializer done. */
  Ready = 0,
  /**
   * [Results, sentAt, id, status, value, start, end, ...more of the same] —
   * the results the worker held (see HOLD), in the order it ran them. Times
   * are the worker's `performance.now()`: `start` and `end` of each task,
   * `sentAt` when the message left, from which the parent learns the offset
   * between the two clocks.
   */
  Results = 1,
  /** [StartError, wireError] — the module or the initializer threw; the worker exits. */
  StartError = 2,
  /** [Fatal, wireError] — an uncaught error is about to kill the worker. */
  Fatal = 3,
  /**
   * [Exiting] — the worker is exiting by itself (process.exit in a task, an
   * uncaught error) and has sent every result it held: the parent's head is
   * the task that was running, exactly.
   */
  Exiting = 4,
}

/**
 * Added to a task's kind in a Run message: the parent measured the task as
 * short (its mean run time within PIPELINE_MS) and it has no
 * timeout, no channel and is not a map chunk, so the worker may hold its
 * result and send it with the next ones. The worker sends every result it
 * holds before it begins a task without HOLD, before it awaits anything
 * (an async task, a turn of the event loop), and when it has nothing left to
 * run, so a result waits only behind tasks measured short, never behind one
 * of unknown or long cost, nor while the worker could be reading messages.
 * It is a bit above TRACED (16): the worker takes it off before the kind is
 * read.
 */
export const HOLD = 32;

/** Fields per task in a Run message, per result in a Results message. */
export const RUN_STRIDE = 4;
export const RESULT_STRIDE = 5;
/** [Results, sentAt] come before the results. */
export const RESULT_HEAD = 2;
