// What the ThreadPool engine and its threads share, besides piscina's own
// messages.
//
// A run is one `piscina.run(msg)`: msg = [control | null, id, name, kind,
// args, id, ...] (RUN_STRIDE fields per task, as in ../../messages.ts). The
// handler answers [Reply.Results, threadId, retire, id, status, value,
// runTime, ...] or [Reply.StartError, wireError].
//
// The control block is an Int32Array over a SharedArrayBuffer, made for runs
// that need it (a batch, a timeout, a cancelGrace): the thread and the engine
// talk through it with Atomics while the run is in flight, no message needed.

export const enum Control {
  /** Written by the thread: 1 + the index of the task it has begun (0: none yet). The engine waits on it to start a timeout's clock. */
  Begun = 0,
  /** Written by the engine: 1 cancel, 2 timeout. The thread aborts the running task's `taskSignal()`. */
  Abort = 1,
  /** First of one flag per task: set by the engine, the thread skips that task if it has not begun it. */
  Skip = 2,
}

export const enum AbortReason {
  Cancel = 1,
  Timeout = 2,
}

export const enum Reply {
  Results = 0,
  StartError = 1,
}

/** [Reply.Results, threadId, retire] come before the results. */
export const REPLY_HEAD = 3;

/** Thread → engine through piscina's 'message' event: [ThreadNote.Started, threadId, wireError | null]. */
export const enum ThreadNote {
  Started = 0x77700,
}

/** What piscina's workerData carries to each thread. */
export interface ThreadInit {
  readonly moduleHref: string;
  readonly initializer: string | null;
  readonly initArgs: readonly unknown[];
  /** Tasks after which the thread asks to be retired; Infinity for never. */
  readonly maxTasks: number;
}
