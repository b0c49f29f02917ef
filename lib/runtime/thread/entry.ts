// The module piscina loads in every thread of a ThreadPool. Its top level
// imports the task module and runs the initializer before piscina marks the
// thread ready, so a thread that answers a run is warm; its default export
// is piscina's handler, which runs one run: a task, or a batch of short ones.
//
// The import never throws out of this module: piscina would treat that as a
// thread crash and start another thread, which would fail the same way. The
// error is kept and every run is answered with it, and the engine is told at
// once (ThreadNote.Started with the error).

import { parentPort, threadId, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { CancelledError, DataCloneError, TaskNotFoundError, TimeoutError } from '../../errors.js';
import { RUN_STRIDE, Status, TaskKind } from '../../messages.js';
import { existingTaskStorage, type TaskContext } from '../../task.js';
import { encodeError } from '../../wire-error.js';
import { functionExports, loadTaskModule, runTask, type Fn, type TaskOutput } from '../../worker-runtime.js';
import { checkClone } from './clone-check.js';
import { AbortReason, Control, Reply, ThreadNote, type ThreadInit } from './protocol.js';

const init = workerData as ThreadInit;
let mod: Record<string, unknown> = {};
let startError: unknown;
let tasksRun = 0;
const output: TaskOutput = { value: undefined };

try {
  mod = await loadTaskModule(init.moduleHref, init.initializer, init.initArgs);
} catch (err) {
  startError = encodeError(err);
}
// piscina passes any message a thread posts on parentPort (other than its
// own READY) to the pool's 'message' event; the engine listens there.
parentPort!.postMessage([ThreadNote.Started, threadId, startError ?? null]);

/** Aborts the task's signal when the engine writes Control.Abort; ends quietly when the task ends first. */
function watchAbort(control: Int32Array, ctx: TaskContext): () => void {
  const waiting = Atomics.waitAsync(control, Control.Abort, 0);
  let over = false;
  const onAbort = () => {
    if (over) return;
    const reason = Atomics.load(control, Control.Abort) as AbortReason | 0;
    if (reason === 0) return;
    (ctx.controller ??= new AbortController()).abort(
      reason === AbortReason.Timeout ? new TimeoutError('The task timed out', 0) : new CancelledError(),
    );
  };
  if (waiting.async) void waiting.value.then(onAbort);
  else onAbort();
  return () => {
    over = true;
    // Wakes our own waiter so that it does not outlive the task.
    if (waiting.async) Atomics.notify(control, Control.Abort);
  };
}

export default async function run(msg: unknown[]): Promise<unknown[]> {
  if (startError !== undefined) return [Reply.StartError, startError];
  const control = msg[0] as Int32Array | null;
  const out: unknown[] = [Reply.Results, threadId, false];
  for (let i = 1, k = 0; i < msg.length; i += RUN_STRIDE, k++) {
    const id = msg[i] as number;
    // Past maxTasksPerWorker: the rest of the batch goes back to the queue.
    if (tasksRun >= init.maxTasks) {
      out.push(id, Status.Skipped, undefined, 0);
      continue;
    }
    if (control !== null) {
      if (control.length > Control.Skip + k && Atomics.load(control, Control.Skip + k) !== 0) {
        out.push(id, Status.Skipped, undefined, 0);
        continue;
      }
      Atomics.store(control, Control.Begun, k + 1);
      Atomics.notify(control, Control.Begun);
    }
    const name = msg[i + 1] as string;
    const kind = msg[i + 2] as TaskKind;
    const args = msg[i + 3] as unknown[];
    const start = performance.now();
    let status = Status.Ok;
    let value: unknown;
    const fn = mod[name];
    if (typeof fn !== 'function') {
      status = Status.Error;
      value = encodeError(new TaskNotFoundError(name, functionExports(mod)));
    } else {
      const storage = existingTaskStorage();
      const ctx: TaskContext | undefined = storage === undefined ? undefined : { controller: undefined };
      const unwatch = ctx !== undefined && control !== null ? watchAbort(control, ctx) : undefined;
      status = await runTask(fn as Fn, kind, args, storage, ctx, output);
      value = output.value;
      output.value = undefined;
      unwatch?.();
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
    }
    out.push(id, status, value, performance.now() - start);
    tasksRun++;
  }
  if (tasksRun >= init.maxTasks) out[2] = true;
  return out;
}
