// How a task's end is told: a worker's status read back into a value or an
// error, and a finished task's future settled with it (counted, published on
// `warmpool:task`, through its channel when it has one). Apart from
// ./engine-core.ts, which decides when a task ends (finish, cancel, timeout,
// fail) and calls these; nothing here touches the queue or the transport.

import { performance } from 'node:perf_hooks';
import { deserialize } from 'node:v8';
import { ChunkFailure, Status } from './contract.js';
import { publishTaskEnd, type TaskOutcome } from './diagnostics.js';
import { DataCloneError } from './errors.js';
import { futureInternals } from './future.js';
import type { TaskRecord } from './task.js';
import { decodeError } from './wire-error.js';

export type FailureCount = 'failed' | 'crashed' | 'timedOut';

/** Outcome counts (disjoint), behind stats(). */
export type OutcomeCounts = Record<'completed' | 'cancelled' | FailureCount, number>;

/** The `warmpool:task` outcome of each count. */
export const OUTCOME: Readonly<Record<FailureCount, TaskOutcome>> = { failed: 'rejected', crashed: 'crashed', timedOut: 'timedOut' };

/** A result as the wire gave it, read: a value, or an error and how it counts (undefined: `failed`). */
export type ReadResult = { ok: true; value: unknown } | { ok: false; error: unknown; count: FailureCount | undefined };

/**
 * Reads a worker's result (./wire-error.ts for errors). An error counts as
 * `countOf` says (RemotePool: a host's timeouts and crashes), else `failed`;
 * a serialized result that cannot be read back fails the task.
 */
export function readResult(name: string, status: Status, value: unknown, countOf?: (error: unknown) => FailureCount): ReadResult {
  switch (status) {
    case Status.Ok:
      return { ok: true, value };
    case Status.Serialized:
      try {
        return { ok: true, value: deserialize(value as Uint8Array) };
      } catch (err) {
        return {
          ok: false,
          error: new DataCloneError(`The result of task \`${name}\` could not be read back: ${String(err)}`, { cause: err }),
          count: 'failed',
        };
      }
    case Status.ChunkError: {
      const [index, wire] = value as [number, unknown];
      const error = decodeError(wire);
      return { ok: false, error: new ChunkFailure(index, error), count: countOf?.(error) };
    }
    default: {
      const error = decodeError(value);
      return { ok: false, error, count: countOf?.(error) };
    }
  }
}

/** `error` (but for `'fulfilled'`) and `asyncEnd`, just before the future settles; free when nobody listened at `submit`. */
export function publishEnd(task: TaskRecord<unknown>, outcome: TaskOutcome, error: unknown, runTime?: number): void {
  const message = task.diag;
  if (message === undefined) return;
  const now = performance.now();
  const ran = runTime ?? (task.startedAt === 0 ? 0 : now - task.startedAt);
  publishTaskEnd(message, outcome, ran, error, now - task.submittedAt);
}

/**
 * Fulfils a finished task's future. A task with a channel settles through
 * it: after the progress and stream values its worker sent before the
 * result (`sent` of them, when they travel apart from results) have been
 * delivered.
 */
export function fulfilTask(counts: OutcomeCounts, task: TaskRecord<unknown>, value: unknown, sent?: number): void {
  const channel = task.channel;
  if (channel === undefined) {
    counts.completed++;
    publishEnd(task, 'fulfilled', undefined, task.runTime);
    futureInternals.setResult(task.future, value);
  } else
    // Counted when it settles: a cancel() while the channel delivers (the
    // callback then never runs) counts as the cancel alone.
    channel.finish(undefined, sent, () => {
      counts.completed++;
      publishEnd(task, 'fulfilled', undefined, task.runTime);
      futureInternals.setResult(task.future, value);
      channel.stream?.exited();
    });
}

/** Rejects a finished task's future with its own error (through its channel, as fulfilTask). */
export function rejectTask(counts: OutcomeCounts, task: TaskRecord<unknown>, error: unknown, count: FailureCount, sent?: number): void {
  const channel = task.channel;
  if (channel === undefined) {
    counts[count]++;
    publishEnd(task, OUTCOME[count], error, task.runTime);
    futureInternals.setException(task.future, error);
  } else
    channel.finish(error, sent, () => {
      counts[count]++;
      publishEnd(task, OUTCOME[count], error, task.runTime);
      futureInternals.setException(task.future, error);
      channel.stream?.exited();
    });
}
