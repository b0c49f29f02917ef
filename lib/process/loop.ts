// The worker process's loop: imports the task module, runs the initializer,
// then runs tasks one at a time in the order they arrive (several may arrive
// in one message). Results of tasks the parent marked HOLD (measured short,
// no timeout: ./protocol.ts) are held and go together in one message; every
// held result is sent before a task without HOLD begins, before the loop
// awaits anything (an async task, a turn of the event loop to read Abort and
// Drop), and when nothing is left to run. So a result never waits behind a
// task of unknown or long cost, nor behind a timed one (the parent starts a
// timeout's clock when it sees the results before it), and whatever the loop
// reads from the parent, it reads with nothing held.

import { performance } from 'node:perf_hooks';
import { Status, TaskKind, TRACED } from '../core/contract.js';
import { CancelledError, DataCloneError, TimeoutError } from '../core/errors.js';
import { encodeError } from '../core/wire-error.js';
import { existingTaskStorage, type TaskContext } from '../worker/context.js';
import { loadTaskModule, taskNotFound, type Fn, type TaskOutput } from '../worker/run.js';
import { runWireTask } from '../worker/stream.js';
import { TaskChannel } from '../worker/task-channel.js';
import { FromWorker, HOLD, RESULT_HEAD, RESULT_STRIDE, RUN_STRIDE, ToWorker } from './protocol.js';

const RESOLVED = Promise.resolve();

/** Work, in ms, after which the loop lets pending Drop and Abort messages in. */
const YIELD_MS = 1;

/** An empty Results message with room for one result. */
function heldMessage(): unknown[] {
  const msg = new Array<unknown>(RESULT_HEAD + RESULT_STRIDE);
  msg[0] = FromWorker.Results;
  msg[1] = 0;
  return msg;
}

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
  /** Results held: [Results, sentAt, id, status, value, start, end, ...]; sentAt is filled in when sent. */
  #held: unknown[] = heldMessage();
  /** Where the next held result goes in #held. */
  #heldEnd = RESULT_HEAD;
  #currentContext: TaskContext | undefined;
  /** The running task's channel: where the caller's credit and messages go. */
  #currentChannel: TaskChannel | undefined;
  readonly #out: TaskOutput = { value: undefined };
  /** The async task #drain waits for: its id, start and HOLD. */
  #asyncId = 0;
  #asyncStart = 0;
  #asyncHold = false;
  /** The running task's channel (a stream, or a call with progress), made when its kind asks for one. */
  readonly #openChannel = (highWaterMark: number): TaskChannel =>
    (this.#currentChannel = new TaskChannel(this.#currentId, this.#post, highWaterMark));

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
        if (this.#running) break;
        // A call or a map chunk is drained once the rest of this read is
        // handled, not here: the parent may have sent it ahead and then
        // dropped it (cancelled before it began) while this worker was busy,
        // and both messages arrive in one read once it is idle. Drained at
        // once, it would start before its Drop were seen. A stream (or a
        // call with progress) starts at once: its credit and messages may
        // follow its Run in the same read and go to the running task only;
        // such a task is never sent ahead. (A resolved promise's reaction,
        // not queueMicrotask, which makes an AsyncResource and a bound
        // function per call in Node.)
        if ((((msg[3] as number) & (TRACED - 1)) as TaskKind) <= TaskKind.StarChunk) {
          this.#running = true;
          void RESOLVED.then(this.#drainBound);
        } else {
          this.#drain();
        }
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
        if (msg[1] === this.#currentId)
          this.#currentChannel?.cancel(msg[2] === 'timeout' ? new TimeoutError('The task timed out', 0) : new CancelledError());
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

  readonly #drainBound = (): void => this.#drain();

  /**
   * Runs what is queued, synchronously while the tasks are: an async
   * function per Run message cost a promise and a suspended frame per call
   * even when no task awaited anything. The loop turns async only where it
   * must wait, an async task (#afterAsync) or a yield to the event loop
   * (#afterYield), and each of those resumes it here; `#running` stays set
   * meanwhile, so a Run message that arrives then only queues its tasks.
   */
  #drain(): void {
    this.#running = true;
    const mod = this.#mod;
    while (this.#head < this.#queue.length) {
      const q = this.#queue;
      const h = this.#head;
      const id = q[h] as number;
      const name = q[h + 1] as string;
      let kind = q[h + 2] as number;
      const hold = kind >= HOLD;
      if (hold) kind -= HOLD;
      const args = q[h + 3] as unknown[];
      q[h + 3] = undefined;
      this.#head = h + RUN_STRIDE;
      if (this.#dropped !== undefined && this.#dropped.delete(id)) continue;
      // Nothing waits behind a task of unknown or long cost, nor a timed one.
      if (!hold) this.flush();
      const start = performance.now();
      let end: number;
      const fn = mod[name];
      if (typeof fn !== 'function') {
        end = performance.now();
        this.#hold(id, Status.Error, encodeError(taskNotFound(name, mod)), start, end);
      } else {
        const storage = existingTaskStorage();
        const ctx: TaskContext | undefined = storage === undefined ? undefined : { controller: undefined, channel: undefined };
        this.#currentId = id;
        this.#currentContext = ctx;
        const ran = runWireTask(name, fn as Fn, kind, args, storage, ctx, this.#openChannel, this.#out);
        if (typeof ran !== 'number') {
          // An async task may wait for anything: what was held goes first.
          this.flush();
          this.#asyncId = id;
          this.#asyncStart = start;
          this.#asyncHold = hold;
          void ran.then(this.#afterAsync);
          return;
        }
        end = this.#ran(id, ran, start);
      }
      if (this.#next(hold, end)) return;
    }
    this.#idle();
  }

  /** The task that was running ended with `status`: its result is held. Returns when it ended. */
  #ran(id: number, status: Status, start: number): number {
    const value = this.#out.value;
    this.#out.value = undefined;
    this.#currentContext = undefined;
    this.#currentChannel = undefined;
    const end = performance.now();
    this.#hold(id, status, value, start, end);
    return end;
  }

  readonly #afterAsync = (status: Status): void => {
    const end = this.#ran(this.#asyncId, status, this.#asyncStart);
    // The event that ended the task (a file, a timer, a socket) may have come
    // in the same poll as a Drop or an Abort for the task queued behind it
    // (a map chunk sent ahead), not read yet: libuv runs that poll's
    // callbacks in turn, and this one's microtasks run before the next. So
    // behind a task of unknown or long cost the loop yields first, as after
    // YIELD_MS of work. Not behind a task measured short (HOLD): those are
    // batched, and their results go together.
    if (!this.#asyncHold) this.#lastYield = -Infinity;
    if (!this.#next(this.#asyncHold, end)) this.#drain();
  };

  /**
   * After a task: sends what is held when the task may not be held behind
   * or nothing is left, and yields to the event loop when the loop has run
   * YIELD_MS since it last did (true: #drain resumes after the yield).
   */
  #next(hold: boolean, end: number): boolean {
    if (!hold || this.#head === this.#queue.length) this.flush();
    if (this.#head < this.#queue.length && end - this.#lastYield >= YIELD_MS) {
      // Results go before the loop lets messages in: an Abort or Drop is
      // always read with nothing held, so the parent's view of what runs
      // is exact whenever it acts on it.
      this.flush();
      // Let Drop and Abort messages that arrived meanwhile be read before
      // the next task starts. One setImmediate is not enough: its callback
      // runs in the check phase right after the current poll phase, before
      // the channel is polled again; the second one comes after a poll.
      setImmediate(this.#secondTurn);
      return true;
    }
    return false;
  }

  readonly #secondTurn = (): void => {
    setImmediate(this.#afterYield);
  };

  readonly #afterYield = (): void => {
    this.#lastYield = performance.now();
    this.#drain();
  };

  /** Nothing left to run. */
  #idle(): void {
    // The last task may have been dropped, its predecessor's result still held.
    this.flush();
    this.#queue = [];
    this.#head = 0;
    this.#running = false;
    // A Drop that came after its task had run names nothing any more.
    this.#dropped = undefined;
  }

  #hold(id: number, status: Status, value: unknown, start: number, end: number): void {
    // Stored by index into a message made for one result: pushing to
    // [Results, 0] regrew it on every message.
    const held = this.#held;
    const k = this.#heldEnd;
    held[k] = id;
    held[k + 1] = status;
    held[k + 2] = value;
    held[k + 3] = start;
    held[k + 4] = end;
    this.#heldEnd = k + RESULT_STRIDE;
  }

  /**
   * Sends the results held, in one message. One that cannot be sent (a
   * value the frame cannot carry: encoding throws before anything is
   * written) makes them go one by one, the culprits replaced by a
   * DataCloneError each. Also called when the worker exits by itself
   * (./entry.ts), so results it finished are not lost with it.
   */
  flush(): void {
    if (this.#heldEnd === RESULT_HEAD) return;
    const msg = this.#held;
    msg.length = this.#heldEnd;
    this.#held = heldMessage();
    this.#heldEnd = RESULT_HEAD;
    msg[1] = performance.now();
    try {
      this.#post(msg);
    } catch {
      for (let i = 2; i < msg.length; i += 5) {
        const one = [FromWorker.Results, performance.now(), msg[i], msg[i + 1], msg[i + 2], msg[i + 3], msg[i + 4]];
        try {
          this.#post(one);
        } catch (err) {
          one[3] = Status.Error;
          one[4] = encodeError(
            new DataCloneError(
              `The result of the task cannot be sent back from the worker: ${err instanceof Error ? err.message : String(err)}`,
            ),
          );
          this.#post(one);
        }
      }
    }
  }
}
