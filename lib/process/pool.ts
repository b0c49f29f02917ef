// ProcessPool: the public class. It checks options and hands filled-in ones
// to the engine (./engine.ts) with the child-process runtime.

import { fileURLToPath } from 'node:url';
import { Executor } from '../core/executor.js';
import { checkInteger, checkObject, checkStartOptions, expected, moduleHref, resolveCommon, type PoolOptions } from '../core/options.js';
import { inheritedExecArgv, processRuntime } from './adapter.js';
import { ProcessEngine } from './engine.js';
import type { AnyTasks, TaskName } from '../core/types.js';

/** Warm child processes: isolation, crash safety, hard kills of runaway code, native addons. */
export class ProcessPool<M extends object = AnyTasks> extends Executor<M> {
  /**
   * @param module the task module: a `URL`, an absolute path, or a `file:` URL string.
   */
  constructor(module: URL | string, options: PoolOptions<TaskName<M>> = {}) {
    const href = moduleHref(module);
    const o = checkObject('options', options);
    const common = resolveCommon(o);
    const start = checkStartOptions(o);
    if (o.cwd !== undefined && typeof o.cwd !== 'string' && !(o.cwd instanceof URL)) throw expected('cwd', 'a path or a file: URL', o.cwd);
    const spawn = processRuntime({
      execArgv: start.execArgv ?? inheritedExecArgv(),
      env: start.env ?? process.env,
      cwd: o.cwd instanceof URL ? fileURLToPath(o.cwd) : (o.cwd),
      maxMemoryMb: o.maxMemoryMb === undefined ? undefined : checkInteger('maxMemoryMb', o.maxMemoryMb, 1),
    });
    super(new ProcessEngine({ ...common, moduleHref: href }, spawn), common.timeout);
  }
}
