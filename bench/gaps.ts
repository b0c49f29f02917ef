// Where a map's wall time goes: `node dist/bench/gaps.js [process|thread] [item µs] [workers] [total ms] [maps]`.
// Maps items of fixed CPU work (bench/fixtures/tasks.ts `stampedWork`), each
// stamped with its worker and its start and end, `maps` times on the same
// warm pool, and prints for each map the parent's timeline (from the
// `warmpool:task` channel: when each chunk was submitted and settled) beside
// the workers' (the stamps), and accounts for the whole wall time of each
// worker:
//
//   wall = start (map() called → its first item begins)
//        + items (the sum of its items' run times)
//        + gaps (between two of its items: chunk boundaries, yields)
//        + end (its last item ends → the map's result settles in the caller)
//
// `slow` is the workers' items summed / the same items run sequentially in
// this thread (items that run slower in a worker), `tail` the time between
// the first worker's last item and the last one's, `settle` from the last
// item's end to the result. docs/design.md, "Map chunks", was measured this
// way; compare two builds by running each build's copy in turn.
//
//   defaults: process 10 µs, 2 workers, 400 ms of sequential work, 1 map

import { subscribe } from 'node:diagnostics_channel';
import { ProcessPool, ThreadPool } from '../lib/index.js';
import { TASK_CHANNEL, type TaskMessage } from '../lib/core/diagnostics.js';
import { work } from './fixtures/tasks.js';

type Tasks = typeof import('./fixtures/tasks.js');

const [kind = 'process', itemUs = '10', workersArg = '2', totalMs = '400', mapsArg = '1'] = process.argv.slice(2);
if (kind !== 'process' && kind !== 'thread') throw new Error(`bench/gaps: expected process or thread, got ${kind}`);
const workers = Number(workersArg);
const maps = Number(mapsArg);
const moduleUrl = new URL('./fixtures/tasks.js', import.meta.url);
const pool = kind === 'thread' ? new ThreadPool<Tasks>(moduleUrl, { workers }) : new ProcessPool<Tasks>(moduleUrl, { workers });
await pool.ready();

// Calibrate in this thread, after the JIT has seen work().
for (let i = 0; i < 20; i++) work(100_000);
let t0 = performance.now();
work(1_000_000);
const stepsPerUs = 1_000_000 / ((performance.now() - t0) * 1000);
const steps = Math.max(1, Math.round(Number(itemUs) * stepsPerUs));
const items = new Array<number>(Math.max(1, Math.round((Number(totalMs) * 1000) / Number(itemUs)))).fill(steps);
// The workers' JIT too, with a map of its own.
await pool.map('stampedWork', new Array<number>(2000).fill(Math.round(5 * stepsPerUs)));

/** The parent's side of each chunk: submitted, begun (as the parent learnt it) and settled, epoch ms. */
interface Chunk {
  submitted: number;
  begun?: number;
  settled?: number;
  worker?: string | number;
}
const chunks = new Map<TaskMessage, Chunk>();
const now = (): number => performance.timeOrigin + performance.now();
const tracing = { start: false };
subscribe(`tracing:${TASK_CHANNEL}:start`, (m) => {
  if (tracing.start) chunks.set(m as TaskMessage, { submitted: now() });
});
subscribe(`tracing:${TASK_CHANNEL}:asyncStart`, (m) => {
  const c = chunks.get(m as TaskMessage);
  if (c === undefined) return;
  c.begun = now();
  c.worker = (m as TaskMessage).worker;
});
subscribe(`tracing:${TASK_CHANNEL}:asyncEnd`, (m) => {
  const c = chunks.get(m as TaskMessage);
  if (c !== undefined) c.settled = now();
});

const f = (x: number): string => x.toFixed(1);
/** Per map: wall, ideal (sequential / workers), and per worker on average: start, items, gaps, end; tail, settle, chunks. */
const summary: Record<string, number[]> = {};
const note = (key: string, v: number): void => void (summary[key] ??= []).push(v);
for (let run = 0; run < maps; run++) {
  t0 = performance.now();
  for (const n of items) work(n);
  const sequentialMs = performance.now() - t0;
  chunks.clear();
  tracing.start = true;
  const start = now();
  const stamps = await pool.map('stampedWork', items);
  const end = now();
  tracing.start = false;

  const wall = end - start;
  const byWorker = new Map<string, [number, number][]>();
  for (const [w, s, e] of stamps) {
    let xs = byWorker.get(w);
    if (xs === undefined) byWorker.set(w, (xs = []));
    xs.push([s, e]);
  }
  let itemsMs = 0;
  const lastEnds: number[] = [];
  const lines: string[] = [];
  for (const [w, xs] of byWorker) {
    xs.sort((a, b) => a[0] - b[0]);
    let busy = 0;
    const waits: number[] = [];
    const at: string[] = [];
    for (let i = 0; i < xs.length; i++) {
      busy += xs[i][1] - xs[i][0];
      if (i > 0 && xs[i][0] - xs[i - 1][1] > 0.05) {
        waits.push(xs[i][0] - xs[i - 1][1]);
        at.push(`${(xs[i - 1][1] - start).toFixed(1)}+${(xs[i][0] - xs[i - 1][1]).toFixed(2)}`);
      }
    }
    itemsMs += busy;
    const last = xs[xs.length - 1][1];
    lastEnds.push(last);
    const gaps = wall - (xs[0][0] - start) - busy - (end - last);
    note('start', (xs[0][0] - start) / byWorker.size);
    note('items', busy / byWorker.size);
    note('gaps', gaps / byWorker.size);
    note('end', (end - last) / byWorker.size);
    waits.sort((a, b) => a - b);
    lines.push(
      `  worker ${w}: ${xs.length} items; start ${f(xs[0][0] - start)} + items ${f(busy)} + gaps ${f(gaps)} (${waits.length} > 50 µs, largest ${(waits[waits.length - 1] ?? 0).toFixed(2)}) + end ${f(end - last)} ms; busy ${(busy / wall).toFixed(3)} of the wall time`,
    );
    if (process.env.GAPS_CHUNKS !== undefined) lines.push(`    waits (at+ms): ${at.join(' ')}`);
  }
  lastEnds.sort((a, b) => a - b);
  const cs = [...chunks.values()].sort((a, b) => a.submitted - b.submitted);
  const first = cs.length > 0 ? cs[0].submitted - start : NaN;
  console.log(
    `${kind === 'thread' ? 'ThreadPool' : 'ProcessPool'}, ${workers} workers, ${items.length} items of ${itemUs} µs: map ${f(wall)} ms, sequential ${f(sequentialMs)} ms (${(sequentialMs / wall).toFixed(2)}×, ideal ${f(sequentialMs / workers)} ms); ` +
      `slow ${(itemsMs / sequentialMs).toFixed(3)}; tail ${f(lastEnds[lastEnds.length - 1] - lastEnds[0])}; settle ${f(end - lastEnds[lastEnds.length - 1])} ms; ` +
      `${cs.length} chunks, the first submitted ${first.toFixed(2)} ms after map()`,
  );
  for (const l of lines) console.log(l);
  note('wall', wall);
  note('ideal', sequentialMs / workers);
  note('tail', lastEnds[lastEnds.length - 1] - lastEnds[0]);
  note('settle', end - lastEnds[lastEnds.length - 1]);
  note('chunks', cs.length);
  if (process.env.GAPS_CHUNKS !== undefined)
    for (const c of cs)
      console.log(
        `    chunk: submitted ${(c.submitted - start).toFixed(2)}, begun ${((c.begun ?? NaN) - start).toFixed(2)} on ${c.worker}, settled ${((c.settled ?? NaN) - start).toFixed(2)}`,
      );
}
if (maps > 1) {
  // Sums per map first (a worker's components were noted one by one), then the median over maps.
  const perMap = (key: string): number[] => {
    const xs = summary[key];
    const k = xs.length / maps;
    return Array.from({ length: maps }, (_, i) => xs.slice(i * k, (i + 1) * k).reduce((a, b) => a + b, 0));
  };
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const m = (key: string): string => f(med(perMap(key)));
  console.log(
    `median of ${maps} maps: wall ${m('wall')} ms (ideal ${m('ideal')}); per worker: start ${m('start')} + items ${m('items')} + gaps ${m('gaps')} + end ${m('end')} ms; tail ${m('tail')}, settle ${m('settle')} ms; ${m('chunks')} chunks`,
  );
}
await pool.shutdown();
