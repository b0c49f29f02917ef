/**
 * `warmpool/task`: what a task module may import to cooperate with the pool.
 *
 * @module warmpool/task
 */

// The context lives in one AsyncLocalStorage kept on a global symbol, so the
// worker's copy of warmpool and the task module's copy (which may be another
// installation) share it. The worker only enters the context when this module
// has been loaded: a task module that never asks for its signal pays nothing
// for AsyncLocalStorage, whose promise hooks cost every await on Node 20.

import { AsyncLocalStorage } from 'node:async_hooks';
import { TASK_CONTEXT_KEY as KEY, type TaskContext } from './worker/context.js';

export type { TaskContext } from './worker/context.js';

// Loading this module is what switches the context on: the worker loops
// find the storage on the global symbol (lib/worker/context.ts).
const storage = ((globalThis as { [KEY]?: AsyncLocalStorage<TaskContext> })[KEY] ??= new AsyncLocalStorage<TaskContext>());

/**
 * The running task's `AbortSignal`: aborted when the task is cancelled
 * (`future.cancel()`, or the `signal` given to `submit`) or times out, with a
 * `CancelledError` or `TimeoutError` as its reason. An async task that checks it can stop
 * cleanly within `cancelGrace` and keep its worker warm. Kept per task with
 * `AsyncLocalStorage`, so it is right across `await`s and in concurrent
 * tasks (LocalPool). In every backend, also on `warmpool worker` hosts.
 *
 * @throws `Error` when called outside a running task.
 *
 * @example
 * ```ts
 * import { taskSignal } from 'warmpool/task';
 *
 * export async function download(url: string): Promise<string> {
 *   const res = await fetch(url, { signal: taskSignal() }); // stops when cancelled or timed out
 *   return res.text();
 * }
 * ```
 */
export function taskSignal(): AbortSignal {
  const ctx = storage.getStore();
  if (ctx === undefined) throw new Error('taskSignal() was called outside a warmpool task');
  return (ctx.controller ??= new AbortController()).signal;
}
