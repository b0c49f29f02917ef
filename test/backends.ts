// The backends the contract suite runs against. Each entry makes a pool of
// the shared fixture module; `skip` names what a backend cannot do, with the
// reason, so a skipped test says why.

import { LocalPool, ProcessPool, ThreadPool, type Executor, type PoolOptions, type TaskName } from '../lib/index.js';
import type * as tasks from './fixtures/tasks.js';

export type Tasks = typeof tasks;
export const tasksUrl = new URL('./fixtures/tasks.js', import.meta.url);

export interface Backend {
  name: string;
  make(options?: PoolOptions<TaskName<Tasks>>, module?: URL): Executor<Tasks>;
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
   */
  cannot: Partial<
    Record<
      'stopSyncCode' | 'crashIsolation' | 'memoryLimit' | 'processOptions' | 'clone' | 'runBesideSyncCode' | 'workers' | 'processFaults' | 'startTimeout',
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
      processOptions: 'ThreadPool threads share the process: `cwd` is refused, and `env` and `execArgv` are thread options (covered in test/thread-pool.test.ts)',
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
      runBesideSyncCode: 'LocalPool runs tasks in the calling thread: while a synchronous task runs, neither the caller nor another task can',
      workers: 'LocalPool starts no workers: stats().workers is its fixed concurrency limit, and minWorkers has no effect',
      processFaults: 'LocalPool runs tasks in the caller’s process: a signal, process.abort() or a closed file descriptor hits the caller',
      startTimeout: 'LocalPool imports the module in the calling thread, where an import that never ends cannot be given up (startTimeout has no effect)',
    },
  },
];
