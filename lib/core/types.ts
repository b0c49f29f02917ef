// Types that tie a pool to its task module: `new ProcessPool<typeof tasks>(url)`
// checks task names, argument tuples and result types at compile time.

import type { Worker } from 'node:worker_threads';

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
