// The scheduler's record of one accepted task, from `submit` until its
// future settles. The Future is the user's view; this is the engine's.

import type { Future } from './future.js';
import type { TaskKind } from '../process/protocol.js';
import type { WorkerRecord } from '../process/worker.js';

export class Task {
  /** Until settled: where the task is. `queued`: in the queue; `sent`: in a worker's in-flight list. */
  where: 'queued' | 'sent' | 'gone' = 'queued';
  worker: WorkerRecord | undefined = undefined;
  /** performance.now() when a worker started it (as the scheduler sees it). */
  startedAt = 0;
  /** startedAt + timeout; Infinity when there is no timeout. */
  deadline = Infinity;
  runTime = 0;
  /** The run time it was expected to take when sent (ms; Infinity when unknown). */
  cost = 0;
  future!: Future<any>;
  onAbort: (() => void) | undefined = undefined;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly kind: TaskKind,
    public args: readonly unknown[],
    readonly priority: number,
    /** ms from the start of the task; Infinity when none. */
    readonly timeout: number,
    readonly signal: AbortSignal | undefined,
    readonly submittedAt: number,
  ) {}
}
