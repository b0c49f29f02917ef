// Built-in modules that a worker process needs only on some paths, loaded
// the first time one of those paths runs rather than when the worker starts:
// node:util's `inspect` (a thrown value that is neither an Error nor
// clonable), node:module (a compile cache, a registered OpenTelemetry SDK)
// and node:child_process (a syntax error in the task module to place).
// Every built-in a process loads stays in its memory; an idle worker that
// never takes those paths does not pay for them (docs/design.md, "Memory of
// an idle worker"). Not node:v8: the process channel (lib/process/channel.ts)
// subclasses its serializer, so every process that runs a pool loads it.
//
// `process.getBuiltinModule` (Node 20.16, 22.3) loads a built-in
// synchronously from ESM. Without it the helpers below would have nothing to
// call, so on older Node they are loaded now, as static imports would be.

import type * as Util from 'node:util';
import type * as NodeModule from 'node:module';
import type * as ChildProcess from 'node:child_process';

interface Builtins {
  util: typeof Util;
  module: typeof NodeModule;
  child_process: typeof ChildProcess;
}

const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;

const eager: Builtins | undefined =
  getBuiltin === undefined
    ? {
        util: await import('node:util'),
        module: await import('node:module'),
        child_process: await import('node:child_process'),
      }
    : undefined;

const loaded: Partial<Builtins> = eager ?? {};

function load<K extends keyof Builtins>(name: K): Builtins[K] {
  return (loaded[name] ??= getBuiltin!(`node:${name}`) as Builtins[K]);
}

export const util = (): typeof Util => load('util');
export const nodeModule = (): typeof NodeModule => load('module');
export const childProcess = (): typeof ChildProcess => load('child_process');
