// Types that tie a pool to its task module: `new ProcessPool<typeof tasks>(url)`
// checks task names, argument tuples and result types at compile time.

import type { Worker } from 'node:worker_threads';

type AnyFunction = (...args: any[]) => any;

/**
 * What `transfer` may list (ArrayBuffer, MessagePort, ...): whatever
 * `postMessage` transfers in the consumer's @types/node. Derived rather than
 * imported by name because the name moved: @types/node 20 to 24 export
 * `TransferListItem`, @types/node 26 only `Transferable`.
 */
export type TransferListItem = NonNullable<Parameters<Worker['postMessage']>[1]>[number];

/** Any module namespace or object of functions. Without a type argument a pool accepts any name. */
export type TaskModule = object;

/**
 * The names of the module's function exports. Written as the keys of a
 * filtered mapped type so that the compiler shows the resolved union of
 * names (`"add" | "fib" | ...`) in an error about a wrong name, not
 * `TaskName<typeof import(...)>`: test/consumer/ checks the message.
 */
// (`Extract<..., string>`: keyof a string index signature is `string | number`.)
export type TaskName<M> = Extract<keyof { [K in keyof M as M[K] extends AnyFunction ? K : never]-?: 0 }, string>;

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
