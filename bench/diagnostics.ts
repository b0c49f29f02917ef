// What warmpool's diagnostics channels cost, in two parts.
//
// 1. The channel layer alone: the three publishing calls of one task's life
//    (start, asyncStart, asyncEnd), with nobody subscribed, with a
//    subscriber that does nothing, and, as the floor, the same loop without
//    the calls.
// 2. Real pools (ProcessPool, ThreadPool, LocalPool, 2 workers), the
//    figures issue 16 asks for: the p50 of a warm round trip (one `add`
//    submitted and awaited at a time) and the throughput of 50k `add` tasks
//    submitted at once, with nobody subscribed and with a no-op subscriber
//    on `warmpool:task` and `warmpool:worker`.
//
// Each case runs in rounds, the cases interleaved (pool cases alternate
// which goes first), and prints the median of the rounds.
//
//   npm run build && node dist/bench/diagnostics.js [--rounds=7] [--tasks=2000000] [--pool-rounds=5] [--trips=2000] [--burst=50000] [--no-pools]

import { performance } from 'node:perf_hooks';
import { LocalPool, ProcessPool, ThreadPool, type Executor } from '../lib/index.js';
import {
  publishTaskAsyncStart,
  publishTaskEnd,
  publishTaskStart,
  publishWorker,
  subscribeTasks,
  subscribeWorkers,
} from '../lib/core/diagnostics.js';

const arg = (name: string, fallback: number) => {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found === undefined ? fallback : Number(found.slice(name.length + 3));
};
const ROUNDS = arg('rounds', 7);
const TASKS = arg('tasks', 2_000_000);
const POOL_ROUNDS = arg('pool-rounds', 5);
const TRIPS = arg('trips', 2_000);
const BURST = arg('burst', 50_000);

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

const times: Record<string, number[]> = {
  floor: [],
  'no subscriber': [],
  'a no-op subscriber': [],
  'worker event, no subscriber': [],
  'worker event, a no-op subscriber': [],
};
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

console.log(
  `node ${process.version}, ${TASKS.toLocaleString('en-US')} task lifecycles (3 publishing calls each) per round, median of ${ROUNDS} rounds`,
);
for (const [name, xs] of Object.entries(times)) {
  const ms = median(xs);
  console.log(`${name.padEnd(34)} ${perSecond(ms).toLocaleString('en-US').padStart(14)} /s  ${nsPer(ms).padStart(6)} ns each`);
}

// ── 2. real pools ────────────────────────────────────────────────────────

type Tasks = typeof import('./fixtures/tasks.js');
const tasksUrl = new URL('./fixtures/tasks.js', import.meta.url);

/** p50 of `TRIPS` round trips, one task in flight at a time, in µs. */
async function roundTrip(pool: Executor<Tasks>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < TRIPS; i++) {
    const t0 = performance.now();
    await pool.submit('add', [i, 1]);
    times.push(performance.now() - t0);
  }
  return median(times) * 1000;
}

/** Tasks/s of `BURST` tasks submitted at once. */
async function burst(pool: Executor<Tasks>): Promise<number> {
  const t0 = performance.now();
  const futures = [];
  for (let i = 0; i < BURST; i++) futures.push(pool.submit('add', [i, 1]));
  await Promise.all(futures);
  return (BURST / (performance.now() - t0)) * 1000;
}

/** A subscriber on both channels that does nothing: the cost of making and publishing the messages. */
function subscribe(): () => void {
  const off = subscribeTasks({ start() {}, asyncStart() {}, error() {}, asyncEnd() {} });
  const offWorkers = subscribeWorkers(() => {});
  return () => {
    off();
    offWorkers();
  };
}

if (!process.argv.includes('--no-pools')) {
  console.log(
    `\npools of 2 workers: p50 of ${TRIPS.toLocaleString('en-US')} round trips, and ${BURST.toLocaleString('en-US')} tasks at once; median of ${POOL_ROUNDS} rounds`,
  );
  console.log(`${'pool'.padEnd(12)} ${'subscriber'.padEnd(11)} ${'p50 round trip'.padStart(15)} ${'throughput'.padStart(16)}`);
  const kinds: [string, () => Executor<Tasks>][] = [
    ['ProcessPool', () => new ProcessPool<Tasks>(tasksUrl, { workers: 2, minWorkers: 2 })],
    ['ThreadPool', () => new ThreadPool<Tasks>(tasksUrl, { workers: 2, minWorkers: 2 })],
    ['LocalPool', () => new LocalPool<Tasks>(tasksUrl, { workers: 2 })],
  ];
  for (const [name, make] of kinds) {
    const pool = make();
    await pool.ready();
    // Warm-up: the workers' JIT, the parent's, the chunked paths.
    await roundTrip(pool);
    await burst(pool);
    const results = { none: { trip: [] as number[], rate: [] as number[] }, 'no-op': { trip: [] as number[], rate: [] as number[] } };
    for (let round = 0; round < POOL_ROUNDS; round++) {
      const order: ('none' | 'no-op')[] = round % 2 === 0 ? ['none', 'no-op'] : ['no-op', 'none'];
      for (const which of order) {
        const off = which === 'no-op' ? subscribe() : undefined;
        results[which].trip.push(await roundTrip(pool));
        results[which].rate.push(await burst(pool));
        off?.();
      }
    }
    for (const [which, r] of Object.entries(results)) {
      const trip = `${median(r.trip).toFixed(1)} µs`;
      const rate = `${Math.round(median(r.rate)).toLocaleString('en-US')} /s`;
      console.log(`${name.padEnd(12)} ${which.padEnd(11)} ${trip.padStart(15)} ${rate.padStart(16)}`);
    }
    await pool.shutdown();
  }
}
if (sink === -1) console.log(sink);
