// `npm run bench`: cold versus warm, warm round trips, throughput, CPU-bound
// and tiny-item maps, payloads and start-up, for warmpool and its peers
// (piscina, tinypool, workerpool) and the raw Node baselines.
//
//   node dist/bench/run.js [--quick] [--rounds=N] [--only=<unit prefix>,...]
//   node dist/bench/run.js --compare <git ref> [--rounds=N] [--quick] [--only=...]
//
// Every unit (bench/scenario.ts) runs in a fresh process; units run in an
// order rotated every round; figures are medians over rounds with min–max.
// A full run writes bench/results/latest.json, docs/benchmarks.md,
// docs/img/cold-vs-warm.svg and docs/img/granularity.svg. --quick finishes
// in well under a minute and checks every result for correctness (CI runs
// it); it says nothing about speed and writes nothing. --compare runs an A/B of the working tree's
// build against another commit's instead (bench/compare.ts) and writes nothing.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { hasTaskset, progress } from './machine.js';
import { allAdapters } from './peers.js';
import { grainSizes, sizes } from './sizes.js';
import { stat, tables, writeDocs, writeResults, type Results } from './report.js';

const run = promisify(execFile);
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const roundsArg = argv.find((a) => a.startsWith('--rounds='));
const ROUNDS = roundsArg ? Number(roundsArg.slice(9)) : quick ? 1 : 3;
const only = argv
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const scenarioJs = fileURLToPath(new URL('./scenario.js', import.meta.url));
const LIBRARIES = ['warmpool', 'piscina', 'tinypool', 'workerpool', 'poolifier'];

function version(lib: string): string {
  const path = lib === 'warmpool' ? '../../package.json' : `../../node_modules/${lib}/package.json`;
  return (JSON.parse(readFileSync(fileURLToPath(new URL(path, import.meta.url)), 'utf8')) as { version: string }).version;
}

async function main(): Promise<void> {
  // The raw JSON IPC baseline carries only what JSON does: it is a rate to divide by (throughput, warm), not a pool to check payloads or memory on.
  const throughputOnly = new Set(['raw-ipc-json']);
  const names = allAdapters()
    .map((a) => a.name)
    .filter((n) => !throughputOnly.has(n));
  const warmKinds = ['ProcessPool', 'ThreadPool'];
  const oneCore = hasTaskset();
  // A unit is `<scenario>[:<arg>]`; `@1core` runs it under `taskset -c 0`.
  let units = [
    'cold',
    'warm',
    // --quick checks results; these only time what other units already check.
    ...(oneCore && !quick ? ['warm@1core'] : []),
    'pinned',
    ...allAdapters().map((a) => `throughput:${a.name}`),
    'cpu-map:sequential',
    ...names.map((n) => `cpu-map:${n}`),
    // Each worker's share of the CPU-bound map's wall time spent in tasks (bench/busy.ts).
    ...warmKinds.map((k) => `busy:${k}`),
    ...warmKinds.flatMap((k) => [`tiny-map:${k}-default`, `tiny-map:${k}-chunk1`]),
    'tiny-map:piscina-run',
    ...names.map((n) => `payload:${n}`),
    // Idle memory per worker process, for every pool that runs its workers in processes.
    ...allAdapters()
      .filter((a) => a.runtime === 'process' && !throughputOnly.has(a.name))
      .map((a) => `memory:${a.name}`),
    // A real heavy module (TypeScript's compiler), standing start and warm, against a plain process; seconds per unit, timing only.
    ...(quick ? [] : ['heavy:sequential', 'heavy:ProcessPool', 'heavy:ThreadPool']),
    // How small can a task be: every library's pool (not the raw baselines), per task and through its own map.
    ...allAdapters()
      .filter((a) => a.library)
      .flatMap((a) => [`grain:${a.name}/submit`, ...(a.map ? [`grain:${a.name}/map`] : [])]),
    // Every other unit starts each adapter and checks its results: in --quick these would only time it.
    ...(quick ? [] : names.map((n) => `start:${n}`)),
    ...(quick ? [] : LIBRARIES.map((l) => `import:${l}`)),
  ];
  if (only) units = units.filter((u) => only.some((p) => u.startsWith(p)));

  const samples: Record<string, number[]> = {};
  const facts: Record<string, string | boolean> = {};
  const started = performance.now();
  const load = loadavg();
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order each round so no unit always runs first (or last) on a noisy machine.
    const offset = Math.floor((round * units.length) / ROUNDS);
    for (let i = 0; i < units.length; i++) {
      const unit = units[(i + offset) % units.length];
      const elapsed = ((performance.now() - started) / 1000).toFixed(0);
      progress(`bench: round ${round + 1}/${ROUNDS}, unit ${i + 1}/${units.length}: ${unit} (${elapsed} s)`);
      const [name, placement] = unit.split('@');
      const args = [scenarioJs, name, ...(quick ? ['--quick'] : [])];
      let stdout: string;
      try {
        ({ stdout } =
          placement === '1core'
            ? await run('taskset', ['-c', '0', process.execPath, ...args], { maxBuffer: 1 << 20 })
            : await run(process.execPath, args, { maxBuffer: 1 << 20 }));
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`bench: unit ${unit} failed:\n${e.stderr || e.message}`);
      }
      const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
        figures: Record<string, number>;
        facts: Record<string, string | boolean>;
      };
      for (const [k, v] of Object.entries(out.figures)) {
        const key = placement === '1core' ? k.replace(/^warm\./, 'warm1core.') : k;
        (samples[key] ??= []).push(v);
      }
      Object.assign(facts, out.facts);
    }
  }
  progress(`bench: done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (process.stderr.isTTY) process.stderr.write('\n');

  const results: Results = {
    date: new Date().toISOString(),
    command: `npm run bench${quick ? ' -- --quick' : ''}${roundsArg ? ` -- ${roundsArg}` : ''}`,
    machine: {
      cores: availableParallelism(),
      cpu: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: process.platform,
      loadAverage: load,
    },
    versions: Object.fromEntries(LIBRARIES.map((l) => [l, version(l)])),
    rounds: ROUNDS,
    quick,
    seconds: Math.round((performance.now() - started) / 1000),
    sizes: sizes(quick),
    grain: grainSizes(quick),
    adapters: allAdapters().map(({ name, label, runtime, library, shim }) => ({ name, label, runtime, library, shim })),
    figures: Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, stat(xs)])),
    facts,
  };
  console.log(
    `warmpool bench — Node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), ${ROUNDS} round(s)${quick ? ', --quick (correctness only: the figures mean nothing)' : ''}\n`,
  );
  console.log(tables(results).join('\n'));
  if (!quick && !only) {
    writeResults(results);
    writeDocs(results);
    console.log('wrote bench/results/latest.json, docs/benchmarks.md, docs/img/cold-vs-warm.svg and docs/img/granularity.svg');
  }
}

const compareAt = argv.findIndex((a) => a === '--compare' || a.startsWith('--compare='));
if (compareAt >= 0) {
  const ref = argv[compareAt].startsWith('--compare=') ? argv[compareAt].slice(10) : argv[compareAt + 1];
  if (!ref || ref.startsWith('--'))
    throw new Error(`bench: expected a git ref after --compare, got ${ref === undefined ? 'nothing' : `\`${ref}\``}`);
  const { compare } = await import('./compare.js');
  await compare(ref, { quick, rounds: roundsArg ? ROUNDS : undefined, only });
} else {
  await main();
  // RemotePool's section (redis-server and two `warmpool worker` hosts): bench/remote.ts; with --only, when asked for by `--only=remote`.
  if (!only || only.includes('remote')) await (await import('./remote.js')).remoteSection(quick);
}
