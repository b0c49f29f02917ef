// The engine's record of one accepted task, from `submit` until its future
// settles. The Future is the user's view; this is the engine's, and it is the
// future's owner: cancel() reaches the engine through it.
//
//   queued ──(transport sends it)──▶ sent ──(result, failure, cancel, timeout)──▶ gone
//     │                               │
//     └──────── cancel ───────────────┴──▶ gone
//
// `where` moves only through EngineCore (lib/core/engine-core.ts): `release`
// is the one way to `gone`, and it also lets go of the arguments and the
// signal listener. What a backend adds lives in `slot`: the worker (process),
// the run (thread), the running call (local) or the job (remote).

import type { CallerChannel } from './caller-channel.js';
import type { TaskKind } from './contract.js';
import type { TaskMessage } from './diagnostics.js';
import type { CancelledError } from './errors.js';
import type { TraceCarrier } from './trace-context.js';
import type { Future, FutureOwner } from './future.js';

export type TaskWhere = 'queued' | 'sent' | 'gone';

/** What a task record tells its engine core. */
export interface TaskOwner<S> {
  cancel(task: TaskRecord<S>, wasRunning: boolean, error: CancelledError): void;
}

export class TaskRecord<S> implements FutureOwner {
  where: TaskWhere = 'queued';
  /** The backend's hold on the task once it left the queue (a worker, a run, a job). */
  slot: S | undefined = undefined;
  /** Its place in the slot's batch (ThreadPool). */
  index = 0;
  /** performance.now() when a worker started it, as the engine sees it; 0 before. */
  startedAt = 0;
  /** startedAt + timeout; Infinity when there is no timeout. */
  deadline = Infinity;
  /** Measured in the worker, ms. */
  runTime = 0;
  /** The run time it was expected to take when sent (ms; Infinity when unknown). */
  cost = 0;
  /** Never batched again: one of its values could not be sent in a batch. */
  alone = false;
  future!: Future<unknown>;
  /** Its `warmpool:task` message (./diagnostics.ts); undefined when nobody listened at `submit`. */
  diag: TaskMessage | undefined = undefined;
  /** The trace context it runs under in its worker; undefined when none (no span at submit, or no OpenTelemetry). */
  trace: TraceCarrier | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  /** The cancel-grace timer while it is being stopped (LocalPool: also its timeout). */
  timer: NodeJS.Timeout | undefined = undefined;
  /** Where the worker's progress (and stream) messages go; the future settles through it (lib/core/caller-channel.ts). */
  channel: CallerChannel | undefined = undefined;

  constructor(
    readonly owner: TaskOwner<S>,
    readonly id: number,
    readonly name: string,
    readonly kind: TaskKind,
    public args: readonly unknown[],
    readonly priority: number,
    /** ms from the start of the task; Infinity when none. */
    readonly timeout: number,
    readonly signal: AbortSignal | undefined,
    /** ThreadPool's transfer list, undefined when empty. */
    readonly transfer: readonly unknown[] | undefined,
    readonly submittedAt: number,
  ) {}

  onCancel(wasRunning: boolean, error: CancelledError): void {
    this.owner.cancel(this, wasRunning, error);
  }
}
