// What the map family needs to know of its items, apart from reading and
// chunking them (./map-run.ts): how many a source holds, which one cannot be
// sent, and how many completed beyond one per chunk (stats()).

import { serialize } from 'node:v8';
import type { Engine } from './contract.js';
import { DataCloneError } from './errors.js';

/**
 * Map items that returned a value, beyond the one per chunk the engine
 * counts: stats().completed counts items, not chunks (see Executor.stats).
 */
const extraItems = new WeakMap<Engine, { n: number }>();

/** How many more items than chunks have completed on `engine`'s map calls. */
export function extraCompletedItems(engine: Engine): number {
  return extraItems.get(engine)?.n ?? 0;
}

export function countItems(engine: Engine, n: number): void {
  if (n === 0) return;
  let tally = extraItems.get(engine);
  if (tally === undefined) extraItems.set(engine, (tally = { n: 0 }));
  tally.n += n;
}

/**
 * A chunk refused with DataCloneError is about one of its items: names that
 * item by its input position, as the error of a call names its argument.
 * When every item clones on its own (the whole was too large, say), the
 * error stays the engine's, at the chunk's first position.
 */
export function itemCloneError(name: string, start: number, items: readonly unknown[], error: unknown): { error: unknown; index: number } {
  if ((error as { code?: unknown } | null)?.code !== 'ERR_WARMPOOL_DATA_CLONE') return { error, index: start };
  for (let i = 0; i < items.length; i++) {
    try {
      serialize(items[i]);
    } catch (why) {
      const index = start + i;
      const reason = why instanceof Error ? why.message : String(why);
      return {
        error: new DataCloneError(`Item ${index} of the map over \`${name}\` cannot be sent to a worker: ${reason}`, { cause: error }),
        index,
      };
    }
  }
  return { error, index: start };
}

/** The number of items a source will yield, when it can be known without reading it. */
export function knownLength(source: unknown): number | undefined {
  if (Array.isArray(source)) return source.length;
  if (ArrayBuffer.isView(source) && !(source instanceof DataView)) return (source as unknown as ArrayLike<unknown>).length;
  if (source instanceof Set || source instanceof Map) return source.size;
  return undefined;
}
