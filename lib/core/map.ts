// The map family, written once on top of an engine's `submit` and shared by
// every backend: `map`, `starmap`, `imap` and `imapUnordered` are one MapRun
// with a different sink.
//
// Reading: items are pulled from the source only while fewer than `window`
// items are read and not yet consumed by the caller, so an infinite or async
// source is never read far ahead; breaking out of a `for await` stops it.
//
// Chunking: items travel in chunks (one task each). Without a `chunksize`,
// the first chunks hold one item each; once a chunk comes back, its run time
// measured in the worker gives the cost of an item, and chunks grow so that
// each carries about TARGET_CHUNK_MS of work, but never so large that a
// worker would sit idle while another finishes a long tail.
//
// Failure: the first item that fails ends the call with that item's error
// (its input position in `error.index`), and the chunks not yet started are
// cancelled; running ones finish and their results are dropped.

import { performance } from 'node:perf_hooks';
import { CancelledError, QueueFullError } from './errors.js';
import { futureInternals, type Future } from './future.js';
import { expected, type ResolvedMapOptions } from './options.js';
import { ChunkFailure, TaskKind, type Engine } from './contract.js';

const TARGET_CHUNK_MS = 4;
const MAX_CHUNK = 16_384;
/** Read-ahead, in chunks per worker. */
const WINDOW_CHUNKS = 4;
const PROGRESS_MS = 10;

interface Sink {
  chunk(start: number, values: unknown[]): void;
  fail(error: unknown): void;
  end(): void;
}

interface InFlight {
  future: Future<unknown>;
  start: number;
  count: number;
}

/** The number of items a source will yield, when it can be known without reading it. */
function knownLength(source: unknown): number | undefined {
  if (Array.isArray(source)) return source.length;
  if (ArrayBuffer.isView(source) && !(source instanceof DataView)) return (source as unknown as ArrayLike<unknown>).length;
  if (source instanceof Set || source instanceof Map) return source.size;
  return undefined;
}

export class MapRun {
  readonly #engine: Engine;
  readonly #name: string;
  readonly #kind: TaskKind;
  readonly #opts: ResolvedMapOptions;
  readonly #total: number | undefined;
  readonly #sink: Sink;
  #syncIt: Iterator<unknown> | undefined;
  #asyncIt: AsyncIterator<unknown> | undefined;
  #exhausted = false;
  #reading = false;
  #stopped = false;
  /** Items read from the source. */
  #read = 0;
  /** Items the caller has taken (map takes them as they arrive). */
  #consumed = 0;
  #done = 0;
  #buffer: unknown[] = [];
  readonly #inflight = new Set<InFlight>();
  #inflightItems = 0;
  /** Measured ms per item; NaN until the first chunk returns. */
  #perItem = NaN;
  #lastProgress = -Infinity;
  /** The pool's queue was full: read nothing more until one of this call's chunks comes back. */
  #queueFull = false;
  #onAbort: (() => void) | undefined;

  constructor(
    engine: Engine,
    name: string,
    source: Iterable<unknown> | AsyncIterable<unknown>,
    spread: boolean,
    opts: ResolvedMapOptions,
    sink: Sink,
  ) {
    this.#engine = engine;
    this.#name = name;
    this.#kind = spread ? TaskKind.StarChunk : TaskKind.Chunk;
    this.#opts = opts;
    this.#sink = sink;
    this.#total = knownLength(source);
    if (source !== null && typeof (source as Iterable<unknown>)[Symbol.iterator] === 'function') {
      this.#syncIt = (source as Iterable<unknown>)[Symbol.iterator]();
    } else if (source !== null && typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
      this.#asyncIt = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    } else {
      throw expected('items', 'an iterable or an async iterable', source);
    }
  }

  get total(): number | undefined {
    return this.#total;
  }

  start(): void {
    const signal = this.#opts.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        // Before reading anything: an aborted call reads no item.
        this.#fail(new CancelledError('The map was aborted by its signal'), 0, true);
        return;
      }
      this.#onAbort = () => this.#fail(new CancelledError('The map was aborted by its signal'), this.#read, true);
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    this.#pump();
  }

  /** The caller took `n` more items: there is room to read again. */
  consumed(n: number): void {
    this.#consumed += n;
    this.#pump();
  }

  /** The caller stopped (broke out of its loop): read no more, cancel what has not started. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#cleanup(false);
  }

  #chunkSize(): number {
    const { chunksize, concurrency } = this.#opts;
    let k: number;
    if (chunksize !== undefined) k = chunksize;
    else if (this.#perItem !== this.#perItem) k = 1;
    else {
      k = Math.ceil(TARGET_CHUNK_MS / Math.max(this.#perItem, 1e-5));
      if (this.#total !== undefined) k = Math.min(k, Math.ceil((this.#total - this.#read) / (this.#engine.workers * 2)));
      k = Math.max(1, Math.min(MAX_CHUNK, k));
    }
    return Math.min(k, concurrency);
  }

  /** True while another item may be read. */
  #room(k: number): boolean {
    const window = Math.max(WINDOW_CHUNKS * this.#engine.workers * k, 16);
    return (
      !this.#exhausted &&
      !this.#stopped &&
      !this.#queueFull &&
      this.#read - this.#consumed < window &&
      this.#inflightItems + this.#buffer.length < this.#opts.concurrency
    );
  }

  #pump(): void {
    if (this.#reading || this.#stopped) return;
    if (this.#asyncIt !== undefined) {
      void this.#pumpAsync();
      return;
    }
    const it = this.#syncIt!;
    // A chunk held back by a full queue goes first, at the size it had.
    if (this.#buffer.length > 0) this.#submit();
    let k = this.#chunkSize();
    while (this.#room(k)) {
      let r: IteratorResult<unknown>;
      try {
        r = it.next();
      } catch (err) {
        this.#fail(err, this.#read, false);
        return;
      }
      if (r.done === true) {
        this.#exhausted = true;
        break;
      }
      k = this.#take(r.value, k);
      if (this.#stopped) return;
    }
    // Whatever stopped the reading, a partial chunk must go now, or its items
    // would hold the window forever (unless the queue is full: then it goes
    // when one of this call's chunks comes back).
    if (this.#buffer.length > 0 && !this.#queueFull) this.#submit();
    // The source may have ended just now, after every chunk had come back.
    this.#checkEnd();
  }

  async #pumpAsync(): Promise<void> {
    this.#reading = true;
    const it = this.#asyncIt!;
    if (this.#buffer.length > 0) this.#submit();
    let k = this.#chunkSize();
    while (this.#room(k)) {
      // A slow source must not leave the workers idle with items in hand.
      if (this.#buffer.length > 0 && this.#inflightItems === 0) this.#submit();
      let r: IteratorResult<unknown>;
      try {
        r = await it.next();
      } catch (err) {
        this.#reading = false;
        this.#fail(err, this.#read, false);
        return;
      }
      if (this.#stopped) break;
      if (r.done === true) {
        this.#exhausted = true;
        break;
      }
      k = this.#take(r.value, k);
    }
    this.#reading = false;
    if (this.#stopped) return;
    if (this.#buffer.length > 0 && !this.#queueFull) this.#submit();
    this.#checkEnd();
  }

  /** Adds an item read from the source to the chunk being formed; returns the chunk size from now on. */
  #take(item: unknown, k: number): number {
    this.#buffer.push(item);
    this.#read++;
    if (this.#buffer.length < k) return k;
    this.#submit();
    return this.#chunkSize();
  }

  #submit(): void {
    const items = this.#buffer;
    this.#buffer = [];
    const start = this.#read - items.length;
    const timeout = this.#opts.timeout === Infinity ? Infinity : this.#opts.timeout * items.length;
    let future: Future<unknown>;
    try {
      future = this.#engine.submit(this.#name, items, this.#kind, { priority: 0, timeout, signal: undefined });
    } catch (err) {
      if (err instanceof QueueFullError && this.#inflight.size > 0) {
        // Wait for one of this call's chunks to come back, then try again;
        // meanwhile read nothing, so the chunk keeps its size.
        this.#buffer = items;
        this.#queueFull = true;
        return;
      }
      this.#fail(err, start, false);
      return;
    }
    const entry: InFlight = { future, start, count: items.length };
    this.#inflight.add(entry);
    this.#inflightItems += items.length;
    future.addDoneCallback(() => this.#onChunk(entry));
  }

  #onChunk(entry: InFlight): void {
    if (!this.#inflight.delete(entry)) return;
    this.#inflightItems -= entry.count;
    this.#queueFull = false;
    if (this.#stopped) return;
    const future = entry.future;
    if (future.state === 'fulfilled') {
      const runTime = futureInternals.ownerOf(future)?.runTime ?? 0;
      if (runTime > 0) {
        const perItem = runTime / entry.count;
        this.#perItem = this.#perItem !== this.#perItem ? perItem : this.#perItem * 0.7 + perItem * 0.3;
      }
      this.#done += entry.count;
      this.#sink.chunk(entry.start, futureInternals.valueOf(future) as unknown[]);
      if (this.#stopped || !this.#progress(false)) return;
      this.#pump();
      if (this.#asyncIt !== undefined) this.#checkEnd();
      return;
    }
    const error = future.exception();
    if (error instanceof ChunkFailure) this.#fail(error.error, entry.start + error.index, false);
    else this.#fail(error, entry.start, false);
  }

  #checkEnd(): void {
    if (this.#stopped || !this.#exhausted || this.#reading || this.#inflight.size > 0 || this.#buffer.length > 0) return;
    if (!this.#progress(true)) return;
    this.#stopped = true;
    this.#cleanup(false);
    this.#sink.end();
  }

  /** Calls onProgress when due; false if it threw, which fails the call with that error. */
  #progress(final: boolean): boolean {
    const onProgress = this.#opts.onProgress;
    if (onProgress === undefined) return true;
    const now = performance.now();
    if (!final && now - this.#lastProgress < PROGRESS_MS) return true;
    this.#lastProgress = now;
    try {
      onProgress(this.#done, this.#total);
      return true;
    } catch (err) {
      this.#fail(err, this.#done, false);
      return false;
    }
  }

  #fail(error: unknown, index: number, cancelRunning: boolean): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (typeof error === 'object' && error !== null && Object.isExtensible(error) && !Object.prototype.hasOwnProperty.call(error, 'index')) {
      Object.defineProperty(error, 'index', { value: index, writable: true, configurable: true, enumerable: false });
    }
    this.#cleanup(cancelRunning);
    this.#sink.fail(error);
  }

  #cleanup(cancelRunning: boolean): void {
    if (this.#onAbort !== undefined) {
      this.#opts.signal!.removeEventListener('abort', this.#onAbort);
      this.#onAbort = undefined;
    }
    for (const entry of this.#inflight) {
      if (cancelRunning || entry.future.state === 'pending') entry.future.cancel();
    }
    this.#inflight.clear();
    this.#inflightItems = 0;
    this.#buffer = [];
    if (!this.#exhausted) {
      this.#exhausted = true;
      // Let a generator run its finally blocks; errors from it are not ours to raise.
      try {
        const closing = this.#syncIt?.return?.() ?? this.#asyncIt?.return?.();
        if (closing instanceof Promise) closing.catch(() => {});
      } catch {
        // ignored, as above
      }
    }
  }
}

/** `map`/`starmap`: every result, in input order. */
export function collect(engine: Engine, name: string, source: Iterable<unknown> | AsyncIterable<unknown>, spread: boolean, opts: ResolvedMapOptions): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    let results: unknown[] = [];
    let run: MapRun | undefined = undefined;
    const sink: Sink = {
      chunk(start, values) {
        for (let i = 0; i < values.length; i++) results[start + i] = values[i];
        run!.consumed(values.length);
      },
      fail: reject,
      end: () => resolve(results),
    };
    run = new MapRun(engine, name, source, spread, opts, sink);
    if (run.total !== undefined) results = new Array<unknown>(run.total);
    run.start();
  });
}

/** `imap` (ordered) and `imapUnordered`: a lazy iterator over the results. */
export function iterate(
  engine: Engine,
  name: string,
  source: Iterable<unknown> | AsyncIterable<unknown>,
  spread: boolean,
  ordered: boolean,
  opts: ResolvedMapOptions,
): AsyncIterableIterator<unknown> {
  /** Ordered: chunks by start index. Unordered: chunks in arrival order (keyed by start too; Map keeps insertion order). */
  const ready = new Map<number, unknown[]>();
  let current: unknown[] | undefined;
  let offset = 0;
  let nextStart = 0;
  let failure: { error: unknown } | undefined;
  let ended = false;
  let waiter: (() => void) | undefined;
  const wake = () => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };
  const run = new MapRun(engine, name, source, spread, opts, {
    chunk(start, values) {
      ready.set(start, values);
      wake();
    },
    fail(error) {
      failure = { error };
      wake();
    },
    end() {
      ended = true;
      wake();
    },
  });
  let started = false;

  const take = (): IteratorResult<unknown> | undefined => {
    for (;;) {
      if (current !== undefined && offset < current.length) return { value: current[offset++], done: false };
      if (current !== undefined) {
        run.consumed(current.length);
        current = undefined;
      }
      if (failure !== undefined) return undefined;
      let next: unknown[] | undefined;
      if (ordered) {
        next = ready.get(nextStart);
        if (next !== undefined) ready.delete(nextStart);
      } else {
        const first = ready.entries().next();
        if (first.done !== true) {
          next = first.value[1];
          ready.delete(first.value[0]);
        }
      }
      if (next === undefined) return ended ? { value: undefined, done: true } : undefined;
      nextStart += next.length;
      current = next;
      offset = 0;
    }
  };

  const iterator: AsyncIterableIterator<unknown> = {
    async next(): Promise<IteratorResult<unknown>> {
      if (!started) {
        started = true;
        run.start();
      }
      for (;;) {
        const r = take();
        if (r !== undefined) return r;
        if (failure !== undefined) {
          const { error } = failure;
          failure = undefined;
          ended = true;
          ready.clear();
          throw error;
        }
        await new Promise<void>((resolve) => (waiter = resolve));
      }
    },
    async return(): Promise<IteratorResult<unknown>> {
      run.stop();
      ended = true;
      ready.clear();
      current = undefined;
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
