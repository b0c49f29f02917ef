// The cost of checking a submit's options, per call: `resolveSubmit` alone
// (where the unknown-key check lives), and a whole `LocalPool.submit` with
// options, the cheapest submit there is, so the check's share shows.
// Run: npm run build && node dist/bench/submit-options.js

import { performance } from 'node:perf_hooks';
import { LocalPool } from '../lib/index.js';
import { resolveSubmit } from '../lib/core/options.js';

const ROUNDS = 7;

function nsPerCall(n: number, body: (i: number) => unknown): number {
  const times: number[] = [];
  let sink: unknown;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) sink = body(i);
    times.push(((performance.now() - t0) * 1e6) / n);
  }
  if (sink === Symbol.for('never')) console.log(sink);
  times.sort((a, b) => a - b);
  return times[ROUNDS >> 1];
}

const options = { timeout: 1000, priority: 1 };
console.log(
  `resolveSubmit({ timeout, priority }): ${nsPerCall(2_000_000, () => resolveSubmit(options, Infinity)).toFixed(1)} ns/call (median of ${ROUNDS})`,
);

const pool = new LocalPool({ add: (a: number, b: number) => a + b }, { workers: 2 });
await pool.ready();
const BATCH = 20_000;
const perSubmit =
  nsPerCall(10, () => {
    const futures = [];
    for (let i = 0; i < BATCH; i++) futures.push(pool.submit('add', [i, 1], options));
    return futures;
  }) / BATCH;
console.log(`LocalPool.submit('add', args, { timeout, priority }) without awaiting: ${perSubmit.toFixed(1)} ns/call (median of ${ROUNDS})`);
await pool.shutdown({ cancelFutures: true, wait: false });
