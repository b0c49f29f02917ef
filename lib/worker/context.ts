// The per-task context shared by the worker loops and `warmpool/task`,
// without switching it on: only loading ./task.ts (what a task module
// imports to ask for its signal) creates the AsyncLocalStorage. The worker
// loops import this module instead, so that a task module that never asks
// pays nothing for AsyncLocalStorage, whose promise hooks cost every await
// on Node 20.

import type { AsyncLocalStorage } from 'node:async_hooks';

/** @internal Per running task; the controller is made on the first taskSignal() call. */
export interface TaskContext {
  controller: AbortController | undefined;
  /**
   * The task's line to its caller (./worker/stream.ts), when the caller
   * listens: a stream task, or a task submitted with `onProgress`. Worker
   * loops make contexts with `channel: undefined` so that every context has
   * one shape.
   */
  channel?: TaskChannelLike | undefined;
}

/** What `reportProgress()` and `taskMessages()` use of the running task's channel. */
export interface TaskChannelLike {
  progress(value: unknown): void;
  messages(): AsyncIterableIterator<unknown, undefined>;
}

/** The global symbol the storage is kept on, so that two copies of warmpool (the worker's and the task module's) share it. */
export const TASK_CONTEXT_KEY = Symbol.for('warmpool.taskContext');

/** @internal The storage if a task module has loaded `warmpool/task`, else undefined. */
export function existingTaskStorage(): AsyncLocalStorage<TaskContext> | undefined {
  return (globalThis as { [TASK_CONTEXT_KEY]?: AsyncLocalStorage<TaskContext> })[TASK_CONTEXT_KEY];
}

/**
 * The context of the task whose synchronous code is running right now, set
 * by the worker around each call into task code (the task function, each
 * step of a generator) and cleared after it. While a call runs, nothing else
 * runs in the thread, so this is exactly what `storage.getStore()` would
 * give, without its cost (9 ns a call on Node 20, 48 ns on Node 24:
 * `node dist/bench/progress.js`); `reportProgress` in a synchronous hot loop
 * reads it. Outside such a call (after an await) it is undefined and
 * `getStore()` answers. On a global symbol, as the storage, so that two
 * copies of warmpool share it.
 */
export interface TaskSlot {
  current: TaskContext | undefined;
}

export const TASK_SLOT_KEY = Symbol.for('warmpool.taskSlot');

export function taskSlot(): TaskSlot {
  const g = globalThis as { [TASK_SLOT_KEY]?: TaskSlot };
  return (g[TASK_SLOT_KEY] ??= { current: undefined });
}
