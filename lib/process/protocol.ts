// The protocol between the engine and a worker. Messages are arrays with the
// type first: cheaper to serialize and to read than objects with keys, and
// several tasks or results travel in one message (see the scheduler's notes
// on coalescing). Both runtimes carry them with the structured clone
// algorithm (v8 serialization), so task values keep their types.

/** How a task's `args` are applied. Chunks come from the map family; their result is a list. */
export const enum TaskKind {
  /** `fn(...args)` */
  Call = 0,
  /** `args` is a list of items: `fn(item)` for each (map, imap). */
  Chunk = 1,
  /** `args` is a list of argument lists: `fn(...argList)` for each (starmap). */
  StarChunk = 2,
}

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
  /** [Ready, exportNames] — module imported and initializer done. */
  Ready = 0,
  /** [Results, id, status, value, runTimeMs, ...more of the same] — the process worker sends one result per message, at once. */
  Results = 1,
  /** [StartError, wireError] — the module or the initializer threw; the worker exits. */
  StartError = 2,
  /** [Fatal, wireError] — an uncaught error is about to kill the worker. */
  Fatal = 3,
}

export const enum Status {
  /** value: the result */
  Ok = 0,
  /** value: a wire error (see wire-error.ts) */
  Error = 1,
  /** value: [index within the chunk, wire error] */
  ChunkError = 2,
  /** ThreadPool: a batched task cancelled before the thread began it; no value. */
  Skipped = 3,
  /** ThreadPool: value is the result as `v8.serialize` bytes (see thread/clone-check.ts). */
  Serialized = 4,
}

/** Fields per task in a Run message, per result in a Results message. */
export const RUN_STRIDE = 4;
export const RESULT_STRIDE = 4;
