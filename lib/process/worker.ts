// ProcessPool's record of one worker process. The handle is the adapter's;
// the rest is what the engine decides with.

import type { TaskRecord } from '../core/task.js';
import type { WorkerHandle } from './handle.js';

export type WorkerState =
  /** Spawned; importing the module and running the initializer. */
  | 'starting'
  /** Serving tasks. */
  | 'ready'
  /** Asked to exit by itself once idle (idle timeout, retirement, shutdown). */
  | 'closing'
  /** Terminated (timeout, cancel, start timeout); its exit is awaited. */
  | 'killed';

export class WorkerRecord {
  handle!: WorkerHandle;
  /** The process id, as `warmpool:worker` messages name it (-1 when the spawn failed). */
  id = -1;
  state: WorkerState = 'starting';
  /**
   * Tasks sent and not yet answered, in the order the worker runs them. The
   * first one is running; the others wait inside the worker.
   */
  readonly inflight: TaskRecord<WorkerRecord>[] = [];
  /** Expected run time of its in-flight tasks of known cost, ms. */
  aheadMs = 0;
  /** In-flight tasks of unknown cost: nothing is sent behind them. */
  aheadUnknown = 0;
  /** Tasks ever sent to it, for maxTasksPerWorker. */
  dispatched = 0;
  /** Takes no new tasks (maxTasksPerWorker reached); closes when its in-flight tasks are done. */
  retiring = false;
  refed = true;
  /** A task whose signal was aborted and that has `cancelGrace` ms to end before the worker is killed. */
  stopping: TaskRecord<WorkerRecord> | undefined = undefined;
  /** Killed by the pool to stop its running task (cancel, timeout), not dead by itself. */
  stoppedForTask = false;
  /** The error an uncaught exception reported just before the worker died. */
  fatal: unknown = undefined;
  /** One timer for the running task's deadline, re-armed lazily (see ProcessEngine.#armDeadline). */
  deadlineTimer: NodeJS.Timeout | undefined = undefined;
  deadlineTimerDue = Infinity;
  /** Idle timeout, close timeout or start timeout: never two at once. */
  timer: NodeJS.Timeout | undefined = undefined;

  /** Started, not retiring, not stopping a task: may be sent more. */
  takesTasks(): boolean {
    return this.state === 'ready' && !this.retiring && this.stopping === undefined;
  }

  /** Counts towards `workers`: not retiring, not on its way out. */
  counts(): boolean {
    return (this.state === 'starting' || this.state === 'ready') && !this.retiring;
  }

  addAhead(cost: number): void {
    if (cost === Infinity) this.aheadUnknown++;
    else this.aheadMs += cost;
  }

  removeAhead(cost: number): void {
    if (cost === Infinity) this.aheadUnknown--;
    else this.aheadMs -= cost;
    // Keep float sums from drifting: an empty list holds nothing.
    if (this.inflight.length === 0) {
      this.aheadMs = 0;
      this.aheadUnknown = 0;
    }
  }
}
