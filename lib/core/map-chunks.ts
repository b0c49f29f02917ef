// How many items a map chunk carries (lib/core/map-run.ts cuts and sends
// them). Apart from map-run.ts because it is a policy of its own, measured
// and tuned on its own (docs/design.md, "Map chunks").
//
// Chunking: items travel in chunks (one task each). Every chunk costs a
// round trip through the parent (its result decoded, delivered, the next
// chunk cut and sent), CPU that on a machine with as many cores as workers
// is taken from a worker, and a wait for the parent to get a core back from
// a worker: measured at 0.2-2 ms a chunk with two workers on two cores, so
// the rule below is about how few chunks a map can be cut into without
// losing what small chunks give (first results soon, a balanced tail, a
// stop that wastes little).
//
// The start: without a `chunksize`, the first chunks hold one item each, so
// the first results come as soon as a single item has run (imap's time to
// first result does not grow), and only one per worker goes out before one
// of them has come back: a one-item chunk is a whole round trip for one
// item, and all that the call needs from them is a measured run time (the
// 16 one-item chunks the read-ahead window used to let out were 8 round
// trips per worker before the first sized chunk began). That run time is
// mostly the chunk's own overhead (30-80 µs for an item of 10 µs, measured),
// so the chunks sized from it are too small, several times over for small
// items: until one of them has come back, at most two per worker go out,
// not the read-ahead window's four, which cut 8-10 undersized chunks.
//
// Sizing: the item cost is the run time measured in the worker over the
// items that ran, each chunk weighing by its items (a chunk of 300 items
// says more than one of a single item, whose run time is mostly the
// chunk's own overhead: 30 µs for an item of 10), the older chunks decayed
// so that the cost follows items that get slower or faster. A source of
// unknown length (a generator, a stream): chunks grow so
// that each carries about a target of work. The target starts at
// TARGET_CHUNK_MS and grows with the work this call has done: a chunk
// carries at most a quarter of what each worker has run so far, up to
// MAX_TARGET_MS: at 4 ms a chunk the per-chunk cost is about a tenth of the
// work, at 16 ms a few percent. Not beyond: the read-ahead window is
// counted in chunks (4 per worker, what sending the next chunk ahead needs
// to keep every worker fed), so the items held in the parent grow with the
// chunk, and with 16 ms chunks of 2 KB lines `warmpool map` under a 64 MB
// heap is near its limit (test/cli.test.ts). A long map grows into large
// chunks; a short one stays fine-grained, and so does the start of every
// map. What large chunks cost (a known length's too, below): a chunk is the unit of cancellation and of
// delivery, so stop() or a failure leaves a running chunk to finish (up to
// MAX_TARGET_MS of wasted work per worker), imap yields in bursts of a
// chunk, and a per-item `timeout` is judged per chunk (the items' timeouts
// summed).
//
// A known length: the chunks are cut by guided self-scheduling instead,
// each the remaining items / (SPLIT × workers) (docs/design.md, "Map
// chunks", "A short map"), within TAIL_MS and MAX_TARGET_MS of work. A short
// map is cut into few chunks, the first ones large, and since each chunk is
// a share of what is left, whichever worker frees up takes the next, smaller
// one and the workers end within about the last chunk of each other, however
// their speeds differ: a 40 ms map on two workers is about ten chunks (13,
// 9, 6, 4, 2.6, 1.7, 1.2 and 1 ms), against about twenty when every chunk
// carried the 4 ms start target (each chunk boundary costs its worker
// 0.3–0.8 ms on this 2-core machine, so the map spent about a quarter of
// its wall time at boundaries). The count does not depend on the item
// cost, so the one-item probes' inflated run times size nothing but the
// caps. The floor: no chunk under TAIL_MS of work, below which the round
// trip the next chunk costs is more than the imbalance it saves.
//
// A map over a name this engine has mapped before (a known length only)
// starts from the item cost that map measured: no one-item probes, and the
// first chunks are sized at once (each probe cost its worker a round trip,
// 0.5–1.5 ms, at the start of every map). If the cost changed (other
// arguments), the first chunks are still a share of the items, never more
// than a third of the work per worker (two workers), and the next are sized
// from what they measure.

import type { ResolvedMapOptions } from './options.js';

/** Work per chunk at the start of a map, ms (see the header: the target grows from here). */
const TARGET_CHUNK_MS = 4;
/** The most work per chunk the target grows to, ms. */
const MAX_TARGET_MS = 16;
/** A chunk carries at most this share of the work each worker has run for the call so far. */
const TARGET_SHARE = 0.25;
const MAX_CHUNK = 16_384;
/** The tail's chunks shrink no further than this much work, ms (see the header). */
const TAIL_MS = 1;
/** Weight left to what earlier chunks measured when a chunk comes back (see the header). */
const DECAY = 0.5;
/** A known length: each chunk holds at most the remaining items / (SPLIT × workers) (see the header). */
const SPLIT = 1.5;
/** Read-ahead, in chunks per worker. */
export const WINDOW_CHUNKS = 4;

/**
 * The item cost (ms) the last map of a name measured, per engine: where the
 * next map of that name starts (see the header). Weak, so an engine's costs
 * go with it.
 */
const itemCosts = new WeakMap<object, Map<string, number>>();

/** One map call's chunk sizes, from the run times its chunks came back with. */
export class ChunkSizer {
  /** Decayed sums of the run time (ms) and of the items of the chunks that came back measured. */
  #runMs = 0;
  #items = 0;
  /** Run time of this call's chunks that came back, summed over workers, ms. */
  #workMs = 0;
  /** A chunk has come back, measured or not: the one-item start is over. */
  #returned = false;
  /** A chunk cut after the start has come back: the item cost no longer rests on one-item chunks. */
  #sizedBack = false;
  /** The item cost an earlier map of this name measured on this engine, ms; used with a known length only. */
  readonly #prior: number | undefined;
  readonly #costs: Map<string, number>;
  readonly #name: string;

  /** `engine`, `name`: where earlier maps' item costs are kept; `known`: the map's length is known. */
  constructor(engine: object, name: string, known: boolean) {
    let costs = itemCosts.get(engine);
    if (costs === undefined) itemCosts.set(engine, (costs = new Map<string, number>()));
    this.#costs = costs;
    this.#name = name;
    this.#prior = known ? costs.get(name) : undefined;
  }

  /**
   * A chunk of `items` items came back after running `runTime` ms in its
   * worker (0: not measured); `probe`: it was cut before any chunk had come
   * back.
   */
  measured(runTime: number, items: number, probe: boolean): void {
    this.#returned = true;
    if (!probe) this.#sizedBack = true;
    if (runTime <= 0) return;
    this.#workMs += runTime;
    this.#runMs = this.#runMs * DECAY + runTime;
    this.#items = this.#items * DECAY + items;
    // Not from one-item probes alone: their run time is mostly the chunk's own overhead.
    if (this.#sizedBack) this.#costs.set(this.#name, this.#runMs / this.#items);
  }

  /** True while no chunk of the call has come back (and the chunk size is not the caller's, nor known from an earlier map): the next chunk is a probe. */
  probing(opts: Pick<ResolvedMapOptions, 'chunksize'>): boolean {
    return !this.#returned && opts.chunksize === undefined && this.#prior === undefined;
  }

  /**
   * How many of the call's chunks may be out per worker at the start (see
   * the header): one while no chunk has come back, two while the item cost
   * rests on one-item chunks only, else no limit but the read-ahead window.
   */
  startLimit(opts: Pick<ResolvedMapOptions, 'chunksize'>): number {
    if (opts.chunksize !== undefined || this.#sizedBack || this.#prior !== undefined) return Infinity;
    return this.#returned ? 2 : 1;
  }

  /** Items for the next chunk, with `read` of the source's `total` items read so far. */
  size(opts: Pick<ResolvedMapOptions, 'chunksize' | 'concurrency'>, workers: number, total: number | undefined, read: number): number {
    const { chunksize, concurrency } = opts;
    let k: number;
    if (chunksize !== undefined) k = chunksize;
    else if (this.#items === 0 && this.#prior === undefined) k = 1;
    else {
      const perItem = Math.max(this.#items === 0 ? this.#prior! : this.#runMs / this.#items, 1e-5);
      if (total !== undefined) {
        k = Math.min(Math.ceil((total - read) / (SPLIT * workers)), Math.ceil(MAX_TARGET_MS / perItem));
        // From an earlier map's cost, at most the first chunk's third (two
        // workers): were that cost too low (this map's items cost more), the
        // floor would be most of the map.
        let floor = Math.ceil(TAIL_MS / perItem);
        if (this.#items === 0) floor = Math.min(floor, Math.ceil(total / (2 * SPLIT * workers)));
        k = Math.max(k, floor);
      } else {
        const target = Math.min(MAX_TARGET_MS, Math.max(TARGET_CHUNK_MS, (this.#workMs / workers) * TARGET_SHARE));
        k = Math.ceil(target / perItem);
      }
      k = Math.max(1, Math.min(MAX_CHUNK, k));
    }
    return Math.min(k, concurrency);
  }
}
