// The task module `warmpool map` runs in its pool: a thin wrapper around the
// user's task. It parses each JSON line in the worker (the parent only moves
// strings), calls the task, and returns the result as a JSON string or the
// error as data, so one failing item is one error line and the map goes on.
//
// `setup(href, name, spread)` is the pool's initializer: it imports the
// user's module once per worker, and a missing export fails the pool's start
// (WorkerStartError with a TaskNotFoundError cause) before any item is read.
//
// Progress: run in map chunks, a task's `reportProgress()` has no line to the
// caller, so the wrapper puts a detector in the chunk's task context (when
// the task module loaded warmpool/task, the only way it can report) and
// flags the outcome of an item that reported; the command then runs the
// rest of the input one item per submit with `onProgress` (docs/cli.md,
// "Progress of each item").

import { TaskNotFoundError } from '../index.js';
import { errorInfo, type ErrorInfo } from './error-info.js';
import { findTask, type TaskFunction } from './load.js';
import { taskSlot, type TaskChannelLike } from '../worker/context.js';

/** An item: its input index and its line. */
export type Item = [index: number, line: string];
/**
 * An outcome: [index, result as JSON] or [index, null, error]; `reported`
 * is true when the task called `reportProgress()` while no caller listened
 * (a map chunk), since the last outcome this worker gave.
 */
export type Outcome =
  [index: number, json: string, error?: undefined, reported?: true] | [index: number, json: null, error: ErrorInfo, reported?: true];

let task: TaskFunction | undefined;
let spread = false;

/** The running task's context (set by the worker while task code runs; undefined when no module loaded warmpool/task). */
const slot = taskSlot();
let reported = false;
async function* noMessages(): AsyncGenerator<never, undefined> {}
/** Stands in for the channel a chunk does not have: notes that the task reports progress. */
const detector: TaskChannelLike = {
  progress() {
    reported = true;
  },
  messages: noMessages,
};

function flagged(outcome: Outcome): Outcome {
  if (reported) {
    reported = false;
    if (outcome.length === 2) outcome.push(undefined);
    outcome.push(true);
  }
  return outcome;
}

export async function setup(href: string, name: string, spreadArgs: boolean): Promise<void> {
  const found = await findTask(href, name);
  if (!('fn' in found)) throw new TaskNotFoundError(name, found.exports);
  task = found.fn;
  spread = spreadArgs;
}

function failed(index: number, error: unknown): Outcome {
  return flagged([index, null, errorInfo(error)]);
}

function succeeded(index: number, value: unknown): Outcome {
  let json: string;
  try {
    // JSON.stringify gives undefined for undefined (and functions, symbols).
    json = JSON.stringify(value) ?? 'null';
  } catch (error) {
    return failed(index, error);
  }
  return flagged([index, json]);
}

/** Runs the task on one item. Synchronous for synchronous tasks: no promise per item. */
export function run(item: Item): Outcome | Promise<Outcome> {
  const [index, line] = item;
  // A chunk's context has no channel; a submit with onProgress has its own, which stays.
  const ctx = slot.current;
  if (ctx !== undefined && ctx.channel === undefined) ctx.channel = detector;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return failed(
      index,
      new SyntaxError(`Expected a JSON value, got \`${line.length > 60 ? `${line.slice(0, 60)}…` : line}\`: ${(error as Error).message}`),
    );
  }
  let result: unknown;
  try {
    if (spread) {
      if (!Array.isArray(value))
        throw new TypeError(`Expected an array of arguments (--spread), got \`${line.length > 60 ? `${line.slice(0, 60)}…` : line}\``);
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
