// The scheduler's record of one worker. The handle is the runtime's; the
// rest is what the scheduler decides with.

import type { WorkerHandle } from './handle.js';
import type { Task } from '../core/task.js';

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
  state: WorkerState = 'starting';
  /**
   * Tasks sent and not yet answered, in the order the worker runs them. The
   * first one is running; the others wait inside the worker.
   */
  readonly inflight: Task[] = [];
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
  stopping: Task | undefined = undefined;
  /** Killed by the pool to stop its running task (cancel, timeout), not dead by itself. */
  stoppedForTask = false;
  /** The error an uncaught exception reported just before the worker died. */
  fatal: unknown = undefined;
  /** One timer for the running task's deadline, re-armed lazily (see Scheduler.#armDeadline). */
  deadlineTimer: NodeJS.Timeout | undefined = undefined;
  deadlineTimerDue = Infinity;
  /** Idle timeout, cancel grace or start timeout: never two at once. */
  timer: NodeJS.Timeout | undefined = undefined;
}
