// MapRun: one call of the map family on top of an engine's `submit`, shared
// by every backend. It reads the source, cuts it into chunks, submits them,
// and hands each chunk's results to a sink; ./map.ts gives `map`, `starmap`,
// `imap` and `imapUnordered` their sinks.
//
// Reading: items are pulled from the source only while fewer than `window`
// items are read and not yet consumed by the caller, so an infinite or async
// source is never read far ahead; breaking out of a `for await` stops it.
//
// Chunking: items travel in chunks (one task each), sized by ./map-chunks.ts
// (the rule and its reasons are in its header); the read-ahead window and
// when a chunk goes out short are decided here:
//
// A chunk goes out at its size. The read-ahead window is counted in items
// and checked as a chunk begins (there must be room for all of it): a chunk
// begun is filled, not cut short because the window or an estimate moved by
// an item, which sent runs of short chunks, each a round trip. It goes out
// short only when the source ended, the call's `concurrency` is reached, or
// a worker would otherwise idle: an async source is slow to yield while
// fewer of this call's chunks are out than the pool has workers.
//
// Failure, ordered (`map`, `starmap`, `imap`), as Python's Executor.map: a
// failing item stops the reading and cancels the chunks after it not yet
// started, but the chunks before it run to their end and their results are
// delivered (imap yields them) before the call fails; the error is that of
// the lowest failing input position among the items that ran. Unordered
// (`imapUnordered`): the first failure to arrive ends the call. Either way
// the error carries the item's input position in `error.index`. Items of the
// failing chunk before the failing one are not delivered: a chunk fails
// whole, as in Python's ProcessPoolExecutor with a chunksize (chunksize 1
// delivers every one).

import { AsyncResource } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { CancelledError, QueueFullError } from './errors.js';
import { ChunkSizer, WINDOW_CHUNKS } from './map-chunks.js';
import { countItems, itemCloneError, knownLength } from './map-items.js';
import { futureInternals, type Future } from './future.js';
import { expected, type ResolvedMapOptions } from './options.js';
import { ChunkFailure, TaskKind, type Engine } from './contract.js';

const PROGRESS_MS = 10;

/** Where a MapRun delivers: each chunk's results (by the input position of its first item), the call's failure, its end. */
export interface Sink {
  chunk(start: number, values: unknown[]): void;
  fail(error: unknown): void;
  end(): void;
}

interface InFlight {
  future: Future<unknown>;
  start: number;
  count: number;
  /** The chunk's items, kept to name the one that cannot be sent if the chunk fails with DataCloneError. */
  items: unknown[];
  /** Cut before any of the call's chunks had come back (ChunkSizer.measured). */
  probe: boolean;
}

/** One call of the map family: reads, chunks, submits and delivers to its sink (see the file's header). */
export class MapRun {
  readonly #engine: Engine;
  readonly #name: string;
  readonly #kind: TaskKind;
  readonly #opts: ResolvedMapOptions;
  readonly #total: number | undefined;
  readonly #sink: Sink;
  /** Fail as Python's Executor.map does: results before the failing item first (see the file's header). */
  readonly #ordered: boolean;
  /** Ordered: the lowest failing item so far, held until every chunk before it has come back. */
  #failure: { error: unknown; index: number } | undefined;
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
  /** The most items a chunk of this call has carried: the read-ahead window's unit (#room). */
  #largest = 0;
  /** Chunk sizes, from what this call's chunks measured. */
  readonly #sizer: ChunkSizer;
  #lastProgress = -Infinity;
  /** The pool's queue was full: read nothing more until one of this call's chunks comes back. */
  #queueFull = false;
  /** #buffer is a chunk the full queue refused: it goes first, at the size it had, when there is room. */
  #refused = false;
  #onAbort: (() => void) | undefined;
  /**
   * #onChunk in the caller's async context, bound as the call is made: a
   * chunk's done callback runs where its engine settles it (ProcessPool: in
   * the worker pipe's 'data' event, in no caller's context), and the chunks
   * submitted from there would take that context: their trace parent,
   * their AsyncLocalStorage, and onProgress's.
   */
  readonly #onChunkInCallerContext = AsyncResource.bind((entry: InFlight) => this.#onChunk(entry));

  constructor(
    engine: Engine,
    name: string,
    source: Iterable<unknown> | AsyncIterable<unknown>,
    spread: boolean,
    opts: ResolvedMapOptions,
    sink: Sink,
    ordered: boolean,
  ) {
    this.#engine = engine;
    this.#ordered = ordered;
    this.#name = name;
    this.#kind = spread ? TaskKind.StarChunk : TaskKind.Chunk;
    this.#opts = opts;
    this.#sink = sink;
    this.#total = knownLength(source);
    this.#sizer = new ChunkSizer(engine, name, this.#total !== undefined);
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

  /**
   * The caller stopped (broke out of its loop): read no more, cancel what has
   * not started. Resolves once the source is closed (a generator's finally
   * blocks have run), so that they have run when the loop has exited.
   */
  stop(): Promise<void> {
    if (this.#stopped) return this.#closing;
    this.#stopped = true;
    this.#cleanup(false);
    return this.#closing;
  }

  /** The source's `return()`, settled (never rejects: its errors are not ours to raise). */
  #closing: Promise<void> = Promise.resolve();

  #chunkSize(): number {
    return this.#sizer.size(this.#opts, this.#engine.workers, this.#total, this.#read);
  }

  /**
   * True while another item may be read. The window is checked as a chunk
   * begins, with room for the whole of it; a chunk begun is then filled
   * (see the header).
   */
  #room(k: number): boolean {
    if (this.#exhausted || this.#stopped || this.#queueFull) return false;
    if (this.#inflightItems + this.#buffer.length >= this.#opts.concurrency) return false;
    if (this.#buffer.length > 0) return true;
    // The start: fewer chunks out until sized ones come back (./map-chunks.ts).
    if (this.#inflight.size >= this.#sizer.startLimit(this.#opts) * this.#engine.workers) return false;
    // In the largest chunk's size, not the next one's: the chunks of a known
    // length shrink as the map goes (./map-chunks.ts), and a window in the
    // next chunk's size stopped the cutting halfway through a short map, so
    // each later chunk was cut and sent only as one came back, a round trip
    // each, too late to be sent ahead behind a running one.
    const window = Math.max(WINDOW_CHUNKS * this.#engine.workers * Math.max(k, this.#largest), 16);
    return this.#read - this.#consumed + k <= window;
  }

  /**
   * A chunk that is not full goes now only if waiting for its items would
   * leave a worker idle (see the header), or if nothing more can join it.
   */
  #sendPartial(): boolean {
    return (
      this.#buffer.length > 0 &&
      !this.#queueFull &&
      (this.#exhausted || this.#inflight.size < this.#engine.workers || this.#inflightItems + this.#buffer.length >= this.#opts.concurrency)
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
    if (this.#refused) this.#submit();
    let k = this.#chunkSize();
    while (this.#room(k)) {
      let r: IteratorResult<unknown>;
      try {
        r = it.next();
      } catch (err) {
        this.#failAt(err, this.#read);
        return;
      }
      if (r.done === true) {
        this.#exhausted = true;
        break;
      }
      k = this.#take(r.value, k);
      if (this.#stopped) return;
    }
    // A partial chunk waits for its items while this call keeps every worker
    // busy: it is filled when a chunk comes back and the caller takes its
    // results (consumed, then #pump). Otherwise it goes now (see #sendPartial).
    if (this.#sendPartial()) this.#submit();
    // The source may have ended just now, after every chunk had come back.
    this.#checkEnd();
  }

  async #pumpAsync(): Promise<void> {
    this.#reading = true;
    const it = this.#asyncIt!;
    if (this.#refused) this.#submit();
    let k = this.#chunkSize();
    while (this.#room(k)) {
      // A slow source must not leave a worker idle with items in hand.
      if (this.#buffer.length > 0 && this.#inflight.size < this.#engine.workers) this.#submit();
      let r: IteratorResult<unknown>;
      try {
        r = await it.next();
      } catch (err) {
        this.#reading = false;
        this.#failAt(err, this.#read);
        return;
      }
      if (this.#stopped || this.#failure !== undefined) break;
      if (r.done === true) {
        this.#exhausted = true;
        break;
      }
      k = this.#take(r.value, k);
    }
    this.#reading = false;
    if (this.#stopped || this.#failure !== undefined) return;
    if (this.#sendPartial()) this.#submit();
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
    this.#refused = false;
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
        this.#refused = true;
        return;
      }
      const located = itemCloneError(this.#name, start, items, err);
      this.#failAt(located.error, located.index);
      return;
    }
    if (items.length > this.#largest) this.#largest = items.length;
    const entry: InFlight = { future, start, count: items.length, items, probe: this.#sizer.probing(this.#opts) };
    this.#inflight.add(entry);
    this.#inflightItems += items.length;
    future.addDoneCallback(() => this.#onChunkInCallerContext(entry));
  }

  #onChunk(entry: InFlight): void {
    if (!this.#inflight.delete(entry)) return;
    this.#inflightItems -= entry.count;
    this.#queueFull = false;
    if (this.#stopped) return;
    const future = entry.future;
    if (future.state === 'fulfilled') {
      countItems(this.#engine, entry.count - 1);
      const runTime = futureInternals.ownerOf(future)?.runTime ?? 0;
      this.#sizer.measured(runTime, entry.count, entry.probe);
      this.#done += entry.count;
      this.#sink.chunk(entry.start, futureInternals.valueOf(future) as unknown[]);
      if (this.#failure !== undefined) return this.#settleFailure();
      if (this.#stopped || !this.#progress(false)) return;
      this.#pump();
      if (this.#asyncIt !== undefined) this.#checkEnd();
      return;
    }
    const error = future.exception();
    if (error instanceof ChunkFailure) {
      // The items before the failing one returned values.
      countItems(this.#engine, error.index);
      this.#failAt(error.error, entry.start + error.index);
    } else {
      const located = itemCloneError(this.#name, entry.start, entry.items, error);
      this.#failAt(located.error, located.index);
    }
  }

  /**
   * An item failed (or the source threw) at input position `index`. Ordered:
   * nothing after it is read or started, and the call fails once every chunk
   * before it is back; one of those may fail at a lower position, and that
   * error wins. Unordered: the call fails now.
   */
  #failAt(error: unknown, index: number): void {
    if (this.#stopped) return;
    if (!this.#ordered) return this.#fail(error, index, false);
    if (this.#failure === undefined || index < this.#failure.index) this.#failure = { error, index };
    const limit = this.#failure.index;
    this.#buffer = [];
    this.#refused = false;
    this.#queueFull = false;
    this.#closeSource();
    for (const entry of this.#inflight) {
      if (entry.start < limit) continue;
      // Taken out first: cancel() settles the future and runs #onChunk at once.
      this.#inflight.delete(entry);
      this.#inflightItems -= entry.count;
      if (entry.future.state === 'pending') entry.future.cancel();
    }
    this.#settleFailure();
  }

  /** Fails the call with the held failure once no chunk before it is out. */
  #settleFailure(): void {
    if (this.#stopped || this.#failure === undefined || this.#inflight.size > 0) return;
    const { error, index } = this.#failure;
    this.#fail(error, index, false);
  }

  #checkEnd(): void {
    if (
      this.#stopped ||
      this.#failure !== undefined ||
      !this.#exhausted ||
      this.#reading ||
      this.#inflight.size > 0 ||
      this.#buffer.length > 0
    )
      return;
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
    if (
      typeof error === 'object' &&
      error !== null &&
      Object.isExtensible(error) &&
      !Object.prototype.hasOwnProperty.call(error, 'index')
    ) {
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
    this.#refused = false;
    this.#closeSource();
  }

  /** Reads no more; lets a generator run its finally blocks (errors from it are not ours to raise). */
  #closeSource(): void {
    if (this.#exhausted) return;
    this.#exhausted = true;
    try {
      const closing: unknown = this.#syncIt?.return?.() ?? this.#asyncIt?.return?.();
      if (closing instanceof Promise)
        this.#closing = closing.then(
          () => {},
          () => {},
        );
    } catch {
      // ignored, as above
    }
  }
}
