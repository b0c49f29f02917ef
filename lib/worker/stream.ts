// Running the tasks whose caller listens (streams, progress, two-way
// sessions) in a worker, whatever runtime carries their messages: each
// drives the task's body around its TaskChannel (./task-channel.ts, the
// protocol's state and the diagram of its messages). Also what a task of any
// kind goes through as it comes over the wire (runWireTask), and `submit` of
// a generator task (collectGenerator).
//
// docs/design.md, "Streams, progress and sessions: the credit protocol".

import { Status, TaskKind, TRACED } from '../core/contract.js';
import { runWithTraceContext, type TraceCarrier } from '../core/trace-context.js';
import { type TaskContext } from './context.js';
import { encodeError } from '../core/wire-error.js';
// A cycle (run.ts imports this file): these are function declarations, so they are there before either module runs.
import { isThenable, runTask, settleTask } from './run.js';
import { type AnyGenerator, TaskChannel } from './task-channel.js';
import type { AsyncLocalStorage } from 'node:async_hooks';

/** A generator or async generator object (what calling a `function*` or `async function*` gives). */
export function isGenerator(value: unknown): value is AnyGenerator {
  if (value === null || typeof value !== 'object' || typeof (value as { next?: unknown }).next !== 'function') return false;
  const tag = Object.prototype.toString.call(value);
  return tag === '[object Generator]' || tag === '[object AsyncGenerator]';
}

/**
 * Runs a stream task: calls `fn(...args)` in the task's context, checks it
 * made a generator, and drives it with `channel`. Resolves to the
 * generator's return value, or rejects with the task's error (or a failure
 * to send its values or progress); the channel is closed by then, so the
 * runtime may send the result at once. runWireTask settles it for the wire
 * (./run.ts settleTask); LocalPool, whose values and errors pass by
 * reference, takes the outcome as it is.
 */
export async function driveStreamTask(
  name: string,
  fn: (...args: unknown[]) => unknown,
  args: readonly unknown[],
  storage: AsyncLocalStorage<TaskContext> | undefined,
  ctx: TaskContext | undefined,
  channel: TaskChannel,
): Promise<unknown> {
  return withChannel(channel, ctx, () => {
    const gen = ctx === undefined ? fn(...args) : storage!.run(ctx, fn, ...args);
    if (!isGenerator(gen)) {
      throw new TypeError(
        `Expected \`${name}\` to be a generator function (pool.stream runs generator tasks), got a function that returned ${isThenable(gen) ? 'a promise' : typeof gen}`,
      );
    }
    return ctx === undefined ? channel.drive(gen) : storage!.run(ctx, () => channel.drive(gen));
  });
}

/**
 * Runs a task's body with its channel in its context, and closes the channel
 * when the body settles, before the result goes (so the last progress value
 * goes first). A value the channel could not send fails a body that
 * succeeded; a body's own error stands.
 */
export async function withChannel(channel: TaskChannel, ctx: TaskContext | undefined, body: () => unknown): Promise<unknown> {
  let value: unknown;
  try {
    channel.attach(ctx);
    value = await body();
  } catch (err) {
    channel.close();
    throw err;
  }
  const failure = channel.close();
  if (failure !== undefined) throw failure;
  return value;
}

/**
 * `submit` of a generator task: its values as an array. A synchronous
 * generator is read without an await (it is a synchronous task, stopped by
 * its worker's end on timeout); an async one stops at the task's signal,
 * closing the generator so its `finally` runs. Call it in the task's context.
 */
export function collectGenerator(gen: AnyGenerator, ctx: TaskContext | undefined): unknown[] | Promise<unknown[]> {
  const values: unknown[] = [];
  for (;;) {
    const step = gen.next();
    if (isThenable(step)) return collectAsync(gen as AsyncGenerator<unknown, unknown, undefined>, step, values, ctx);
    if (step.done) return values;
    values.push(step.value);
  }
}

async function collectAsync(
  gen: AsyncGenerator<unknown, unknown, undefined>,
  first: Promise<IteratorResult<unknown, unknown>>,
  values: unknown[],
  ctx: TaskContext | undefined,
): Promise<unknown[]> {
  let step = await first;
  while (!step.done) {
    values.push(step.value);
    const signal = ctx?.controller?.signal;
    if (signal?.aborted) {
      try {
        await gen.return(undefined);
      } catch {
        // The abort's reason is the outcome.
      }
      throw signal.reason;
    }
    step = await gen.next();
  }
  return values;
}

/**
 * Runs a call whose caller listens for progress (kind Progress, a `submit`
 * with `onProgress`): the channel is in the task's context while it runs,
 * and is closed before the result goes, so the last progress value reaches
 * the caller first. Leaves the result (or the encoded error) in `out.value`,
 * as runTask does.
 */
export async function runProgressTask(
  fn: (...args: unknown[]) => unknown,
  args: unknown[],
  storage: AsyncLocalStorage<TaskContext> | undefined,
  ctx: TaskContext | undefined,
  channel: TaskChannel,
  out: { value: unknown },
): Promise<Status> {
  channel.attach(ctx);
  const ran = runTask(fn, TaskKind.Call, args, storage, ctx, out);
  let status = typeof ran === 'number' ? ran : await ran;
  const failure = channel.close();
  if (failure !== undefined && status === Status.Ok) {
    out.value = encodeError(failure);
    status = Status.Error;
  }
  return status;
}

/**
 * Runs a task of any kind as it came over the wire: a call or a chunk
 * (runTask), a call with progress, or a stream task, each under the caller's
 * trace context when its kind carries TRACED (lib/core/transport.ts
 * wireKind). `open(highWaterMark)` makes the task's channel on the
 * transport's line to the caller. Shared by the process worker loop and the
 * thread entry.
 */
export function runWireTask(
  name: string,
  fn: (...args: unknown[]) => unknown,
  kind: TaskKind,
  args: unknown[],
  storage: AsyncLocalStorage<TaskContext> | undefined,
  ctx: TaskContext | undefined,
  open: (highWaterMark: number) => TaskChannel,
  out: { value: unknown },
): Status | Promise<Status> {
  if ((kind as number) >= TRACED) {
    const [carrier, inner] = args as unknown as [TraceCarrier, unknown[]];
    return runWithTraceContext(carrier, () => runWireTask(name, fn, (kind - TRACED) as TaskKind, inner, storage, ctx, open, out));
  }
  if (kind === TaskKind.Stream)
    return settleTask(driveStreamTask(name, fn, args[1] as unknown[], storage, ctx, open(args[0] as number)), out);
  // Progress travels on the channel ahead of the result.
  if (kind === TaskKind.Progress) return runProgressTask(fn, args, storage, ctx, open(1), out);
  return runTask(fn, kind, args, storage, ctx, out);
}
