// What an AbortSignal per run costs piscina's round trip: ThreadPool hands
// piscina one with every run (piscina stops a running thread only through a
// run's signal), so this is part of its floor.
//
//   node dist/bench/piscina-signal.js [calls]
//
// Prints p50 of sequential `run` calls, 2 threads, in rotated rounds:
// plain `run(args)`, with `{ signal }`, with ThreadPool's message shape
// ([control, id, name, kind, args]), and with both.

import { Piscina } from 'piscina';

const N = Number(process.argv[2] ?? 20_000);
const ROUNDS = 5;
const pool = new Piscina({ filename: new URL('./fixtures/piscina-signal-task.js', import.meta.url).href, minThreads: 2, maxThreads: 2 });

const modes: Record<string, (i: number) => Promise<unknown>> = {
  plain: (i) => pool.run([i, 1]),
  signal: (i) => pool.run([i, 1], { signal: new AbortController().signal }),
  'message shape': (i) => pool.run([null, i, 'add', 0, [i, 1]]),
  'signal + message shape': (i) => pool.run([null, i, 'add', 0, [i, 1]], { signal: new AbortController().signal }),
};
const names = Object.keys(modes);
const lat: Record<string, number[]> = {};
for (const name of names) for (let i = 0; i < 1000; i++) await modes[name](i);
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < names.length; k++) {
    const name = names[(k + r) % names.length];
    for (let i = 0; i < N / ROUNDS; i++) {
      const t0 = performance.now();
      await modes[name](i);
      (lat[name] ??= []).push(performance.now() - t0);
    }
  }
}
for (const name of names) {
  const xs = lat[name].sort((a, b) => a - b);
  console.log(`${name.padEnd(24)} p50 ${(xs[xs.length >> 1] * 1000).toFixed(1)} µs`);
}
await pool.destroy();
