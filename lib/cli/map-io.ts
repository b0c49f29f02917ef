// What `warmpool map` reads and writes: the input's items (JSON Lines, blank
// lines skipped but counted), the feed its rounds share, and the output's
// lines written with the stream's backpressure respected. Apart from
// ./map.ts, which decides what runs how (probe, chunks, items, replays),
// because none of this knows about the pool: it is where memory stays
// bounded whatever the input's size.

import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Item } from './map-task.js';

/** Output flushes once this much has gathered, or when the event loop turns. */
const FLUSH_BYTES = 64 * 1024;

/** Lines to a stream in few writes, waiting when the stream asks to (backpressure). */
export class LineWriter {
  readonly #out: Writable;
  #buffer = '';
  #scheduled = false;
  #blocked = false;
  failed: Error | undefined;

  constructor(out: Writable) {
    this.#out = out;
    out.on('drain', () => (this.#blocked = false));
    out.on('error', (err) => (this.failed ??= err));
  }

  add(line: string): void {
    this.#buffer += `${line}\n`;
    if (!this.#scheduled) {
      this.#scheduled = true;
      // Results of one chunk arrive in one turn of the loop: they go out in one write.
      setImmediate(() => {
        this.#scheduled = false;
        this.#write();
      });
    }
  }

  /** True when the caller should `await settle()` before adding more. */
  get pressed(): boolean {
    return this.#blocked || this.#buffer.length >= FLUSH_BYTES;
  }

  /** Writes what is buffered and waits until the stream has taken it in. */
  async settle(): Promise<void> {
    this.#write();
    if (!this.#blocked || this.failed !== undefined) return;
    try {
      // once() also rejects on 'error', and removes both listeners either way.
      await once(this.#out, 'drain');
    } catch (err) {
      this.failed ??= err as Error;
    }
  }

  #write(): void {
    if (this.#buffer === '' || this.failed !== undefined) return;
    const text = this.#buffer;
    this.#buffer = '';
    if (!this.#out.write(text)) this.#blocked = true;
  }
}

/**
 * Non-blank lines of `input` as items [index, line], the index being the
 * line's number from 0, so that an output line points at its input line.
 * Closes the input when the consumer stops.
 */
export async function* items(input: Readable, lineOf: LineNumbers): AsyncGenerator<Item> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let index = 0;
  try {
    for await (const line of lines) {
      if (line.trim() === '') {
        lineOf.skipped();
        index++;
        continue;
      }
      lineOf.item();
      yield [index++, line];
    }
  } finally {
    lines.close();
    input.destroy();
  }
}

/**
 * The line number of the n-th item read (both from 0), for an error the pool
 * reports by its position in the round's input. Remembers only the blank
 * lines, as the item count at each, so a file without them costs nothing.
 */
export class LineNumbers {
  readonly #blanksAt: number[] = [];
  #items = 0;

  skipped(): void {
    this.#blanksAt.push(this.#items);
  }

  item(): void {
    this.#items++;
  }

  /** The line of item `n`: n plus the blank lines read before it. */
  of(n: number): number {
    const b = this.#blanksAt;
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (b[mid] <= n) lo = mid + 1;
      else hi = mid;
    }
    return n + lo;
  }
}

/**
 * The input, shared by the rounds of a run: items handed to a round stay
 * "unfinished" until their outcome is written, so that a round ended by a
 * timeout or a crash can be followed by one over what it left.
 */
export class Feed {
  readonly #source: AsyncIterator<Item>;
  /** Handed out, no outcome yet: index -> line, in input order. */
  readonly #unfinished = new Map<number, string>();
  /** The next item, read and not yet taken by a round. */
  #next: IteratorResult<Item> | undefined;
  #reading: Promise<void> | undefined;
  /** Only the round of the current generation takes items: one a failed round was waiting for goes to the next. */
  #generation = 0;
  /** Items taken from the input: the index of the next. */
  read = 0;

  constructor(source: AsyncIterator<Item>) {
    this.#source = source;
  }

  /** The rest of the input, for a new round. */
  fresh(): AsyncGenerator<Item> {
    return this.#fresh(++this.#generation);
  }

  /** The current round takes no more items (an iterator waiting for one ends, and the item goes to the next round). */
  abandon(): void {
    this.#generation++;
  }

  async *#fresh(generation: number): AsyncGenerator<Item> {
    for (;;) {
      if (this.#next === undefined) {
        await (this.#reading ??= this.#source.next().then((r) => {
          this.#next = r;
          this.#reading = undefined;
        }));
      }
      if (generation !== this.#generation) return;
      const r = this.#next!;
      if (r.done === true) return;
      this.#next = undefined;
      // Recorded before it is yielded: an item a stopping round drops is still replayed.
      this.#unfinished.set(r.value[0], r.value[1]);
      this.read++;
      yield r.value;
    }
  }

  finished(index: number): void {
    this.#unfinished.delete(index);
  }

  /** The input has no more items. */
  get ended(): boolean {
    return this.#next?.done === true;
  }

  /** The items handed out and not finished, in input order. */
  unfinished(): Item[] {
    return [...this.#unfinished];
  }

  close(): void {
    // Not awaited: a read waiting on a terminal would hold it forever.
    this.#source.return?.(undefined)?.catch(() => {});
  }
}

/** Counts the lines of a file in the background, for the progress bar's total. */
export async function countLines(path: string): Promise<number> {
  let n = 0;
  let last = 10;
  // Large reads: each one waits its turn behind the map on the event loop.
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
    last = chunk[chunk.length - 1];
  }
  return last === 10 ? n : n + 1;
}
