// One bench unit in a fresh process: `node dist/bench/scenario.js <unit> [--quick]`.
// Prints one JSON line, { figures, facts }, on stdout; throws (exit code 1)
// on a wrong result. bench/run.ts runs every unit in rotated order over
// several rounds and aggregates.
//
// Units: cold, warm, pinned, throughput:<adapter>, cpu-map:<adapter|sequential>,
// busy:<ProcessPool|ThreadPool>,
// tiny-map:<variant>, payload:<adapter>, start:<adapter>, import:<library>,
// grain:<adapter>/<submit|map>, memory:<process adapter>,
// heavy:<sequential|ProcessPool|ThreadPool>.

import { execFileSync, fork } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { Worker } from 'node:worker_threads';
import { work } from './fixtures/tasks.js';
import { adapterByName, allAdapters, warmpool, type Adapter } from './peers.js';
import { busyShares } from './busy.js';
import { calibrate } from './calibrate.js';
import { childPingPong, spawnEchoChild, stopChild } from './raw-ipc.js';
import { grainSizes, sizes } from './sizes.js';
import type { ColdReport } from '../lib/cli/cold.js';

const [unit = '', ...rest] = process.argv.slice(2);
const quick = rest.includes('--quick');

const SIZES = sizes(quick);

const figures: Record<string, number> = {};
const facts: Record<string, string | boolean> = {};

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`bench: wrong result in ${unit}: ${what}`);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

const lightHref = new URL('./fixtures/tasks.js', import.meta.url).href;
const heavyHref = new URL('./fixtures/heavy.js', import.meta.url).href;
// The cold-call entry `warmpool bench` uses: a process (over IPC) or a thread (workerData) imports, runs once, reports, exits.
const coldEntry = new URL('../lib/cli/cold.js', import.meta.url);

/** Starts an adapter and waits for its first result, so every worker is warm before timing starts. */
async function started(a: Adapter, workers = SIZES.workers): Promise<Adapter> {
  await a.start(workers);
  await Promise.all(Array.from({ length: workers * 4 }, (_, i) => a.call('add', [i, 1])));
  return a;
}

async function sequentialCalls(a: Adapter, n: number, offset = 0): Promise<number[]> {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await a.call('add', [offset + i, 1]);
    out[i] = performance.now() - t0;
    check(r === offset + i + 1, `${a.name} returned ${String(r)} for add(${offset + i}, 1)`);
  }
  return out;
}

/** One cold call on a new process: fork + import + one task + exit, ms. */
async function coldFork(href: string): Promise<number> {
  const t0 = performance.now();
  const child = fork(fileURLToPath(coldEntry), [href, 'add', '[20,22]'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit');
  const [report] = (await once(child, 'message')) as [ColdReport];
  await exited;
  check(report.ok && report.result === 42, `cold fork reported ${JSON.stringify(report)}`);
  return performance.now() - t0;
}

/** One cold call on a new thread: new Worker + import + one task + exit, ms. */
async function coldThread(href: string): Promise<number> {
  const t0 = performance.now();
  const w = new Worker(coldEntry, { workerData: { href, name: 'add', args: [20, 22] } });
  const exited = once(w, 'exit');
  const [report] = (await once(w, 'message')) as [ColdReport];
  await exited;
  check(report.ok && report.result === 42, `cold Worker reported ${JSON.stringify(report)}`);
  return performance.now() - t0;
}

async function cold(): Promise<void> {
  const variants: [string, () => Promise<number>][] = [
    ['cold.fork', () => coldFork(lightHref)],
    ['cold.worker', () => coldThread(lightHref)],
    ['cold.forkHeavy', () => coldFork(heavyHref)],
    ['cold.workerHeavy', () => coldThread(heavyHref)],
  ];
  const xs: Record<string, number[]> = {};
  for (let i = 0; i < SIZES.coldCalls; i++) {
    for (const [key, run] of variants) (xs[key] ??= []).push(await run());
  }
  for (const [key, v] of Object.entries(xs)) figures[key] = pct(v, 0.5);
  // The warm side of the heavy-import ratio, measured in the same process.
  for (const kind of ['ProcessPool', 'ThreadPool'] as const) {
    const a = await started(warmpool(kind, 'heavy'), 1);
    await sequentialCalls(a, 200);
    figures[`warmHeavy.${kind}.p50`] = pct(await sequentialCalls(a, SIZES.warmCalls), 0.5);
    await a.close();
  }
}

async function warm(): Promise<void> {
  const adapters = allAdapters();
  for (const a of adapters) await started(a);
  for (const a of adapters) await sequentialCalls(a, 200);
  // Blocks of calls alternate between adapters, in an order rotated every
  // block, so that each sees the same share of whatever the machine is doing.
  const block = Math.min(200, SIZES.warmCalls);
  const lat: Record<string, number[]> = {};
  for (let b = 0; b * block < SIZES.warmCalls; b++) {
    for (let k = 0; k < adapters.length; k++) {
      const a = adapters[(k + b) % adapters.length];
      (lat[a.name] ??= []).push(...(await sequentialCalls(a, block, b * block)));
    }
  }
  for (const a of adapters) {
    figures[`warm.${a.name}.p50`] = pct(lat[a.name], 0.5);
    figures[`warm.${a.name}.p99`] = pct(lat[a.name], 0.99);
  }
  await Promise.all(adapters.map((a) => a.close()));
}

/** Pins every thread of a process to `cpus` with taskset; false where that cannot be done. */
function pin(pid: number, cpus: string): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function pinned(): Promise<void> {
  // A round trip on this kind of machine is dominated by how fast the kernel
  // wakes the other process, which depends on where it places the two. To
  // compare like with like, the parent, the pool's one worker and a raw echo
  // child (serialization 'json', callback-driven: the transport alone) are
  // pinned, first to two cores, then all to one, and blocks of pool and raw
  // calls alternate.
  const a = await started(warmpool('ProcessPool'), 1);
  const workerPid = (await a.call('pid', [])) as number;
  const rawChild = await spawnEchoChild('json');
  await sequentialCalls(a, 500);
  await childPingPong(rawChild, 500);
  const placements: [string, string, string][] =
    availableParallelism() > 1
      ? [
          ['cross', '0', '1'],
          ['same', '0', '0'],
        ]
      : [
          ['cross', '0', '0'],
          ['same', '0', '0'],
        ];
  let ok = true;
  for (const [regime, parentCpu, childCpu] of placements) {
    ok = pin(process.pid, parentCpu) && pin(workerPid, childCpu) && pin(rawChild.pid!, childCpu) && ok;
    const pool: number[] = [];
    const rawLat: number[] = [];
    const block = Math.max(50, Math.floor(SIZES.warmCalls / 10));
    for (let b = 0; b < 10; b++) {
      pool.push(...(await sequentialCalls(a, block)));
      rawLat.push(...(await childPingPong(rawChild, block)));
    }
    figures[`pinned.${regime}.pool`] = pct(pool, 0.5);
    figures[`pinned.${regime}.raw`] = pct(rawLat, 0.5);
  }
  facts.pinned = ok;
  await Promise.all([a.close(), stopChild(rawChild)]);
}

async function throughput(name: string): Promise<void> {
  const a = await started(adapterByName(name));
  const n = SIZES.throughputTasks;
  const futures = new Array<PromiseLike<unknown>>(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) futures[i] = a.call('add', [i, 1]);
  const results = await Promise.all(futures);
  figures[`throughput.${name}`] = n / ((performance.now() - t0) / 1000);
  for (let i = 0; i < n; i++) check(results[i] === i + 1, `${name} throughput result ${i} is ${String(results[i])}`);
  await a.close();
}

const expectedWork = work(SIZES.cpuSteps);

async function cpuMap(name: string): Promise<void> {
  const items = new Array<number>(SIZES.cpuItems).fill(SIZES.cpuSteps);
  let results: unknown[];
  const t0 = performance.now();
  if (name === 'sequential') {
    results = items.map((n) => work(n));
    figures['cpuMap.sequential'] = performance.now() - t0;
  } else {
    const a = await started(adapterByName(name));
    const t1 = performance.now();
    results = a.map ? await a.map('work', items) : await Promise.all(items.map((n) => a.call('work', [n])));
    figures[`cpuMap.${name}`] = performance.now() - t1;
    facts[`cpuMap.${name}.how`] = a.map ? 'map' : 'one call per item';
    await a.close();
  }
  check(results.length === items.length && results.every((r) => r === expectedWork), `${name} CPU-bound map results`);
}

/**
 * busy:<ProcessPool|ThreadPool>: the CPU-bound map of cpu-map, with each
 * worker's busy share (its tasks' run times, as the workers report them /
 * the map's wall time; bench/busy.ts). Its own unit: the subscriber it needs
 * must not weigh on cpu-map's timing.
 */
async function busy(kind: string): Promise<void> {
  check(kind === 'ProcessPool' || kind === 'ThreadPool', `busy: expected ProcessPool or ThreadPool, got ${kind}`);
  const a = await started(warmpool(kind as 'ProcessPool' | 'ThreadPool'));
  const items = new Array<number>(SIZES.cpuItems).fill(SIZES.cpuSteps);
  const { shares, min, results } = await busyShares({ map: (name, xs) => a.map!(name, xs) }, 'work', items, SIZES.workers);
  await a.close();
  check(results.length === items.length && results.every((r) => r === expectedWork), `${kind} CPU-bound map results (busy)`);
  figures[`busy.${kind}.min`] = min;
  shares.forEach((v, i) => (figures[`busy.${kind}.w${i}`] = v));
}

/** tiny-map variants: `<adapter>-default`, `<adapter>-chunk1` (warmpool map), `piscina-run` (one run per item). */
async function tinyMap(variant: string): Promise<void> {
  const [name, how] = variant.split(/-(?=[^-]+$)/) as [string, string];
  const a = await started(adapterByName(name));
  const items = Array.from({ length: SIZES.tinyItems }, (_, i) => i);
  const t0 = performance.now();
  const results =
    how === 'run'
      ? await Promise.all(items.map((x) => a.call('square', [x])))
      : await a.map!('square', items, how === 'chunk1' ? { chunksize: 1 } : {});
  figures[`tinyMap.${variant}`] = items.length / ((performance.now() - t0) / 1000);
  for (let i = 0; i < items.length; i++) check(results[i] === i * i, `${variant} item ${i} is ${String(results[i])}`);
  await a.close();
}

/** work() steps per µs in this thread: the fastest of a few timed runs, after a warm-up that lets the JIT optimise it. */
function sequentialMs(items: number[], expected: number): number {
  const t0 = performance.now();
  const results = items.map((n) => work(n));
  const ms = performance.now() - t0;
  check(
    results.every((r) => r === expected),
    'sequential work results',
  );
  return ms;
}

/**
 * How small can a task be: for each item size, the same items run
 * sequentially in this thread and through the pool (`submit` per item under
 * Promise.all, or the library's map), speedup = sequential / pool. The
 * sequential run brackets the pool run (before and after, averaged) so a
 * drift of the machine's speed hits both sides.
 */
async function grain(arg: string): Promise<void> {
  const [name, mode] = arg.split('/') as [string, 'submit' | 'map'];
  const a = await started(adapterByName(name));
  if (mode === 'map' && !a.map) throw new Error(`bench: ${name} has no map`);
  const g = grainSizes(quick);
  const stepsPerUs = calibrate();
  // The workers' JIT optimises work() before the clock starts, as the main thread's did in calibrate().
  await Promise.all(Array.from({ length: 100 }, () => a.call('work', [Math.round(100 * stepsPerUs)])));
  for (const size of g.sizesUs) {
    const steps = Math.max(1, Math.round(size * stepsPerUs));
    const items = new Array<number>(Math.max(g.minItems, Math.round(g.budgetUs / size))).fill(steps);
    const expected = work(steps);
    const before = sequentialMs(items, expected);
    const t0 = performance.now();
    const results = mode === 'map' ? await a.map!('work', items) : await Promise.all(items.map((n) => a.call('work', [n])));
    const poolMs = performance.now() - t0;
    const after = sequentialMs(items, expected);
    check(results.length === items.length && results.every((r) => r === expected), `${name} ${mode} results at ${size} µs`);
    figures[`grain.${name}.${mode}.${size}`] = (before + after) / 2 / poolMs;
    // What one item really cost in this main thread, to check the calibration.
    figures[`grainItemUs.${size}`] = ((before + after) / 2 / items.length) * 1000;
  }
  await a.close();
}

/** A /proc/<pid> figure in MB: `VmRSS` of status, or `Pss` of smaps_rollup (shared pages split between the processes that map them). */
function procMb(pid: number, file: 'status' | 'smaps_rollup', field: 'VmRSS' | 'Pss'): number {
  const m = readFileSync(`/proc/${pid}/${file}`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  if (!m) throw new Error(`bench: no ${field} in /proc/${pid}/${file}`);
  return Number(m[1]) / 1024;
}

/** ms between two readings of the workers' RSS while waiting for it to settle, and at most how many readings. */
const SETTLE_MS = 500;
const SETTLE_READS = 10;

/** Idle memory of each worker process of a pool that has imported the task module and run a few tasks. */
async function memory(name: string): Promise<void> {
  if (!existsSync('/proc/self/smaps_rollup') || !existsSync(`/proc/self/task/${process.pid}/children`)) {
    facts.memory = 'not measured: no /proc/<pid>/smaps_rollup or /proc/<pid>/task/<tid>/children on this system';
    return;
  }
  const n = SIZES.memoryWorkers;
  const a = await started(adapterByName(name), n);
  // Every pool's workers are this process's children (whichever pool
  // answers a burst of tasks is the pool's choice, so asking them is no way
  // to find them all); each has answered a task when every one has started.
  const children = (): number[] =>
    readdirSync('/proc/self/task').flatMap((tid) =>
      readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number),
    );
  await Promise.all(Array.from({ length: 8 * n }, () => a.call('add', [1, 1])));
  const pids = children();
  check(pids.length === n, `${name}: this process has ${pids.length} child processes (${pids.join(', ')}), expected its ${n} workers`);
  // Idle means settled: V8 may still be compiling what the start made hot
  // (Node's module resolver, in a worker that loads many modules) on a
  // background thread, paging in its optimizing compiler, some MB of RSS
  // that a reading taken at once catches or misses by chance. Read until no
  // worker's RSS moved over a quiet interval; nothing signals that V8 is done.
  let rss = pids.map((pid) => procMb(pid, 'status', 'VmRSS'));
  for (let i = 0; i < SETTLE_READS; i++) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const again = pids.map((pid) => procMb(pid, 'status', 'VmRSS'));
    const settled = again.every((v, j) => v === rss[j]);
    rss = again;
    if (settled) break;
  }
  const pss = pids.map((pid) => procMb(pid, 'smaps_rollup', 'Pss'));
  figures[`memory.${name}.rss`] = pct(rss, 0.5);
  figures[`memory.${name}.pss`] = pct(pss, 0.5);
  if (name === 'ProcessPool') {
    const { deathSignalLauncher } = await import('../lib/process/adapter.js');
    const launcher = deathSignalLauncher();
    facts.processDeathSignal = launcher
      ? `the kernel's parent-death signal (\`${launcher} --pdeathsig KILL\`), no watchdog thread`
      : 'a watchdog thread polling the parent pid (no usable setpriv here)';
  }
  await a.close();
}

/** The heavy workload's batch: this package's own TypeScript sources under lib/, the largest first. */
function heavyBatch(): string[] {
  const dir = fileURLToPath(new URL('../../lib/', import.meta.url));
  // Recursive: lib/ is folders by backend since the engine core (lib/*.ts alone is three files).
  const names = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .sort();
  const files = names.map((f) => readFileSync(join(dir, f), 'utf8'));
  files.sort((a, b) => b.length - a.length);
  check(files.length >= SIZES.heavyFiles, `lib/ has ${files.length} .ts files, the heavy batch needs ${SIZES.heavyFiles}`);
  return files.slice(0, SIZES.heavyFiles);
}

type Transpile = typeof import('./fixtures/transpile.js');
const transpileUrl = new URL('./fixtures/transpile.js', import.meta.url);

/**
 * A real heavy module (TypeScript's compiler API), a batch of files from a
 * standing start and again warm. sequential: a plain process imports it and
 * runs the batch twice; the second pass's CPU time / wall time is how many
 * cores the sequential run already keeps busy (V8's compiler and collector
 * threads), so on C cores no pool can beat C / that. A pool: built with an
 * empty compile cache (its construction to ready(), a first pass, a second
 * pass), shut down, then built again on the cache the first one left.
 */
async function heavy(name: string): Promise<void> {
  const batch = heavyBatch();
  if (name === 'sequential') {
    const t0 = performance.now();
    const { transpile, version } = (await import(transpileUrl.href)) as Transpile;
    figures['heavy.sequential.import'] = performance.now() - t0;
    facts.heavyLibrary = `typescript ${version}`;
    const t1 = performance.now();
    const expected = batch.map((src) => transpile(src));
    figures['heavy.sequential.pass1'] = performance.now() - t1;
    const cpu = process.cpuUsage();
    const t2 = performance.now();
    const again = batch.map((src) => transpile(src));
    const wall = performance.now() - t2;
    const used = process.cpuUsage(cpu);
    figures['heavy.sequential.pass2'] = wall;
    figures['heavy.sequential.busy'] = (used.user + used.system) / 1000 / wall;
    check(isDeepStrictEqual(expected, again), 'sequential transpile results differ between passes');
    return;
  }
  const kind = name as 'ProcessPool' | 'ThreadPool';
  const lib = await import('../lib/index.js');
  const cacheDir = mkdtempSync(join(tmpdir(), 'warmpool-bench-cache-'));
  // Workers read NODE_COMPILE_CACHE when they enable the cache: an empty one first, then what the first pool left in it.
  process.env.NODE_COMPILE_CACHE = cacheDir;
  facts.compileCache =
    typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function'
      ? `on (Node ${process.version})`
      : `not available (Node ${process.version}; needs 22.1 or later)`;
  let first: unknown[] | undefined;
  try {
    for (const cache of ['cold', 'warm'] as const) {
      const t0 = performance.now();
      const pool = new lib[kind]<Transpile>(transpileUrl, { workers: SIZES.workers });
      await pool.ready();
      figures[`heavy.${kind}.${cache}.ready`] = performance.now() - t0;
      for (const pass of ['pass1', 'pass2'] as const) {
        const t1 = performance.now();
        const results = await pool.map('transpile', batch);
        figures[`heavy.${kind}.${cache}.${pass}`] = performance.now() - t1;
        check(
          results.length === batch.length && results.every((n) => typeof n === 'number' && n > 0),
          `${kind} transpiled ${results.length} files of ${batch.length}`,
        );
        if (first) check(isDeepStrictEqual(results, first), `${kind} transpile results differ between passes`);
        first = results;
      }
      await pool.shutdown();
    }
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

async function payload(name: string): Promise<void> {
  const a = await started(adapterByName(name));
  const bytes = new Uint8Array(SIZES.bytes);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 255;
  const objects = Array.from({ length: SIZES.objects }, (_, i) => ({
    id: i,
    name: `item ${i}`,
    score: i / 3,
    ok: i % 2 === 0,
    tags: ['a', 'b'],
  }));
  const time = async (value: unknown, reps: number): Promise<[number, unknown]> => {
    let last: unknown;
    const xs: number[] = [];
    const t = performance.now();
    for (let r = 0; r < reps + 1; r++) {
      const t0 = performance.now();
      last = await a.call('echo', [value]);
      if (r > 0) xs.push(performance.now() - t0); // the first is a warm-up
      // A peer that takes a second per round trip would make the run take minutes.
      if (r >= 1 && performance.now() - t > SIZES.payloadBudgetMs) break;
    }
    return [pct(xs, 0.5), last];
  };
  const [bytesMs, bytesBack] = await time(bytes, SIZES.bytesReps);
  const [objectsMs, objectsBack] = await time(objects, SIZES.objectsReps);
  figures[`payload.${name}.bytes`] = bytesMs;
  figures[`payload.${name}.objects`] = objectsMs;
  const typeBack = (bytesBack as object | null)?.constructor?.name ?? typeof bytesBack;
  const bytesEqual = bytesBack instanceof Uint8Array && Buffer.compare(bytesBack, bytes) === 0;
  const objectsEqual = isDeepStrictEqual(objectsBack, objects);
  facts[`payload.${name}.bytesType`] = typeBack;
  facts[`payload.${name}.bytesEqual`] = bytesEqual;
  facts[`payload.${name}.objectsEqual`] = objectsEqual;
  // warmpool promises structured clone: a value that comes back changed is a bug, not a column.
  if (a.library === 'warmpool') {
    check(bytesEqual, `${name} returned the 1 MiB Uint8Array as ${typeBack}`);
    check(objectsEqual, `${name} returned the small objects changed`);
  }
  await a.close();
}

async function start(name: string): Promise<void> {
  const a = adapterByName(name);
  // The library is imported (and timed) elsewhere: here only construction to first result counts.
  const t0 = performance.now();
  await a.start(SIZES.workers);
  const r = await a.call('add', [1, 1]);
  figures[`start.${name}`] = performance.now() - t0;
  check(r === 2, `${name} first result ${String(r)}`);
  await a.close();
  if (name === 'ProcessPool' || name === 'ThreadPool') {
    const h = warmpool(name, 'heavy');
    const t1 = performance.now();
    await h.start(SIZES.workers);
    check((await h.call('add', [1, 1])) === 2, `${name} heavy first result`);
    figures[`start.${name}.heavy`] = performance.now() - t1;
    await h.close();
  }
}

async function importTime(library: string): Promise<void> {
  const spec = library === 'warmpool' ? '../lib/index.js' : library;
  const t0 = performance.now();
  await import(spec);
  figures[`import.${library}`] = performance.now() - t0;
}

// adapterByName is used for 'start' too: make sure the library is loaded before the clock starts.
async function preload(name: string): Promise<void> {
  const a = adapterByName(name);
  if (a.library === 'warmpool') await import('../lib/index.js');
  else if (a.library) await import(a.library);
}

const [kind, arg = ''] = unit.split(':') as [string, string?];
switch (kind) {
  case 'cold':
    await cold();
    break;
  case 'warm':
    await warm();
    break;
  case 'pinned':
    await pinned();
    break;
  case 'throughput':
    await throughput(arg);
    break;
  case 'cpu-map':
    await cpuMap(arg);
    break;
  case 'busy':
    await busy(arg);
    break;
  case 'tiny-map':
    await tinyMap(arg);
    break;
  case 'payload':
    await payload(arg);
    break;
  case 'start':
    await preload(arg);
    await start(arg);
    break;
  case 'import':
    await importTime(arg);
    break;
  case 'grain':
    await grain(arg);
    break;
  case 'memory':
    await memory(arg);
    break;
  case 'heavy':
    await heavy(arg);
    break;
  default:
    throw new Error(`bench: unknown unit ${unit}`);
}
process.stdout.write(`${JSON.stringify({ figures, facts })}\n`);
