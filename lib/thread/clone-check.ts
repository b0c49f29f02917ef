// A result is posted back by piscina after the handler returns; if it cannot
// be cloned there, postMessage throws inside piscina's worker code, which
// rethrows it as an uncaught exception and the thread dies with the whole
// run. So the handler makes sure a result can be sent before returning it.
//
// Cloning to check would double the cost of every result. Instead plain data
// (primitives, arrays, plain objects, Map, Set, Date, RegExp, typed arrays,
// ArrayBuffer, SharedArrayBuffer, errors) is walked, which is far cheaper
// than cloning, and is sent as it is. Anything else, or a graph too large to
// walk, goes the slow way: `v8.serialize` (the same serializer postMessage
// uses), whose bytes are sent instead and read back by the engine; if even
// that fails (a SharedArrayBuffer inside, which v8.serialize cannot carry),
// a trial structuredClone decides.

import { DefaultSerializer } from 'node:v8';
import { types } from 'node:util';
import { copyFailure } from '../core/wire-error.js';

/**
 * v8.serialize, refusing what postMessage would share rather than copy:
 * Node's serializer copies a typed array over a SharedArrayBuffer as bytes,
 * which would silently unshare it.
 */
// _writeHostObject is documented (https://nodejs.org/api/v8.html#serializer_writehostobjectobject) but not typed.
const writeHostObject = Reflect.get(DefaultSerializer.prototype, '_writeHostObject') as (this: DefaultSerializer, o: object) => void;

class ResultSerializer extends DefaultSerializer {
  _writeHostObject(object: object): void {
    if (ArrayBuffer.isView(object) && types.isSharedArrayBuffer(object.buffer)) throw new TypeError('shared memory: send it as it is');
    writeHostObject.call(this, object);
  }
}

function serialize(value: unknown): Uint8Array {
  const ser = new ResultSerializer();
  ser.writeHeader();
  ser.writeValue(value);
  return ser.releaseBuffer();
}

/** Most values walked before the check gives up and serializes instead. */
const WALK_BUDGET = 20_000;

export type CloneVerdict =
  /** Send the value as it is. */
  | { readonly kind: 'direct' }
  /** Send these bytes (v8.serialize of the value) instead. */
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  /** It cannot be sent. */
  | { readonly kind: 'unclonable'; readonly message: string };

const DIRECT: CloneVerdict = { kind: 'direct' };

const objectProto = Object.prototype;
const arrayProto = Array.prototype;

/** Walks plain data. Returns the number of values left in the budget, -1 for "cannot tell", -2 for "certainly not clonable". */
function walk(value: unknown, budget: number, seen: Set<object>): number {
  if (--budget < 0) return -1;
  const t = typeof value;
  if (t !== 'object') return t === 'function' || t === 'symbol' ? -2 : budget;
  if (value === null) return budget;
  const obj = value as object;
  if (seen.has(obj)) return budget;
  seen.add(obj);
  const proto: unknown = Object.getPrototypeOf(obj);
  if (proto === arrayProto) {
    const arr = obj as unknown[];
    for (let i = 0; i < arr.length; i++) {
      budget = walk(arr[i], budget, seen);
      if (budget < 0) return budget;
    }
    return budget;
  }
  if (proto === objectProto || proto === null) {
    const rec = obj as Record<string, unknown>;
    for (const key in rec) {
      if (!Object.prototype.hasOwnProperty.call(rec, key)) continue;
      budget = walk(rec[key], budget, seen);
      if (budget < 0) return budget;
    }
    return budget;
  }
  if (ArrayBuffer.isView(obj) || types.isAnyArrayBuffer(obj) || types.isDate(obj) || types.isRegExp(obj) || types.isBoxedPrimitive(obj)) {
    return budget;
  }
  if (types.isNativeError(obj)) return budget;
  if (types.isMap(obj)) {
    for (const [k, v] of obj) {
      budget = walk(k, budget, seen);
      if (budget >= 0) budget = walk(v, budget, seen);
      if (budget < 0) return budget;
    }
    return budget;
  }
  if (types.isSet(obj)) {
    for (const v of obj) {
      budget = walk(v, budget, seen);
      if (budget < 0) return budget;
    }
    return budget;
  }
  if (types.isPromise(obj) || types.isWeakMap(obj) || types.isWeakSet(obj)) return -2;
  // A class instance, a host object, a proxy: only cloning can tell.
  return -1;
}

/** The structured clone algorithm's own words for why a value cannot be cloned, or undefined if it can. */
export const cloneFailure = copyFailure(structuredClone);

/** Decides how a result can travel back to the engine. */
export function checkClone(value: unknown): CloneVerdict {
  const t = typeof value;
  if (t !== 'object' && t !== 'function' && t !== 'symbol') return DIRECT;
  if (value === null) return DIRECT;
  const left = walk(value, WALK_BUDGET, new Set());
  if (left >= 0) return DIRECT;
  if (left === -1) {
    try {
      return { kind: 'bytes', bytes: serialize(value) };
    } catch {
      // Below: v8.serialize cannot carry a SharedArrayBuffer, which postMessage shares.
    }
  }
  const message = cloneFailure(value);
  return message === undefined ? DIRECT : { kind: 'unclonable', message };
}
