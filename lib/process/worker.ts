// ProcessPool's record of one worker process. The handle is the adapter's;
// the rest is what the engine decides with.

import { performance } from 'node:perf_hooks';
import { argumentCloneError, wireArgs, wireKind } from '../core/transport.js';
import { serializeFailure } from '../core/wire-error.js';
import { MAX_TIMER_MS } from '../core/options.js';
import type { WorkerExitReason } from '../core/diagnostics.js';
import type { TaskRecord } from '../core/task.js';
import type { WorkerHandle } from './handle.js';
import { ToWorker } from './protocol.js';

/** How long a closing worker has to exit by itself before it is killed. */
const CLOSE_KILL_MS = 5000;

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
  /** Why the pool let it go, for the `exit` message; unset: it died of itself (a crash). The first reason given stands. */
  exitReason: WorkerExitReason | undefined = undefined;
  /** The error an uncaught exception reported just before the worker died. */
  fatal: unknown = undefined;
  /**
   * It said it was exiting by itself (FromWorker.Exiting or Fatal) after
   * sending every result it held: its head is the task that was running.
   * Unset at an exit, it died without a word (a signal, out of memory) and
   * results it held may be lost with it.
   */
  told = false;
  /**
   * The parent's performance.now() minus the worker's, as far as known: the
   * least (arrival − sentAt) over its messages, so the true offset plus the
   * quickest delivery seen. Both clocks are the same monotonic clock, so the
   * true offset does not drift.
   */
  clockOffset = Infinity;
  /** One timer for the running task's deadline, re-armed lazily (see armDeadline below). */
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

  /** Terminates the process (a synchronous loop too); false when it was already. Its exit follows. */
  kill(): boolean {
    if (this.state === 'killed') return false;
    this.state = 'killed';
    clearTimeout(this.timer);
    this.timer = undefined;
    this.handle.terminate();
    return true;
  }

  /** Asks an idle worker to exit; `kill` runs if it has not within CLOSE_KILL_MS. False when it was closing or killed already. */
  close(kill: () => void): boolean {
    if (this.state === 'killed' || this.state === 'closing') return false;
    this.state = 'closing';
    clearTimeout(this.timer);
    this.handle.close();
    // A worker whose event loop is stuck would never exit by itself.
    this.timer = setTimeout(kill, CLOSE_KILL_MS);
    this.timer.unref();
    return true;
  }

  trySend(msg: unknown[]): void {
    try {
      this.handle.send(msg);
    } catch {
      // Only task values can fail to serialize; a dead channel shows up as an exit.
    }
  }

  /** Whether this worker keeps the parent's event loop alive. */
  holdLoop(want: boolean): void {
    if (want === this.refed) return;
    this.refed = want;
    if (want) this.handle.ref();
    else this.handle.unref();
  }

  /**
   * One timer per worker. Re-arming it for every task would cost a timer per
   * task; instead a timer due later than the new deadline is replaced, and
   * one due earlier re-checks and re-arms itself when it fires.
   */
  armDeadline(deadline: number, onFire: (w: WorkerRecord) => void): void {
    if (this.deadlineTimer !== undefined && this.deadlineTimerDue <= deadline) return;
    clearTimeout(this.deadlineTimer);
    this.deadlineTimerDue = deadline;
    // A deadline past what a timer can wait is re-checked when the capped timer fires.
    this.deadlineTimer = setTimeout(
      () => {
        this.deadlineTimer = undefined;
        this.deadlineTimerDue = Infinity;
        onFire(this);
      },
      Math.min(MAX_TIMER_MS, Math.max(0, deadline - performance.now())),
    );
    this.deadlineTimer.unref();
  }

  /**
   * A batch failed to serialize: find the tasks whose values cannot be sent
   * and return only those, with their errors. Rare, so it may be slow.
   */
  sendOneByOne(tasks: TaskRecord<WorkerRecord>[], batchError: unknown): [TaskRecord<WorkerRecord>, Error][] {
    const failed: [TaskRecord<WorkerRecord>, Error][] = [];
    for (const task of tasks) {
      try {
        this.handle.send([ToWorker.Run, task.id, task.name, wireKind(task), wireArgs(task)]);
        this.inflight.push(task);
        this.addAhead(task.cost);
      } catch (err) {
        failed.push([task, argumentCloneError(task, err ?? batchError, 'worker', serializeFailure)]);
      }
    }
    return failed;
  }
}
