// ThreadPool: the public class. It checks options and hands filled-in ones to
// the engine (./engine.ts), which runs tasks on piscina's threads.

import { Executor } from '../core/executor.js';
import { checkInteger, checkWorkerPoolOptions, expected, type PoolOptions } from '../core/options.js';
import { ThreadEngine } from './engine.js';
import type { AnyTasks, TaskName } from '../core/types.js';
import { Worker } from 'node:worker_threads';

/**
 * Node accepts only some flags in a worker thread, and says so by throwing
 * from `new Worker()`. piscina makes threads lazily (minWorkers: 0, growth),
 * where such a throw would come out of the middle of a dispatch; so the flags
 * are tried once here, on a thread that is stopped at once.
 */
function checkThreadExecArgv(execArgv: string[]): void {
  const probe = new Worker('', { eval: true, execArgv });
  void probe.terminate();
}

/**
 * Warm worker threads (piscina): the lowest overhead per task, `transfer`
 * lists that move ArrayBuffers without copying, SharedArrayBuffers shared
 * rather than copied. Timeout and cancel terminate the thread running the
 * task (a synchronous loop too) and start a fresh one.
 *
 * `env` gives each thread its own `process.env`; `execArgv` the Node flags a
 * worker thread accepts (by default the parent's); `maxMemoryMb` becomes the
 * thread's `resourceLimits.maxOldGenerationSizeMb`. `cwd` cannot apply:
 * threads share the process's working directory, so it is refused rather
 * than ignored.
 *
 * @typeParam M - the task module's type, `typeof import('./tasks.js')`.
 *
 * @example
 * ```ts
 * const pool = new ThreadPool<typeof tasks>(new URL('./tasks.js', import.meta.url));
 * const bytes = new Uint8Array(1 << 20);
 * await pool.submit('hash', [bytes], { transfer: [bytes.buffer] }); // moved, not copied
 * ```
 *
 * @group Pools
 */
export class ThreadPool<M extends object = AnyTasks> extends Executor<M> {
  /**
   * Checks the options (a given `execArgv` is tried on a throwaway thread)
   * and starts `minWorkers` threads, which import the module and run the
   * initializer (see `ready()`).
   *
   * @param module - the task module: a `URL`, an absolute path, or a `file:` URL string.
   * @param options - {@link PoolOptions}; `cwd` is refused.
   * @throws `TypeError` or `RangeError` for a bad module or option; Node's
   * own error for an `execArgv` flag it refuses in threads.
   */
  constructor(module: URL | string, options: PoolOptions<TaskName<M>> = {}) {
    const { href, o, common, start } = checkWorkerPoolOptions(module, options);
    if (start.execArgv !== undefined) checkThreadExecArgv(start.execArgv);
    if (o.cwd !== undefined) {
      throw expected(
        'cwd',
        "left out for a ThreadPool (threads share the process's working directory; a ProcessPool can have another)",
        o.cwd,
      );
    }
    super(
      new ThreadEngine({
        ...common,
        moduleHref: href,
        env: start.env,
        execArgv: start.execArgv,
        maxMemoryMb: o.maxMemoryMb === undefined ? undefined : checkInteger('maxMemoryMb', o.maxMemoryMb, 1),
      }).core,
      common.timeout,
      common.name,
    );
  }
}
