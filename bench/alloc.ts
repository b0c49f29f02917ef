// What the parent allocates per task in a throughput burst, and where:
//
//   node dist/bench/alloc.js [ProcessPool|ThreadPool] [tasks]
//
// Submits `tasks` trivial calls at once (as the throughput unit does, one
// `Promise.all` over the futures) under V8's sampling heap profiler with the
// objects collected by minor and major GCs included, so garbage counts too.
// Prints bytes per task in total and by allocation site (the function that
// made the object; V8's own frames show as (JS), (V8 API)). Two untimed
// bursts first, so what is allocated once (code, the pool's workers) stays
// out. Sampling: a sample every 256 bytes on average, so a figure under a
// few bytes per task is noise.

import { Session } from 'node:inspector/promises';
import { ProcessPool, ThreadPool } from '../lib/index.js';

interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: Node[];
}

const [kind = 'ThreadPool', tasksArg = '50000'] = process.argv.slice(2);
if (kind !== 'ProcessPool' && kind !== 'ThreadPool') throw new Error(`Expected ProcessPool or ThreadPool, got ${kind}`);
const tasks = Number(tasksArg);
const pool = new (kind === 'ProcessPool' ? ProcessPool : ThreadPool)(new URL('./fixtures/tasks.js', import.meta.url), { workers: 2 });
await pool.ready();

async function burst(n: number): Promise<void> {
  const futures = new Array<PromiseLike<unknown>>(n);
  for (let i = 0; i < n; i++) futures[i] = pool.submit('add', [i, 1]);
  await Promise.all(futures);
}

await burst(20_000);
await burst(20_000);
const session = new Session();
session.connect();
await session.post('HeapProfiler.enable');
await session.post('HeapProfiler.startSampling', {
  samplingInterval: 256,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
await burst(tasks);
const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: Node } };
session.disconnect();
await pool.shutdown();

const bySite = new Map<string, number>();
let total = 0;
const walk = (node: Node): void => {
  const { functionName, url, lineNumber } = node.callFrame;
  const site = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
  total += node.selfSize;
  bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
  for (const child of node.children) walk(child);
};
walk(profile.head);
console.log(`${kind}: ${(total / tasks).toFixed(0)} bytes allocated in the parent per task (${tasks} tasks)`);
for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 20)) {
  console.log(`${(bytes / tasks).toFixed(1).padStart(8)}  ${site}`);
}
