// Steps of `work` (bench/fixtures/tasks.ts) per µs in this thread, for the
// units that size items in time (the granularity sweep, bench/scenario.ts
// `grain:`, and its one-size A/B unit in bench/compare-unit.ts).

import { work } from './fixtures/tasks.js';

/** `work` steps per µs: the best of 7 timed runs, after the JIT has seen work(). */
export function calibrate(): number {
  for (let i = 0; i < 50; i++) work(100_000);
  let best = Infinity;
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    work(1_000_000);
    best = Math.min(best, performance.now() - t0);
  }
  return 1_000_000 / (best * 1000);
}
