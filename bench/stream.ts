// Values per second out of a generator task through `pool.stream`, against
// `map` of the same values (one call per value, the library's own chunking)
// on the same pool: what the credit protocol's batching buys, and what a
// stream costs against the fastest way to get many values out of workers.
//
//   node dist/bench/stream.js [--n=200000] [--rounds=5]
//
// Prints, per backend, the median of the rounds in values/s for a stream at
// highWaterMark 16 (the default) and 256, and for map; one worker each, so
// map cannot win by parallelism.

import { LocalPool, ProcessPool, ThreadPool, type Executor } from '../lib/index.js';
import type * as tasks from './fixtures/stream-tasks.js';

type Tasks = typeof tasks;
const moduleUrl = new URL('./fixtures/stream-tasks.js', import.meta.url);
const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const N = arg('n', 200_000);
const ROUNDS = arg('rounds', 5);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

async function streamed(pool: Executor<Tasks>, highWaterMark: number): Promise<number> {
  const t0 = performance.now();
  let sum = 0;
  for await (const v of pool.stream('range', [N], { highWaterMark })) sum += v;
  const ms = performance.now() - t0;
  if (sum !== (N * (N - 1)) / 2) throw new Error(`stream gave a wrong sum: ${sum}`);
  return (N * 1000) / ms;
}

async function mapped(pool: Executor<Tasks>, items: number[]): Promise<number> {
  const t0 = performance.now();
  const out = await pool.map('identity', items);
  const ms = performance.now() - t0;
  if (out.length !== N || out[N - 1] !== N - 1) throw new Error('map gave wrong values');
  return (N * 1000) / ms;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(12);

const items = Array.from({ length: N }, (_, i) => i);
console.log(`${N.toLocaleString('en-US')} values, median of ${ROUNDS} rounds, values/s (Node ${process.version})`);
console.log(`${'backend'.padEnd(12)}${'stream hwm 16'.padStart(14)}${'stream hwm 256'.padStart(16)}${'map'.padStart(12)}`);
for (const [name, make] of [
  ['ProcessPool', () => new ProcessPool<Tasks>(moduleUrl, { workers: 1 })],
  ['ThreadPool', () => new ThreadPool<Tasks>(moduleUrl, { workers: 1 })],
  ['LocalPool', () => new LocalPool<Tasks>(moduleUrl, { workers: 1 })],
] as const) {
  const pool: Executor<Tasks> & { shutdown(): Promise<void> } = make();
  await pool.ready();
  // One warm-up of each, so that every path is compiled before it is timed.
  await streamed(pool, 16);
  await mapped(pool, items);
  const s16: number[] = [];
  const s256: number[] = [];
  const m: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    s16.push(await streamed(pool, 16));
    s256.push(await streamed(pool, 256));
    m.push(await mapped(pool, items));
  }
  await pool.shutdown();
  console.log(`${name.padEnd(12)}${fmt(median(s16)).padStart(14)}${fmt(median(s256)).padStart(16)}${fmt(median(m))}`);
}
