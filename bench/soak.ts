// Soak run: a few minutes of mixed load on one pool, to show that nothing is
// lost and nothing grows.
//
//   npm run soak                       3 minutes on ProcessPool
//   node dist/bench/soak.js --quick    25 seconds (CI)
//   options: --duration=SECONDS --backend=ProcessPool|ThreadPool|LocalPool --seed=N --workers=N
//
// Load: a steady number of tasks in flight; 1 % of tasks crash their worker
// (process.exit), 1 % time out (a task that never settles, 50 ms timeout),
// about 2 % are cancelled at a random moment, payloads are mixed (none, 1–10
// KB strings, 10–100 KB and, rarely, 1 MB byte arrays). Every result is
// checked against the pure function.
//
// Reported over time: tasks/s, the parent's RSS and heap, its open handles
// (process.getActiveResourcesInfo()), the pool's workers. At the end: every
// outcome count, the memory slope after warm-up (least squares over the
// samples after the first quarter), and the checks. Exits non-zero when a
// submitted future did not settle, a result was wrong, an error was not the
// one expected, stats() does not match the futures, or handles are left
// after shutdown. The memory slope is reported, not judged (see
// docs/reliability.md for the figures).

import { availableParallelism } from 'node:os';
import {
  CancelledError,
  LocalPool,
  ProcessPool,
  ThreadPool,
  TimeoutError,
  WorkerCrashedError,
  type Executor,
  type Future,
  type PoolStats,
} from '../lib/index.js';
import type * as soakTasks from './fixtures/soak-tasks.js';

type Tasks = typeof soakTasks;

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const quick = argv.includes('--quick');
const DURATION_S = Number(flag('duration') ?? (quick ? 25 : 180));
const BACKEND = flag('backend') ?? 'ProcessPool';
const SEED = Number(flag('seed') ?? Date.now() % 2 ** 31);
const WORKERS = Number(flag('workers') ?? Math.max(2, availableParallelism()));
const IN_FLIGHT = 8 * WORKERS;
const SAMPLE_MS = quick ? 1000 : 5000;
const SETTLE_MS = 30_000;

/** mulberry32: a small seeded generator, so a run can be repeated with --seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(SEED);

function makePool(): Executor<Tasks> {
  const url = new URL('./fixtures/soak-tasks.js', import.meta.url);
  if (BACKEND === 'ProcessPool') return new ProcessPool<Tasks>(url, { workers: WORKERS });
  if (BACKEND === 'ThreadPool') return new ThreadPool<Tasks>(url, { workers: WORKERS });
  if (BACKEND === 'LocalPool') return new LocalPool<Tasks>(url, { workers: WORKERS });
  throw new Error(`Expected --backend to be ProcessPool, ThreadPool or LocalPool, got ${BACKEND}`);
}
// LocalPool runs tasks in this process: a crashing task would end the soak.
const CRASH_RATE = BACKEND === 'LocalPool' ? 0 : 0.01;
const TIMEOUT_RATE = 0.01;
const CANCEL_RATE = 0.02;

function payload(): Uint8Array | string | null {
  const r = random();
  if (r < 0.6) return null;
  if (r < 0.9) return 'p'.repeat(1024 + Math.floor(random() * 9 * 1024));
  if (r < 0.999) return new Uint8Array(10 * 1024 + Math.floor(random() * 90 * 1024));
  return new Uint8Array(1024 * 1024);
}

type Kind = 'work' | 'crash' | 'hang';
const tally = {
  submitted: 0,
  settled: 0,
  fulfilled: 0,
  wrongResult: 0,
  cancelled: 0,
  timedOut: 0,
  crashed: 0,
  cancelCalls: 0,
  unexpected: 0,
};
const unexpected: string[] = [];

function note(problem: string): void {
  tally.unexpected++;
  if (unexpected.length < 20) unexpected.push(problem);
}

function watch(future: Future<unknown>, kind: Kind, expected: number): void {
  tally.submitted++;
  future.addDoneCallback((f) => {
    tally.settled++;
    const err = f.exception();
    if (f.state === 'fulfilled') {
      tally.fulfilled++;
      if (kind !== 'work') note(`a ${kind} task fulfilled`);
      void f.then((value) => {
        if (value !== expected) tally.wrongResult++;
      });
    } else if (err instanceof CancelledError) tally.cancelled++;
    else if (err instanceof TimeoutError) {
      tally.timedOut++;
      if (kind !== 'hang') note(`a ${kind} task timed out`);
    } else if (err instanceof WorkerCrashedError) {
      tally.crashed++;
      if (kind !== 'crash') note(`a ${kind} task failed with ${String(err)}`);
    } else note(`a ${kind} task failed with ${String(err)}`);
  });
}

function submitOne(pool: Executor<Tasks>): Future<unknown> {
  const r = random();
  let future: Future<unknown>;
  if (r < CRASH_RATE) {
    future = pool.submit('crash');
    watch(future, 'crash', 0);
  } else if (r < CRASH_RATE + TIMEOUT_RATE) {
    future = pool.submit('hang', [], { timeout: 50 });
    watch(future, 'hang', 0);
  } else {
    const n = Math.floor(random() * 1e6);
    const p = payload();
    future = pool.submit('work', [n, p]);
    watch(future, 'work', n * 2 + (p === null ? 0 : p.length));
  }
  if (random() < CANCEL_RATE) {
    // Now (pending), or a little later (running, or already done: then a no-op).
    const later = random() < 0.5;
    const cancel = () => {
      tally.cancelCalls++;
      future.cancel();
    };
    if (later) setTimeout(cancel, Math.floor(random() * 20));
    else cancel();
  }
  return future;
}

interface Sample {
  t: number;
  tasks: number;
  rssMb: number;
  heapMb: number;
  handles: number;
  workers: number;
}

function handleSummary(): { total: number; byType: Record<string, number> } {
  const byType: Record<string, number> = {};
  const info = process.getActiveResourcesInfo();
  for (const type of info) byType[type] = (byType[type] ?? 0) + 1;
  return { total: info.length, byType };
}

/** Least-squares slope of y over x. */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

async function main(): Promise<number> {
  // process.stdout and stderr make their handle on first use: a pipe's
  // (`soak | tail`) would count as left over if it were first made after
  // this snapshot, by the progress lines.
  void process.stdout.writable;
  void process.stderr.writable;
  const handlesBefore = handleSummary();
  console.log(
    `warmpool soak — ${BACKEND}, ${WORKERS} workers, ${IN_FLIGHT} tasks in flight, ${DURATION_S} s, seed ${SEED}, Node ${process.version}`,
  );
  const pool = makePool();
  await pool.ready();
  const started = performance.now();
  const end = started + DURATION_S * 1000;
  const samples: Sample[] = [];
  let lastCount = 0;
  let lastT = started;

  const sampler = setInterval(() => {
    const now = performance.now();
    const done = tally.settled;
    const mem = process.memoryUsage();
    const s: Sample = {
      t: (now - started) / 1000,
      tasks: Math.round(((done - lastCount) * 1000) / (now - lastT)),
      rssMb: mb(mem.rss),
      heapMb: mb(mem.heapUsed),
      handles: handleSummary().total,
      workers: pool.stats().workers,
    };
    lastCount = done;
    lastT = now;
    samples.push(s);
    console.log(
      `t=${s.t.toFixed(0).padStart(4)} s  ${String(s.tasks).padStart(7)} tasks/s  rss ${s.rssMb} MB  heap ${s.heapMb} MB  handles ${s.handles}  workers ${s.workers}  crashed ${tally.crashed}  timed out ${tally.timedOut}  cancelled ${tally.cancelled}`,
    );
  }, SAMPLE_MS);

  // Keep IN_FLIGHT tasks in flight: one settles, one more goes.
  await new Promise<void>((resolve) => {
    let inFlight = 0;
    const refill = () => {
      while (inFlight < IN_FLIGHT && performance.now() < end) {
        inFlight++;
        submitOne(pool).addDoneCallback(() => {
          inFlight--;
          // A done callback runs synchronously inside the pool's settling: submit from a microtask.
          queueMicrotask(refill);
        });
      }
      if (inFlight === 0) resolve();
    };
    refill();
  });
  clearInterval(sampler);
  const elapsed = (performance.now() - started) / 1000;

  const statsAtEnd: PoolStats = pool.stats();
  let shutdownOk = true;
  await Promise.race([
    pool.shutdown(),
    new Promise((resolve) =>
      setTimeout(() => {
        shutdownOk = false;
        resolve(undefined);
      }, SETTLE_MS).unref(),
    ),
  ]);
  // A child's process and socket handles close in the event loop's close
  // phase, a turn after its exit event (which shutdown() waits for): give
  // them up to a second. Then-handlers of the last results run meanwhile.
  const leftOver = (h: ReturnType<typeof handleSummary>) =>
    Object.entries(h.byType).some(([type, n]) => n > (handlesBefore.byType[type] ?? 0));
  let handlesAfter = handleSummary();
  for (let i = 0; i < 100 && leftOver(handlesAfter); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    handlesAfter = handleSummary();
  }

  const after = samples.filter((s) => s.t >= elapsed / 4);
  const rssSlope = slope(
    after.map((s) => s.t / 60),
    after.map((s) => s.rssMb),
  );
  const heapSlope = slope(
    after.map((s) => s.t / 60),
    after.map((s) => s.heapMb),
  );
  const statsSum = statsAtEnd.completed + statsAtEnd.failed + statsAtEnd.cancelled + statsAtEnd.timedOut + statsAtEnd.crashed;

  const checks: [string, boolean][] = [
    [`every submitted future settled (${tally.settled} of ${tally.submitted})`, tally.settled === tally.submitted],
    [`every result equal to the pure function's (${tally.wrongResult} wrong)`, tally.wrongResult === 0],
    [`every error the one expected (${tally.unexpected} not)`, tally.unexpected === 0],
    [
      `stats() matches the futures (completed ${statsAtEnd.completed}/${tally.fulfilled}, cancelled ${statsAtEnd.cancelled}/${tally.cancelled}, timedOut ${statsAtEnd.timedOut}/${tally.timedOut}, crashed ${statsAtEnd.crashed}/${tally.crashed}, failed ${statsAtEnd.failed}/0)`,
      statsAtEnd.completed === tally.fulfilled &&
        statsAtEnd.cancelled === tally.cancelled &&
        statsAtEnd.timedOut === tally.timedOut &&
        statsAtEnd.crashed === tally.crashed &&
        statsAtEnd.failed === 0 &&
        statsSum === tally.submitted,
    ],
    [`shutdown() resolved within ${SETTLE_MS / 1000} s`, shutdownOk],
    [
      `open handles after shutdown back to the start (${JSON.stringify(handlesAfter.byType)}, at the start ${JSON.stringify(handlesBefore.byType)})`,
      !leftOver(handlesAfter),
    ],
  ];

  console.log('');
  console.log(`${tally.submitted} tasks in ${elapsed.toFixed(1)} s: ${Math.round(tally.settled / elapsed)} tasks/s on average`);
  console.log(
    `outcomes: fulfilled ${tally.fulfilled}, cancelled ${tally.cancelled} (of ${tally.cancelCalls} cancel calls), timed out ${tally.timedOut}, crashed ${tally.crashed}, unexpected ${tally.unexpected}`,
  );
  const rss = after.map((s) => s.rssMb);
  console.log(
    `memory after warm-up (t >= ${(elapsed / 4).toFixed(0)} s, ${after.length} samples): rss ${Math.min(...rss)}–${Math.max(...rss)} MB, slope ${rssSlope.toFixed(2)} MB/min; heap slope ${heapSlope.toFixed(2)} MB/min`,
  );
  for (const problem of unexpected) console.log(`  unexpected: ${problem}`);
  let failed = false;
  for (const [what, ok] of checks) {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) failed = true;
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
