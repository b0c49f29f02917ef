// The seam between the engine core and a backend: the Transport a backend
// implements (./engine-core.ts calls it; see the diagram there), and what a
// transport uses to put a task on its wire: the batching limits and the
// measured run times they rest on (Costs, kept by the core), a task's
// kind and args as they cross, the error for arguments that cannot be sent.
// Apart from engine-core.ts because none of it is the task lifecycle: only
// transports read it.

import { TaskKind, TRACED } from './contract.js';
import { DataCloneError } from './errors.js';
import type { TaskRecord } from './task.js';

/** How much work, in ms of measured run time, a worker is sent ahead (process) or one run carries (thread). */
export const PIPELINE_MS = 2;
/** Most tasks in one message to a worker. */
export const MAX_BATCH = 256;

/**
 * Measured run time per task name (calls only): what the engines' batching
 * decisions rest on. A moving average, so a task that changes speed is
 * followed within a few calls.
 */
export class Costs {
  readonly #means = new Map<string, { mean: number }>();

  /** The mean run time of `name` in ms; Infinity when never measured. */
  of(name: string): number {
    return this.#means.get(name)?.mean ?? Infinity;
  }

  add(name: string, runTime: number): void {
    const cost = this.#means.get(name);
    if (cost === undefined) this.#means.set(name, { mean: runTime });
    else cost.mean += (runTime - cost.mean) * 0.2;
  }
}

/** A backend's workers as stats() reports them. */
export interface Occupancy {
  readonly workers: number;
  readonly busy: number;
  readonly idle: number;
  /** Tasks waiting, where the transport holds some beyond the core's queue (RemotePool: jobs no host has started); else the queue's size. */
  readonly queued?: number;
}

/** The backend's part of an engine. */
export interface Transport<S> {
  /** Workers to plan for (Engine.workers): the `workers` option. */
  readonly workers: number;
  /** Engine.ready(): resolves once the backend can run tasks (its `minWorkers` started, its module loaded, Redis reached), rejects with why it cannot. */
  ready(): Promise<void>;
  /** The workers now, for stats(). */
  occupancy(): Occupancy;
  /** Sends queued tasks toward workers. Runs once per microtask after a submit (and when `schedule` asks). */
  dispatch(): void;
  /** Accepted tasks no worker is free to take: what `maxQueued` bounds. Asked only when `maxQueued` is finite. */
  backlog(): number;
  /** A task was queued. False when the transport failed it at once (a standing start failure): nothing to dispatch. */
  accepted(task: TaskRecord<S>): boolean;
  /** cancel() of a queued task took it out of the queue. */
  dequeued(task: TaskRecord<S>): void;
  /** cancel() of a task that has left the queue; its future settles right after. */
  cancelSent(task: TaskRecord<S>, wasRunning: boolean): void;
  /** Tells a running task to stop (its `taskSignal()`); false when it cannot be told, and its worker is stopped at once. */
  abort(task: TaskRecord<S>, reason: 'cancel' | 'timeout'): boolean;
  /** Stops the worker running the task: `cancelGrace` is over, or the task could not be told. */
  kill(task: TaskRecord<S>, reason: 'cancel' | 'timeout'): void;
  /** shutdown(): cancel what the transport holds and has not started (with `cancelFutures`), and close what can close. */
  closing(cancelFutures: boolean): void;
  /**
   * A stream's message to its running task (lib/core/stream-protocol.ts,
   * ToTask). Throws, having sent nothing, when the message cannot be sent.
   * Only transports that carry streams have it.
   */
  toTask?(task: TaskRecord<S>, message: unknown[]): void;
}

/** A task's kind as it crosses to a worker: with TRACED when its args field carries `[carrier, args]` (see `wireArgs`). */
export function wireKind(task: TaskRecord<unknown>): number {
  return task.trace === undefined ? task.kind : task.kind + TRACED;
}

/** A task's args field as it crosses to a worker: its args, or `[carrier, args]` with a trace context. */
export function wireArgs(task: TaskRecord<unknown>): unknown {
  return task.trace === undefined ? task.args : [task.trace, task.args];
}

/**
 * A task's arguments could not be sent: names the argument that cannot be
 * (a failure path, so cost does not matter). `whyNot` says why a value
 * cannot be sent, or undefined if it can.
 */
export function argumentCloneError(
  task: TaskRecord<unknown>,
  err: unknown,
  to: string,
  whyNot: (value: unknown) => string | undefined,
): DataCloneError {
  const args = task.kind === TaskKind.Call ? task.args : [];
  for (let i = 0; i < args.length; i++) {
    const why = whyNot(args[i]);
    if (why !== undefined)
      return new DataCloneError(`Argument ${i} of task \`${task.name}\` cannot be sent to a ${to}: ${why}`, { cause: err });
  }
  return new DataCloneError(
    `The arguments of task \`${task.name}\` cannot be sent to a ${to}: ${err instanceof Error ? err.message : String(err)}`,
    {
      cause: err,
    },
  );
}
