// How many items a map chunk carries (lib/core/map-run.ts cuts and sends
// them). Apart from map-run.ts because it is a policy of its own, measured
// and tuned on its own (docs/design.md, "Map chunks").
//
// Chunking: items travel in chunks (one task each). Without a `chunksize`,
// the first chunks hold one item each, so the first results come as soon as
// a single item has run (imap's time to first result does not grow); once a
// chunk comes back, its run time measured in the worker gives the cost of an
// item, and chunks grow so that each carries about a target of work. The
// target starts at TARGET_CHUNK_MS and grows with the work this call has
// done: a chunk carries at most a quarter of what each worker has run so
// far, up to MAX_TARGET_MS. Every chunk costs a round trip through the
// parent (its result decoded, delivered, the next chunk cut and sent), CPU
// that on a machine with as many cores as workers is taken from a worker:
// at 4 ms a chunk that is about a tenth of the work, at 16 ms a few percent.
// Not beyond: the read-ahead window is counted in chunks (4 per worker, what
// sending the next chunk ahead needs to keep every worker fed), so the items
// held in the parent grow with the chunk, and with 16 ms chunks of 2 KB lines
// `warmpool map` under a 64 MB heap is near its limit (test/cli.test.ts).
// A long map grows into large chunks; a short one stays fine-grained, and
// so does the start of every map. What large chunks cost: a chunk is the
// unit of cancellation and of delivery, so stop() or a failure leaves a
// running chunk to finish (up to MAX_TARGET_MS of wasted work per worker),
// imap yields in bursts of a chunk, and a per-item `timeout` is judged per
// chunk (the items' timeouts summed). The tail stays balanced: with a known
// length, a chunk never holds more than the remaining items / (2 × workers),
// so no worker finishes long before another.

import type { ResolvedMapOptions } from './options.js';

/** Work per chunk at the start of a map, ms (see the header: the target grows from here). */
const TARGET_CHUNK_MS = 4;
/** The most work per chunk the target grows to, ms. */
const MAX_TARGET_MS = 16;
/** A chunk carries at most this share of the work each worker has run for the call so far. */
const TARGET_SHARE = 0.25;
const MAX_CHUNK = 16_384;
/** Read-ahead, in chunks per worker. */
export const WINDOW_CHUNKS = 4;

/** One map call's chunk sizes, from the run times its chunks came back with. */
export class ChunkSizer {
  /** Measured ms per item; NaN until the first chunk returns. */
  #perItem = NaN;
  /** Run time of this call's chunks that came back, summed over workers, ms. */
  #workMs = 0;

  /** A chunk of `items` items came back after running `runTime` ms in its worker (0: not measured). */
  measured(runTime: number, items: number): void {
    if (runTime <= 0) return;
    this.#workMs += runTime;
    const perItem = runTime / items;
    this.#perItem = this.#perItem !== this.#perItem ? perItem : this.#perItem * 0.7 + perItem * 0.3;
  }

  /** Items for the next chunk, with `read` of the source's `total` items read so far. */
  size(opts: Pick<ResolvedMapOptions, 'chunksize' | 'concurrency'>, workers: number, total: number | undefined, read: number): number {
    const { chunksize, concurrency } = opts;
    let k: number;
    if (chunksize !== undefined) k = chunksize;
    else if (this.#perItem !== this.#perItem) k = 1;
    else {
      const target = Math.min(MAX_TARGET_MS, Math.max(TARGET_CHUNK_MS, (this.#workMs / workers) * TARGET_SHARE));
      k = Math.ceil(target / Math.max(this.#perItem, 1e-5));
      if (total !== undefined) k = Math.min(k, Math.ceil((total - read) / (workers * 2)));
      k = Math.max(1, Math.min(MAX_CHUNK, k));
    }
    return Math.min(k, concurrency);
  }
}
