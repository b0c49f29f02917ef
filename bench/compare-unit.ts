// One unit of `npm run bench -- --compare <ref>` in a fresh process:
//
//   node dist/bench/compare-unit.js <entry> <scenario> [--quick]
//
// <entry> is the absolute path of one build's public entry (its package.json
// `exports['.']`), so the same unit code drives the working tree's build and
// the ref's, whatever the files behind that entry are called. Prints one JSON
// line, { figures }, on stdout; throws (exit code 1) on a wrong result.
//
// Scenarios are those where the pool's own cost decides (bench/compare.ts):
// roundtrip:<Kind>, throughput:<Kind>, map:<Kind> (Kind = ProcessPool or
// ThreadPool), busy:<Kind> (the least busy worker's share of a CPU-bound
// map's wall time, bench/busy.ts), local (LocalPool's submit rate), and
// raw:<Kind>: the raw per-message rate of that kind's transport
// (./raw-pool.ts: Node's JSON IPC for ProcessPool, the faster of its two
// serializations, or postMessage for ThreadPool; one message per call each
// way, nothing batched), the same calls as throughput:<Kind>, so that the two
// divide. raw: does not load <entry>; it runs for both builds like any unit,
// which shows the noise. payload:<Kind> is the median round trip of `echo`
// with a Uint8Array of compareSizes().payloadBytes (checked equal on
// return), and payload-raw:ProcessPool the same over Node's IPC with
// serialization 'advanced' (the transport of the fastest process peer,
// tinypool's 'advanced' child_process runtime), to divide by.
// grain:<Kind>/<submit|map>/<µs> is the granularity sweep at one size
// (bench/scenario.ts grain:), work() calibrated to about <µs> per item,
// each run bracketed by the same items run sequentially here (before and
// after, averaged). submit: bursts of `submit` (one call per item under
// Promise.all); it reports the median speedup over sequential and the median
// of the least busy worker's share of the burst's wall time (./busy.ts),
// which shows a worker waiting for the parent between calls. map: the
// median speedup of compareSizes().grainMaps maps with the default chunking
// (the goal's size is 10 µs).

import { pathToFileURL } from 'node:url';
import { busyShares, busySharesOf } from './busy.js';
import { timeWork, work, workStepsPerUs } from './fixtures/tasks.js';
import { RawPool } from './raw-pool.js';
import { compareSizes, grainSizes } from './sizes.js';

interface Pool {
  submit(name: string, args: unknown[]): PromiseLike<unknown>;
  map(name: string, items: unknown[]): Promise<unknown[]>;
  ready(): Promise<void>;
  shutdown(): Promise<void>;
}
type PoolClass = new (module: URL, options: { workers: number }) => Pool;

const [entry = '', scenario = '', ...rest] = process.argv.slice(2);
const quick = rest.includes('--quick');

const COMPARE_SIZES = compareSizes(quick);

const tasksUrl = new URL('./fixtures/tasks.js', import.meta.url);
const figures: Record<string, number> = {};

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`bench --compare: wrong result in ${scenario} (${entry}): ${what}`);
}

function quantile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

async function roundTrips(pool: Pool, n: number): Promise<number[]> {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await pool.submit('add', [i, 1]);
    out[i] = performance.now() - t0;
    check(r === i + 1, `add(${i}, 1) gave ${String(r)}`);
  }
  return out;
}

async function submitRate(pool: Pick<Pool, 'submit'>, n: number): Promise<number> {
  const futures = new Array<PromiseLike<unknown>>(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) futures[i] = pool.submit('add', [i, 1]);
  const results = await Promise.all(futures);
  const rate = n / ((performance.now() - t0) / 1000);
  for (let i = 0; i < n; i++) check(results[i] === i + 1, `task ${i} gave ${String(results[i])}`);
  return rate;
}

/** Median ms of sequential `echo` round trips of a Uint8Array, after untimed ones; every one checked. */
async function payloadMs(pool: Pick<Pool, 'submit'>): Promise<number> {
  const bytes = new Uint8Array(COMPARE_SIZES.payloadBytes);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 255;
  const xs: number[] = [];
  for (let i = 0; i < COMPARE_SIZES.payloadWarmup + COMPARE_SIZES.payloadTrips; i++) {
    const t0 = performance.now();
    const back = await pool.submit('echo', [bytes]);
    if (i >= COMPARE_SIZES.payloadWarmup) xs.push(performance.now() - t0);
    check(back instanceof Uint8Array && Buffer.compare(back, bytes) === 0, `echo of ${bytes.length} bytes came back as ${String(back)}`);
  }
  return quantile(xs, 0.5);
}

const [kind, arg = ''] = scenario.split(':');
if (kind === 'payload-raw') {
  const raw = await RawPool.start('process', tasksUrl.href, COMPARE_SIZES.workers, 'advanced');
  await Promise.all(Array.from({ length: COMPARE_SIZES.workers * 4 }, (_, i) => raw.call('add', [i, 1])));
  figures.ms = await payloadMs({ submit: (name: string, args: unknown[]) => raw.call(name, args) });
  await raw.close();
  process.stdout.write(`${JSON.stringify({ figures })}\n`);
  process.exit(0);
}
if (kind === 'raw') {
  const raw = await RawPool.start(arg === 'ProcessPool' ? 'process' : 'thread', tasksUrl.href, COMPARE_SIZES.workers, 'json');
  const asPool = { submit: (name: string, args: unknown[]) => raw.call(name, args) };
  await Promise.all(Array.from({ length: COMPARE_SIZES.workers * 4 }, (_, i) => raw.call('add', [i, 1])));
  figures.rate = await submitRate(asPool, COMPARE_SIZES.tasks);
  await raw.close();
  process.stdout.write(`${JSON.stringify({ figures })}\n`);
  process.exit(0);
}
const lib = (await import(pathToFileURL(entry).href)) as Record<string, PoolClass>;
const className = kind === 'local' ? 'LocalPool' : arg.split('/')[0];
const Pool = lib[className];
if (typeof Pool !== 'function') throw new Error(`bench --compare: ${entry} exports no ${className}`);
const pool = new Pool(tasksUrl, { workers: COMPARE_SIZES.workers });
await pool.ready();
// Every worker has imported the module and run a few tasks before any clock starts.
await Promise.all(Array.from({ length: COMPARE_SIZES.workers * 4 }, (_, i) => pool.submit('add', [i, 1])));

switch (kind) {
  case 'roundtrip': {
    await roundTrips(pool, 200);
    const lat = await roundTrips(pool, COMPARE_SIZES.roundTrips);
    figures.p50 = quantile(lat, 0.5) * 1000;
    figures.p99 = quantile(lat, 0.99) * 1000;
    break;
  }
  case 'throughput':
  case 'local':
    figures.rate = await submitRate(pool, COMPARE_SIZES.tasks);
    break;
  case 'map': {
    const items = Array.from({ length: COMPARE_SIZES.items }, (_, i) => i);
    const t0 = performance.now();
    const results = await pool.map('square', items);
    figures.rate = items.length / ((performance.now() - t0) / 1000);
    for (let i = 0; i < items.length; i++) check(results[i] === i * i, `square(${i}) gave ${String(results[i])}`);
    break;
  }
  case 'payload':
    figures.ms = await payloadMs(pool);
    break;
  case 'busy': {
    const items = new Array<number>(COMPARE_SIZES.cpuItems).fill(COMPARE_SIZES.cpuSteps);
    const expected = work(COMPARE_SIZES.cpuSteps);
    const { min, results } = await busyShares(pool, 'work', items, COMPARE_SIZES.workers);
    figures.min = min;
    check(results.length === items.length && results.every((r) => r === expected), 'a work() result is wrong');
    break;
  }
  case 'grain': {
    const [, mode, us] = arg.split('/');
    if ((mode !== 'submit' && mode !== 'map') || !(Number(us) > 0)) {
      throw new Error(`bench --compare: expected grain:<Kind>/<submit|map>/<µs>, got ${scenario}`);
    }
    const steps = Math.max(1, Math.round(Number(us) * workStepsPerUs()));
    const { budgetUs, minItems } = grainSizes(quick);
    const items =
      mode === 'map'
        ? new Array<number>(Math.max(minItems, Math.round(budgetUs / Number(us)))).fill(steps)
        : new Array<number>(Math.max(20, Math.round(COMPARE_SIZES.grainBudgetUs / Number(us)))).fill(steps);
    const expected = work(steps);
    const sequentialMs = (): number => {
      const { ms, results } = timeWork(items);
      check(
        results.every((r) => r === expected),
        'a sequential work() result is wrong',
      );
      return ms;
    };
    // The workers' JIT optimises work() and the pool measures its cost at this size before any clock starts.
    await Promise.all(Array.from({ length: 10 * COMPARE_SIZES.workers }, () => pool.submit('work', [steps])));
    const speedups: number[] = [];
    if (mode === 'map') {
      for (let r = 0; r < COMPARE_SIZES.grainMaps; r++) {
        const before = sequentialMs();
        const t0 = performance.now();
        const results = await pool.map('work', items);
        const poolMs = performance.now() - t0;
        const after = sequentialMs();
        check(results.length === items.length && results.every((x) => x === expected), 'a work() result of the map is wrong');
        speedups.push((before + after) / 2 / poolMs);
      }
      figures.speedup = quantile(speedups, 0.5);
      break;
    }
    const mins: number[] = [];
    for (let b = 0; b < COMPARE_SIZES.grainBursts; b++) {
      const before = sequentialMs();
      const { min, wallMs, results } = await busySharesOf(
        () => Promise.all(items.map((n) => pool.submit('work', [n]))),
        COMPARE_SIZES.workers,
      );
      const after = sequentialMs();
      check(results.length === items.length && results.every((r) => r === expected), 'a work() result is wrong');
      speedups.push((before + after) / 2 / wallMs);
      mins.push(min);
    }
    figures.speedup = quantile(speedups, 0.5);
    figures.min = quantile(mins, 0.5);
    break;
  }
  default:
    throw new Error(`bench --compare: unknown scenario ${scenario}`);
}
await pool.shutdown();
process.stdout.write(`${JSON.stringify({ figures })}\n`);
