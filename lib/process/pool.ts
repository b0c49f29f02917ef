// ProcessPool: the public class. It checks options and hands filled-in ones
// to the engine (./engine.ts) with the child-process runtime.

import { fileURLToPath } from 'node:url';
import { Executor } from '../core/executor.js';
import { checkInteger, checkWorkerPoolOptions, expected, type PoolOptions } from '../core/options.js';
import { inheritedExecArgv, processRuntime } from './adapter.js';
import { ProcessEngine } from './engine.js';
import type { AnyTasks, TaskName } from '../core/types.js';

/**
 * Runs tasks in warm child processes (`node:child_process`), with warmpool's
 * own scheduler: isolation, crash safety, hard kills of runaway code (a
 * timeout or `cancel()` stops a synchronous loop too), native addons, heavy
 * imports. Worker processes never outlive the parent, even when it is killed
 * with `SIGKILL`; idle workers do not keep the parent's event loop alive.
 *
 * @typeParam M - the task module's type, `typeof import('./tasks.js')`.
 *
 * @example
 * ```ts
 * import type * as tasks from './tasks.js';
 * const pool = new ProcessPool<typeof tasks>(new URL('./tasks.js', import.meta.url), { workers: 4 });
 * console.log(await pool.submit('fib', [30])); // 832040
 * await pool.shutdown();
 * ```
 *
 * @group Pools
 */
export class ProcessPool<M extends object = AnyTasks> extends Executor<M> {
  /**
   * Checks the options and starts `minWorkers` workers, which import the
   * module and run the initializer (see `ready()`).
   *
   * @param module - the task module: a `URL`, an absolute path, or a `file:`
   * URL string (a relative path is refused: it would be resolved against the
   * worker's `cwd`, not your file).
   * @param options - {@link PoolOptions}.
   * @throws `TypeError` or `RangeError` for a bad module or option, saying
   * what was expected and what arrived.
   */
  constructor(module: URL | string, options: PoolOptions<TaskName<M>> = {}) {
    const { href, o, common, start } = checkWorkerPoolOptions(module, options);
    if (o.cwd !== undefined && typeof o.cwd !== 'string' && !(o.cwd instanceof URL)) throw expected('cwd', 'a path or a file: URL', o.cwd);
    const spawn = processRuntime({
      execArgv: start.execArgv ?? inheritedExecArgv(),
      env: start.env ?? process.env,
      cwd: o.cwd instanceof URL ? fileURLToPath(o.cwd) : o.cwd,
      maxMemoryMb: o.maxMemoryMb === undefined ? undefined : checkInteger('maxMemoryMb', o.maxMemoryMb, 1),
    });
    super(new ProcessEngine({ ...common, moduleHref: href }, spawn).core, common.timeout, common.name);
  }
}
