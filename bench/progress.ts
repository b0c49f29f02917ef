// The cost of `reportProgress()` in a hot loop, on the worker's side, where
// the task pays it: a loop over N items, each doing a fixed amount of work,
// with and without a `reportProgress(i)` per item, run by `runTask` (what the
// process and thread workers run a task with) in a task context whose
// channel (lib/worker/task-channel.ts) posts to a counter, as a worker's channel
// posts to its socket at most every PROGRESS_MS.
//
//   node dist/bench/progress.js [--n=1000000] [--rounds=7]
//
// Prints, per amount of work per item, the fastest round's CPU ns per item without and
// with progress, the slowdown, and the messages the channel posted. Also the
// cost of a call outside a task (no context) and in a task whose caller
// gave no onProgress (a context without a channel).

import type { AsyncLocalStorage } from 'node:async_hooks';
import { Status, TaskKind } from '../lib/core/contract.js';
import { reportProgress } from '../lib/task.js';
import { existingTaskStorage, type TaskContext } from '../lib/worker/context.js';
import { runTask, type TaskOutput } from '../lib/worker/run.js';
import { TaskChannel } from '../lib/worker/task-channel.js';

/** The task storage: importing warmpool/task (above) made it. */
function taskStorage(): AsyncLocalStorage<TaskContext> {
  const storage = existingTaskStorage();
  if (storage === undefined) throw new Error('warmpool/task did not make the task storage');
  return storage;
}

const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const N = arg('n', 1_000_000);
const ROUNDS = arg('rounds', 7);

/**
 * `work` rounds of integer hashing per item: the item's own work. Two
 * separate functions, not one with a flag, so that V8 optimizes each for
 * itself and the one with the call does not change how the other is compiled.
 */
function plainLoop(n: number, work: number): number {
  let h = 0;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < work; k++) h = (Math.imul(h ^ (i + k), 2654435761) + 0x9e3779b9) | 0;
  }
  return h;
}

function progressLoop(n: number, work: number): number {
  let h = 0;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < work; k++) h = (Math.imul(h ^ (i + k), 2654435761) + 0x9e3779b9) | 0;
    reportProgress(i);
  }
  return h;
}

const loop = (n: number, work: number, report: boolean) => (report ? progressLoop(n, work) : plainLoop(n, work));

/** The fastest round: on a shared machine, other load only ever adds time, so the minimum is closest to the cost itself. */
function fastest(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/**
 * ms of CPU time (user + system) that `fn` took: on a shared machine, wall
 * time also counts the time this process waited for a core.
 */
function timeIt(fn: () => number): number {
  const before = process.cpuUsage();
  const sink = fn();
  const used = process.cpuUsage(before);
  if (sink === 0.5) console.log('');
  return (used.user + used.system) / 1000;
}

const storage = taskStorage();
let posted = 0;

function inTask<T>(fn: () => T, withChannel: boolean): T {
  // A synchronous task: runTask returns its status, not a promise.
  const ctx: TaskContext = { controller: undefined, channel: undefined };
  const channel = withChannel ? new TaskChannel(1, () => posted++, 16) : undefined;
  channel?.attach(ctx);
  const out: TaskOutput = { value: undefined };
  const status = runTask(fn, TaskKind.Call, [], storage, ctx, out);
  channel?.close();
  if (status !== Status.Ok) throw new Error('the loop failed');
  return out.value as T;
}

console.log(`reportProgress in a hot loop of ${N.toLocaleString('en')} items, fastest of ${ROUNDS} rounds (node ${process.version})`);
console.log('work/item  ns/item plain  ns/item with progress  slowdown  ns/call  messages');
for (const work of [1, 4, 16, 64]) {
  const plain: number[] = [];
  const withProgress: number[] = [];
  let messages = 0;
  for (let r = 0; r < ROUNDS; r++) {
    // Interleaved, so drift in the machine's speed hits both alike.
    plain.push(timeIt(() => inTask(() => loop(N, work, false), true)));
    posted = 0;
    withProgress.push(timeIt(() => inTask(() => loop(N, work, true), true)));
    messages = posted;
  }
  const a = (fastest(plain) * 1e6) / N;
  const b = (fastest(withProgress) * 1e6) / N;
  console.log(
    `${String(work).padStart(9)}  ${a.toFixed(1).padStart(13)}  ${b.toFixed(1).padStart(21)}  ${`${(((b - a) / a) * 100).toFixed(1)}%`.padStart(8)}  ${(b - a).toFixed(1).padStart(7)}  ${String(messages).padStart(8)}`,
  );
}

for (const [label, run] of [
  ['outside a task', (f: () => number) => f()],
  ['in a task without onProgress', (f: () => number) => inTask(f, false)],
] as const) {
  const plain: number[] = [];
  const calls: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    plain.push(timeIt(() => run(() => loop(N, 1, false))));
    calls.push(timeIt(() => run(() => loop(N, 1, true))));
  }
  console.log(`${label}: ${(((fastest(calls) - fastest(plain)) * 1e6) / N).toFixed(1)} ns per call`);
}
