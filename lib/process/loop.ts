// The worker process's loop: imports the task module, runs the initializer,
// then runs tasks one at a time in the order they arrive (several may arrive
// in one message), and sends each result the moment its task ends. The
// parent starts the next task's timeout clock when it sees the previous
// result, so that result must never wait behind the next task.

import { performance } from 'node:perf_hooks';
import { Status, type TaskKind } from '../core/contract.js';
import { CancelledError, DataCloneError, TimeoutError } from '../core/errors.js';
import { encodeError } from '../core/wire-error.js';
import { existingTaskStorage, type TaskContext } from '../worker/context.js';
import { loadTaskModule, taskNotFound, type Fn, type TaskOutput } from '../worker/run.js';
import { runWireTask, TaskChannel } from '../worker/stream.js';
import { FromWorker, RUN_STRIDE, ToWorker } from './protocol.js';

/** Work, in ms, after which the loop lets pending Drop and Abort messages in. */
const YIELD_MS = 1;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class WorkerLoop {
  readonly #post: (message: unknown[]) => void;
  #mod: Record<string, unknown> = {};
  /** Tasks received and not yet run, flat: id, name, kind, args, id, ... */
  #queue: unknown[] = [];
  #head = 0;
  #running = false;
  #lastYield = 0;
  #dropped: Set<number> | undefined;
  #currentId = 0;
  #currentContext: TaskContext | undefined;
  /** The running task's channel: where the caller's credit and messages go. */
  #currentChannel: TaskChannel | undefined;
  readonly #out: TaskOutput = { value: undefined };
  /** The running task's channel (a stream, or a call with progress), made when its kind asks for one. */
  readonly #openChannel = (highWaterMark: number): TaskChannel => (this.#currentChannel = new TaskChannel(this.#currentId, this.#post, highWaterMark));

  constructor(post: (message: unknown[]) => void) {
    this.#post = post;
  }

  onMessage(msg: unknown[]): void {
    switch (msg[0]) {
      case ToWorker.Run:
        if (this.#head === this.#queue.length) {
          this.#queue = msg;
          this.#head = 1;
        } else {
          for (let i = 1; i < msg.length; i++) this.#queue.push(msg[i]);
        }
        if (!this.#running) void this.#drain();
        break;
      case ToWorker.Drop:
        (this.#dropped ??= new Set()).add(msg[1] as number);
        break;
      case ToWorker.Abort:
        if (msg[1] === this.#currentId && this.#currentContext !== undefined) {
          const reason = msg[2] === 'timeout' ? new TimeoutError('The task timed out', 0) : new CancelledError();
          (this.#currentContext.controller ??= new AbortController()).abort(reason);
        }
        // A module that never loaded warmpool/task has no context: its stream stops here.
        if (msg[1] === this.#currentId) this.#currentChannel?.cancel(msg[2] === 'timeout' ? new TimeoutError('The task timed out', 0) : new CancelledError());
        break;
      case ToWorker.Init:
        void this.#init(msg[1] as string, msg[2] as string | null, msg[3] as unknown[]);
        break;
      default:
        // A stream's credit and messages (lib/core/stream-protocol.ts, ToTask), for the running task only.
        if (msg[1] === this.#currentId) this.#currentChannel?.receive(msg);
    }
  }

  async #init(href: string, initializer: string | null, initArgs: unknown[]): Promise<void> {
    try {
      this.#mod = await loadTaskModule(href, initializer, initArgs);
    } catch (err) {
      this.#post([FromWorker.StartError, encodeError(err)]);
      return;
    }
    this.#post([FromWorker.Ready]);
  }

  async #drain(): Promise<void> {
    this.#running = true;
    const mod = this.#mod;
    while (this.#head < this.#queue.length) {
      const q = this.#queue;
      const h = this.#head;
      const id = q[h] as number;
      const name = q[h + 1] as string;
      const kind = q[h + 2] as TaskKind;
      const args = q[h + 3] as unknown[];
      q[h + 3] = undefined;
      this.#head = h + RUN_STRIDE;
      if (this.#dropped !== undefined && this.#dropped.delete(id)) continue;
      const start = performance.now();
      let status = Status.Ok;
      let value: unknown;
      const fn = mod[name];
      if (typeof fn !== 'function') {
        status = Status.Error;
        value = encodeError(taskNotFound(name, mod));
      } else {
        const storage = existingTaskStorage();
        const ctx: TaskContext | undefined = storage === undefined ? undefined : { controller: undefined, channel: undefined };
        this.#currentId = id;
        this.#currentContext = ctx;
        const ran = runWireTask(name, fn as Fn, kind, args, storage, ctx, this.#openChannel, this.#out);
        status = typeof ran === 'number' ? ran : await ran;
        value = this.#out.value;
        this.#out.value = undefined;
        this.#currentContext = undefined;
        this.#currentChannel = undefined;
      }
      const end = performance.now();
      this.#send(id, status, value, end - start);
      if (this.#head < this.#queue.length && end - this.#lastYield >= YIELD_MS) {
        // Let Drop and Abort messages that arrived meanwhile be read before
        // the next task starts. One setImmediate is not enough: its callback
        // runs in the check phase right after the current poll phase, before
        // the channel is polled again; the second one comes after a poll.
        await nextTurn();
        await nextTurn();
        this.#lastYield = performance.now();
      }
    }
    this.#queue = [];
    this.#head = 0;
    this.#running = false;
    // A Drop that came after its task had run names nothing any more.
    this.#dropped = undefined;
  }

  /**
   * Sends one result at once, before the next task starts: held back, it
   * would wait behind whatever runs next, however long, and the parent would
   * still count it as running (a false timeout, and a task run twice when its
   * worker dies). The parent reads results that arrive together in one go.
   */
  #send(id: number, status: Status, value: unknown, runTime: number): void {
    const msg = [FromWorker.Results, id, status, value, runTime];
    try {
      this.#post(msg);
    } catch (err) {
      this.#post([
        FromWorker.Results,
        id,
        Status.Error,
        encodeError(new DataCloneError(`The result of the task cannot be sent back from the worker: ${err instanceof Error ? err.message : String(err)}`)),
        runTime,
      ]);
    }
  }

}
