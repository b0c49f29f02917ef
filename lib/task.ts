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
import { TASK_CONTEXT_KEY as KEY, taskSlot, type TaskContext } from './worker/context.js';

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
const slot = taskSlot();

/**
 * Sends `value` (any structured-clone value) to the caller's `onProgress`.
 * Cheap enough for a hot loop: a call stores the value in one pending slot,
 * and a message goes at most every few ms (docs/design.md), the last value
 * always before the task's result. Outside a task, or in a task whose caller
 * gave no `onProgress`, it does nothing.
 */
export function reportProgress(value: unknown): void {
  // The slot is set while the task's synchronous code runs (a hot loop);
  // after an await, the storage knows.
  const channel = (slot.current ?? storage.getStore())?.channel;
  if (channel !== undefined) channel.progress(value);
}

declare const messagesOf: unique symbol;

/**
 * What `taskMessages<M>()` returns: the messages the caller sends with
 * `TaskStream.send()`, in order. Declaring it as a parameter of a generator
 * task tells the caller's types which messages the task takes, so `send` of
 * another type does not compile:
 *
 * ```ts
 * export async function* settings(initial: Config, edits = taskMessages<Edit>()) {
 *   let config = initial;
 *   for await (const edit of edits) yield (config = apply(config, edit));
 * }
 * ```
 *
 * The parameter is the task's own: the caller's `args` stop before it.
 */
export interface TaskMessages<M> extends AsyncIterableIterator<M, undefined> {
  /** Type only: never set. */
  readonly [messagesOf]?: M;
}

/**
 * The messages the caller sends with `TaskStream.send()`, in order, as an
 * async iterable that ends after the caller's `end()`, or when the task is
 * cancelled or times out. One iterator per task: leaving a loop over it
 * early does not end the messages, and a later call goes on where it left.
 * Each message read makes room in the task's window of `highWaterMark`
 * messages, which is what a waiting `send()` is waiting for. In a task the
 * caller cannot send to (a `submit`), it ends at once. Throws when called
 * outside a task.
 */
export function taskMessages<M = unknown>(): TaskMessages<M> {
  const ctx = slot.current ?? storage.getStore();
  if (ctx === undefined) throw new Error('taskMessages() was called outside a warmpool task');
  return (ctx.channel?.messages() ?? noMessages()) as TaskMessages<M>;
}

async function* noMessages(): AsyncGenerator<never, undefined> {}
