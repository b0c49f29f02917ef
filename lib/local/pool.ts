// LocalPool: the same Executor contract, in the calling thread. For async and
// I/O-bound work, tests and debugging. The public class checks options and
// hands filled-in ones to ./engine.ts.

import { Executor } from '../core/executor.js';
import { LocalEngine } from './engine.js';
import { checkObject, expected, moduleHref, resolveCommon, type PoolOptions } from '../core/options.js';
import type { AnyTasks, TaskName } from '../core/types.js';
import { describeModule, importTaskModule } from '../worker/run.js';

/**
 * Runs tasks in this thread, at most `workers` at once. The module is a `URL`,
 * an absolute path or a `file:` URL string (imported here), or an object of
 * functions. Values are passed by reference, not cloned. Timeout and cancel
 * reject the future and abort `taskSignal()`, but cannot stop synchronous
 * code. Options that concern processes or threads (`env`, `execArgv`, `cwd`,
 * `maxMemoryMb`, `minWorkers`, `idleTimeout`, `maxTasksPerWorker`,
 * `startTimeout`) are accepted and have no effect, so a pool can switch
 * backends by changing one word.
 *
 * @typeParam M - the task module's type, `typeof import('./tasks.js')` (or
 * of the object of functions).
 *
 * @example
 * ```ts
 * const pool = new LocalPool({ async fetchJson(url: string) { return (await fetch(url)).json(); } }, { workers: 8 });
 * const pages = await pool.map('fetchJson', urls);
 * ```
 *
 * @group Pools
 */
export class LocalPool<M extends object = AnyTasks> extends Executor<M> {
  /**
   * Checks the options and imports the module (in this thread), then runs
   * the initializer once.
   *
   * @param module - the task module as a `URL`, an absolute path or a
   * `file:` URL string, or an object whose function properties are the tasks.
   * @param options - {@link PoolOptions}; those for processes and threads
   * are accepted and have no effect.
   * @throws `TypeError` or `RangeError` for a bad module or option.
   */
  constructor(module: URL | string | M, options: PoolOptions<TaskName<M>> = {}) {
    const o = checkObject('options', options);
    const common = resolveCommon(o);
    let load: () => Promise<Record<string, unknown>>;
    let describe: string;
    if (module instanceof URL || typeof module === 'string') {
      const href = moduleHref(module);
      load = () => importTaskModule(href);
      describe = describeModule(href);
    } else if (typeof module === 'object' && module !== null) {
      load = () => Promise.resolve(module as Record<string, unknown>);
      describe = '(object of functions)';
    } else {
      throw expected('module', 'a URL, an absolute path, a file: URL string or an object of functions', module);
    }
    super(new LocalEngine(common, load, describe).core, common.timeout, common.name);
  }
}
