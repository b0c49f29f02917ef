// RemotePool on loopback: per-task round trip and chunked map throughput
// with two `warmpool worker` hosts (one local worker each) on a private
// redis-server, next to a ProcessPool of two workers measured in the same
// rounds, interleaved.
//
//   node dist/bench/remote.js [--quick] [--rounds=N]
//
// (`npm run bench` runs it too, after its own sections.) Writes
// bench/results/remote.json unless --quick. --quick checks every result and
// says nothing about speed. Uses the WARMPOOL_REDIS_URL server if set; without
// it and without `redis-server` on PATH the section is skipped with one line
// saying how to include it (a failure under WARMPOOL_REQUIRE_REDIS=1, as in CI).

import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ProcessPool, RemotePool, type Executor } from '../lib/index.js';
import { freshQueue, redisUnavailable, startHost, startRedis } from '../test/redis.js';
import type * as benchTasks from './fixtures/tasks.js';

type Tasks = typeof benchTasks;
const tasksUrl = new URL('./fixtures/tasks.js', import.meta.url);

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`bench: wrong result: ${what}`);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

/** Sequential round trips: per-call ms. */
async function roundTrips(pool: Executor<Tasks>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await pool.submit('add', [i, 1]);
    out.push(performance.now() - t0);
    check(r === i + 1, `round trip ${i} gave ${r}`);
  }
  return out;
}

/** `map` over `n` tiny items with the default chunksize: items/s. */
async function mapThroughput(pool: Executor<Tasks>, items: number[]): Promise<number> {
  const t0 = performance.now();
  const results = await pool.starmap(
    'add',
    items.map((i) => [i, 1] as [number, number]),
  );
  const s = (performance.now() - t0) / 1000;
  for (let i = 0; i < items.length; i++) check(results[i] === i + 1, `map result ${i}`);
  return items.length / s;
}

export interface RemoteFigures {
  /** Where Redis ran: a private redis-server, or the WARMPOOL_REDIS_URL server. */
  server: string;
  rounds: number;
  roundTripP50Ms: { remote: number[]; process: number[] };
  mapItemsPerSecond: { remote: number[]; process: number[] };
}

export async function remoteBench(quick: boolean, rounds = quick ? 1 : 5): Promise<RemoteFigures> {
  const calls = quick ? 200 : 2000;
  const items = Array.from({ length: quick ? 20_000 : 100_000 }, (_, i) => i);
  const redis = await startRedis();
  const queue = freshQueue('bench');
  const hosts = await Promise.all([0, 1].map(() => startHost(redis.url, queue, tasksUrl, ['--workers', '1'])));
  const remote = new RemotePool<Tasks>({ connection: redis.url, queue, workers: 2 });
  const local = new ProcessPool<Tasks>(tasksUrl, { workers: 2 });
  const server = redis.external ? `the WARMPOOL_REDIS_URL server (${new URL(redis.url).host})` : 'a private redis-server on 127.0.0.1';
  const figures: RemoteFigures = {
    server,
    rounds,
    roundTripP50Ms: { remote: [], process: [] },
    mapItemsPerSecond: { remote: [], process: [] },
  };
  try {
    await Promise.all([remote.ready(), local.ready()]);
    // Warm both: module caches, Redis scripts, the map's measured item cost.
    await roundTrips(remote, 50);
    await roundTrips(local, 50);
    for (let round = 0; round < rounds; round++) {
      figures.roundTripP50Ms.remote.push(pct(await roundTrips(remote, calls), 0.5));
      figures.roundTripP50Ms.process.push(pct(await roundTrips(local, calls), 0.5));
      figures.mapItemsPerSecond.remote.push(await mapThroughput(remote, items));
      figures.mapItemsPerSecond.process.push(await mapThroughput(local, items));
      process.stderr.write(`remote bench: round ${round + 1}/${rounds}\n`);
    }
  } finally {
    await Promise.all([remote.shutdown(), local.shutdown()]);
    await Promise.all(hosts.map((h) => h.stop()));
    await redis.stop();
  }
  return figures;
}

function median(xs: number[]): number {
  return pct(xs, 0.5);
}

export function report(f: RemoteFigures, quick: boolean): string {
  const span = (xs: number[], digits: number) =>
    `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
  // --quick runs are for correctness: no verdict on speed.
  const rtGoal = quick ? 'not judged (--quick)' : median(f.roundTripP50Ms.remote) <= 3 ? 'met' : 'not met';
  const mapGoal = quick ? 'not judged (--quick)' : median(f.mapItemsPerSecond.remote) >= 100_000 ? 'met' : 'not met';
  return [
    `RemotePool on loopback — 2 hosts × 1 worker, ${f.server}, Node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), ${f.rounds} round(s)${quick ? ', --quick' : ''}; median (min–max) over rounds`,
    `  round trip p50, ms       RemotePool ${span(f.roundTripP50Ms.remote, 2)}   ProcessPool(2) ${span(f.roundTripP50Ms.process, 3)}   goal <= 3 ms: ${rtGoal}`,
    `  map of tiny items, /s    RemotePool ${span(f.mapItemsPerSecond.remote, 0)}   ProcessPool(2) ${span(f.mapItemsPerSecond.process, 0)}   goal >= 100,000/s: ${mapGoal}`,
  ].join('\n');
}

/** Measures, prints, and (unless quick) writes bench/results/remote.json. */
export async function remoteSection(quick: boolean, rounds?: number): Promise<void> {
  const skip = await redisUnavailable();
  if (skip !== undefined) {
    console.log(`\nRemotePool section skipped: ${skip}`);
    return;
  }
  const figures = await remoteBench(quick, rounds);
  console.log(`\n${report(figures, quick)}`);
  if (!quick) {
    const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      `${dir}remote.json`,
      `${JSON.stringify({ command: 'npm run build && node dist/bench/remote.js', date: new Date().toISOString(), node: process.version, ...figures }, null, 2)}\n`,
    );
    console.log('wrote bench/results/remote.json');
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const roundsArg = argv.find((a) => a.startsWith('--rounds='));
  await remoteSection(argv.includes('--quick'), roundsArg === undefined ? undefined : Number(roundsArg.slice(9)));
}
