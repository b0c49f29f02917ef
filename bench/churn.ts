// Pools shut down while their threads start: `node dist/bench/churn.js [seconds] [pools at once]`.
// Starts ThreadPools of 2 threads, 3 at a time by default, and shuts each
// down at a different point of its threads' start: after ready(), after a
// random 0–40 ms, or one turn after a first submit. A Node whose V8 aborts
// when a thread is terminated while an async module graph finishes
// evaluating dies here with `Check failed: (location_) != nullptr`
// (docs/design.md, "Node quirks"): with a top-level await in
// lib/core/builtins.ts it did within 4 s on Node 22 and 26 on the project's
// 2-core VM; without, 30 s passed on both (522 and 1,077 pools). Exit code 0 and one line when the process
// lived through it.
//
//   defaults: 30 s, 3 pools at once

import { ThreadPool } from '../lib/index.js';

type Tasks = typeof import('./fixtures/tasks.js');

const [secondsArg = '30', atOnceArg = '3'] = process.argv.slice(2);
const seconds = Number(secondsArg);
const atOnce = Number(atOnceArg);
if (!(seconds > 0) || !Number.isInteger(atOnce) || atOnce < 1) {
  throw new Error(`bench/churn: expected [seconds > 0] [pools at once, an integer >= 1], got ${secondsArg} ${atOnceArg}`);
}
const moduleUrl = new URL('./fixtures/tasks.js', import.meta.url);

async function startAndStop(way: number): Promise<void> {
  const pool = new ThreadPool<Tasks>(moduleUrl, { workers: 2 });
  if (way === 0) await pool.ready();
  else if (way === 1) await new Promise((resolve) => setTimeout(resolve, Math.random() * 40));
  else {
    pool.submit('work', [1000]).catch(() => {});
    await new Promise((resolve) => setImmediate(resolve));
  }
  await pool.shutdown({ cancelFutures: true });
}

const t0 = performance.now();
let pools = 0;
while (performance.now() - t0 < seconds * 1000) {
  const round: Promise<void>[] = [];
  for (let i = 0; i < atOnce; i++) round.push(startAndStop(pools++ % 3));
  await Promise.all(round);
}
console.log(
  `churn: ${pools} ThreadPools started and shut down in ${((performance.now() - t0) / 1000).toFixed(1)} s, Node ${process.version}, no abort`,
);
