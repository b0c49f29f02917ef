// Where a worker waits during a map: `node dist/bench/gaps.js [process|thread] [item µs] [workers] [total ms]`.
// Maps items of fixed CPU work (bench/fixtures/tasks.ts `stampedWork`), each
// stamped with its worker and its start and end, and prints per worker the
// share of the map's wall time spent in items, and the waits between two of
// its items longer than 50 µs (a chunk boundary or a yield): how many, their
// sum, median and largest. docs/design.md, "Map chunks", was measured this
// way; compare two builds by running each build's copy in turn.
//
//   defaults: process 10 µs, 2 workers, 400 ms of sequential work

import { ProcessPool, ThreadPool } from '../lib/index.js';
import { work } from './fixtures/tasks.js';

type Tasks = typeof import('./fixtures/tasks.js');

const [kind = 'process', itemUs = '10', workersArg = '2', totalMs = '400'] = process.argv.slice(2);
if (kind !== 'process' && kind !== 'thread') throw new Error(`bench/gaps: expected process or thread, got ${kind}`);
const workers = Number(workersArg);
const moduleUrl = new URL('./fixtures/tasks.js', import.meta.url);
const pool = kind === 'thread' ? new ThreadPool<Tasks>(moduleUrl, { workers }) : new ProcessPool<Tasks>(moduleUrl, { workers });
await pool.ready();

// Calibrate in this thread, after the JIT has seen work().
for (let i = 0; i < 20; i++) work(100_000);
let t0 = performance.now();
work(1_000_000);
const stepsPerUs = 1_000_000 / ((performance.now() - t0) * 1000);
const steps = Math.max(1, Math.round(Number(itemUs) * stepsPerUs));
const items = new Array<number>(Math.max(1, Math.round((Number(totalMs) * 1000) / Number(itemUs)))).fill(steps);
// The workers' JIT too, with a map of its own.
await pool.map('stampedWork', new Array<number>(2000).fill(Math.round(5 * stepsPerUs)));

t0 = performance.now();
for (const n of items) work(n);
const sequentialMs = performance.now() - t0;
const start = performance.timeOrigin + performance.now();
const stamps = await pool.map('stampedWork', items);
const end = performance.timeOrigin + performance.now();
await pool.shutdown();

const wall = end - start;
const byWorker = new Map<string, [number, number][]>();
for (const [w, s, e] of stamps) {
  let xs = byWorker.get(w);
  if (xs === undefined) byWorker.set(w, (xs = []));
  xs.push([s, e]);
}
console.log(
  `${kind === 'thread' ? 'ThreadPool' : 'ProcessPool'}, ${workers} workers, ${items.length} items of ${itemUs} µs: map ${wall.toFixed(1)} ms, sequential ${sequentialMs.toFixed(1)} ms (${(sequentialMs / wall).toFixed(2)}×)`,
);
for (const [w, xs] of byWorker) {
  xs.sort((a, b) => a[0] - b[0]);
  let busy = 0;
  const waits: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    busy += xs[i][1] - xs[i][0];
    if (i > 0 && xs[i][0] - xs[i - 1][1] > 0.05) waits.push(xs[i][0] - xs[i - 1][1]);
  }
  waits.sort((a, b) => a - b);
  const sum = waits.reduce((a, b) => a + b, 0);
  console.log(
    `worker ${w}: ${xs.length} items, busy ${(busy / wall).toFixed(3)} of the wall time; first item after ${(xs[0][0] - start).toFixed(2)} ms, last ended ${(end - xs[xs.length - 1][1]).toFixed(2)} ms before the map; ` +
      `${waits.length} waits > 50 µs, ${sum.toFixed(1)} ms in all, median ${(waits[waits.length >> 1] ?? 0).toFixed(3)} ms, largest ${(waits[waits.length - 1] ?? 0).toFixed(2)} ms`,
  );
}
