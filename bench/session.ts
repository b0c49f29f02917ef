// Time from opening a settings session to its first answer (docs/guide.md,
// "Streams, progress and sessions"; issue 17): a fresh process per session
// (spawn node, import the module, read the first edit, answer) against a
// session opened on a warm ProcessPool and a warm ThreadPool
// (`pool.stream` + `send` + the first value).
//
//   node dist/bench/session.js [--rounds=5] [--samples=10]
//
// Every round takes `samples` of each, interleaved (the order rotates with
// each sample); a round's figure is the median of its samples, and the
// result is the median of the rounds (min–max). The figures are written to
// bench/results/session.json, which bench/report.ts puts in the
// cold-versus-warm table and chart of docs/benchmarks.md.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ProcessPool, ThreadPool } from '../lib/index.js';
import { median, stat, type Stat } from './report.js';
import type * as tasks from './fixtures/session-tasks.js';

type Tasks = typeof tasks;
const moduleUrl = new URL('./fixtures/session-tasks.js', import.meta.url);
const freshScript = fileURLToPath(new URL('./fixtures/session-fresh.js', import.meta.url));
const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const ROUNDS = arg('rounds', 5);
const SAMPLES = arg('samples', 10);

const initial = { theme: 'light', size: 12 };
const edit = { theme: 'dark' };
const expected = JSON.stringify({ ...initial, ...edit });

/** A fresh process: spawn, import, first edit in, first answer out. The exit is not timed. */
async function fresh(): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [freshScript, moduleUrl.href, 'settings', JSON.stringify(initial)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  child.stdin.write(`${JSON.stringify(edit)}\n`);
  const lines = createInterface({ input: child.stdout });
  const [first] = (await once(lines, 'line')) as [string];
  const ms = performance.now() - t0;
  if (first !== expected) throw new Error(`the fresh process answered ${first}, expected ${expected}`);
  lines.close();
  child.stdin.end();
  await exited;
  return ms;
}

/** A session on a warm pool: open, send the first edit, take the first answer. Ending it is not timed. */
async function warm(pool: ProcessPool<Tasks> | ThreadPool<Tasks>): Promise<number> {
  const t0 = performance.now();
  const s = pool.stream('settings', [initial]);
  await s.send(edit);
  const { value } = await s.next();
  const ms = performance.now() - t0;
  if (JSON.stringify(value) !== expected) throw new Error(`the warm session answered ${JSON.stringify(value)}, expected ${expected}`);
  s.end();
  await s.done;
  return ms;
}

const processPool = new ProcessPool<Tasks>(moduleUrl, { workers: 1 });
const threadPool = new ThreadPool<Tasks>(moduleUrl, { workers: 1 });
await Promise.all([processPool.ready(), threadPool.ready()]);
const kinds: [key: string, run: () => Promise<number>][] = [
  ['session.fresh', fresh],
  ['session.ProcessPool', () => warm(processPool)],
  ['session.ThreadPool', () => warm(threadPool)],
];
// One unmeasured session of each: every path compiled, the OS caches warm.
for (const [, run] of kinds) await run();

const startedAt = performance.now();
const perRound = new Map<string, number[]>(kinds.map(([k]) => [k, []]));
for (let round = 0; round < ROUNDS; round++) {
  const samples = new Map<string, number[]>(kinds.map(([k]) => [k, []]));
  for (let i = 0; i < SAMPLES; i++) {
    for (let j = 0; j < kinds.length; j++) {
      const [key, run] = kinds[(i + j + round) % kinds.length];
      samples.get(key)!.push(await run());
    }
  }
  for (const [key, xs] of samples) perRound.get(key)!.push(median(xs));
}
await Promise.all([processPool.shutdown(), threadPool.shutdown()]);

const figures: Record<string, Stat> = Object.fromEntries([...perRound].map(([k, xs]) => [k, stat(xs)]));
const command = `node dist/bench/session.js --rounds=${ROUNDS} --samples=${SAMPLES}`;
const result = {
  date: new Date().toISOString(),
  command,
  machine: { cores: cpus().length, node: process.version, loadAverage: loadavg() },
  rounds: ROUNDS,
  samples: SAMPLES,
  seconds: (performance.now() - startedAt) / 1000,
  figures,
};
const out = fileURLToPath(new URL('../../bench/results/session.json', import.meta.url));
mkdirSync(fileURLToPath(new URL('../../bench/results/', import.meta.url)), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);

const f = (v: number) => `${v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toFixed(3)} ms`;
console.log(`settings session, open to first answer: median of ${ROUNDS} rounds of ${SAMPLES} (min–max), Node ${process.version}`);
for (const [key, s] of Object.entries(figures)) {
  const ratios = s.rounds.map((v, i) => figures['session.fresh'].rounds[i] / v);
  console.log(
    `${key.padEnd(22)}${f(s.median).padStart(12)}  (${f(s.min)}–${f(s.max)})${key === 'session.fresh' ? '' : `  fresh / this ${median(ratios).toFixed(0)}×`}`,
  );
}
console.log(`written to bench/results/session.json; node dist/bench/report.js puts it in docs/benchmarks.md`);
