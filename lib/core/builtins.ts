// Built-in modules that a worker process needs only on some paths, loaded
// the first time one of those paths runs rather than when the worker starts:
// node:util's `inspect` (a thrown value that is neither an Error nor
// clonable), node:module (a compile cache, a registered OpenTelemetry SDK),
// node:child_process (a syntax error in the task module to place) and
// node:worker_threads (a process worker's watchdog thread, when no parent
// death signal is set).
// Every built-in a process loads stays in its memory; an idle worker that
// never takes those paths does not pay for them (docs/design.md, "Memory of
// an idle worker"). Not node:v8: the process channel (lib/process/channel.ts)
// subclasses its serializer, so every process that runs a pool loads it.
//
// `process.getBuiltinModule` (Node 20.16, 22.3) loads a built-in
// synchronously from ESM; `engines` asks for those versions. No top-level
// await here, not even on a path never taken: every module that imports this
// one, the thread entry and the task modules' graph among them, would become
// an async module, and V8 aborts the whole process when a thread is
// terminated while it finishes evaluating one (docs/design.md, "Node quirks").

import type * as Util from 'node:util';
import type * as NodeModule from 'node:module';
import type * as ChildProcess from 'node:child_process';

interface Builtins {
  util: typeof Util;
  module: typeof NodeModule;
  child_process: typeof ChildProcess;
  worker_threads: Pick<typeof import('node:worker_threads'), 'Worker'>;
}

const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
const loaded: Partial<Builtins> = {};

function load<K extends keyof Builtins>(name: K): Builtins[K] {
  return (loaded[name] ??= firstLoad(name));
}

function firstLoad<K extends keyof Builtins>(name: K): Builtins[K] {
  if (getBuiltin === undefined) {
    throw new Error(
      `warmpool needs Node 20.16 or later on the 20 line, 22.3 or later on the 22 line (process.getBuiltinModule), got ${process.version}`,
    );
  }
  return getBuiltin(`node:${name}`) as Builtins[K];
}

export const util = (): typeof Util => load('util');
export const nodeModule = (): typeof NodeModule => load('module');
export const childProcess = (): typeof ChildProcess => load('child_process');
export const workerThreads = (): Builtins['worker_threads'] => load('worker_threads');
