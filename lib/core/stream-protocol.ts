// The credit protocol of streaming tasks, progress and two-way sessions:
// what the caller's side (./stream.ts, ./progress.ts) and the worker's side
// (../worker/stream.ts) exchange about one running task, whatever carries it.
// docs/design.md, "Streams, progress and sessions: the credit protocol", has
// the whole design; the numbers below are the message types, chosen above
// those of ../process/protocol.ts so that a transport can carry both on one channel.
//
//   caller                                              worker
//   ──────                                              ──────
//   Run (kind Stream, highWaterMark) ─────────────────▶ generator made, credit = hwm
//                                    ◀── StreamValues [id, values[]]  (a batch, ≤ credit)
//   consumer takes values;
//   Credit [id, n] once n ≥ half the window ──────────▶ credit += n
//   send(m): within the task's window
//   Inbox [id, messages[]] ───────────────────────────▶ taskMessages() queue
//                                    ◀── InboxCredit [id, n]  (the task read n)
//   end(): InboxEnd [id] ─────────────────────────────▶ taskMessages() ends
//                                    ◀── Progress [id, value] (coalesced, ≤ 1 per PROGRESS_MS)
//                                    ◀── Results [id, status, value, runTime, sent]
//
// Every window is `highWaterMark` wide, the same option for both directions.

/** Caller → worker, about the running task `id`. */
export const enum ToTask {
  /** [Credit, id, n] — the caller has taken n more values: the task may produce n more. */
  Credit = 16,
  /** [Inbox, id, messages[]] — messages for `taskMessages()`, in order, all within the task's window. */
  Inbox = 17,
  /** [InboxEnd, id] — the caller called `end()`: `taskMessages()` ends after the messages before it. */
  InboxEnd = 18,
}

/** Worker → caller, about the running task `id`. */
export const enum FromTask {
  /** [StreamValues, id, values[]] — yielded values, in order, never more than the credit. */
  StreamValues = 16,
  /** [Progress, id, value] — the latest value given to `reportProgress()`. */
  Progress = 17,
  /** [InboxCredit, id, n] — the task has read n more messages: the caller may send n more. */
  InboxCredit = 18,
}

/** `highWaterMark` when none is given, for both directions. */
export const DEFAULT_HIGH_WATER_MARK = 16;

/**
 * How many values (or messages) a side takes before it returns credit: half
 * the window, so that the producer rarely runs dry while a credit is on its
 * way, and a fast consumer pays one Credit per half window rather than one
 * per value. A side that is about to wait with credit still unreturned sends
 * it at once (the starvation rule), whatever its size, so no window size can
 * deadlock.
 */
export function creditBatch(highWaterMark: number): number {
  return Math.max(1, Math.ceil(highWaterMark / 2));
}

/** ms between two Progress messages of one task, at most; the last value is always sent at the task's end. */
export const PROGRESS_MS = 5;
