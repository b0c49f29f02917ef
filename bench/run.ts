// `npm run bench`: cold versus warm latency and throughput, side by side in
// one run, several interleaved rounds; medians with min–max across rounds.
//
//   node dist/bench/run.js [--quick] [--rounds=N]
//
// --quick finishes in well under a minute and checks every result for
// correctness (CI runs it); it says nothing about speed.

import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ProcessPool } from '../lib/index.js';
import type * as benchTasks from './fixtures/tasks.js';
import type * as heavyTasks from './fixtures/heavy.js';
import { rawIpcPingPong } from './raw-ipc.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const roundsArg = argv.find((a) => a.startsWith('--rounds='));
const ROUNDS = roundsArg ? Number(roundsArg.slice(9)) : quick ? 2 : 5;
const COLD_CALLS = quick ? 2 : 6;
const WARM_CALLS = quick ? 300 : 3000;
const THROUGHPUT_TASKS = quick ? 5000 : 50_000;
const WORKERS = 2;

const lightUrl = new URL('./fixtures/tasks.js', import.meta.url);
const heavyUrl = new URL('./fixtures/heavy.js', import.meta.url);
const coldChild = fileURLToPath(new URL('./cold-child.js', import.meta.url));

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`bench: wrong result: ${what}`);
}

function sorted(xs: number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

function pct(xs: number[], p: number): number {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

const median = (xs: number[]) => pct(xs, 0.5);

function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
  else process.stderr.write(`${text}\n`);
}

/** One cold call: spawn, import, run one task, send the result, exit. ms. */
async function coldCall(href: string, expected: number): Promise<number> {
  const t0 = performance.now();
  const child = fork(coldChild, [href, 'add', JSON.stringify([20, 22])], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit');
  const [result] = (await once(child, 'message')) as [number];
  await exited;
  check(result === expected, `cold call returned ${result}`);
  return performance.now() - t0;
}

/** Sequential round trips on a warm pool: per-call ms. */
async function warmCalls(pool: ProcessPool<typeof benchTasks> | ProcessPool<typeof heavyTasks>, n: number): Promise<number[]> {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await (pool as ProcessPool<typeof benchTasks>).submit('add', [i, 1]);
    out[i] = performance.now() - t0;
    check(r === i + 1, `warm call returned ${r}`);
  }
  return out;
}

/** Construction of a pool to its first result, ms. */
async function poolStart(url: URL): Promise<number> {
  const t0 = performance.now();
  await using pool = new ProcessPool<typeof benchTasks>(url, { workers: 1 });
  const r = await pool.submit('add', [1, 1]);
  check(r === 2, 'first result');
  return performance.now() - t0;
}

/** THROUGHPUT_TASKS trivial tasks submitted at once, tasks/s. */
async function throughput(pool: ProcessPool<typeof benchTasks>): Promise<number> {
  const futures = new Array<PromiseLike<number>>(THROUGHPUT_TASKS);
  const t0 = performance.now();
  for (let i = 0; i < THROUGHPUT_TASKS; i++) futures[i] = pool.submit('add', [i, 1]);
  const results = await Promise.all(futures);
  const s = (performance.now() - t0) / 1000;
  for (let i = 0; i < results.length; i++) check(results[i] === i + 1, `throughput result ${i}`);
  return THROUGHPUT_TASKS / s;
}

type Samples = Record<string, number[]>;

function add(samples: Samples, key: string, value: number): void {
  (samples[key] ??= []).push(value);
}

async function main(): Promise<void> {
  const samples: Samples = {};
  const light = new ProcessPool<typeof benchTasks>(lightUrl, { workers: WORKERS });
  const heavy = new ProcessPool<typeof heavyTasks>(heavyUrl, { workers: 1 });
  await Promise.all([light.ready(), heavy.ready()]);
  await warmCalls(light, 500);
  await warmCalls(heavy, 500);

  const scenarios: [string, () => Promise<void>][] = [
    [
      'cold fork',
      async () => {
        const xs: number[] = [];
        for (let i = 0; i < COLD_CALLS; i++) xs.push(await coldCall(lightUrl.href, 42));
        add(samples, 'coldFork', median(xs));
      },
    ],
    [
      'cold fork, heavy import',
      async () => {
        const xs: number[] = [];
        for (let i = 0; i < COLD_CALLS; i++) xs.push(await coldCall(heavyUrl.href, 42));
        add(samples, 'coldForkHeavy', median(xs));
      },
    ],
    [
      'warm ProcessPool',
      async () => {
        const xs = await warmCalls(light, WARM_CALLS);
        add(samples, 'warmP50', pct(xs, 0.5));
        add(samples, 'warmP99', pct(xs, 0.99));
      },
    ],
    [
      'warm ProcessPool, heavy module',
      async () => {
        const xs = await warmCalls(heavy, WARM_CALLS);
        add(samples, 'warmHeavyP50', pct(xs, 0.5));
      },
    ],
    [
      'raw IPC ping-pong',
      async () => {
        const json = await rawIpcPingPong({ serialization: 'json', rounds: WARM_CALLS, warmup: 300 });
        add(samples, 'rawJsonP50', pct(json, 0.5));
        add(samples, 'rawJsonP99', pct(json, 0.99));
        const adv = await rawIpcPingPong({ serialization: 'advanced', rounds: WARM_CALLS, warmup: 300 });
        add(samples, 'rawAdvP50', pct(adv, 0.5));
        add(samples, 'rawAdvP99', pct(adv, 0.99));
      },
    ],
    ['throughput', async () => add(samples, 'throughput', await throughput(light))],
    [
      'pool start',
      async () => {
        add(samples, 'startLight', await poolStart(lightUrl));
        add(samples, 'startHeavy', await poolStart(heavyUrl));
      },
    ],
  ];

  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order each round so no scenario always runs first (or last) on a noisy machine.
    for (let i = 0; i < scenarios.length; i++) {
      const [label, run] = scenarios[(i + round) % scenarios.length];
      progress(`round ${round + 1}/${ROUNDS}: ${label}`);
      await run();
    }
  }
  progress('done');
  if (process.stderr.isTTY) process.stderr.write('\n');
  await Promise.all([light.shutdown(), heavy.shutdown()]);

  const stat = (key: string) => {
    const xs = samples[key];
    return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), rounds: xs };
  };
  const m = (key: string) => stat(key).median;
  const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
  const row = (label: string, key: string, unit = 'ms') => {
    const s = stat(key);
    return `| ${label} | ${ms(s.median)} ${unit} | ${ms(s.min)}–${ms(s.max)} |`;
  };

  const lines = [
    `warmpool bench — Node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), ${ROUNDS} rounds${quick ? ', --quick' : ''}`,
    '',
    '## Latency of one call (median of rounds; min–max across rounds)',
    '',
    '| scenario | median | min–max |',
    '|---|---|---|',
    row('cold: fork + import + one task + exit', 'coldFork'),
    row('cold, module with a 300 ms import', 'coldForkHeavy'),
    row('warm ProcessPool round trip, p50', 'warmP50'),
    row('warm ProcessPool round trip, p99', 'warmP99'),
    row('warm ProcessPool, 300 ms-import module, p50', 'warmHeavyP50'),
    row('raw child_process IPC ping-pong (json), p50', 'rawJsonP50'),
    row('raw child_process IPC ping-pong (advanced), p50', 'rawAdvP50'),
    row('pool start to first result', 'startLight'),
    row('pool start to first result, 300 ms-import module', 'startHeavy'),
    '',
    '## Ratios (computed within each round, then the median)',
    '',
    '| ratio | median |',
    '|---|---|',
    `| cold / warm | ${(m('coldFork') / m('warmP50')).toFixed(0)}× |`,
    `| cold / warm, 300 ms-import module | ${(m('coldForkHeavy') / m('warmHeavyP50')).toFixed(0)}× |`,
    `| warm ProcessPool p50 / raw IPC json p50 (goal ≤ 1.1) | ${ratioOfRounds(samples, 'warmP50', 'rawJsonP50').toFixed(2)} |`,
    `| warm ProcessPool p50 / raw IPC advanced p50 | ${ratioOfRounds(samples, 'warmP50', 'rawAdvP50').toFixed(2)} |`,
    '',
    '## Throughput',
    '',
    '| scenario | median | min–max |',
    '|---|---|---|',
    `| ${THROUGHPUT_TASKS} trivial tasks submitted at once, ${WORKERS} worker processes (goal ≥ 100,000/s) | ${Math.round(m('throughput')).toLocaleString('en-US')} tasks/s | ${Math.round(stat('throughput').min).toLocaleString('en-US')}–${Math.round(stat('throughput').max).toLocaleString('en-US')} |`,
  ];
  console.log(lines.join('\n'));

  const out = {
    date: new Date().toISOString(),
    command: `npm run bench${quick ? ' -- --quick' : ''}`,
    machine: { cores: availableParallelism(), cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform },
    rounds: ROUNDS,
    figures: Object.fromEntries(Object.keys(samples).map((k) => [k, stat(k)])),
  };
  if (!quick) {
    const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}latest.json`, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`\nwrote bench/results/latest.json`);
  }
}

/** Median over rounds of the per-round ratio a/b: both sides measured in the same round. */
function ratioOfRounds(samples: Samples, a: string, b: string): number {
  const xs = samples[a].map((v, i) => v / samples[b][i]);
  return median(xs);
}

await main();
