// Pool statistics. Counts are exact over the pool's life; the percentiles of
// run and wait time come from the most recent SAMPLES tasks (a ring), so the
// hot path writes one number and `stats()` pays for the sorting.

const SAMPLES = 4096;

/** A distribution in ms. All zero before the first task. */
export interface TimeSummary {
  p50: number;
  p90: number;
  p99: number;
  /** Over every task since the pool started. */
  mean: number;
  /** Over every task since the pool started. */
  max: number;
}

export interface PoolStats {
  /** Workers alive: starting, idle or busy (a worker being replaced counts until it exits). */
  workers: number;
  /** Started workers running a task. */
  busy: number;
  /** Started workers with nothing to do. */
  idle: number;
  /** Tasks accepted and not yet handed to a worker. */
  queued: number;
  /**
   * Calls and map items that returned a value: a map of 100 items adds 100,
   * however they were chunked. The five outcome counts are disjoint.
   */
  completed: number;
  /**
   * Tasks that threw (including TaskNotFoundError and values that could not
   * be sent); a map chunk whose item threw counts once, its items before
   * that one in `completed`. `cancelled`, `timedOut` and `crashed` count map chunks too.
   */
  failed: number;
  cancelled: number;
  timedOut: number;
  /** Tasks whose worker died under them (WorkerCrashedError), or that failed because no worker could start. */
  crashed: number;
  /** Time from a worker starting the task to its result, measured in the worker. */
  runTime: TimeSummary;
  /** Time from `submit` to a worker starting the task. */
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
