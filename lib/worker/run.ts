// Running a task inside a worker, shared by the process worker loop
// (lib/process/loop.ts), the thread entry (lib/thread/entry.ts) and LocalPool:
// importing the task module and running its initializer, calling a task or
// running a map chunk, with the task's context entered only when the module
// asked for it (./context.ts).

import type { AsyncLocalStorage } from 'node:async_hooks';
import { Status, TaskKind } from '../core/contract.js';
import { TaskNotFoundError } from '../core/errors.js';
import { encodeError } from '../core/wire-error.js';
import type { TaskContext } from './context.js';


export type Fn = (...args: unknown[]) => unknown;

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}


export type ChunkOutcome = { failed: false; results: unknown[] } | { failed: true; index: number; error: unknown };

/**
 * Runs a map chunk: `fn(item)` (or `fn(...item)` when `spread`) for each
 * item in order, stopping at the first that throws. Shared by the worker
 * loop and LocalPool.
 */
export async function runChunk(
  fn: Fn,
  items: unknown[],
  spread: boolean,
  storage: AsyncLocalStorage<TaskContext> | undefined,
  ctx: TaskContext | undefined,
): Promise<ChunkOutcome> {
  const results = new Array<unknown>(items.length);
  for (let i = 0; i < items.length; i++) {
    try {
      const item = items[i];
      let value: unknown;
      if (storage === undefined) value = spread ? fn(...(item as unknown[])) : fn(item);
      else value = spread ? storage.run(ctx!, fn, ...(item as unknown[])) : storage.run(ctx!, fn, item);
      if (isThenable(value)) value = await value;
      results[i] = value;
    } catch (error) {
      return { failed: true, index: i, error };
    }
  }
  return { failed: false, results };
}

/** Where runTask leaves the task's value: one object per loop, not one per task. */
export interface TaskOutput {
  value: unknown;
}

/**
 * Runs one task (a call or a map chunk) and leaves its result, or its error
 * encoded for the wire, in `out.value`; returns the status. A synchronous
 * call returns the status itself, not a promise: an await per task costs
 * microtask turns a warm round trip can feel. Used by the process worker loop
 * and the thread entry.
 */
export function runTask(
  fn: Fn,
  kind: TaskKind,
  args: unknown[],
  storage: AsyncLocalStorage<TaskContext> | undefined,
  ctx: TaskContext | undefined,
  out: TaskOutput,
): Status | Promise<Status> {
  if (kind !== TaskKind.Call) return runChunkTask(fn, kind, args, storage, ctx, out);
  let value: unknown;
  try {
    value = ctx === undefined ? fn(...args) : storage!.run(ctx, fn, ...args);
  } catch (err) {
    out.value = encodeError(err);
    return Status.Error;
  }
  if (isThenable(value)) return settleTask(value, out);
  out.value = value;
  return Status.Ok;
}

async function settleTask(pending: PromiseLike<unknown>, out: TaskOutput): Promise<Status> {
  try {
    out.value = await pending;
    return Status.Ok;
  } catch (err) {
    out.value = encodeError(err);
    return Status.Error;
  }
}

async function runChunkTask(
  fn: Fn,
  kind: TaskKind,
  args: unknown[],
  storage: AsyncLocalStorage<TaskContext> | undefined,
  ctx: TaskContext | undefined,
  out: TaskOutput,
): Promise<Status> {
  const res = await runChunk(fn, args, kind === TaskKind.StarChunk, storage, ctx);
  if (res.failed) {
    out.value = [res.index, encodeError(res.error)];
    return Status.ChunkError;
  }
  out.value = res.results;
  return Status.Ok;
}

/** Imports the task module and runs its initializer: a worker's start. */
export async function loadTaskModule(href: string, initializer: string | null, initArgs: readonly unknown[]): Promise<Record<string, unknown>> {
  const mod = (await import(href)) as Record<string, unknown>;
  if (initializer !== null) {
    const init = mod[initializer];
    if (typeof init !== 'function') throw new TaskNotFoundError(initializer, functionExports(mod));
    await (init as Fn)(...initArgs);
  }
  return mod;
}

export function functionExports(mod: object): string[] {
  return Object.keys(mod).filter((k) => typeof (mod as Record<string, unknown>)[k] === 'function');
}
