// What the ThreadPool engine and its threads share, besides piscina's own
// messages.
//
// A run is one `piscina.run(msg)`. Its general form is msg = [control |
// null, name, kind, args, name, kind, args, ...] (TASK_STRIDE fields per
// task), answered by [Reply.Results, threadId, retire, status, value,
// runTime, ...] (REPLY_STRIDE per task, in the order of the run) or by
// [Reply.StartError, threadId, wireError]. No ids: piscina matches a reply to its run.
//
// The common case has a short form, because the cost of cloning the message
// is a visible part of a warm round trip: one call with no control block is
// sent as [name, ...args] and, when it returns a value that can be posted as
// it is and the thread is not retiring, answered by [value, runTime]. The
// engine tells the forms apart by the first element (a string) and by the
// length (2).
//
// The control block is an Int32Array over a SharedArrayBuffer, made for runs
// that need it (a batch, a timeout, a cancelGrace): the thread and the engine
// talk through it with Atomics while the run is in flight, no message needed.
//
// A stream task, or a call with progress, goes alone with a line to its
// caller: msg = [control, name, kind, args, port] (a length no batch has:
// 1 + TASK_STRIDE * n, plus one), `port` a MessagePort moved in the run's
// transfer list, carrying the messages of lib/core/stream-protocol.ts both
// ways (all but the run and its result). Its reply ends with one more field,
// `sent`: how many messages the thread posted on the port, which the engine
// waits for before it settles (the port and piscina's own are not ordered
// with each other). The thread closes the port once the task has ended;
// Abort still goes through the control block.

export const enum Control {
  /** Written by the thread: 1 + the index of the task it has begun (0: none yet). The engine waits on it to start a timeout's clock. */
  Begun = 0,
  /**
   * Written by the engine: `reason + 4 × (1 + index of the task)`, reason 1
   * cancel, 2 timeout. The thread aborts that task's `taskSignal()` if it is
   * the one running (the index guards against the thread having moved on).
   */
  Abort = 1,
  /** Written by the thread when it begins the run: its threadId, to match a Partial note to the run. */
  Thread = 2,
  /**
   * Written by the engine before it posts a run sent ahead (1): the thread
   * may receive it before piscina has posted the reply of the run before,
   * and waits for that (entry.ts, afterReply).
   */
  Held = 3,
  /**
   * First of one slot per task (a batch's, or a run sent ahead's), which the
   * thread and the engine both claim with Atomics.compareExchange from
   * Claim.Open: the thread (Claim.Begun) as it is about to begin the task,
   * the engine (Claim.Skipped) to cancel it or take it back. Whoever comes
   * first wins, so a task the engine took back never begins in the thread,
   * and one the thread began is never taken back. A batch's block has one
   * slot more after these, the run's tag (see ThreadNote.Flushed).
   */
  Skip = 4,
}

/** What a task's Control.Skip slot holds. */
export const enum Claim {
  Open = 0,
  /** Claimed by the engine: the thread skips the task. */
  Skipped = 1,
  /** Claimed by the thread: it began the task. */
  Begun = 2,
}

/** Claims task `k`'s slot of a control block for `who`; returns what the slot held (Claim.Open: claimed). */
export function claim(control: Int32Array, k: number, who: Claim.Skipped | Claim.Begun): Claim {
  return Atomics.compareExchange(control, Control.Skip + k, Claim.Open, who);
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
/** Fields per task in a run: name, kind, args. */
export const TASK_STRIDE = 3;
/** Fields per task in a reply: status, value, runTime. */
export const REPLY_STRIDE = 3;

/** Thread → engine through piscina's 'message' event. */
export const enum ThreadNote {
  /** [Started, threadId, wireError | null]: the module is imported and the initializer done, or why not. */
  Started = 0x77700,
  /**
   * [Partial, threadId, reply, tag]: the thread is exiting (process.exit, an
   * uncaught error) in the middle of a batch; `reply` holds the results of
   * the tasks it finished. Posted from process 'exit', which runs in all
   * those cases, and delivered before the Worker's 'error' and 'exit'
   * events, so before piscina fails the run.
   */
  Partial = 0x77701,
  /**
   * [Flushed, tag, from, status, value, runTime, ...]: results of a batch in
   * progress, from its task `from` on, sent before the run's reply so they
   * do not wait for the rest of the batch: before the thread awaits a task
   * (an async one may wait for anything) and before it begins a task once
   * results have waited FLUSH_MS. `tag` is the last slot of the batch's
   * control block, written by the engine: piscina's reply and this note
   * travel on different ports, unordered, so a note can arrive after its run
   * is over (it is then dropped; the reply has the same results) and must
   * not be taken for the thread's next run.
   */
  Flushed = 0x77702,
}

/** How long results of a batch may wait in the thread behind short tasks before they go ahead of the reply (ThreadNote.Flushed), ms. */
export const FLUSH_MS = 1;

/** What piscina's workerData carries to each thread. */
export interface ThreadInit {
  readonly moduleHref: string;
  readonly initializer: string | null;
  readonly initArgs: readonly unknown[];
  /** Tasks after which the thread asks to be retired; Infinity for never. */
  readonly maxTasks: number;
  /**
   * Slot 0 counts the threads of this piscina instance that have imported
   * the module and run the initializer. Shared memory, not a message: the
   * engine must know it for sure when a run fails, and a message could
   * arrive after the failure it should explain.
   */
  readonly started: Int32Array;
  /**
   * threadIds of threads past maxTasksPerWorker, written by the thread
   * before it answers its last run (slot 0 counts them): piscina may hand the
   * next run to a thread the moment it answers, before the engine has read
   * the answer, so the load balancer must see this at once.
   */
  readonly retired: Int32Array;
}

/** Slots for retired threadIds (after slot 0). */
export const RETIRED_SLOTS = 64;
