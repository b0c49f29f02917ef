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
}

/** The global symbol the storage is kept on, so that two copies of warmpool (the worker's and the task module's) share it. */
export const TASK_CONTEXT_KEY = Symbol.for('warmpool.taskContext');

/** @internal The storage if a task module has loaded `warmpool/task`, else undefined. */
export function existingTaskStorage(): AsyncLocalStorage<TaskContext> | undefined {
  return (globalThis as { [TASK_CONTEXT_KEY]?: AsyncLocalStorage<TaskContext> })[TASK_CONTEXT_KEY];
}
