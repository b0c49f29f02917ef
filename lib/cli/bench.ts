// `warmpool bench <module> <task>`: what a warm pool saves for the user's own
// module. A cold call is real: a fresh process (with --threads, a fresh
// worker thread) runs ./cold.js, which imports the module, runs the task
// once, reports its own import and task times, and exits; the call is timed
// from spawn to exit. Then a pool is timed from construction to its first
// result, and sequential warm round trips on it.

import { fork } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { TaskNotFoundError } from '../index.js';
import { count } from '../core/errors.js';
import { argsOption, flags, intOption, makePool, moduleAndTask, parse, shown, printUsage, UsageError, type PoolKind } from './args.js';
import { barChart, formatMs, type Bar } from './chart.js';
import type { ColdReport } from './cold.js';
import { Progress } from './progress.js';

export const summary = 'measure a cold call of your task against a warm pool';

export const usage = `Usage: warmpool bench <module> <task> [options]

Measures, for the task exported by <module>: a cold call (a fresh process,
or with --threads a fresh worker thread, that imports the module, runs the
task once and exits), the module's import alone, a pool's start to its first
result, and warm round trips on that pool.

Options:
  --args JSON     the task's arguments, a JSON array (default: [])
  --calls N       warm round trips measured (default: 200), after 10 unmeasured
  --cold N        cold calls (default: 5)
  --workers N     workers in the pool (default: 1)
  --threads       worker threads (ThreadPool) instead of processes
  --json          machine-readable output on stdout
  --svg FILE      also draw the figures as a bar chart (SVG, log scale)
  -h, --help      this help

Exit code: 0, 1 when the task fails, 2 for bad usage (no such module, no such
export, --args not a JSON array).

Examples:
  warmpool bench ./tasks.js fib --args "[20]"
  warmpool bench ./model.js predict --args '[{"x": 1}]' --calls 1000 --svg bench.svg
  warmpool bench ./tasks.js fib --args "[20]" --threads --json
`;

const options = flags(['args', 'calls', 'cold', 'workers', 'svg'], ['threads', 'json']);

const WARMUP_CALLS = 10;

const coldEntry = fileURLToPath(new URL('./cold.js', import.meta.url));

/** Summary of a sample, ms. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** What `--json` prints. */
export interface BenchResult {
  module: string;
  task: string;
  args: unknown[];
  backend: 'ProcessPool' | 'ThreadPool';
  workers: number;
  node: string;
  /** A fresh process or thread, from its start to its exit; import and task as measured inside it. */
  cold: Spread & { runs: number; importMs: Spread; taskMs: Spread };
  /** From `new Pool(...)` to the first result, ms. */
  poolStartMs: number;
  /**
   * Sequential round trips on the warm pool, ms; `taskP50` is the task's own
   * run time in the worker (the pool's `stats().runTime.p50`), the part of a
   * round trip that is the work rather than the pool.
   */
  warm: { calls: number; p50: number; p99: number; mean: number; min: number; max: number; taskP50: number };
  /** Cold median / warm p50. */
  coldOverWarm: number;
  /**
   * The same ratio without the task's own run time on either side: (cold
   * median − cold task) / (warm p50 − warm task). A task of 100 ms makes
   * `coldOverWarm` close to 1 whatever the pool saves; this shows the saving.
   */
  overheadColdOverWarm: number;
}

function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** One cold call; ms from start to exit, and what the fresh process or thread reported. */
async function coldCall(kind: PoolKind, href: string, task: string, args: unknown[]): Promise<{ ms: number; report: ColdReport }> {
  const t0 = performance.now();
  if (kind === 'thread') {
    const worker = new Worker(coldEntry, { workerData: { href, name: task, args } });
    const exited = once(worker, 'exit');
    const [report] = (await Promise.race([once(worker, 'message'), exited.then(() => [undefined])])) as [ColdReport | undefined];
    await exited;
    if (report === undefined) throw new Error('The cold worker thread exited without a report');
    return { ms: performance.now() - t0, report };
  }
  // The task's stdout is not ours to print (it would spoil --json).
  const child = fork(coldEntry, [href, task, JSON.stringify(args)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  const [report] = (await Promise.race([once(child, 'message'), exited.then(() => [undefined])])) as [ColdReport | undefined];
  const [code, signal] = await exited;
  if (report === undefined)
    throw new Error(`The cold process exited without a report (exit code ${String(code)}, signal ${String(signal)})`);
  return { ms: performance.now() - t0, report };
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, options);
  if (values.help === true) return printUsage(usage);
  const { module, given, task } = moduleAndTask(positionals);
  const args = argsOption(values.args);
  const calls = intOption('calls', values.calls, 1) ?? 200;
  const coldRuns = intOption('cold', values.cold, 1) ?? 5;
  const workers = intOption('workers', values.workers, 1) ?? 1;
  const kind: PoolKind = values.threads === true ? 'thread' : 'process';
  const fresh = kind === 'thread' ? 'fresh worker thread' : 'fresh process';
  const progress = new Progress(process.stderr, values.json === true ? 'off' : 'lines');

  const cold: number[] = [];
  const imports: number[] = [];
  const tasks: number[] = [];
  for (let i = 0; i < coldRuns; i++) {
    // The first cold call runs before any heading: a task that is not there,
    // or a module that does not import, is reported alone.
    if (i === 1) {
      progress.phase(`cold calls (${fresh} each)`, coldRuns);
      progress.update(1);
    }
    const { ms, report } = await coldCall(kind, module.href, task, args);
    if (!report.ok) {
      if (i > 0) progress.end();
      if (report.stage === 'lookup') throw new UsageError(new TaskNotFoundError(task, report.exports).message);
      if (report.stage === 'import')
        throw new UsageError(`Cannot import the task module ${shown(given)}: ${report.error.name}: ${report.error.message}`);
      throw new Error(`The task failed in a cold call: ${report.error.name}: ${report.error.message}`);
    }
    cold.push(ms);
    imports.push(report.importMs);
    tasks.push(report.taskMs);
    if (i > 0) progress.update(i + 1);
  }
  if (coldRuns === 1) {
    progress.phase(`cold calls (${fresh} each)`, coldRuns);
    progress.update(1);
  }
  progress.end();

  progress.phase(`pool start (${kind === 'thread' ? count(workers, 'thread') : count(workers, 'process', 'processes')}) to first result`);
  const t0 = performance.now();
  const pool = makePool(kind, module, { workers });
  let poolStartMs: number;
  let warmTask: number;
  const warm: number[] = new Array<number>(calls);
  try {
    await pool.submit(task, args);
    poolStartMs = performance.now() - t0;
    progress.end();
    progress.phase('warm calls', calls);
    for (let i = 0; i < WARMUP_CALLS; i++) await pool.submit(task, args);
    for (let i = 0; i < calls; i++) {
      const t = performance.now();
      await pool.submit(task, args);
      warm[i] = performance.now() - t;
      progress.update(i + 1);
    }
    warmTask = pool.stats().runTime.p50;
  } finally {
    progress.end();
    await pool.shutdown({ cancelFutures: true });
  }

  const sorted = [...warm].sort((a, b) => a - b);
  const coldSpread = spread(cold);
  const result: BenchResult = {
    module: given,
    task,
    args,
    backend: kind === 'thread' ? 'ThreadPool' : 'ProcessPool',
    workers,
    node: process.version,
    cold: { ...coldSpread, runs: coldRuns, importMs: spread(imports), taskMs: spread(tasks) },
    poolStartMs,
    warm: {
      calls,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      mean: warm.reduce((a, b) => a + b, 0) / calls,
      min: sorted[0],
      max: sorted[sorted.length - 1],
      taskP50: warmTask,
    },
    coldOverWarm: coldSpread.median / percentile(sorted, 0.5),
    overheadColdOverWarm: (coldSpread.median - spread(tasks).median) / Math.max(percentile(sorted, 0.5) - warmTask, 1e-3),
  };

  if (values.svg !== undefined) writeFileSync(values.svg, svg(result, fresh));
  if (values.json === true) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(table(result, fresh));
  return 0;
}

function ratio(x: number): string {
  return x >= 10 ? `${Math.round(x).toLocaleString('en-US')}×` : `${x.toFixed(1)}×`;
}

function table(r: BenchResult, fresh: string): string {
  const rows: [string, string, string][] = [
    [
      `cold call: ${fresh}, import, task, exit`,
      formatMs(r.cold.median),
      `${formatMs(r.cold.min)} – ${formatMs(r.cold.max)} over ${r.cold.runs}`,
    ],
    [
      '  of which the module import',
      formatMs(r.cold.importMs.median),
      `${formatMs(r.cold.importMs.min)} – ${formatMs(r.cold.importMs.max)}`,
    ],
    ['  of which the task', formatMs(r.cold.taskMs.median), `${formatMs(r.cold.taskMs.min)} – ${formatMs(r.cold.taskMs.max)}`],
    [`pool start to first result`, formatMs(r.poolStartMs), count(r.workers, 'worker')],
    ['warm call, p50', formatMs(r.warm.p50), `over ${count(r.warm.calls, 'call')}`],
    ['  of which the task (in the worker), p50', formatMs(r.warm.taskP50), ''],
    ['warm call, p99', formatMs(r.warm.p99), `max ${formatMs(r.warm.max)}`],
    ['cold / warm (median / p50)', ratio(r.coldOverWarm), ''],
    ["cold / warm, the task's own time left out", ratio(r.overheadColdOverWarm), 'what the warm pool saves'],
  ];
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  return [
    `warmpool bench: ${r.task}(${r.args.map((a) => JSON.stringify(a)).join(', ')}) from ${r.module} — ${r.backend}, Node ${r.node}`,
    '',
    ...rows.map(([a, b, c]) => `${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`.trimEnd()),
    '',
  ].join('\n');
}

function svg(r: BenchResult, fresh: string): string {
  const bars: Bar[] = [
    { label: `cold call (${fresh})`, value: r.cold.median, kind: 'cold' },
    { label: 'module import alone', value: r.cold.importMs.median, kind: 'cold' },
    { label: 'pool start to first result', value: r.poolStartMs, kind: 'cold' },
    { label: `warm ${r.backend}, p50`, value: r.warm.p50, kind: 'warm' },
    { label: `warm ${r.backend}, p99`, value: r.warm.p99, kind: 'warm' },
  ];
  return barChart(
    `Cold versus warm: ${r.task} from ${basename(r.module)} (log scale)`,
    `warmpool bench — Node ${r.node}, ${r.backend}, ${count(r.cold.runs, 'cold call')}, ${count(r.warm.calls, 'warm call')}; cold / warm ${ratio(r.coldOverWarm)}`,
    bars,
  );
}
