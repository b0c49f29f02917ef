// The backends the contract suite runs against. Each entry makes a pool of
// the shared fixture module; `skip` names what a backend cannot do, with the
// reason, so a skipped test says why.

import { ProcessPool, type Executor, type PoolOptions, type TaskName } from '../lib/index.js';
import type * as tasks from './fixtures/tasks.js';

export type Tasks = typeof tasks;
export const tasksUrl = new URL('./fixtures/tasks.js', import.meta.url);

export interface Backend {
  name: string;
  make(options?: PoolOptions<TaskName<Tasks>>, module?: URL): Executor<Tasks>;
  /**
   * Capabilities this backend lacks, each with the reason. `processOptions`:
   * the process start options `env`, `execArgv` and `cwd`.
   */
  cannot: Partial<Record<'stopSyncCode' | 'crashIsolation' | 'memoryLimit' | 'processOptions', string>>;
}

export const backends: Backend[] = [
  {
    name: 'ProcessPool',
    make: (options = {}, module = tasksUrl) => new ProcessPool<Tasks>(module, options),
    cannot: {},
  },
];
