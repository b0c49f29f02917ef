// Errors cross a thread or process boundary as plain data and are rebuilt on
// the other side. The structured clone algorithm alone keeps only name,
// message and stack of an Error; users need the class, `code`, `cause` and
// their own properties too (a `statusCode`, a `path`), so errors are encoded
// by hand. Own properties travel as [key, value] pairs, never as an object,
// so a key such as `__proto__` stays a key and cannot reach a prototype.

import { isNativeError } from 'node:util/types';
import { serialize } from 'node:v8';
import { util } from './builtins.js';
import { errorClassesByCode } from './errors.js';

/** A thrown value in transit. `v` holds a thrown non-Error value as it is. */
export interface WireError {
  readonly $e: 1;
  /** The built-in class to rebuild with (`TypeError`, ...), or `Error`. */
  readonly cls: string;
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  /** `code`, also when it is inherited (warmpool's own errors keep it on the prototype). */
  readonly code: string | undefined;
  readonly props: [string, unknown][];
  readonly cause?: unknown;
  readonly errors?: unknown[];
}

const builtins: Record<string, ErrorConstructor | AggregateErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AggregateError,
};

const MAX_DEPTH = 8;

function isError(value: unknown): value is Error {
  return isNativeError(value) || value instanceof Error;
}

function clonable(value: unknown): boolean {
  try {
    serialize(value);
    return true;
  } catch {
    return false;
  }
}

function read(target: object, key: string): unknown {
  try {
    return (target as Record<string, unknown>)[key];
  } catch (err) {
    // A getter that throws must not turn one error into another.
    return `[getter threw: ${String(err)}]`;
  }
}

function builtinClassOf(err: Error): string {
  let proto: unknown = Object.getPrototypeOf(err);
  while (proto !== null && proto !== undefined) {
    const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as { name?: unknown } | undefined;
    const n = ctor?.name;
    if (typeof n === 'string' && builtins[n] === ctor) return n;
    proto = Object.getPrototypeOf(proto);
  }
  return 'Error';
}

/** Encodes any thrown value so that it survives `v8.serialize` and loses as little as possible. */
export function encodeError(thrown: unknown, depth = 0): unknown {
  if (!isError(thrown)) return clonable(thrown) ? thrown : util().inspect(thrown);
  const message = read(thrown, 'message');
  const name = read(thrown, 'name');
  const stack = read(thrown, 'stack');
  const code = read(thrown, 'code');
  const props: [string, unknown][] = [];
  for (const key of Object.keys(thrown)) {
    if (key === 'message' || key === 'stack') continue;
    const value = read(thrown, key);
    props.push([
      key,
      isError(value) && depth < MAX_DEPTH ? encodeError(value, depth + 1) : clonable(value) ? value : util().inspect(value),
    ]);
  }
  const wire: { -readonly [K in keyof WireError]: WireError[K] } = {
    $e: 1,
    cls: builtinClassOf(thrown),
    name: typeof name === 'string' ? name : 'Error',
    message: typeof message === 'string' ? message : String(message),
    stack: typeof stack === 'string' ? stack : undefined,
    code: typeof code === 'string' ? code : undefined,
    props,
  };
  if (Object.prototype.hasOwnProperty.call(thrown, 'cause') && depth < MAX_DEPTH) {
    wire.cause = encodeError(read(thrown, 'cause'), depth + 1);
  }
  if (wire.cls === 'AggregateError') {
    const errors = read(thrown, 'errors');
    if (Array.isArray(errors)) wire.errors = errors.map((e) => encodeError(e, depth + 1));
  }
  return wire;
}

function isWireError(value: unknown): value is WireError {
  return typeof value === 'object' && value !== null && (value as { $e?: unknown }).$e === 1;
}

function define(target: object, key: string, value: unknown, enumerable: boolean): void {
  Object.defineProperty(target, key, { value, enumerable, writable: true, configurable: true });
}

/** Rebuilds what `encodeError` produced. Non-error values come back as they were thrown. */
export function decodeError(wire: unknown): unknown {
  if (!isWireError(wire)) return wire;
  const own = wire.code === undefined ? undefined : errorClassesByCode[wire.code];
  let err: Error;
  if (own !== undefined && own.name === wire.name) {
    // Our own classes, rebuilt without running their constructors (which take
    // other arguments); Reflect.construct keeps them real Error objects.
    err = Reflect.construct<[string], Error>(Error, [wire.message], own);
  } else if (wire.cls === 'AggregateError') {
    err = new AggregateError((wire.errors ?? []).map(decodeError), wire.message);
  } else {
    err = new ((builtins[wire.cls] ?? Error) as ErrorConstructor)(wire.message);
  }
  if (err.name !== wire.name) define(err, 'name', wire.name, false);
  define(err, 'stack', wire.stack ?? `${wire.name}: ${wire.message}`, false);
  if ('cause' in wire) define(err, 'cause', decodeError(wire.cause), false);
  for (const [key, value] of wire.props) {
    if (own !== undefined && key === 'code') continue;
    define(err, key, decodeError(value), true);
  }
  return err;
}

/**
 * A `whyNot` for `argumentCloneError`: why `copy` (`v8.serialize`,
 * `structuredClone`) cannot take a value, in its own words, or undefined if
 * it can (a failure path: cost does not matter).
 */
export function copyFailure(copy: (value: unknown) => unknown): (value: unknown) => string | undefined {
  return (value) => {
    try {
      copy(value);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  };
}

/** Why `v8.serialize` cannot take a value (ProcessPool, RemotePool), or undefined if it can. */
export const serializeFailure = copyFailure(serialize);
