// The task module `warmpool map` runs in its pool: a thin wrapper around the
// user's task. It parses each JSON line in the worker (the parent only moves
// strings), calls the task, and returns the result as a JSON string or the
// error as data, so one failing item is one error line and the map goes on.
//
// `setup(href, name, spread)` is the pool's initializer: it imports the
// user's module once per worker, and a missing export fails the pool's start
// (WorkerStartError with a TaskNotFoundError cause) before any item is read.

import { TaskNotFoundError } from '../index.js';
import { errorInfo, type ErrorInfo } from './error-info.js';
import { findTask, type TaskFunction } from './load.js';

/** An item: its input index and its line. */
export type Item = [index: number, line: string];
/** An outcome: [index, result as JSON] or [index, null, error]. */
export type Outcome = [index: number, json: string] | [index: number, json: null, error: ErrorInfo];

let task: TaskFunction | undefined;
let spread = false;

export async function setup(href: string, name: string, spreadArgs: boolean): Promise<void> {
  const found = await findTask(href, name);
  if (!('fn' in found)) throw new TaskNotFoundError(name, found.exports);
  task = found.fn;
  spread = spreadArgs;
}

function failed(index: number, error: unknown): Outcome {
  return [index, null, errorInfo(error)];
}

function succeeded(index: number, value: unknown): Outcome {
  try {
    // JSON.stringify gives undefined for undefined (and functions, symbols).
    return [index, JSON.stringify(value) ?? 'null'];
  } catch (error) {
    return failed(index, error);
  }
}

/** Runs the task on one item. Synchronous for synchronous tasks: no promise per item. */
export function run(item: Item): Outcome | Promise<Outcome> {
  const [index, line] = item;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return failed(index, new SyntaxError(`Expected a JSON value, got \`${line.length > 60 ? `${line.slice(0, 60)}…` : line}\`: ${(error as Error).message}`));
  }
  let result: unknown;
  try {
    if (spread) {
      if (!Array.isArray(value)) throw new TypeError(`Expected an array of arguments (--spread), got \`${line.length > 60 ? `${line.slice(0, 60)}…` : line}\``);
      result = task!(...(value as unknown[]));
    } else {
      result = task!(value);
    }
  } catch (error) {
    return failed(index, error);
  }
  if (result !== null && typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
    return Promise.resolve(result).then(
      (v) => succeeded(index, v),
      (error) => failed(index, error),
    );
  }
  return succeeded(index, result);
}
