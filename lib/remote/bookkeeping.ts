// RemotePool's own task bookkeeping, until its engine moves onto the shared
// EngineCore (lib/core/engine-core.ts) as the other three backends have: the
// outage handling of issue 12 landed in lib/remote/engine.ts at the same time
// as the core, and was kept whole rather than rewritten in a hurry. What
// these do is what EngineCore does for the others.

import { futureInternals, type Future } from '../core/future.js';
import { Distribution, type PoolStats } from '../core/stats.js';

/** The fields of RemotePool's task record that these helpers use. */
export interface TrackedTask {
  where: string;
  args: readonly unknown[];
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  future: Future<any>;
}

const NO_ARGS: readonly unknown[] = Object.freeze([]);

/** An aborting signal cancels the task's future; false when it had aborted already (the future is then cancelled). */
export function watchSignal(task: TrackedTask): boolean {
  const signal = task.signal;
  if (signal === undefined) return true;
  const future = task.future;
  if (signal.aborted) {
    future.cancel();
    return false;
  }
  task.onAbort = () => future.cancel();
  signal.addEventListener('abort', task.onAbort, { once: true });
  return true;
}

/** Out of the engine's hands: marked gone, its arguments let go, its signal no longer watched. */
export function releaseTask(task: TrackedTask): void {
  if (task.where === 'gone') return;
  task.where = 'gone';
  task.args = NO_ARGS;
  if (task.onAbort !== undefined) {
    task.signal!.removeEventListener('abort', task.onAbort);
    task.onAbort = undefined;
  }
}

/** Outcome counts (disjoint) and run/wait time distributions. */
export class Outcomes {
  readonly counts = { completed: 0, failed: 0, cancelled: 0, timedOut: 0, crashed: 0 };
  readonly runTime = new Distribution();
  readonly waitTime = new Distribution();

  /** Settles a task that failed without running to an end of its own, counting it. */
  fail(task: TrackedTask, error: unknown, count: 'failed' | 'crashed'): void {
    if (task.future.done()) return releaseTask(task);
    this.counts[count]++;
    releaseTask(task);
    futureInternals.setException(task.future, error);
  }

  stats(workers: number, busy: number, idle: number, queued: number): PoolStats {
    return { workers, busy, idle, queued, ...this.counts, runTime: this.runTime.summary(), waitTime: this.waitTime.summary() };
  }
}
