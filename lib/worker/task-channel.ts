// TaskChannel: the worker's end of one task's line to its caller, for
// streaming tasks, progress and two-way sessions, whatever runtime carries its
// messages (a process's socket, a thread's MessagePort, direct calls in
// LocalPool). The runtime gives it a `post` function and passes it the
// caller's messages about the task; the task reaches it through its context
// (`reportProgress()`, `taskMessages()` in ../task.ts). It is apart from
// ./stream.ts, which runs a task of each kind with it: this file is the
// protocol's state (credit, batches, inbox, the progress slot), that one
// the ways a task's body is run around it.
//
//   runtime                 TaskChannel                           task
//   ───────                 ───────────                           ────
//   receive(Credit) ──────▶ credit += n ──────────▶ drive(gen): gen.next() while credit > 0
//                           batch ◀─────────────────────────────── yielded values
//   post(StreamValues) ◀─── a batch per flush (credit spent, FLUSH_MS, a slow step, or
//                           the generator waiting on I/O)
//   receive(Inbox) ───────▶ inbox ──────────────────────────────▶ taskMessages()
//   post(InboxCredit) ◀──── half the window read (or the task waits)
//   post(Progress) ◀─────── one pending slot, ≤ 1 per PROGRESS_MS ◀─ reportProgress(v)
//   cancel(reason) ───────▶ credit wait ends, gen.return() runs its `finally`, the inbox ends
//   close() ──────────────▶ the last progress value goes; a failure to send one is reported
//
// docs/design.md, "Streams, progress and sessions: the credit protocol".

import { performance } from 'node:perf_hooks';
import { CancelledError, DataCloneError } from '../core/errors.js';
import { creditBatch, FromTask, PROGRESS_MS, ToTask } from '../core/stream-protocol.js';
import { taskSlot, type TaskChannelLike, type TaskContext } from './context.js';
// A cycle (run.ts imports ./stream.ts, which imports this file): isThenable is a function declaration, so it is there before either module runs.
import { isThenable } from './run.js';

/** Sends one message to the caller; throws synchronously, having sent nothing, when it cannot be cloned. */
export type Post = (message: unknown[]) => void;

/** What calling a `function*` or `async function*` gives. */
export type AnyGenerator = Generator<unknown, unknown, undefined> | AsyncGenerator<unknown, unknown, undefined>;

/** Values held back for one message at most this long, in ms of the generator's own time. */
const FLUSH_MS = 1;
/** A generator whose steps take longer than this (ms, moving average) has each value sent before its next step. */
const SLOW_STEP_MS = 0.1;
/** Most ms of work between two looks at the event loop, so Credit and Abort messages get in. */
const YIELD_MS = 1;
/** reportProgress looks at the clock about this often (ms), whatever its call rate. */
const CHECK_MS = 0.5;
const MAX_STRIDE = 1 << 16;

const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined });

/** See ./context.ts: the context of the task whose synchronous code runs now. */
const TASK_SLOT = taskSlot();

/** Lets I/O callbacks run: one setImmediate is not enough from the poll phase (see WorkerLoop#drain). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class TaskChannel implements TaskChannelLike {
  readonly id: number;
  readonly #post: Post;
  readonly #creditBatch: number;
  /** Messages posted for this task; the runtime puts it in the result (see CallerChannel.finish). */
  sent = 0;
  #closed = false;
  /** Why the task must fail though it may have ended well: a value that could not be sent. */
  #failure: unknown = undefined;

  // Values out.
  #credit: number;
  #batch: unknown[] = [];
  #batchStart = 0;
  #yielded = 0;
  #stepMs = Infinity;
  #lastYield = 0;
  #immediate: NodeJS.Immediate | undefined;
  #creditWaiter: (() => void) | undefined;
  #cancelReason: unknown = undefined;
  /** The task's context, once attached: set in the slot around each step of the generator. */
  #ctx: TaskContext | undefined;

  // Messages in.
  #inbox: unknown[] = [];
  #inboxHead = 0;
  #inboxEnded = false;
  readonly #readers: ((r: IteratorResult<unknown, undefined>) => void)[] = [];
  #read = 0;
  #iterator: AsyncIterableIterator<unknown, undefined> | undefined;

  // Progress: one pending slot.
  #pValue: unknown = undefined;
  #pHas = false;
  #pCountdown = 1;
  #pStride = 1;
  #pLastCheck = 0;
  #pLastPost = -Infinity;
  #pTimer: NodeJS.Timeout | undefined;

  /** `highWaterMark`: the window of both directions, as the run message gave it. */
  constructor(id: number, post: Post, highWaterMark: number) {
    this.id = id;
    this.#post = post;
    this.#credit = highWaterMark;
    this.#creditBatch = creditBatch(highWaterMark);
  }

  /** Puts the channel in the task's context (for reportProgress and taskMessages) and ends it when the task's signal aborts. */
  attach(ctx: TaskContext | undefined): void {
    if (ctx === undefined) return;
    this.#ctx = ctx;
    ctx.channel = this;
    const signal = (ctx.controller ??= new AbortController()).signal;
    if (signal.aborted) this.cancel(signal.reason);
    else signal.addEventListener('abort', () => this.cancel(signal.reason), { once: true });
  }

  /** A message from the caller about this task (./stream-protocol.ts, ToTask). */
  receive(message: readonly unknown[]): void {
    switch (message[0]) {
      case ToTask.Credit:
        this.#credit += message[2] as number;
        this.#wake();
        break;
      case ToTask.Inbox:
        this.#onInbox(message[2] as unknown[]);
        break;
      case ToTask.InboxEnd:
        this.#inboxEnded = true;
        this.#endReaders();
        break;
    }
  }

  /**
   * The task is cancelled or timed out (`reason` is the error): a generator
   * waiting for credit is not resumed but closed, so its `finally` runs; the
   * messages end. Idempotent. The runtime calls it on Abort; `attach` also
   * wires it to the task's signal.
   */
  cancel(reason: unknown = new CancelledError()): void {
    if (this.#cancelReason !== undefined) return;
    this.#cancelReason = reason ?? new CancelledError();
    this.#batch = [];
    this.#wake();
    this.#endReaders();
  }

  // ── values out ────────────────────────────────────────────────────────

  /**
   * Runs a generator to its end with credit gating: never resumes it without
   * credit, sends its values in batches, and returns its return value. On
   * cancel (or a value that cannot be sent) it calls the generator's
   * `return()`, so its `finally` runs, and throws the reason. Call it inside
   * the task's context (`storage.run`), so the generator's body runs there.
   */
  async drive(gen: AnyGenerator): Promise<unknown> {
    let finished = false;
    try {
      for (;;) {
        if (this.#cancelReason !== undefined) throw this.#cancelReason;
        if (this.#failure !== undefined) throw this.#failure;
        if (this.#credit === 0) {
          this.#flushValues();
          // The flush may have brought credit back already: LocalPool's
          // caller takes the values, and returns credit, inside the post.
          if (this.#credit === 0) await new Promise<void>((resolve) => (this.#creditWaiter = resolve));
          continue;
        }
        if (this.#batch.length > 0) {
          const now = performance.now();
          // A value waits for company only while the next step is expected
          // to be short: a slow generator sends each value as it comes. The
          // first value goes at once: the caller waits for it, and nothing
          // is known yet of the steps after it (one may never return, as a
          // synchronous generator stuck after its first yield).
          if (this.#stepMs > SLOW_STEP_MS || now - this.#batchStart >= FLUSH_MS || this.#batch.length === this.#yielded) {
            this.#flushValues();
            if (now - this.#lastYield >= YIELD_MS) {
              await nextTurn();
              await nextTurn();
              this.#lastYield = performance.now();
              continue;
            }
          }
        }
        const t0 = performance.now();
        let step: IteratorResult<unknown, unknown> | Promise<IteratorResult<unknown, unknown>>;
        const before = TASK_SLOT.current;
        TASK_SLOT.current = this.#ctx;
        try {
          step = gen.next();
        } finally {
          TASK_SLOT.current = before;
        }
        if (isThenable(step)) step = await step;
        const t1 = performance.now();
        this.#stepMs = this.#stepMs === Infinity ? t1 - t0 : this.#stepMs * 0.7 + (t1 - t0) * 0.3;
        if (step.done) {
          finished = true;
          this.#flushValues();
          if (this.#failure !== undefined) throw this.#failure;
          return step.value;
        }
        if (this.#cancelReason !== undefined) continue;
        if (this.#batch.length === 0) this.#batchStart = t1;
        this.#batch.push(step.value);
        this.#yielded++;
        this.#credit--;
        // An async generator that now waits on I/O lets this run, and its
        // values go out without waiting for the next one.
        this.#immediate ??= setImmediate(this.#flushSoon);
      }
    } catch (thrown) {
      let err = thrown;
      if (!finished) {
        // The values yielded before an error are the caller's; then the error.
        if (this.#cancelReason === undefined) {
          try {
            this.#flushValues();
          } catch (sendError) {
            err = sendError;
          }
        }
        try {
          const closing = gen.return(undefined);
          if (isThenable(closing)) await closing;
        } catch {
          // The generator's finally threw while closing: the first error stands.
        }
      }
      throw err;
    } finally {
      if (this.#immediate !== undefined) clearImmediate(this.#immediate);
      this.#immediate = undefined;
    }
  }

  readonly #flushSoon = (): void => {
    this.#immediate = undefined;
    if (this.#cancelReason !== undefined) return;
    try {
      this.#flushValues();
    } catch (err) {
      // Thrown by the loop at its next step, after closing the generator.
      this.#failure ??= err;
      this.#wake();
    }
  };

  #wake(): void {
    const waiter = this.#creditWaiter;
    this.#creditWaiter = undefined;
    waiter?.();
  }

  /** Sends the batch as one message; a batch that cannot be cloned is sent value by value up to the culprit, which throws. */
  #flushValues(): void {
    if (this.#batch.length === 0) return;
    const values = this.#batch;
    this.#batch = [];
    try {
      this.#post([FromTask.StreamValues, this.id, values]);
      this.sent++;
      return;
    } catch {
      // Found below, value by value.
    }
    const first = this.#yielded - values.length;
    for (let i = 0; i < values.length; i++) {
      try {
        this.#post([FromTask.StreamValues, this.id, [values[i]]]);
        this.sent++;
      } catch (err) {
        throw new DataCloneError(`Value ${first + i} yielded by the task cannot be sent to the caller: ${messageOf(err)}`, { cause: err });
      }
    }
  }

  // ── messages in ───────────────────────────────────────────────────────

  /** `taskMessages()`: one iterator per task; leaving a loop over it early does not end the messages. */
  messages(): AsyncIterableIterator<unknown, undefined> {
    return (this.#iterator ??= {
      next: () => this.#nextMessage(),
      return: () => Promise.resolve(DONE),
      [Symbol.asyncIterator]() {
        return this;
      },
    });
  }

  #nextMessage(): Promise<IteratorResult<unknown, undefined>> {
    if (this.#inboxHead < this.#inbox.length) {
      const value = this.#inbox[this.#inboxHead];
      this.#inbox[this.#inboxHead++] = undefined;
      if (this.#inboxHead === this.#inbox.length) {
        this.#inbox = [];
        this.#inboxHead = 0;
      }
      this.#countRead();
      return Promise.resolve({ done: false, value });
    }
    if (this.#inboxEnded || this.#cancelReason !== undefined || this.#closed) return Promise.resolve(DONE);
    // About to wait: the reads not yet credited go back now (the starvation
    // rule). LocalPool's caller sends the messages that credit lets go inside
    // the post: they may be in the inbox already.
    if (this.#read > 0) {
      this.#returnInboxCredit();
      return this.#nextMessage();
    }
    return new Promise((resolve) => this.#readers.push(resolve));
  }

  #onInbox(messages: unknown[]): void {
    if (this.#cancelReason !== undefined || this.#closed) return;
    let i = 0;
    while (i < messages.length && this.#readers.length > 0) {
      this.#readers.shift()!({ done: false, value: messages[i++] });
      this.#countRead();
    }
    for (; i < messages.length; i++) this.#inbox.push(messages[i]);
  }

  #countRead(): void {
    if (++this.#read >= this.#creditBatch) this.#returnInboxCredit();
  }

  #returnInboxCredit(): void {
    if (this.#read === 0 || this.#closed || this.#cancelReason !== undefined) return;
    const n = this.#read;
    this.#read = 0;
    this.#post([FromTask.InboxCredit, this.id, n]);
    this.sent++;
  }

  #endReaders(): void {
    for (const resolve of this.#readers.splice(0)) resolve(DONE);
  }

  // ── progress ──────────────────────────────────────────────────────────

  /**
   * `reportProgress(value)`. The hot path only stores the value and counts
   * down; the clock is read once per `stride` calls, a stride that adapts so
   * that the clock is read about every CHECK_MS whatever the call rate, and a
   * message goes at most every PROGRESS_MS. A timer sends a value left
   * pending when the task goes quiet (it fires only if the task yields to the
   * event loop; a synchronous loop is served by the countdown).
   */
  progress(value: unknown): void {
    this.#pValue = value;
    this.#pHas = true;
    if (--this.#pCountdown <= 0) this.#checkProgress();
    else if (this.#pTimer === undefined) this.#armProgress();
  }

  #checkProgress(): void {
    const now = performance.now();
    const since = now - this.#pLastCheck;
    this.#pLastCheck = now;
    if (since < CHECK_MS / 4) {
      if (this.#pStride < MAX_STRIDE) this.#pStride *= 2;
    } else if (since > CHECK_MS && this.#pStride > 1) {
      this.#pStride >>= 1;
    }
    this.#pCountdown = this.#pStride;
    if (now - this.#pLastPost >= PROGRESS_MS) this.#postProgress(now);
    else if (this.#pTimer === undefined) this.#armProgress();
  }

  #armProgress(): void {
    if (this.#closed) return;
    this.#pTimer = setTimeout(this.#onProgressTimer, PROGRESS_MS);
    this.#pTimer.unref();
  }

  readonly #onProgressTimer = (): void => {
    this.#pTimer = undefined;
    if (this.#pHas) this.#postProgress(performance.now());
  };

  #postProgress(now: number): void {
    if (this.#closed) return;
    const value = this.#pValue;
    this.#pValue = undefined;
    this.#pHas = false;
    this.#pLastPost = now;
    try {
      this.#post([FromTask.Progress, this.id, value]);
      this.sent++;
    } catch (err) {
      this.#failure ??= new DataCloneError(`A value given to reportProgress() cannot be sent to the caller: ${messageOf(err)}`, {
        cause: err,
      });
    }
  }

  /**
   * The task has ended: sends the last progress value still pending, stops
   * the timer, ends the messages. Returns an error the task must fail with
   * instead of its outcome (a progress value or a yielded value that could
   * not be sent), or undefined. The runtime then sends the result with
   * `sent`.
   */
  close(): unknown {
    if (this.#closed) return this.#failure;
    if (this.#pHas) this.#postProgress(performance.now());
    this.#closed = true;
    if (this.#pTimer !== undefined) clearTimeout(this.#pTimer);
    this.#pTimer = undefined;
    this.#endReaders();
    return this.#failure;
  }
}
