// The module piscina loads in every thread of a ThreadPool. It imports the
// task module and runs the initializer before piscina marks the thread
// ready, so a thread that answers a run is warm: piscina awaits `handler`,
// which resolves to the handler (`run`, one task or a batch of short ones)
// once the import has ended.
//
// No top-level await here, nor in any module a thread loads (a test holds
// lib/ to it): V8 aborts the whole process (`Check failed: (location_) !=
// nullptr` in SourceTextModule::AsyncModuleExecutionFulfilled) when a
// thread is terminated while an async module graph finishes evaluating
// (https://github.com/nodejs/node/issues/53238, #60755, #62114, all open),
// and ThreadPool terminates starting threads whenever a pool shuts down
// early. docs/design.md, "Node quirks", has the stress that shows it.
//
// The import never rejects `handler`: piscina would treat that as a thread
// crash and start another thread, which would fail the same way. The error
// is kept and every run is answered with it, and the engine is told at once
// (ThreadNote.Started with the error).

import { parentPort, threadId, workerData, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { CancelledError, DataCloneError, TimeoutError } from '../core/errors.js';
import { Status, TaskKind } from '../core/contract.js';
import { existingTaskStorage, type TaskContext } from '../worker/context.js';
import { encodeError } from '../core/wire-error.js';
import { isThenable, loadTaskModule, runTask, taskNotFound, type Fn, type TaskOutput } from '../worker/run.js';
import { runWireTask } from '../worker/stream.js';
import { TaskChannel } from '../worker/task-channel.js';
import { checkClone } from './clone-check.js';
import {
  AbortReason,
  Claim,
  claim,
  Control,
  FLUSH_MS,
  Reply,
  REPLY_HEAD,
  REPLY_STRIDE,
  RETIRED_SLOTS,
  TASK_STRIDE,
  ThreadNote,
  type ThreadInit,
} from './protocol.js';

const init = workerData as ThreadInit;
let mod: Record<string, unknown> = {};
let startError: unknown;
let tasksRun = 0;
const output: TaskOutput = { value: undefined };

/** Imports the task module and tells the engine how that went; resolves to the handler either way. */
async function start(): Promise<typeof run> {
  try {
    mod = await loadTaskModule(init.moduleHref, init.initializer, init.initArgs);
    Atomics.add(init.started, 0, 1);
  } catch (err) {
    startError = encodeError(err);
  }
  // piscina passes any message a thread posts on parentPort (other than its
  // own READY) to the pool's 'message' event; the engine listens there.
  parentPort!.postMessage([ThreadNote.Started, threadId, startError ?? null]);
  return run;
}

/** What ./entry.cts hands piscina: the handler, once the task module is loaded (or failed to load). */
export const handler = start();

/** The reply being built for the batch in progress, for the Partial and Flushed notes. */
let batchOut: unknown[] | undefined;
/** Its tag (the last slot of its control block), which the Partial note names it by. */
let batchTag = 0;
/** How much of batchOut went ahead in Flushed notes, and when the last went (or the batch began). */
let flushedTo = REPLY_HEAD;
let lastFlush = 0;

/**
 * Sends the batch's results not sent yet ahead of the reply (ThreadNote.Flushed),
 * so they never wait behind a task that turns out long or waits. They stay
 * in the reply too: the engine takes whichever comes first.
 */
function flushBatch(out: unknown[], control: Int32Array, now: number): void {
  lastFlush = now;
  if (out.length === flushedTo) return;
  const note: unknown[] = [ThreadNote.Flushed, control[control.length - 1], (flushedTo - REPLY_HEAD) / REPLY_STRIDE];
  for (let i = flushedTo; i < out.length; i++) note.push(out[i]);
  flushedTo = out.length;
  parentPort!.postMessage(note);
}
process.on('exit', () => {
  if (batchOut !== undefined && batchOut.length > REPLY_HEAD) parentPort!.postMessage([ThreadNote.Partial, threadId, batchOut, batchTag]);
});

/** Past maxTasksPerWorker: tells the engine's load balancer at once (see ThreadInit.retired). */
function markRetired(): void {
  const r = init.retired;
  for (let i = 1; i <= RETIRED_SLOTS; i++) {
    if (Atomics.compareExchange(r, i, 0, threadId) === 0) {
      Atomics.add(r, 0, 1);
      return;
    }
  }
}

/**
 * The run's line to its caller, when it carries a stream task or a call with
 * progress (./protocol.ts), and the task's channel on it once made.
 */
let line: MessagePort | undefined;
let lineChannel: TaskChannel | undefined;

/** Makes the running task's channel on its port (runWireTask's `open`). */
function openChannel(highWaterMark: number): TaskChannel {
  const port = line;
  if (port === undefined) throw new Error('warmpool: a stream or progress task came without its port');
  const channel = (lineChannel = new TaskChannel(0, (message) => port.postMessage(message), highWaterMark));
  port.on('message', (message: unknown[]) => channel.receive(message));
  return channel;
}

/** The task with a port has ended: its reply says how many messages it posted there, and the port closes (after delivering them). */
function closeLine(out: unknown[]): unknown[] {
  out.push(lineChannel?.sent ?? 0);
  line!.close();
  line = undefined;
  lineChannel = undefined;
  return out;
}

/** Aborts the task's signal when the engine writes Control.Abort; ends quietly when the task ends first. */
function watchAbort(control: Int32Array, ctx: TaskContext | undefined, k: number): () => void {
  const waiting = Atomics.waitAsync(control, Control.Abort, 0);
  let over = false;
  const onAbort = () => {
    if (over) return;
    const flag = Atomics.load(control, Control.Abort);
    if (flag === 0 || flag >> 2 !== k + 1) return;
    const reason = (flag & 3) as AbortReason;
    const error = reason === AbortReason.Timeout ? new TimeoutError('The task timed out', 0) : new CancelledError();
    if (ctx !== undefined) (ctx.controller ??= new AbortController()).abort(error);
    // A module that never loaded warmpool/task has no context: its stream stops here.
    lineChannel?.cancel(error);
  };
  if (waiting.async) void waiting.value.then(onAbort);
  else onAbort();
  return () => {
    over = true;
    // Wakes our own waiter so that it does not outlive the task.
    if (waiting.async) Atomics.notify(control, Control.Abort);
  };
}

/**
 * piscina's handler: runs the tasks of one run in order. Synchronous tasks
 * run without a single await (an async function per task costs promise
 * allocations and microtask turns that are a tenth of a warm round trip);
 * the first task that returns a promise, or needs a context, switches the
 * rest of the run to the async path.
 */
function run(msg: unknown[]): unknown[] | Promise<unknown[]> {
  // A run sent ahead (dispatch.ts, Dispatch.send) reaches the thread while its
  // run in hand is still going: within the same turn after a synchronous one
  // (piscina's worker.js reads it from the port once it has posted the
  // reply), or as a port 'message' while an async one awaits, when piscina
  // would run the two side by side. It waits for the one in hand instead.
  if (inRun !== undefined) return track(inRun.then(() => afterReply(msg)));
  const out = afterReply(msg);
  if (isThenable(out)) return track(out);
  noteOutput();
  return out;
}

/** The run in hand, while one has not ended synchronously. */
let inRun: Promise<unknown> | undefined;

function track(ran: Promise<unknown[]>): Promise<unknown[]> {
  const ended = (): void => {
    noteOutput();
    if (inRun === mark) inRun = undefined;
  };
  const mark = (inRun = ran.then(ended, ended));
  return ran;
}

/**
 * The run that ended last left output to drain. piscina then posts its
 * reply only once process.stdout and stderr have drained (dist/worker.js,
 * onMessage), each a round trip through the parent, and a run sent ahead
 * may be delivered meanwhile. Begun then, it would hold that reply up until
 * it returns, and a stop of it (cancel, timeout) would end the thread with
 * the reply unsent: the run before would run again (dispatch.ts, Dispatch.stopLater).
 */
let outputLeft = false;

/** Checked where piscina checks, as a run ends (before piscina's own reaction to it). */
function noteOutput(): void {
  outputLeft = process.stdout.writableLength > 0 || process.stderr.writableLength > 0;
}

/**
 * A run sent ahead (Control.Held) behind one that left output waits for
 * piscina to post that run's reply: an empty write to each stream, queued
 * after piscina's (callbacks come in order), and a turn after each, in which
 * piscina's continuation runs (it posts from a microtask).
 */
function afterReply(msg: unknown[]): unknown[] | Promise<unknown[]> {
  const control = msg[0];
  if (!outputLeft || !(control instanceof Int32Array) || control[Control.Held] !== 1) return runNow(msg);
  outputLeft = false;
  return drained(process.stdout)
    .then(() => drained(process.stderr))
    .then(() => runNow(msg));
}

function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => setImmediate(resolve)));
}

function runNow(msg: unknown[]): unknown[] | Promise<unknown[]> {
  if (startError !== undefined) return [Reply.StartError, threadId, startError];
  if (typeof msg[0] === 'string') {
    const name = msg.shift() as string;
    return runShort(name, msg);
  }
  const control = msg[0] as Int32Array | null;
  if (control !== null) Atomics.store(control, Control.Thread, threadId);
  const out = [Reply.Results, threadId, false];
  if (msg.length % TASK_STRIDE === 2) {
    // [control, name, kind, args, port]: one task with a line to its caller.
    line = msg.pop() as MessagePort;
    const done = runFrom(msg, 1, out);
    return isThenable(done) ? done.then(closeLine) : closeLine(done);
  }
  if (msg.length > 1 + TASK_STRIDE) {
    batchOut = out;
    batchTag = control![control!.length - 1];
    flushedTo = REPLY_HEAD;
    lastFlush = performance.now();
  }
  return runFrom(msg, 1, out);
}

/** Takes what runTask left in `output`. */
function taken(): unknown {
  const value = output.value;
  output.value = undefined;
  return value;
}

/** The short form, [name, ...args]: one call, answered by [value, runTime] when all goes well (see ./protocol.ts). */
function runShort(name: string, args: unknown[]): unknown[] | Promise<unknown[]> {
  const fn = mod[name];
  if (typeof fn !== 'function' || existingTaskStorage() !== undefined || tasksRun + 1 >= init.maxTasks) {
    return runFrom([null, name, TaskKind.Call, args], 1, [Reply.Results, threadId, false]);
  }
  const start = performance.now();
  const ran = runTask(fn as Fn, TaskKind.Call, args, undefined, undefined, output);
  if (typeof ran !== 'number') return ran.then((status) => finishOne(name, status, taken(), start));
  const value = taken();
  if (ran === Status.Ok && checkClone(value).kind === 'direct') {
    tasksRun++;
    return [value, performance.now() - start];
  }
  return finishOne(name, ran, value, start);
}

function finishOne(name: string, status: Status, value: unknown, start: number): unknown[] {
  const out: unknown[] = [Reply.Results, threadId, false];
  finish(out, name, status, value, start);
  if (tasksRun >= init.maxTasks) retire(out);
  return out;
}

function retire(out: unknown[]): void {
  out[2] = true;
  markRetired();
}

/** Runs the tasks of a run from index `from` on; the first that does not end synchronously continues in awaitTask. */
function runFrom(msg: unknown[], from: number, out: unknown[]): unknown[] | Promise<unknown[]> {
  const control = msg[0] as Int32Array | null;
  const storage = existingTaskStorage();
  for (let i = from; i < msg.length; i += TASK_STRIDE) {
    const k = (i - 1) / TASK_STRIDE;
    const name = msg[i] as string;
    // Past maxTasksPerWorker: the rest of the batch goes back to the queue.
    if (
      tasksRun >= init.maxTasks ||
      (control !== null && control.length > Control.Skip + k && claim(control, k, Claim.Begun) !== Claim.Open)
    ) {
      out.push(Status.Skipped, undefined, 0);
      continue;
    }
    if (control !== null) {
      Atomics.store(control, Control.Begun, k + 1);
      Atomics.notify(control, Control.Begun);
    }
    const start = performance.now();
    if (out === batchOut && start - lastFlush >= FLUSH_MS) flushBatch(out, control!, start);
    const fn = mod[name];
    if (typeof fn !== 'function') {
      finish(out, name, Status.Error, encodeError(taskNotFound(name, mod)), start);
      continue;
    }
    const ctx: TaskContext | undefined = storage === undefined ? undefined : { controller: undefined, channel: undefined };
    const unwatch = (ctx !== undefined || line !== undefined) && control !== null ? watchAbort(control, ctx, k) : undefined;
    const ran = runWireTask(name, fn as Fn, msg[i + 1] as TaskKind, msg[i + 2] as unknown[], storage, ctx, openChannel, output);
    if (typeof ran !== 'number') {
      // An async task may wait for anything: the results before it go now.
      if (out === batchOut) flushBatch(out, control!, start);
      return awaitTask(msg, i, out, ran, unwatch, start);
    }
    unwatch?.();
    finish(out, name, ran, taken(), start);
  }
  if (tasksRun >= init.maxTasks) retire(out);
  if (batchOut === out) batchOut = undefined;
  return out;
}

/** The task at `i` is async (or a map chunk): wait for it, then go on with the run. */
async function awaitTask(
  msg: unknown[],
  i: number,
  out: unknown[],
  ran: Promise<Status>,
  unwatch: (() => void) | undefined,
  start: number,
): Promise<unknown[]> {
  const status = await ran;
  unwatch?.();
  finish(out, msg[i] as string, status, taken(), start);
  return runFrom(msg, i + TASK_STRIDE, out);
}

/** Appends a task's outcome, making sure a result can be posted back (./clone-check.ts). */
function finish(out: unknown[], name: string, status: Status, value: unknown, start: number): void {
  if (status === Status.Ok) {
    const verdict = checkClone(value);
    if (verdict.kind === 'bytes') {
      status = Status.Serialized;
      value = verdict.bytes;
    } else if (verdict.kind === 'unclonable') {
      status = Status.Error;
      value = encodeError(new DataCloneError(`The result of task \`${name}\` cannot be sent back from the thread: ${verdict.message}`));
    }
  }
  out.push(status, value, performance.now() - start);
  tasksRun++;
}
