// The protocol between ProcessPool's engine and its worker processes
// (lib/process/channel.ts carries it). Messages are arrays with the type
// first: cheaper to serialize and to read than objects with keys, and several
// tasks travel in one message (see the engine's notes on batching). Task
// kinds and result statuses are every backend's: lib/core/contract.ts.

export const enum ToWorker {
  /** [Init, moduleHref, initializer | null, initArgs] — always the first message. */
  Init = 0,
  /** [Run, id, name, kind, args, id, name, kind, args, ...] — runs in order, one at a time. */
  Run = 1,
  /** [Drop, id] — a task sent ahead but cancelled before it started: skip it. */
  Drop = 2,
  /** [Abort, id, reason] — abort the running task's `taskSignal()`; the engine may stop the worker after `cancelGrace`. */
  Abort = 3,
}

export const enum FromWorker {
  /** [Ready] — module imported and initializer done. */
  Ready = 0,
  /** [Results, id, status, value, runTimeMs, ...more of the same] — the process worker sends one result per message, at once. */
  Results = 1,
  /** [StartError, wireError] — the module or the initializer threw; the worker exits. */
  StartError = 2,
  /** [Fatal, wireError] — an uncaught error is about to kill the worker. */
  Fatal = 3,
}

/** Fields per task in a Run message, per result in a Results message. */
export const RUN_STRIDE = 4;
export const RESULT_STRIDE = 4;
