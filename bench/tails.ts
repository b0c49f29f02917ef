// Where a warm round trip's time goes, per call, for warmpool and the peers:
// the figures behind docs/benchmarks.md's note on tails. A p99 on a shared
// machine mostly measures the neighbours; what a pool itself adds between
// calls can be counted instead: CPU per call of each thread of the parent and
// of its workers, how often each is woken (scheduler timeslices), how much the
// parent allocates (garbage brings the next scavenge closer) and what its
// scavenges cost, and how many of the slowest calls overlap one of them.
//
//   npm run build && node dist/bench/tails.js [--calls=20000] [--one-core] [--adapters=ProcessPool,raw-ipc,...] [--worker-heap]
//
//   for each adapter: a fresh process (`--unit=<adapter>`; under `taskset -c 0` with --one-core)
//     start 2 workers, 2,000 untimed calls
//     pass 1: `calls` sequential add(i, 1), each timed; /proc/<tid>/schedstat of
//             every thread of the process tree before and after; parent GCs (perf_hooks)
//     pass 2: the same calls under the sampling heap profiler, garbage included
//             (HeapProfiler.startSampling with includeObjectsCollectedBy*GC)
//     pass 3: the same again, sampling only what outlived a scavenge (promoted,
//             or pretenured into the old generation): what makes a parent's
//             scavenges long (piscina's per-run `interface` objects, see
//             docs/benchmarks.md, "Tails")
//   --worker-heap: pass 2 inside a one-worker ProcessPool and ThreadPool
//                  worker too (fixtures/heap-probe.ts), printing the sites
//
// Linux only (/proc). Prints a table and the top allocation sites.

import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startSampling, stopSampling } from './fixtures/heap-probe.js';
import { adapterByName } from './peers.js';

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const CALLS = Number(opt('calls') ?? 20_000);
const WARM_CALLS = 2000;
const DEFAULT_ADAPTERS = ['ProcessPool', 'raw-ipc', 'workerpool-process', 'ThreadPool', 'piscina', 'tinypool-threads', 'raw-postMessage'];

interface ThreadCounters {
  ns: number;
  slices: number;
}

/** Every thread of this process and of its descendants: `<role>/<tid>` → run time (ns) and timeslices, from schedstat. */
function threads(): Map<string, ThreadCounters> {
  const out = new Map<string, ThreadCounters>();
  const visit = (pid: number, role: string): void => {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      return; // exited meanwhile
    }
    for (const tid of tids) {
      try {
        const [ns, , slices] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
        out.set(`${role}/${tid === String(pid) ? 'main' : 'other'}/${tid}`, { ns, slices });
        for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean))
          visit(Number(child), 'worker');
      } catch {
        // a thread that ended between the listing and the read
      }
    }
  };
  visit(process.pid, 'parent');
  return out;
}

function quantile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

interface UnitReport {
  adapter: string;
  p50: number;
  p90: number;
  p99: number;
  p999: number; // µs
  /** CPU µs per call and timeslices per call, by group: parent main thread, parent's other threads, workers' main threads, workers' other threads. */
  cpu: Record<string, number>;
  slices: Record<string, number>;
  parentGcs: number;
  parentGcMs: number;
  /** Slow calls (≥ p99) whose span overlaps a parent GC, of all slow calls. */
  slowWithGc: number;
  slow: number;
  /** Bytes the parent allocates per call, garbage included (sampled). */
  parentBytes: number;
  sites: [string, number][];
  /** Bytes per call that outlived a scavenge, and where they were allocated. */
  survivorBytes: number;
  survivorSites: [string, number][];
}

async function unit(name: string): Promise<void> {
  const a = adapterByName(name);
  await a.start(2);
  await Promise.all(Array.from({ length: 8 }, (_, i) => a.call('add', [i, 1])));
  for (let i = 0; i < WARM_CALLS; i++) await a.call('add', [i, 1]);

  const gcs: [number, number][] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([e.startTime, e.duration]);
  });
  observer.observe({ entryTypes: ['gc'] });
  const lat = new Float64Array(CALLS);
  const starts = new Float64Array(CALLS);
  const before = threads();
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    const r = await a.call('add', [i, 1]);
    lat[i] = performance.now() - t0;
    starts[i] = t0;
    if (r !== i + 1) throw new Error(`bench tails: ${name} add(${i}, 1) gave ${String(r)}`);
  }
  const after = threads();
  // The observer reports in a later task.
  await new Promise((resolve) => setTimeout(resolve, 20));
  observer.disconnect();

  const cpu: Record<string, number> = {};
  const slices: Record<string, number> = {};
  for (const [key, end] of after) {
    const start = before.get(key) ?? { ns: 0, slices: 0 };
    const group = key.split('/').slice(0, 2).join(' ');
    cpu[group] = (cpu[group] ?? 0) + (end.ns - start.ns) / 1000 / CALLS;
    // Wake-ups: the busiest thread of the group (a pool spreads nothing over idle workers here).
    slices[group] = Math.max(slices[group] ?? 0, (end.slices - start.slices) / CALLS);
  }
  const sorted = Float64Array.from(lat).sort();
  const p99 = quantile(sorted, 0.99);
  let slow = 0;
  let slowWithGc = 0;
  for (let i = 0; i < CALLS; i++) {
    if (lat[i] < p99) continue;
    slow++;
    const t0 = starts[i];
    const t1 = t0 + lat[i];
    if (gcs.some(([s, d]) => s < t1 && s + d > t0)) slowWithGc++;
  }

  // The same sampler a worker runs for --worker-heap, here in the parent.
  await startSampling();
  for (let i = 0; i < CALLS; i++) await a.call('add', [i, 1]);
  const heap = await stopSampling(CALLS);
  await startSampling(true);
  for (let i = 0; i < CALLS; i++) await a.call('add', [i, 1]);
  const survivors = await stopSampling(CALLS);
  await a.close();
  const report: UnitReport = {
    adapter: name,
    p50: quantile(sorted, 0.5) * 1000,
    p90: quantile(sorted, 0.9) * 1000,
    p99: p99 * 1000,
    p999: quantile(sorted, 0.999) * 1000,
    cpu,
    slices,
    parentGcs: gcs.length,
    parentGcMs: gcs.reduce((s, [, d]) => s + d, 0),
    slow,
    slowWithGc,
    parentBytes: heap.bytes,
    sites: heap.sites,
    survivorBytes: survivors.bytes,
    survivorSites: survivors.sites.slice(0, 5),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

/** A one-worker warmpool pool whose worker samples its own heap over `CALLS` calls (fixtures/heap-probe.ts). */
async function workerHeap(kind: 'ProcessPool' | 'ThreadPool'): Promise<void> {
  const lib = await import('../lib/index.js');
  const probe = new URL('./fixtures/heap-probe.js', import.meta.url);
  const pool = new lib[kind]<typeof import('./fixtures/heap-probe.js')>(probe, { workers: 1 });
  for (let i = 0; i < WARM_CALLS; i++) await pool.submit('add', [i, 1]);
  await pool.submit('startSampling', []);
  for (let i = 0; i < CALLS; i++) await pool.submit('add', [i, 1]);
  const { bytes, sites } = await pool.submit('stopSampling', [CALLS]);
  await pool.shutdown();
  console.log(`\n${kind} worker: ${bytes.toFixed(0)} B allocated per call (sampled, garbage included); top sites, B/call:`);
  for (const [site, b] of sites) console.log(`${b.toFixed(0).padStart(7)}  ${site}`);
}

const f0 = (x: number): string => x.toFixed(0);
const f1 = (x: number): string => x.toFixed(1);
const f2 = (x: number): string => x.toFixed(2);

async function main(): Promise<void> {
  const oneCore = argv.includes('--one-core');
  const names = opt('adapters')?.split(',') ?? DEFAULT_ADAPTERS;
  const self = fileURLToPath(import.meta.url);
  const reports: UnitReport[] = [];
  for (const name of names) {
    const args = [self, `--unit=${name}`, `--calls=${CALLS}`];
    const r = oneCore
      ? spawnSync('taskset', ['-c', '0', process.execPath, ...args], { encoding: 'utf8' })
      : spawnSync(process.execPath, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`bench tails: the unit for ${name} failed (exit ${String(r.status)}):\n${r.stderr}`);
    reports.push(JSON.parse(r.stdout.trim().split('\n').at(-1)!) as UnitReport);
  }
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ');
  console.log(
    `bench tails — Node ${process.version}, ${CALLS.toLocaleString('en-US')} sequential add(i, 1) per adapter, 2 workers, ${oneCore ? 'all on one core (taskset -c 0)' : 'unpinned'}; load average now ${load}`,
  );
  console.log(
    'latency µs; CPU µs per call and timeslices per call (busiest thread) of: parent main thread / parent other threads / workers main threads / workers other threads; parent heap B per call (sampled, garbage included) and the part of it that outlived a scavenge\n',
  );
  const head = [
    'adapter',
    'p50',
    'p90',
    'p99',
    'p99.9',
    'CPU µs/call',
    'slices/call',
    'parent B/call',
    'of it outliving a scavenge',
    'parent GCs per 10k calls',
    'GC ms each',
    'slow calls (≥ p99) overlapping a parent GC',
  ];
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---').join('|')}|`);
  const groups = ['parent main', 'parent other', 'worker main', 'worker other'];
  for (const r of reports) {
    console.log(
      `| ${[
        r.adapter,
        f1(r.p50),
        f1(r.p90),
        f0(r.p99),
        f0(r.p999),
        groups.map((g) => f1(r.cpu[g] ?? 0)).join(' / '),
        groups.map((g) => f2(r.slices[g] ?? 0)).join(' / '),
        f0(r.parentBytes),
        f0(r.survivorBytes),
        f1((r.parentGcs * 10_000) / CALLS),
        r.parentGcs === 0 ? '–' : f2(r.parentGcMs / r.parentGcs),
        `${r.slowWithGc} / ${r.slow}`,
      ].join(' | ')} |`,
    );
  }
  for (const r of reports) {
    console.log(`\n${r.adapter}, parent: top allocation sites, B/call`);
    for (const [site, b] of r.sites) console.log(`${b.toFixed(0).padStart(7)}  ${site}`);
    console.log(`${r.adapter}, parent: what outlived a scavenge, B/call`);
    for (const [site, b] of r.survivorSites) console.log(`${b.toFixed(0).padStart(7)}  ${site}`);
  }
  if (argv.includes('--worker-heap')) for (const kind of ['ProcessPool', 'ThreadPool'] as const) await workerHeap(kind);
}

const unitName = opt('unit');
if (unitName !== undefined) await unit(unitName);
else {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
  } catch {
    if (argv.includes('--one-core')) throw new Error('bench tails: --one-core needs taskset (util-linux), which was not found');
  }
  await main();
}
