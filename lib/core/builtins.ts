// Built-in modules that a worker process needs only on some paths, loaded
// the first time one of those paths runs rather than when the worker starts:
// node:v8 (a frame JSON cannot carry, an error property to check),
// node:util's `inspect` (a thrown value that is neither an Error nor
// clonable), node:module (a compile cache, a registered OpenTelemetry
// SDK) and node:child_process (a syntax error in the task module to place). Every built-in a process loads stays in its memory; an idle worker
// that never takes those paths does not pay for them (docs/design.md,
// "Memory of an idle worker").
//
// `process.getBuiltinModule` (Node 20.16, 22.3) loads a built-in
// synchronously from ESM. Without it the helpers below would have nothing to
// call, so on older Node they are loaded now, as static imports would be.

import type * as V8 from 'node:v8';
import type * as Util from 'node:util';
import type * as NodeModule from 'node:module';
import type * as ChildProcess from 'node:child_process';

interface Builtins {
  v8: typeof V8;
  util: typeof Util;
  module: typeof NodeModule;
  child_process: typeof ChildProcess;
}

const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;

const eager: Builtins | undefined =
  getBuiltin === undefined
    ? {
        v8: await import('node:v8'),
        util: await import('node:util'),
        module: await import('node:module'),
        child_process: await import('node:child_process'),
      }
    : undefined;

const loaded: Partial<Builtins> = eager ?? {};

function load<K extends keyof Builtins>(name: K): Builtins[K] {
  return (loaded[name] ??= getBuiltin!(`node:${name}`) as Builtins[K]);
}

export const v8 = (): typeof V8 => load('v8');
export const util = (): typeof Util => load('util');
export const nodeModule = (): typeof NodeModule => load('module');
export const childProcess = (): typeof ChildProcess => load('child_process');

/** `v8.deserialize`, node:v8 loaded on the first call. */
export function deserialize(buffer: NodeJS.ArrayBufferView): unknown {
  return load('v8').deserialize(buffer);
}

/** `v8.serialize`, node:v8 loaded on the first call. */
export function serialize(value: unknown): Buffer {
  return load('v8').serialize(value);
}

/**
 * `new DefaultSerializer()` of node:v8, loaded on the first construction
 * (a constructor that returns an object: `new` gives that object).
 */
export const DefaultSerializer = function DefaultSerializer() {
  return new (load('v8').DefaultSerializer)();
} as unknown as typeof V8.DefaultSerializer;
