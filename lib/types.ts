// Types that tie a pool to its task module: `new ProcessPool<typeof tasks>(url)`
// checks task names, argument tuples and result types at compile time.

import type { StreamOptions } from './options.js';
import type { TaskStream } from './stream.js';
import type { TaskMessages } from './task.js';

type AnyFunction = (...args: any[]) => any;

/** Any module namespace or object of functions. Without a type argument a pool accepts any name. */
export type TaskModule = object;

/** The names of the module's function exports. */
export type TaskName<M> = { [K in keyof M]-?: M[K] extends AnyFunction ? K : never }[keyof M] & string;

/** The parameter tuple of task `K`. */
export type TaskArgs<M, K extends TaskName<M>> = M[K] extends (...args: infer A) => any ? A : never;

/** What awaiting task `K` gives: its return value, unwrapped if it is a promise. */
export type TaskResult<M, K extends TaskName<M>> = M[K] extends (...args: any[]) => infer R ? Awaited<R> : never;

/** The item type `map` passes as the task's first (and only) argument. */
export type TaskItem<M, K extends TaskName<M>> = TaskArgs<M, K> extends [] ? undefined : TaskArgs<M, K>[0];

/** The default module type: any name, any arguments, unknown results. */
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
type LastParameter<P extends readonly unknown[]> = number extends P['length'] ? never : Required<P> extends readonly [...unknown[], infer L] ? L : never;

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
  stream<K extends StreamTaskName<M>>(
    name: K,
    ...argsAndOptions: ArgsAndOptions<StreamArgs<M, K>, StreamOptions>
  ): TaskStream<StreamValue<M, K>, StreamMessage<M, K>>;
}
