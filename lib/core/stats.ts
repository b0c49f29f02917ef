// Pool statistics. Counts are exact over the pool's life; the percentiles of
// run and wait time come from the most recent SAMPLES tasks (a ring), so the
// hot path writes one number and `stats()` pays for the sorting.

const SAMPLES = 4096;

/**
 * A distribution of times, in milliseconds. All zero before the first task.
 * The percentiles cover the latest 4,096 tasks; `mean` and `max` cover every
 * task since the pool was made.
 *
 * @group Statistics
 */
export interface TimeSummary {
  /** Median of the latest 4,096 tasks, in ms. */
  p50: number;
  /** 90th percentile of the latest 4,096 tasks, in ms. */
  p90: number;
  /** 99th percentile of the latest 4,096 tasks, in ms. */
  p99: number;
  /** Mean over every task since the pool was made, in ms. */
  mean: number;
  /** Longest over every task since the pool was made, in ms. */
  max: number;
}

/**
 * What `pool.stats()` returns: a snapshot, made when it is called. The first
 * four fields are the pool's state now; the five outcome counts (`completed`,
 * `failed`, `cancelled`, `timedOut`, `crashed`) are over the pool's life and
 * disjoint, so each settled task is counted once. A map chunk counts as one
 * task.
 *
 * @group Statistics
 */
export interface PoolStats {
  /**
   * Workers alive: starting, idle or busy (a worker being replaced counts
   * until it exits). LocalPool: the concurrency limit, `workers`. RemotePool:
   * its `workers` option (the hosts' workers are not counted from here).
   */
  workers: number;
  /** Started workers running a task. LocalPool and RemotePool: tasks running. */
  busy: number;
  /** Started workers with nothing to do. LocalPool and RemotePool: `workers` minus `busy`. */
  idle: number;
  /** Tasks accepted and not yet handed to a worker (RemotePool: not yet heard started on a host); what `maxQueued` bounds. */
  queued: number;
  /**
   * Calls and map items that returned a value: a map of 100 items adds 100,
   * however they were chunked. The five outcome counts are disjoint.
   */
  completed: number;
  /**
   * Tasks that threw (including `TaskNotFoundError` and values that could not
   * be sent); a map chunk whose item threw counts once, its items before
   * that one in `completed`. `cancelled`, `timedOut` and `crashed` count map chunks too.
   */
  failed: number;
  /** Tasks cancelled (`CancelledError`), whether they were waiting or running. */
  cancelled: number;
  /** Tasks that ran past their `timeout` (`TimeoutError`). */
  timedOut: number;
  /**
   * Tasks whose worker died under them (`WorkerCrashedError`), that failed
   * because no worker could start (`WorkerStartError`), or, in RemotePool,
   * whose job Redis or BullMQ lost (`BrokerError`).
   */
  crashed: number;
  /** Time from a worker starting a task to its result, measured in the worker, in ms. */
  runTime: TimeSummary;
  /** Time from `submit` to a worker starting the task, in ms: the queue wait. */
  waitTime: TimeSummary;
}

export class Distribution {
  readonly #ring = new Float64Array(SAMPLES);
  #count = 0;
  #sum = 0;
  #max = 0;

  add(ms: number): void {
    this.#ring[this.#count % SAMPLES] = ms;
    this.#count++;
    this.#sum += ms;
    if (ms > this.#max) this.#max = ms;
  }

  summary(): TimeSummary {
    const n = Math.min(this.#count, SAMPLES);
    if (n === 0) return { p50: 0, p90: 0, p99: 0, mean: 0, max: 0 };
    const sorted = this.#ring.slice(0, n).sort();
    const at = (q: number) => sorted[Math.min(n - 1, Math.floor(q * n))];
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: this.#sum / this.#count, max: this.#max };
  }
}
