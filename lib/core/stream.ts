// The caller's side of a streaming task: `TaskStream`, what `pool.stream()`
// returns. It knows nothing of transports: the engine gives it a StreamSink
// (the way to the task on its worker) and drives it through the
// StreamEndpoint that `createTaskStream` hands back beside it.
//
//   engine                          TaskStream                        caller
//   ──────                          ──────────                        ──────
//   push(values) ──────────▶ buffer (≤ highWaterMark) ──────▶ for await / next()
//   sink.credit(n) ◀──────── n taken, n ≥ half the window (or the reader waits)
//   started() ─────────────▶ held sends may go
//   sink.send(batch) ◀────── pending sends within the window ◀─ send(m)  (resolves here)
//   inboxCredit(n) ────────▶ window += n, more sends go
//   sink.end() ◀──────────── after the sends before it ◀─────── end()
//   sink.cancel() ◀─────────────────────────────────────────── cancel(), break, return
//   finish(error?) ────────▶ iterator ends / throws, pending sends settle
//   exited() ──────────────▶ `done` resolves
//
// The credit protocol is described in docs/design.md ("Streams, progress and
// sessions: the credit protocol").

import { CancelledError, DataCloneError, StreamClosedError } from './errors.js';
import { creditBatch } from './stream-protocol.js';

/** What a TaskStream asks of its engine. */
export interface StreamSink {
  /** The caller has taken `n` more values: the task may produce `n` more. */
  credit(n: number): void;
  /**
   * Messages for the task, in order, all within its window; called only after
   * `started()`. Throws synchronously, having sent nothing, when the batch
   * cannot be carried (a value that cannot be cloned); the stream then
   * retries message by message to reject only the culprits.
   */
  send(messages: unknown[]): void;
  /** The caller has ended its messages; called once, after the last `send`. */
  end(): void;
  /** `Future.cancel()` of the task: true when it is (or already was) cancelled, false when it has ended. */
  cancel(): boolean;
}

/** What the engine calls on a TaskStream it has made. */
export interface StreamEndpoint<Y> {
  /** The task has been handed to a worker: messages may go to it from now on (in order after the run). */
  started(): void;
  /** Values the task yielded, in order. */
  push(values: readonly Y[]): void;
  /** The task has read `n` more messages. */
  inboxCredit(n: number): void;
  /** The task's outcome: ended (no error), failed, cancelled, timed out or crashed. Later calls are ignored. */
  finish(error?: unknown): void;
  /** The task is over on its worker (its `finally` ran, or its worker was stopped): `done` resolves. Implies `finish`. */
  exited(): void;
}

interface PendingSend {
  value: unknown;
  resolve(): void;
  reject(error: unknown): void;
}

type Reader<Y> = { resolve(r: IteratorResult<Y, undefined>): void; reject(error: unknown): void };

const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined });

/** Makes a stream and the endpoint its engine drives. */
export function createTaskStream<Y, S = never>(
  sink: StreamSink,
  highWaterMark: number,
): { stream: TaskStream<Y, S>; endpoint: StreamEndpoint<Y> } {
  let endpoint!: StreamEndpoint<Y>;
  const stream = new TaskStream<Y, S>(sink, highWaterMark, (e) => (endpoint = e));
  return { stream, endpoint };
}

/**
 * The values of a generator task, in order, as they are yielded on its
 * worker, with backpressure: at most `highWaterMark` values produced and not
 * yet taken. Leaving a `for await` loop early (`break`, `return`, a throw)
 * cancels the task. Two-way: `send()` messages that the task reads with
 * `taskMessages()`, and `end()` when there are no more.
 *
 * `Y` is the type the task yields; `S` the type of its messages (`never`
 * when the task declares none; see `TaskMessages` in `warmpool/task`).
 */
export class TaskStream<Y, S = never> implements AsyncIterableIterator<Y, undefined>, AsyncDisposable {
  readonly #sink: StreamSink;
  readonly #creditBatch: number;
  /** Values received and not yet taken; `#head` is the next to take. */
  #buffer: Y[] = [];
  #head = 0;
  readonly #readers: Reader<Y>[] = [];
  /** Values taken and not yet returned as credit. */
  #taken = 0;
  #finished = false;
  #error: unknown = undefined;
  #errorThrown = false;
  #started = false;
  /** Messages the window may take. */
  #window: number;
  readonly #pending: PendingSend[] = [];
  #flushScheduled = false;
  #endCalled = false;
  #endSent = false;
  #resolveDone!: () => void;
  /** Resolves when the task is over on its worker, however it ended (it never rejects: the iterator and `send` report the outcome). */
  readonly done: Promise<void>;

  /** @internal Made by the engine through `createTaskStream`. */
  constructor(sink: StreamSink, highWaterMark: number, expose: (endpoint: StreamEndpoint<Y>) => void) {
    this.#sink = sink;
    this.#creditBatch = creditBatch(highWaterMark);
    this.#window = highWaterMark;
    this.done = new Promise<void>((resolve) => (this.#resolveDone = resolve));
    expose({
      started: () => this.#onStarted(),
      push: (values) => this.#onValues(values),
      inboxCredit: (n) => {
        this.#window += n;
        this.#flushSends();
      },
      finish: (error) => this.#onFinish(error),
      exited: () => {
        this.#onFinish(new CancelledError());
        this.#resolveDone();
      },
    });
  }

  /** The stream is its own iterator: `for await (const v of stream)` reads the values once. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /**
   * `await using s = pool.stream(...)`: at the end of the scope a task still
   * running is cancelled (as leaving a `for await` loop early), and the scope
   * is left once it is over on its worker (`done`). A stream that has ended
   * is left as it is.
   */
  [Symbol.asyncDispose](): Promise<void> {
    if (!this.#finished) this.cancel();
    return this.done;
  }

  /** The next value; `done` once the task has ended and every value has been taken; rejects once with the task's error. */
  next(): Promise<IteratorResult<Y, undefined>> {
    if (this.#head < this.#buffer.length) return Promise.resolve({ done: false, value: this.#take() });
    if (this.#finished) return this.#ended();
    // About to wait: whatever was taken goes back as credit now, however
    // little, or a producer waiting for it and this reader would wait for
    // each other. A transport may answer inside the call (LocalPool): look again.
    if (this.#taken > 0) {
      this.#returnCredit();
      return this.next();
    }
    return new Promise((resolve, reject) => this.#readers.push({ resolve, reject }));
  }

  /** Called by `for await` when the loop is left early: cancels the task (see `cancel()`). */
  return(): Promise<IteratorResult<Y, undefined>> {
    if (!this.#finished) this.cancel();
    this.#buffer = [];
    this.#head = 0;
    // Left: later reads are done, as for any iterator after return(), not the cancel's error.
    this.#errorThrown = true;
    return Promise.resolve(DONE);
  }

  /**
   * Cancels the task as `Future.cancel()` does: queued, it never runs;
   * running, its `taskSignal()` aborts, its generator's `finally` runs where
   * it can, and after `cancelGrace` its worker is stopped. True when the task
   * is (or already was) cancelled, false when it had already ended.
   */
  cancel(): boolean {
    return this.#sink.cancel();
  }

  /**
   * Sends a message that the task reads from `taskMessages()`. Resolves once
   * the message is within the task's window of `highWaterMark` unread
   * messages (so a fast sender waits for a slow task); a message that cannot
   * be cloned rejects this `send` alone. Rejects with `StreamClosedError`
   * after `end()` or once the task has ended; with the task's error when it
   * fails, is cancelled or times out while the message waits.
   */
  send(value: S): Promise<void> {
    if (this.#endCalled)
      return Promise.reject(new StreamClosedError('Expected send() before end(), got a send() after the stream was ended by end()'));
    if (this.#finished) {
      const cause = this.#error;
      const how = cause === undefined ? 'has ended' : `has ended with ${describeError(cause)}`;
      return Promise.reject(
        new StreamClosedError(`Expected send() while the task runs, but the task ${how}`, cause === undefined ? undefined : { cause }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ value, resolve, reject });
      this.#scheduleFlush();
    });
  }

  /** No more messages: the task's `taskMessages()` ends after those already sent. Does not end the task; idempotent. */
  end(): void {
    if (this.#endCalled) return;
    this.#endCalled = true;
    if (!this.#finished) this.#scheduleFlush();
  }

  #take(): Y {
    const value = this.#buffer[this.#head];
    this.#buffer[this.#head++] = undefined as Y;
    if (this.#head === this.#buffer.length) {
      this.#buffer = [];
      this.#head = 0;
    }
    if (!this.#finished && ++this.#taken >= this.#creditBatch) this.#returnCredit();
    return value;
  }

  #returnCredit(): void {
    if (this.#taken === 0 || this.#finished) return;
    const n = this.#taken;
    this.#taken = 0;
    this.#sink.credit(n);
  }

  #ended(): Promise<IteratorResult<Y, undefined>> {
    if (this.#error !== undefined && !this.#errorThrown) {
      this.#errorThrown = true;
      return Promise.reject(this.#error);
    }
    return Promise.resolve(DONE);
  }

  #onValues(values: readonly Y[]): void {
    if (this.#finished) return;
    let i = 0;
    // Waiting readers are served first; they came before the buffer was empty.
    while (i < values.length && this.#readers.length > 0) {
      this.#readers.shift()!.resolve({ done: false, value: values[i++] });
      if (++this.#taken >= this.#creditBatch) this.#returnCredit();
    }
    for (; i < values.length; i++) this.#buffer.push(values[i]);
  }

  #onStarted(): void {
    this.#started = true;
    if (this.#pending.length > 0 || this.#endCalled) this.#scheduleFlush();
  }

  #onFinish(error: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#error = error;
    // Values yielded before a failure are read before it, as the task
    // yielded them; after a cancel nobody wants them.
    if (error instanceof CancelledError) {
      this.#buffer = [];
      this.#head = 0;
    }
    const readers = this.#readers.splice(0);
    for (const reader of readers) {
      if (error !== undefined && !this.#errorThrown) {
        this.#errorThrown = true;
        reader.reject(error);
      } else reader.resolve(DONE);
    }
    const pending = this.#pending.splice(0);
    for (const p of pending) {
      p.reject(error ?? new StreamClosedError('Expected the task to read the message, but it ended before reading it'));
    }
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || !this.#started) return;
    this.#flushScheduled = true;
    // Sends made in one turn go as one message.
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flushSends();
    });
  }

  #flushSends(): void {
    if (this.#finished || !this.#started) return;
    while (this.#window > 0 && this.#pending.length > 0) {
      const batch = this.#pending.splice(0, this.#window);
      try {
        this.#sink.send(batch.map((p) => p.value));
      } catch {
        this.#sendOneByOne(batch);
        continue;
      }
      this.#window -= batch.length;
      for (const p of batch) p.resolve();
    }
    if (this.#endCalled && !this.#endSent && this.#pending.length === 0) {
      this.#endSent = true;
      this.#sink.end();
    }
  }

  /** A batch that could not be sent: each message alone, so that only those that cannot be cloned fail. */
  #sendOneByOne(batch: PendingSend[]): void {
    for (const p of batch) {
      try {
        this.#sink.send([p.value]);
      } catch (err) {
        p.reject(
          new DataCloneError(
            `The message given to send() cannot be sent to the task: ${err instanceof Error ? err.message : String(err)}`,
            { cause: err },
          ),
        );
        continue;
      }
      this.#window--;
      p.resolve();
    }
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
