// One interface over every pool the bench compares, so that each gets the
// same task functions (./fixtures/tasks.ts, through the shims named below),
// the same number of workers, and is driven by the same code.
//
// Libraries are imported inside `start()`, not at the top, so that a bench
// process pays for (and times) only the library it uses.

import { fileURLToPath } from 'node:url';
import type * as benchTasks from './fixtures/tasks.js';
import type { ProcessPool, ThreadPool } from '../lib/index.js';
import { RawPool } from './raw-pool.js';

export interface Adapter {
  /** Stable key, used in latest.json. */
  readonly name: string;
  /** What the tables show. */
  readonly label: string;
  readonly runtime: 'process' | 'thread';
  /** npm package whose version and import time the bench reports; undefined for the raw baselines. */
  readonly library: string | undefined;
  /** How this library is given the task module, for docs/benchmarks.md. */
  readonly shim: string;
  /** Constructs the pool with `workers` workers, all started eagerly. Does not wait for them. */
  start(workers: number): Promise<void>;
  /** One task; `args` are the task function's arguments. */
  call(name: string, args: unknown[]): PromiseLike<unknown>;
  /** The library's own map, where it has one; otherwise the bench uses one `call` per item. */
  map?(name: string, items: unknown[], options?: { chunksize?: number }): Promise<unknown[]>;
  close(): Promise<void>;
}

export type TaskModule = 'light' | 'heavy';

const urls = {
  light: new URL('./fixtures/tasks.js', import.meta.url),
  heavy: new URL('./fixtures/heavy.js', import.meta.url),
};
const oneArg = new URL('./fixtures/one-arg.js', import.meta.url);
const workerpoolScript = fileURLToPath(new URL('./fixtures/workerpool-worker.js', import.meta.url));
const poolifierScript = fileURLToPath(new URL('./fixtures/poolifier-worker.cjs', import.meta.url));

/** A warmpool pool (ProcessPool or ThreadPool) on the light or heavy task module. */
export function warmpool(kind: 'ProcessPool' | 'ThreadPool', module: TaskModule = 'light'): Adapter {
  let pool: ProcessPool<typeof benchTasks> | ThreadPool<typeof benchTasks> | undefined;
  return {
    name: kind,
    label: `warmpool ${kind}`,
    runtime: kind === 'ProcessPool' ? 'process' : 'thread',
    library: 'warmpool',
    shim: 'none: the task module as it is',
    async start(workers) {
      const lib = await import('../lib/index.js');
      pool = new lib[kind]<typeof benchTasks>(urls[module], { workers });
    },
    call: (name, args) => pool!.submit(name as 'add', args as [number, number]),
    map: (name, items, options) => pool!.map(name as 'square', items as number[], options),
    close: () => pool!.shutdown(),
  };
}

interface RunPool {
  run(task: unknown, options: { name: string }): Promise<unknown>;
  destroy(): Promise<void>;
}

function piscinaLike(
  name: string,
  label: string,
  library: 'piscina' | 'tinypool',
  runtime: 'thread' | 'process',
  serialization?: 'advanced',
): Adapter {
  let pool: RunPool | undefined;
  return {
    name,
    label,
    runtime,
    library,
    shim: '`fixtures/one-arg.ts`: the library passes a task one value, so the arguments travel as one array and the named export (`{ name }` run option) spreads them onto the same functions',
    async start(workers) {
      const options = { filename: oneArg.href, minThreads: workers, maxThreads: workers };
      if (library === 'piscina') {
        const { Piscina } = await import('piscina');
        pool = new Piscina(options);
      } else {
        const { Tinypool } = await import('tinypool');
        pool = new Tinypool({ ...options, runtime: runtime === 'thread' ? 'worker_threads' : 'child_process', serialization });
      }
    },
    call: (task, args) => pool!.run(args, { name: task }),
    close: () => pool!.destroy(),
  };
}

function workerpoolAdapter(workerType: 'thread' | 'process'): Adapter {
  let pool: { exec(name: string, args: unknown[]): PromiseLike<unknown>; terminate(): PromiseLike<void> } | undefined;
  return {
    name: `workerpool-${workerType}`,
    label: `workerpool (${workerType})`,
    runtime: workerType,
    library: 'workerpool',
    shim: '`fixtures/workerpool-worker.ts`: a worker script that registers the task functions with `workerpool.worker({ ...tasks })`',
    async start(workers) {
      const { default: wp } = await import('workerpool');
      pool = wp.pool(workerpoolScript, { minWorkers: workers, maxWorkers: workers, workerType });
    },
    call: (name, args) => pool!.exec(name, args),
    close: async () => {
      await pool!.terminate();
    },
  };
}

function poolifierAdapter(runtime: 'thread' | 'process'): Adapter {
  interface Poolifier {
    execute(data: unknown, name: string): Promise<unknown>;
    mapExecute(data: Iterable<unknown>, name: string): Promise<unknown[]>;
    destroy(): Promise<void>;
    readonly workerNodes: readonly { readonly worker: { once(event: 'exit', listener: () => void): unknown } }[];
  }
  let pool: Poolifier | undefined;
  return {
    name: `poolifier-${runtime}`,
    label: runtime === 'thread' ? 'poolifier (FixedThreadPool)' : 'poolifier (FixedClusterPool)',
    runtime,
    library: 'poolifier',
    shim: '`fixtures/poolifier-worker.cts` (CommonJS: see there why): a `ThreadWorker` or `ClusterWorker` over the one-array functions of `fixtures/one-arg.ts` (a poolifier task takes one value)',
    async start(workers) {
      const { FixedClusterPool, FixedThreadPool } = await import('poolifier');
      pool = runtime === 'thread' ? new FixedThreadPool(workers, poolifierScript) : new FixedClusterPool(workers, poolifierScript);
    },
    call: (name, args) => pool!.execute(args, name),
    // poolifier's own map: one task per item (no chunking), its results in order.
    map: (name, items) =>
      pool!.mapExecute(
        items.map((x) => [x]),
        name,
      ),
    async close() {
      // poolifier 5.3.2's destroy() of a FixedThreadPool now and then never
      // settles although its threads have exited (seen with several pools
      // closing at once on one core: the process then ends with exit code 13,
      // an unsettled top-level await). Closed is when either has happened.
      const exited = Promise.all(
        pool!.workerNodes.map(
          ({ worker }) =>
            new Promise<void>((resolve) => {
              worker.once('exit', resolve);
            }),
        ),
      );
      await Promise.race([pool!.destroy(), exited]);
    },
  };
}

/** A raw baseline: 'process' over Node's IPC with `serialization` ('advanced' carries what ProcessPool carries; JSON is Node's default and the faster one for small messages). */
function raw(runtime: 'process' | 'thread', serialization: 'json' | 'advanced' = 'advanced'): Adapter {
  let pool: RawPool | undefined;
  let starting: Promise<RawPool> | undefined;
  return {
    name: runtime === 'thread' ? 'raw-postMessage' : serialization === 'json' ? 'raw-ipc-json' : 'raw-ipc',
    label:
      runtime === 'thread'
        ? 'raw worker_threads postMessage'
        : `raw child_process IPC (${serialization === 'json' ? 'JSON' : "'advanced'"})`,
    runtime,
    library: undefined,
    shim: '`raw-pool.ts`: round-robin over N children or threads that import the task module; one message per call, nothing else',
    start(workers) {
      // Construction is asynchronous here; calls wait for it like a pool's first calls wait for its workers.
      starting = RawPool.start(runtime, urls.light.href, workers, serialization).then((p) => (pool = p));
      return Promise.resolve();
    },
    call: (name, args) => (pool ? pool.call(name, args) : starting!.then((p) => p.call(name, args))),
    close: async () => {
      await (pool ?? (await starting))?.close();
    },
  };
}

/** Every adapter, in table order. */
export function allAdapters(): Adapter[] {
  return [
    warmpool('ProcessPool'),
    warmpool('ThreadPool'),
    piscinaLike('piscina', 'piscina', 'piscina', 'thread'),
    piscinaLike('tinypool-threads', 'tinypool (worker_threads)', 'tinypool', 'thread'),
    piscinaLike('tinypool-process', "tinypool (runtime: 'child_process')", 'tinypool', 'process'),
    // The process peers default to Node's JSON IPC; this is the one that can be told to carry structured clones.
    piscinaLike('tinypool-process-advanced', "tinypool ('child_process', serialization: 'advanced')", 'tinypool', 'process', 'advanced'),
    workerpoolAdapter('thread'),
    workerpoolAdapter('process'),
    poolifierAdapter('thread'),
    poolifierAdapter('process'),
    raw('thread'),
    raw('process'),
    raw('process', 'json'),
  ];
}

export function adapterByName(name: string): Adapter {
  const a = allAdapters().find((x) => x.name === name);
  if (!a) throw new Error(`bench: no adapter named ${name}`);
  return a;
}
