// The backends the contract suite runs against. Each entry makes a pool of
// the shared fixture module; `skip` names what a backend cannot do, with the
// reason, so a skipped test says why.

import { LocalPool, ProcessPool, RemotePool, ThreadPool, type Executor, type PoolOptions, type TaskName } from '../lib/index.js';
import type * as tasks from './fixtures/tasks.js';
import { POOL_KEYS } from '../lib/core/options.js';
import { freshQueue, redisUnavailable, startHost, startRedis, type Host, type RedisServer } from './redis.js';

export type Tasks = typeof tasks;
export const tasksUrl = new URL('./fixtures/tasks.js', import.meta.url);

export interface Backend {
  name: string;
  make(options?: PoolOptions<TaskName<Tasks>>, module?: URL): Executor<Tasks>;
  /** Starts what the backend needs beside the pool (RemotePool: a redis-server); call before `make`. */
  setup?(): Promise<void>;
  /** Stops what `setup` started. */
  teardown?(): Promise<void>;
  /** Why this backend cannot run here (RemotePool: no Redis), with how to include it; undefined when it can. */
  unavailable?(): Promise<string | undefined>;
  /**
   * Capabilities this backend lacks, each with the reason. `processOptions`:
   * the process start options `env`, `execArgv` and `cwd`. `clone`: values
   * cross by structured clone, so an unclonable one fails its future.
   * `runBesideSyncCode`: the caller (and other tasks) keep running while a
   * synchronous task runs. `workers`: the pool starts and stops workers, which
   * `stats().workers` counts and `minWorkers` bounds. `processFaults`: each
   * worker is a process of its own, which a signal from outside,
   * `process.abort()` or a closed file descriptor hits alone. `startTimeout`:
   * a module import that never ends is given up after `startTimeout`.
   * `workerOptions`: the pool's constructor checks the options of its workers
   * (`minWorkers`, `initializer`, `cancelGrace`, ...). `maxQueued`: the pool
   * knows at once when a worker takes a task, so `maxQueued` counts exactly
   * the tasks waiting. `initArgsClone`: `initArgs` cross by structured clone.
   * `startSeenAtOnce`: a future is `running` by the time its task has begun.
   * `submitQueuedAtOnce`: a submitted task is in the queue before `submit`
   * returns, so a worker freed a moment later sees it.
   */
  cannot: Partial<
    Record<
      | 'stopSyncCode'
      | 'crashIsolation'
      | 'memoryLimit'
      | 'processOptions'
      | 'clone'
      | 'runBesideSyncCode'
      | 'workers'
      | 'processFaults'
      | 'startTimeout'
      | 'workerOptions'
      | 'maxQueued'
      | 'initArgsClone'
      | 'startSeenAtOnce'
      | 'submitQueuedAtOnce',
      string
    >
  >;
}

export const backends: Backend[] = [
  {
    name: 'ProcessPool',
    make: (options = {}, module = tasksUrl) => new ProcessPool<Tasks>(module, options),
    cannot: {},
  },
  {
    name: 'ThreadPool',
    make: (options = {}, module = tasksUrl) => new ThreadPool<Tasks>(module, options),
    cannot: {
      processOptions:
        'ThreadPool threads share the process: `cwd` is refused, and `env` and `execArgv` are thread options (covered in test/thread-pool.test.ts)',
      processFaults: 'ThreadPool threads share the process: a signal, process.abort() or a closed file descriptor hits the caller',
    },
  },
  {
    name: 'LocalPool',
    make: (options = {}, module = tasksUrl) => new LocalPool<Tasks>(module, options),
    cannot: {
      stopSyncCode: 'LocalPool runs tasks in the calling thread, where synchronous code cannot be stopped',
      crashIsolation: 'LocalPool has no worker to lose: a crash is the caller’s own',
      memoryLimit: 'LocalPool shares the caller’s heap',
      processOptions: 'LocalPool starts no process',
      clone: 'LocalPool passes values by reference; nothing is cloned',
      runBesideSyncCode:
        'LocalPool runs tasks in the calling thread: while a synchronous task runs, neither the caller nor another task can',
      workers: 'LocalPool starts no workers: stats().workers is its fixed concurrency limit, and minWorkers has no effect',
      processFaults: 'LocalPool runs tasks in the caller’s process: a signal, process.abort() or a closed file descriptor hits the caller',
      startTimeout:
        'LocalPool imports the module in the calling thread, where an import that never ends cannot be given up (startTimeout has no effect)',
    },
  },
];

// RemotePool: a private redis-server for the process (./redis.ts), and
// `warmpool worker` hosts of the module: two sharing `workers` (one when
// `workers` is 1), given the worker options of the test as flags, as a user
// would give them. Hosts are started once per configuration and kept until
// teardown (starting hosts per pool would cost a second per test); pools of
// one configuration share its queue, one after another. `ready()` waits for
// the hosts too.

let redis: RedisServer | undefined;
let redisUsers = 0;
interface HostSet {
  queue: string;
  start(url: string): Promise<Host[]>;
  started(): Promise<Host[]> | undefined;
  /** The last pool made on it: a pool left with unsettled tasks (a failed test) may have left a job running. */
  last: Executor<Tasks> | undefined;
}
const hostSets = new Map<string, HostSet>();
/** Host sets given up on, stopped in the background; teardown waits for them. */
const retired: Promise<unknown>[] = [];

/** Pool options that `warmpool worker` takes, as its flags. */
function hostFlags(o: PoolOptions<string>): string[] {
  const flags: string[] = [];
  if (o.cancelGrace !== undefined) flags.push('--cancel-grace', String(o.cancelGrace));
  if (o.maxTasksPerWorker !== undefined && o.maxTasksPerWorker !== Infinity)
    flags.push('--max-tasks-per-worker', String(o.maxTasksPerWorker));
  if (o.maxMemoryMb !== undefined) flags.push('--max-memory-mb', String(o.maxMemoryMb));
  if (o.initializer !== undefined) flags.push('--initializer', o.initializer);
  if (o.initArgs !== undefined) flags.push('--init-args', JSON.stringify(o.initArgs));
  return flags;
}

/** The queue of a host configuration, and its hosts, started on first use. */
function hostSet(module: URL, workers: number, flags: string[]): HostSet {
  const key = JSON.stringify([module.href, workers, flags]);
  let set = hostSets.get(key);
  const last = set?.last?.stats();
  if (set !== undefined && last !== undefined && last.busy + last.queued > 0) {
    // Its previous pool still had tasks (its test failed): its hosts may be
    // stuck in them, so the next test gets fresh hosts on a fresh queue.
    retired.push(stopHosts(set));
    set = undefined;
  }
  if (set === undefined) {
    const queue = freshQueue('contract');
    let hosts: Promise<Host[]> | undefined;
    const shares = workers === 1 ? [1] : [Math.ceil(workers / 2), Math.floor(workers / 2)];
    set = {
      queue,
      start(url) {
        hosts ??= Promise.all(shares.map((n) => startHost(url, queue, module, ['--workers', String(n), ...flags])));
        return hosts;
      },
      started: () => hosts,
      last: undefined,
    };
    hostSets.set(key, set);
  }
  return set;
}

function makeRemote(options: PoolOptions<TaskName<Tasks>>, module: URL): Executor<Tasks> {
  if (redis === undefined) throw new Error('RemotePool backend: call setup() before make()');
  const o = (typeof options === 'object' && options !== null ? options : {}) as PoolOptions<string>;
  const set = hostSet(module, o.workers ?? 2, hostFlags(o));
  const remoteOptions: Record<string, unknown> = { connection: redis.url, queue: set.queue };
  for (const key of ['name', 'workers', 'maxQueued', 'timeout'] as const) if (key in o) remoteOptions[key] = o[key];
  // A key no pool takes (a misspelling under test) goes to RemotePool, which must refuse it.
  for (const key of Object.keys(o)) if (!POOL_KEYS.has(key)) remoteOptions[key] = (o as Record<string, unknown>)[key];
  // Checks the pool's own options, and throws, before any host starts.
  const pool = new RemotePool<Tasks>((o === options ? remoteOptions : options) as never);
  set.last = pool;
  const hosts = set.start(redis.url);
  hosts.catch(() => {});
  const ready = pool.ready.bind(pool);
  Object.defineProperty(pool, 'ready', { configurable: true, value: () => Promise.all([ready(), hosts]).then(() => {}) });
  return pool;
}

async function stopHosts(set: HostSet): Promise<void> {
  const hosts = (await set.started()?.catch(() => [])) ?? [];
  await Promise.all(hosts.map((h) => h.kill()));
}

/** SIGTERM (the host finishes its running jobs), then SIGKILL if it has not exited in 5 s. */
async function stopHost(host: Host): Promise<void> {
  const timer = setTimeout(() => void host.kill(), 5_000);
  try {
    await host.stop();
  } finally {
    clearTimeout(timer);
  }
}

backends.push({
  name: 'RemotePool',
  make: (options = {}, module = tasksUrl) => makeRemote(options, module),
  unavailable: redisUnavailable,
  async setup() {
    if (redisUsers++ === 0) redis = await startRedis();
  },
  async teardown() {
    if (--redisUsers > 0) return;
    const sets = [...hostSets.values()];
    hostSets.clear();
    await Promise.all(sets.map(async (set) => Promise.all(((await set.started()?.catch(() => [])) ?? []).map(stopHost))));
    await Promise.all(retired.splice(0));
    await redis?.stop();
    redis = undefined;
  },
  cannot: {
    processOptions: 'RemotePool starts no process: `warmpool worker` hosts are started by the user, with their own environment',
    memoryLimit: 'RemotePool takes no maxMemoryMb: it is given to `warmpool worker --max-memory-mb` and checked there',
    workers: 'RemotePool starts no workers: stats().workers is the `workers` it plans for, and minWorkers belongs to the hosts',
    workerOptions: 'RemotePool takes only its own options; worker options are given to `warmpool worker` on each host and checked there',
    maxQueued:
      'RemotePool learns that a host took a job from BullMQ events, a moment after the job started, and cannot see an idle remote worker: maxQueued counts jobs not yet seen started',
    initArgsClone: '`warmpool worker --init-args` takes JSON, so initArgs are JSON values',
    startSeenAtOnce: 'RemotePool hears that a task started from a BullMQ event, a moment after the host started it',
    submitQueuedAtOnce:
      'a task submitted to RemotePool joins the Redis queue a round trip later, so a worker freed in between takes a lower-priority job already there',
  },
});
