// The map family's entry points, written once for every backend on top of
// MapRun (./map-run.ts, which reads, chunks, submits and fails fast): `map`
// and `starmap` collect every result in input order; `imap` and
// `imapUnordered` hand the results out lazily, ordered by input position or
// as they arrive, and stop the run when the loop breaks.
//
//  Executor.map ──▶ collect ──▶ MapRun ──▶ sink.chunk(start, values) ──▶ results[start + i]
//  Executor.imap ─▶ iterate ──▶ MapRun ──▶ sink.chunk ──▶ ready (by start) ──▶ next()
//                                                         loop breaks ──▶ return() ──▶ run.stop()

import { MapRun, type Sink } from './map-run.js';
import type { ResolvedMapOptions } from './options.js';
import type { Engine } from './contract.js';

/** `map`/`starmap`: every result, in input order. */
export function collect(
  engine: Engine,
  name: string,
  source: Iterable<unknown> | AsyncIterable<unknown>,
  spread: boolean,
  opts: ResolvedMapOptions,
): Promise<unknown[]> {
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
    run = new MapRun(engine, name, source, spread, opts, sink, true);
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
  const run = new MapRun(
    engine,
    name,
    source,
    spread,
    opts,
    {
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
    },
    ordered,
  );
  let started = false;

  const take = (): IteratorResult<unknown> | undefined => {
    for (;;) {
      if (current !== undefined && offset < current.length) return { value: current[offset++], done: false };
      if (current !== undefined) {
        run.consumed(current.length);
        current = undefined;
      }
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
      // Results delivered before the failure are yielded first (ordered: every
      // chunk before the failing item is delivered before the failure).
      if (next === undefined) return ended && failure === undefined ? { value: undefined, done: true } : undefined;
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
      // Awaited: the source's finally blocks have run when the loop has exited.
      await run.stop();
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
