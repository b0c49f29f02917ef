// Running a task inside a worker, shared by the process worker loop
// (lib/process/loop.ts), the thread entry (lib/thread/entry.ts) and LocalPool:
// importing the task module (with the fix in the message of the import errors
// a new user meets) and running its initializer, calling a task or running a
// map chunk, with the task's context entered only when the module asked for
// it (./context.ts).

import type { AsyncLocalStorage } from 'node:async_hooks';
import { fileURLToPath } from 'node:url';
import { Status, TaskKind, TRACED } from '../core/contract.js';
import { runWithTraceContext, type TraceCarrier } from '../core/trace-context.js';
import { TaskNotFoundError } from '../core/errors.js';
import { childProcess } from '../core/builtins.js';
import { encodeError } from '../core/wire-error.js';
import { enableCompileCache, flushCompileCache } from './compile-cache.js';
import { taskSlot, type TaskContext } from './context.js';
import { collectGenerator, isGenerator } from './stream.js';

export type Fn = (...args: unknown[]) => unknown;

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function'
  );
}

/** See context.ts: the context of the task whose synchronous code runs now. */
const TASK_SLOT = taskSlot();

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
      else {
        const before = TASK_SLOT.current;
        TASK_SLOT.current = ctx;
        try {
          value = spread ? storage.run(ctx!, fn, ...(item as unknown[])) : storage.run(ctx!, fn, item);
        } finally {
          TASK_SLOT.current = before;
        }
      }
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
  if ((kind as number) >= TRACED) {
    // [carrier, args] (lib/core/engine-core.ts wireArgs): the task, and every
    // span it makes, joins the caller's trace.
    const [carrier, inner] = args as unknown as [TraceCarrier, unknown[]];
    return runWithTraceContext(carrier, () => runTask(fn, (kind - TRACED) as TaskKind, inner, storage, ctx, out));
  }
  if (kind !== TaskKind.Call) return settleChunk(runChunk(fn, args, kind === TaskKind.StarChunk, storage, ctx), out);
  let value: unknown;
  try {
    if (ctx === undefined) {
      value = fn(...args);
      // `submit` of a generator task gives the array of its values.
      if (isGenerator(value)) value = collectGenerator(value, undefined);
    } else {
      const before = TASK_SLOT.current;
      TASK_SLOT.current = ctx;
      try {
        value = storage!.run(ctx, fn, ...args);
        if (isGenerator(value)) value = storage!.run(ctx, collectGenerator, value, ctx);
      } finally {
        TASK_SLOT.current = before;
      }
    }
  } catch (err) {
    out.value = encodeError(err);
    return Status.Error;
  }
  if (isThenable(value)) return settleTask(value, out);
  out.value = value;
  return Status.Ok;
}

/**
 * A task's promise settled into `out`, as runTask leaves a synchronous one:
 * the value and Ok, or the encoded error and Error. Also how runWireTask
 * ends a stream task.
 */
export async function settleTask(pending: PromiseLike<unknown>, out: TaskOutput): Promise<Status> {
  try {
    out.value = await pending;
    return Status.Ok;
  } catch (err) {
    out.value = encodeError(err);
    return Status.Error;
  }
}

/** A map chunk's outcome settled into `out`: its results and Ok, or [index, encoded error] and ChunkError. */
async function settleChunk(pending: Promise<ChunkOutcome>, out: TaskOutput): Promise<Status> {
  const res = await pending;
  if (res.failed) {
    out.value = [res.index, encodeError(res.error)];
    return Status.ChunkError;
  }
  out.value = res.results;
  return Status.Ok;
}

/** Imports the task module and runs its initializer: a worker's start. */
export async function loadTaskModule(
  href: string,
  initializer: string | null,
  initArgs: readonly unknown[],
): Promise<Record<string, unknown>> {
  enableCompileCache();
  const mod = await importTaskModule(href);
  await runInitializer(mod, initializer, initArgs, describeModule(href));
  flushCompileCache();
  return mod;
}

/** The module as a user wrote it: a path for a file: URL. */
export function describeModule(href: string): string {
  return href.startsWith('file:') ? fileURLToPath(href) : href;
}

/**
 * Runs the initializer named in the options. A name that is not a function
 * export is the pool's start failing (ready() rejects), said in words that
 * name the option, not the first task.
 */
export async function runInitializer(
  mod: Record<string, unknown>,
  initializer: string | null,
  initArgs: readonly unknown[],
  where: string,
): Promise<void> {
  if (initializer === null) return;
  const init = mod[initializer];
  if (typeof init !== 'function' || isClass(init)) {
    const names = functionExports(mod);
    throw new TypeError(
      `initializer \`${initializer}\` is not a function exported by ${where}; ` +
        (names.length > 0 ? `its function exports are: ${names.join(', ')}` : 'it has no function exports'),
    );
  }
  await (init as Fn)(...initArgs);
}

const TS_EXTENSION = /\.[cm]?tsx?$/;

/**
 * `import(href)`, with the fix in the message of the import errors a new user
 * meets: a syntax error names its file:line:column (Node 20 leaves the place
 * out of the error an import rejects with; it prints it only for an uncaught
 * one), and a TypeScript module without a loader says how to add one.
 */
export async function importTaskModule(href: string): Promise<Record<string, unknown>> {
  try {
    return (await import(href)) as Record<string, unknown>;
  } catch (err) {
    throw explainImportError(err, href);
  }
}

function explainImportError(err: unknown, href: string): unknown {
  if (!(err instanceof Error) || !href.startsWith('file:')) return err;
  const path = fileURLToPath(href);
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && TS_EXTENSION.test(path)) {
    return new TypeError(
      `Cannot import the TypeScript module ${path} without a TypeScript loader: start Node with one (\`node --import tsx main.ts\`), ` +
        "and the pool passes it on, as it passes the parent's module-loading flags (--import, --require, --loader, --experimental-*) to every worker; " +
        "or give the pool `execArgv: ['--import', 'tsx']`, or point it at the compiled .js file",
      { cause: err },
    );
  }
  if (err instanceof SyntaxError && !/^\S+:\d+/.test(err.stack ?? '')) {
    const place = syntaxErrorPlace(path);
    if (place !== undefined) {
      const located = new SyntaxError(`${err.message} (at ${place})`, { cause: err });
      located.stack = `${place}\n${err.stack ?? ''}`;
      return located;
    }
  }
  return err;
}

/**
 * file:line:column of the syntax error in `path`, from `node --check`, which
 * prints the line and a caret under the column. A failure path only: the
 * error may be in a module the task module imports, and then the check
 * passes and nothing is added.
 */
function syntaxErrorPlace(path: string): string | undefined {
  const res = childProcess().spawnSync(process.execPath, ['--check', path], { encoding: 'utf8', timeout: 10_000 });
  if (res.status === 0 || typeof res.stderr !== 'string') return undefined;
  const lines = res.stderr.split('\n');
  const at = /^(.*):(\d+)$/.exec(lines[0] ?? '');
  if (at === null) return undefined;
  const caret = (lines[2] ?? '').indexOf('^');
  return `${at[1]}:${at[2]}${caret >= 0 ? `:${caret + 1}` : ''}`;
}

/**
 * A class is not a task: calling one throws. Its `prototype` is read-only,
 * where an ordinary function's is writable (arrows and methods have none);
 * built-in constructors (an exported `Map`) are caught the same way.
 */
function isClass(fn: object): boolean {
  return Object.getOwnPropertyDescriptor(fn, 'prototype')?.writable === false;
}

/** The exports that can be tasks: functions, not classes. */
export function functionExports(mod: object): string[] {
  return Object.keys(mod).filter((k) => {
    const v = (mod as Record<string, unknown>)[k];
    return typeof v === 'function' && !isClass(v);
  });
}

/**
 * No task of that name. A module whose tasks are keys of a default-exported
 * object (`export default { resize }`) gets told that tasks are named
 * exports, with the keys it has.
 */
export function taskNotFound(name: string, mod: object): TaskNotFoundError {
  const fallback = (mod as Record<string, unknown>).default;
  let hint: string | undefined;
  if (typeof fallback === 'object' && fallback !== null) {
    const keys = Object.keys(fallback);
    hint =
      `tasks are named function exports (\`export function ${name}(...)\`), not keys of the default export; ` +
      `the default export is an object with ${keys.length > 0 ? `keys ${keys.map((k) => `\`${k}\``).join(', ')}` : 'no keys'}`;
  }
  return new TaskNotFoundError(name, functionExports(mod), hint);
}
