// What warmpool's diagnostics channels cost the core per task: the three
// publishing calls of one task's life (start, asyncStart, asyncEnd), with
// nobody subscribed, with a subscriber that does nothing, and, as the
// floor, the same loop without the calls. Each case runs in rounds,
// interleaved, and prints the median of the rounds.
//
//   npm run build && node dist/bench/diagnostics.js [--rounds=7] [--tasks=2000000]
//
// This is the channel layer alone; the pool-level figures (p50 round trip,
// 50k-task throughput with and without a subscriber) need the engine core
// that publishes and belong in bench/run.ts then.

import { performance } from 'node:perf_hooks';
import { publishTaskAsyncStart, publishTaskEnd, publishTaskStart, publishWorker, subscribeTasks, subscribeWorkers } from '../lib/core/diagnostics.js';

const arg = (name: string, fallback: number) => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found === undefined ? fallback : Number(found.slice(name.length + 3));
};
const ROUNDS = arg('rounds', 7);
const TASKS = arg('tasks', 2_000_000);

let sink = 0;

function lifecycle(n: number): number {
  const t0 = performance.now();
  let local = 0;
  for (let i = 0; i < n; i++) {
    const m = publishTaskStart('bench', i, 'fib');
    publishTaskAsyncStart(m, 1, 0.01);
    publishTaskEnd(m, 'fulfilled', 0.02);
    local += m === undefined ? i & 1 : (m.runMs as number);
  }
  sink += local;
  return performance.now() - t0;
}

function floor(n: number): number {
  const t0 = performance.now();
  let local = 0;
  for (let i = 0; i < n; i++) local += i & 1;
  sink += local;
  return performance.now() - t0;
}

function workerEvents(n: number): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) publishWorker('bench', i, 'exit', { exitCode: 0, signal: null, reason: 'recycle' });
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const perSecond = (ms: number) => Math.round((TASKS / ms) * 1000);
const nsPer = (ms: number) => ((ms * 1e6) / TASKS).toFixed(1);

const times: Record<string, number[]> = { floor: [], 'no subscriber': [], 'a no-op subscriber': [], 'worker event, no subscriber': [], 'worker event, a no-op subscriber': [] };
// Warm-up, so the first round does not pay for compiling.
lifecycle(100_000);
floor(100_000);
for (let round = 0; round < ROUNDS; round++) {
  times.floor.push(floor(TASKS));
  times['no subscriber'].push(lifecycle(TASKS));
  times['worker event, no subscriber'].push(workerEvents(TASKS));
  const off = subscribeTasks({ start() {}, asyncStart() {}, error() {}, asyncEnd() {} });
  const offWorkers = subscribeWorkers(() => {});
  times['a no-op subscriber'].push(lifecycle(TASKS));
  times['worker event, a no-op subscriber'].push(workerEvents(TASKS));
  off();
  offWorkers();
}

console.log(`node ${process.version}, ${TASKS.toLocaleString('en-US')} task lifecycles (3 publishing calls each) per round, median of ${ROUNDS} rounds`);
for (const [name, xs] of Object.entries(times)) {
  const ms = median(xs);
  console.log(`${name.padEnd(34)} ${perSecond(ms).toLocaleString('en-US').padStart(14)} /s  ${nsPer(ms).padStart(6)} ns each`);
}
if (sink === -1) console.log(sink);
