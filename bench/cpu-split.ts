// Where the CPU of a ProcessPool burst goes:
// `node dist/bench/cpu-split.js [submit|map] [item µs] [bursts] [total ms]`.
// Runs bursts of items of fixed CPU work (bench/fixtures/tasks.ts
// `stampedWork`, calibrated here) on a warm 2-worker ProcessPool, each burst
// about `total ms` of sequential work, and reads the kernel's own accounts
// before and after each burst (/proc/<pid>/task/<tid>/schedstat: CPU time and
// run delay, the time a thread was runnable but waiting for a core; and the
// timeslices). Per burst, medians:
//
//   parent:  CPU of its main thread, of its other threads (V8's compiler and
//            collector helpers, libuv), its main thread's run delay
//   worker:  busy (its items' run times, stamped in the item), CPU of its
//            main thread, run delay, timeslices
//
// On C cores, a burst's wall time can be no less than the CPU of every
// thread of the pool / C: the last lines print that floor beside the wall
// time, and the CPU the pool spends outside the items, per task: the
// workers' CPU beyond the same items run sequentially in this thread (so an
// item that runs slower in a worker counts too), plus the parent's. `busy`
// is wall time inside items, preemption included, so under contention it
// can exceed the CPU. `steal`: the time the hypervisor gave the machine's
// cores to others during the bursts (/proc/stat), which no scheduler in here
// sees.
// The figures of docs/benchmarks.md's "How small a task can be" come from it.
// Linux only (procfs); ThreadPool's threads share the parent's process and
// are not told apart here.
//
//   defaults: submit, 200 µs items, 15 bursts, 40 ms of work per burst

import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ProcessPool } from '../lib/index.js';
import { timeWork, work } from './fixtures/tasks.js';

type Tasks = typeof import('./fixtures/tasks.js');

const [mode = 'submit', itemUs = '200', burstsArg = '15', totalMs = '40'] = process.argv.slice(2);
if (mode !== 'submit' && mode !== 'map') throw new Error(`bench/cpu-split: expected submit or map, got ${mode}`);
const bursts = Number(burstsArg);

const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1];

/** Steal time of all cores so far, ms (USER_HZ ticks of /proc/stat's cpu line). */
function steal(): number {
  return Number(readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/)[8]) * 10;
}

/** [user, system] CPU ms of a whole process so far (/proc/<pid>/stat, 10 ms ticks: read over all bursts, not one). */
function userSystem(pid: number | 'self'): [number, number] {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return [Number(fields[11]) * 10, Number(fields[12]) * 10];
}

/** [CPU ms, run delay ms, timeslices] of one thread. */
function schedstat(pid: number, tid: number | string): [number, number, number] {
  const [cpu, wait, slices] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
  return [cpu / 1e6, wait / 1e6, slices];
}

/** The parent: [main thread CPU, other threads' CPU, main thread's run delay]. */
function parentStat(): [number, number, number] {
  let others = 0;
  let main: [number, number, number] = [0, 0, 0];
  for (const tid of readdirSync('/proc/self/task')) {
    const s = schedstat(process.pid, tid);
    if (tid === String(process.pid)) main = s;
    else others += s[0];
  }
  return [main[0], others, main[1]];
}

const pool = new ProcessPool<Tasks>(new URL('./fixtures/tasks.js', import.meta.url), { workers: 2 });
await pool.ready();
for (let i = 0; i < 20; i++) work(100_000);
const t0 = performance.now();
work(1_000_000);
const steps = Math.max(1, Math.round(Number(itemUs) * (1_000_000 / ((performance.now() - t0) * 1000))));
const n = Math.max(40, Math.round((Number(totalMs) * 1000) / Number(itemUs)));
const items = new Array<number>(n).fill(steps);
const sequential = median([0, 1, 2].map(() => timeWork(items).ms));
const run = (): Promise<[string, number, number][]> =>
  mode === 'map' ? pool.map('stampedWork', items) : Promise.all(items.map((s) => pool.submit('stampedWork', [s])));

// Warm the workers' JIT, and learn their pids from the stamps ("pid.threadId").
const pids = [...new Set((await run()).concat(await run()).map(([w]) => Number(w.split('.')[0])))].sort();

interface Burst {
  wall: number;
  steal: number;
  parent: [number, number, number];
  workers: { busy: number; cpu: number; wait: number; slices: number }[];
}
const rows: Burst[] = [];
const us0 = [userSystem('self'), ...pids.map(userSystem)];
for (let b = 0; b < bursts; b++) {
  const before = pids.map((pid) => schedstat(pid, pid));
  const p0 = parentStat();
  const s0 = steal();
  const start = performance.now();
  const results = await run();
  const wall = performance.now() - start;
  const p1 = parentStat();
  const busy = new Map<number, number>();
  for (const [w, s, e] of results) busy.set(Number(w.split('.')[0]), (busy.get(Number(w.split('.')[0])) ?? 0) + (e - s));
  rows.push({
    wall,
    steal: steal() - s0,
    parent: [p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]],
    workers: pids.map((pid, i) => {
      const a = schedstat(pid, pid);
      return { busy: busy.get(pid) ?? 0, cpu: a[0] - before[i][0], wait: a[1] - before[i][1], slices: a[2] - before[i][2] };
    }),
  });
}
const us1 = [userSystem('self'), ...pids.map(userSystem)];
await pool.shutdown();

const f = (x: number): string => x.toFixed(1);
const wall = median(rows.map((r) => r.wall));
const pMain = median(rows.map((r) => r.parent[0]));
const pOther = median(rows.map((r) => r.parent[1]));
console.log(`ProcessPool ${mode}, ${n} items of ${itemUs} µs per burst, 2 workers, ${bursts} bursts, medians, ms:`);
console.log(`wall ${f(wall)}, steal ${f(median(rows.map((r) => r.steal)))}; the items run sequentially here: ${f(sequential)}`);
console.log(`parent: main thread CPU ${f(pMain)}, run delay ${f(median(rows.map((r) => r.parent[2])))}; other threads' CPU ${f(pOther)}`);
let workersCpu = 0;
pids.forEach((_, i) => {
  const busy = median(rows.map((r) => r.workers[i].busy));
  const cpu = median(rows.map((r) => r.workers[i].cpu));
  workersCpu += cpu;
  console.log(
    `worker ${i + 1}: busy ${f(busy)}, not in an item ${f(wall - busy)}; main thread CPU ${f(cpu)}, run delay ${f(median(rows.map((r) => r.workers[i].wait)))}, timeslices ${f(median(rows.map((r) => r.workers[i].slices)))}`,
  );
});
const cores = availableParallelism();
const total = pMain + pOther + workersCpu;
const perTask = (ms: number): string => f((ms / n) * 1000);
console.log(`floor on ${cores} cores: the pool's CPU ${f(total)} / ${cores} = ${f(total / cores)} ms against wall ${f(wall)}`);
console.log(
  `CPU outside the items, per task: ${perTask(total - sequential)} µs (parent ${perTask(pMain + pOther)}, workers ${perTask(workersCpu - sequential)})`,
);
const split = us1.map(
  ([u, sys], i) => `${i === 0 ? 'parent' : `worker ${i}`} ${f((u - us0[i][0]) / bursts)} user + ${f((sys - us0[i][1]) / bursts)} system`,
);
console.log(`per burst, whole processes (10 ms ticks over all bursts): ${split.join('; ')}`);
