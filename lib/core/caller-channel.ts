// What the engine core keeps per task that has a stream or an `onProgress`:
// it routes the task's messages from the worker (./stream-protocol.ts) to
// the stream and the progress coalescer, and holds the task's settlement
// until everything the worker sent before its result has been delivered.
//
//   transport ──▶ receive([StreamValues | Progress | InboxCredit, id, payload])
//                   ├─▶ StreamEndpoint.push / inboxCredit
//                   └─▶ ProgressCoalescer.push
//   result    ──▶ finish(error?, sent, settle)
//                   waits until `sent` messages have been received (a transport
//                   whose stream messages and results travel on different
//                   channels, as threads' MessagePort and piscina's reply do),
//                   then delivers the last progress value, ends the stream,
//                   and only then calls `settle` (the future).

import { ProgressCoalescer } from './progress.js';
import { createTaskStream, type StreamEndpoint, type TaskStream } from './stream.js';
import { FromTask, ToTask } from './stream-protocol.js';

/** How a stream's caller side reaches its task: the engine core gives these, bound to the task's record. */
export interface StreamLine {
  /** The task's id, once its record exists (the stream calls nothing before). */
  id(): number;
  /** Sends a ToTask message to the running task; dropped while the task is not on a worker. */
  toTask(message: unknown[]): void;
  /** The caller gave up on the stream: cancels its future (true when it is, or already was, cancelled). */
  cancel(): boolean;
}

export class CallerChannel {
  readonly stream: StreamEndpoint<unknown> | undefined;
  readonly progress: ProgressCoalescer | undefined;
  /** Messages received from the worker for this task. */
  #received = 0;
  #finishing: { error: unknown; sent: number; settle: () => void } | undefined;
  /** No more messages are taken: the outcome is known (being delivered, or delivered), or the task was abandoned. */
  #finished = false;
  /** The future is settled or about to be by the engine: a `settle` still held back (an async onProgress) is not called. */
  #settled = false;

  /** `pool.stream`'s TaskStream and the channel that feeds it: the stream's credits, messages and end go out through `line`. */
  static forStream(
    highWaterMark: number,
    onProgress: ((value: unknown) => unknown) | undefined,
    line: StreamLine,
  ): { stream: TaskStream<unknown, unknown>; channel: CallerChannel } {
    const { stream, endpoint } = createTaskStream<unknown, unknown>(
      {
        credit: (n) => line.toTask([ToTask.Credit, line.id(), n]),
        send: (messages) => line.toTask([ToTask.Inbox, line.id(), messages]),
        end: () => line.toTask([ToTask.InboxEnd, line.id()]),
        cancel: () => line.cancel(),
      },
      highWaterMark,
    );
    return { stream, channel: new CallerChannel(endpoint, onProgress) };
  }

  constructor(stream: StreamEndpoint<unknown> | undefined, onProgress: ((value: unknown) => unknown) | undefined) {
    this.stream = stream;
    this.progress = onProgress === undefined ? undefined : new ProgressCoalescer(onProgress);
  }

  /** A message from the worker about this task: `[type, id, payload]`. Unknown types are ignored. */
  receive(message: readonly unknown[]): void {
    if (this.#finished) return;
    this.#received++;
    switch (message[0]) {
      case FromTask.StreamValues:
        this.stream?.push(message[2] as unknown[]);
        break;
      case FromTask.Progress:
        this.progress?.push(message[2]);
        break;
      case FromTask.InboxCredit:
        this.stream?.inboxCredit(message[2] as number);
        break;
    }
    const f = this.#finishing;
    if (f !== undefined && this.#received >= f.sent) this.#complete(f.error, f.settle);
  }

  /**
   * The task's outcome is known. `sent` is how many messages the worker
   * reports having sent before its result (`undefined` when the transport
   * carries them in order with the result, or the worker is gone and nothing
   * more will come). `settle` settles the task's future; it is called once,
   * after the last progress value has been delivered and the stream ended.
   */
  finish(error: unknown, sent: number | undefined, settle: () => void): void {
    if (this.#finished || this.#finishing !== undefined) return;
    if (sent !== undefined && this.#received < sent) {
      this.#finishing = { error, sent, settle };
      return;
    }
    this.#complete(error, settle);
  }

  /**
   * The task's outcome was decided by the caller's side (cancel, timeout, a
   * crash): nothing more the worker sends matters, and the stream ends now
   * with `error`. The future settles as the engine decides, not here: a
   * `settle` that `finish` held back is dropped (the cancel that abandons it
   * settles the future instead).
   */
  abandon(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#finishing = undefined;
    this.#finished = true;
    // The future is settled by the engine, whatever the handler still does.
    void this.progress?.end();
    this.stream?.finish(error);
  }

  #complete(error: unknown, settle: () => void): void {
    this.#finishing = undefined;
    this.#finished = true;
    const waiting = this.progress?.end();
    const done = () => {
      if (this.#settled) return;
      this.#settled = true;
      this.stream?.finish(error);
      settle();
    };
    if (waiting === undefined) done();
    else void waiting.then(done);
  }
}
