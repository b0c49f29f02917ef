// Types that tie a pool to its task module: `new ProcessPool<typeof tasks>(url)`
// checks task names, argument tuples and result types at compile time.

import type { Worker } from 'node:worker_threads';
import type { TaskMessages } from '../task.js';
import type { StreamOptions } from './options.js';
import type { TaskStream } from './stream.js';

/** @inline */
type AnyFunction = (...args: any[]) => any;

/**
 * What `transfer` may list (ArrayBuffer, MessagePort, ...): whatever
 * `postMessage` transfers in the consumer's @types/node. Derived rather than
 * imported by name because the name moved: @types/node 20 to 24 export
 * `TransferListItem`, @types/node 26 only `Transferable`.
 *
 * @group Options
 */
export type TransferListItem = NonNullable<Parameters<Worker['postMessage']>[1]>[number];

/**
 * What a pool's type argument may be: a module namespace
 * (`typeof import('./tasks.js')`) or an object of functions. Its function
 * properties are the tasks; other exports are not.
 *
 * @group Task typing
 */
export type TaskModule = object;

/**
 * The names of the module's function exports: what `submit` and the map family accept as `name`.
 *
 * Written as the keys of a filtered mapped type so that the compiler shows the
 * resolved union of names (`"add" | "fib" | ...`) in an error about a wrong
 * name, not `TaskName<typeof import(...)>` (test/consumer/ checks the message).
 * `Extract<..., string>`: keyof a string index signature is `string | number`.
 *
 * @group Task typing
 */
export type TaskName<M> = Extract<keyof { [K in keyof M as M[K] extends AnyFunction ? K : never]-?: 0 }, string>;

/**
 * The parameter tuple of task `K`: what `submit` takes as `args`, and `starmap` as each item.
 *
 * @group Task typing
 */
export type TaskArgs<M, K extends TaskName<M>> = M[K] extends (...args: infer A) => any ? A : never;

/**
 * What awaiting task `K` gives: its return value, unwrapped if it is a promise.
 *
 * @group Task typing
 */
export type TaskResult<M, K extends TaskName<M>> = M[K] extends (...args: any[]) => infer R ? Awaited<R> : never;

/**
 * The item type of `map`, `imap` and `imapUnordered`: the task's first (and only) argument.
 *
 * @group Task typing
 */
export type TaskItem<M, K extends TaskName<M>> = TaskArgs<M, K> extends [] ? undefined : TaskArgs<M, K>[0];

/**
 * The module type of a pool made without a type argument: any name, any arguments, `any` results.
 *
 * @group Task typing
 */
export type AnyTasks = Record<string, AnyFunction>;

/** `args` may be left out only when the task takes no required argument. */
export type ArgsAndOptions<A extends readonly unknown[], O> = [] extends A ? [args?: A, options?: O] : [args: A, options?: O];

// ── streaming tasks (pool.stream) ─────────────────────────────────────────

type AnyGeneratorObject = Generator<any, any, any> | AsyncGenerator<any, any, any>;

/** The names of the module's generator tasks (sync or async): what `pool.stream` runs. */
export type StreamTaskName<M> = { [K in keyof M]-?: M[K] extends (...args: any[]) => AnyGeneratorObject ? K : never }[keyof M] & string;

/** The type task `K` yields: what its stream gives. */
export type StreamValue<M, K extends StreamTaskName<M>> = M[K] extends (...args: any[]) => infer R
  ? 0 extends 1 & R
    ? any // an untyped pool: any values
    : R extends Generator<infer Y, any, any>
      ? Y
      : R extends AsyncGenerator<infer Y, any, any>
        ? Y
        : never
  : never;

/** The last parameter of `P`, if P has a fixed length. */
type LastParameter<P extends readonly unknown[]> = number extends P['length']
  ? never
  : Required<P> extends readonly [...unknown[], infer L]
    ? L
    : never;

/**
 * The messages task `K` takes through `TaskStream.send`: the `S` of a last
 * parameter declared `messages = taskMessages<S>()` (`TaskMessages<S>`), or
 * `never` when it declares none, so that `send` does not compile for a task
 * that reads no messages.
 */
export type StreamMessage<M, K extends StreamTaskName<M>> = M[K] extends (...args: infer P) => infer R
  ? 0 extends 1 & R
    ? any // an untyped pool: any message
    : [NonNullable<LastParameter<P>>] extends [never]
      ? never
      : NonNullable<LastParameter<P>> extends TaskMessages<infer S>
        ? S
        : never
  : never;

/** The arguments the caller gives task `K`: its parameters without a last `TaskMessages` one (the task's own). */
export type StreamArgs<M, K extends StreamTaskName<M>> = M[K] extends (...args: infer P) => any
  ? [NonNullable<LastParameter<P>>] extends [never]
    ? P
    : NonNullable<LastParameter<P>> extends TaskMessages<any>
      ? P extends readonly [...infer Head, unknown?]
        ? Head
        : P
      : P
  : never;

/**
 * `pool.stream`, typed by the task module: the name must be a generator
 * task, `args` its parameters (without a last `TaskMessages` one), the
 * stream's values its yielded type, `send` its message type. Every pool
 * implements it once the engine core carries streams (issue 13).
 */
export interface StreamingExecutor<M extends object = AnyTasks> {
  /** Runs generator task `name(...args)` and gives its values as they come (see `Executor.stream`). */
  stream<K extends StreamTaskName<M>>(
    name: K,
    ...argsAndOptions: ArgsAndOptions<StreamArgs<M, K>, StreamOptions>
  ): TaskStream<StreamValue<M, K>, StreamMessage<M, K>>;
}
