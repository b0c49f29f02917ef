// The contract of map, starmap, imap and imapUnordered, run against every
// backend (./contract.ts): order, chunking, errors and their position, fail
// fast, bounded read-ahead of lazy sources, cancellation and progress.

import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CancelledError, DataCloneError } from '../lib/index.js';
import { contractFile, type ContractTasks, LONG, makePool, range, runaway, scratch, settled, SHORT, untyped } from './contract.js';
import { touch, whenFileExists } from './fixtures/contract-tasks.js';
import { reasonOf } from './helpers.js';

type Pool = ReturnType<typeof makePool>;

/** imap over `source` (the naturals) until `stopAt` results: each in order, and the source never more than 64 items ahead of the loop (`produced()` counts what it yielded). */
async function readsBoundedAhead(
  pool: Pool,
  source: Iterable<number> | AsyncIterable<number>,
  produced: () => number,
  chunksize: number,
  stopAt: number,
): Promise<void> {
  let consumed = 0;
  let maxAhead = 0;
  for await (const v of pool.imap('square', source, { chunksize })) {
    assert.equal(v, consumed * consumed);
    consumed++;
    maxAhead = Math.max(maxAhead, produced() - consumed);
    if (consumed === stopAt) break;
  }
  assert.ok(maxAhead <= 64, `read at most 64 items ahead of the loop, read ${maxAhead} ahead`);
}

/** map, starmap and imap over sources made by `numbers` (0 to 29) and `pairs` ([i, 100]): every result, in input order. */
async function mapsOverSources(
  pool: Pool,
  numbers: () => Iterable<number> | AsyncIterable<number>,
  pairs: () => Iterable<[number, number]> | AsyncIterable<[number, number]>,
): Promise<void> {
  const want = range(30).map((i) => i * i);
  assert.deepEqual(await pool.map('square', numbers()), want);
  assert.deepEqual(
    await pool.starmap('add', pairs()),
    range(30).map((i) => i + 100),
  );
  const out: number[] = [];
  for await (const v of pool.imap('square', numbers())) out.push(v);
  assert.deepEqual(out, want);
}

await contractFile('map family', (backend) => {
  // ── map, starmap, imap, imapUnordered ───────────────────────────────────
  describe('map family', () => {
    // Item i waits (n - i) * 40 macrotask turns: later items finish first.
    const n = 10;
    const descending = (): [number, number][] => range(n).map((i) => [i, (n - i) * 40]);
    const squares = range(n).map((i) => i * i);

    test('map and starmap return results in input order even when items complete out of order', SHORT, async () => {
      await using pool = makePool(backend, { workers: 2 });
      assert.deepEqual(await pool.starmap('delayedSquare', descending(), { chunksize: 1 }), squares);
      assert.deepEqual(await pool.map('delayedSquareOf', descending(), { chunksize: 1 }), squares);
    });

    test('imap yields results in input order even when items complete out of order', SHORT, async () => {
      await using pool = makePool(backend, { workers: 2 });
      const out: number[] = [];
      for await (const v of pool.imap('delayedSquareOf', descending(), { chunksize: 1 })) out.push(v);
      assert.deepEqual(out, squares);
      async function* pairs(): AsyncGenerator<[number, number]> {
        yield* descending();
      }
      const fromAsync: number[] = [];
      for await (const v of pool.imap('delayedSquareOf', pairs(), { chunksize: 1 })) fromAsync.push(v);
      assert.deepEqual(fromAsync, squares);
    });

    test('an empty input gives an empty result from map, starmap, imap and imapUnordered', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      assert.deepEqual(await pool.map('square', []), []);
      assert.deepEqual(await pool.starmap('add', []), []);
      function* none(): Generator<number> {}
      assert.deepEqual(await pool.map('square', none()), []);
      for await (const _ of pool.imap('square', [])) assert.fail('imap of [] yields nothing');
      for await (const _ of pool.imapUnordered('square', none())) assert.fail('imapUnordered of nothing yields nothing');
    });

    test('map, starmap and imap accept a generator as input', SHORT, async () => {
      await using pool = makePool(backend, { workers: 2 });
      function* numbers(): Generator<number> {
        for (let i = 0; i < 30; i++) yield i;
      }
      function* pairs(): Generator<[number, number]> {
        for (let i = 0; i < 30; i++) yield [i, 100];
      }
      await mapsOverSources(pool, numbers, pairs);
    });

    test('map, starmap and imap accept an async generator as input', SHORT, async () => {
      await using pool = makePool(backend, { workers: 2 });
      async function* numbers(): AsyncGenerator<number> {
        for (let i = 0; i < 30; i++) {
          await new Promise((resolve) => setImmediate(resolve));
          yield i;
        }
      }
      async function* pairs(): AsyncGenerator<[number, number]> {
        for await (const i of numbers()) yield [i, 100];
      }
      await mapsOverSources(pool, numbers, pairs);
    });

    test('an explicit chunksize gives every result in input order', SHORT, async () => {
      await using pool = makePool(backend, { workers: 2 });
      const items = range(53);
      const want = items.map((i) => i * i);
      for (const chunksize of [1, 2, 7, 53, 1000]) {
        assert.deepEqual(await pool.map('square', items, { chunksize }), want, `map, chunksize ${chunksize}`);
        assert.deepEqual(
          await pool.starmap(
            'add',
            items.map((i) => [i, i] as [number, number]),
            { chunksize },
          ),
          items.map((i) => 2 * i),
          `starmap, chunksize ${chunksize}`,
        );
        const out: number[] = [];
        for await (const v of pool.imap('square', items, { chunksize })) out.push(v);
        assert.deepEqual(out, want, `imap, chunksize ${chunksize}`);
      }
    });

    test('map over 100 000 items with the default chunksize returns every result in input order', LONG, async () => {
      await using pool = makePool(backend, { workers: 2 });
      const items = range(100_000);
      const out = await pool.map('square', items);
      assert.equal(out.length, items.length);
      for (let i = 0; i < items.length; i++) if (out[i] !== i * i) assert.fail(`item ${i}: ${out[i]} !== ${i * i}`);
    });

    test(
      "a failing item rejects map, starmap, imap and imapUnordered with that item's own error, its input position in error.index",
      SHORT,
      async () => {
        await using pool = makePool(backend, { workers: 2 });
        // Started first: the bounded waits below are for the calls, not for
        // RemotePool hosts starting on a loaded machine (seen taking 7 s).
        await pool.ready();
        const items = range(40).map((i) => (i === 23 ? -1 : i));
        const check = (err: unknown) => {
          assert.ok(err instanceof RangeError, String(err));
          assert.equal(err.message, 'negative item -1');
          assert.equal((err as RangeError & { index?: unknown }).index, 23);
        };
        check(await reasonOf(settled(pool.map('failIfNegative', items, { chunksize: 1 }), 'map, chunksize 1')));
        check(await reasonOf(settled(pool.map('failIfNegative', items, { chunksize: 5 }), 'map, chunksize 5')));
        check(await reasonOf(settled(pool.map('failIfNegative', items), 'map, default chunksize')));
        const starErr = await reasonOf(
          settled(
            pool.starmap(
              'failOn',
              range(40).map((i) => [i, 23] as [number, number]),
              { chunksize: 3 },
            ),
            'starmap',
          ),
        );
        assert.ok(starErr instanceof RangeError, String(starErr));
        assert.equal(starErr.message, 'bad item 23');
        assert.equal((starErr as RangeError & { index?: unknown }).index, 23);
        for (const method of ['imap', 'imapUnordered'] as const) {
          const drain = async () => {
            for await (const _ of pool[method]('failIfNegative', items, { chunksize: 2 })) {
              // drain
            }
          };
          check(await reasonOf(settled(drain(), method)));
        }
      },
    );

    test(
      'ordered imap yields every result before the failing item, then throws its error (Executor.map), even when the failure arrives first',
      SHORT,
      async () => {
        await using pool = makePool(backend, { workers: 2 });
        const dir = scratch();
        const startedPath = join(dir, 'started');
        const releasePath = join(dir, 'release');
        const items: Parameters<ContractTasks['itemOrBlock']>[0][] = [0, 1, [startedPath, releasePath], 'bad', 4];
        const it = pool.imap('itemOrBlock', items, { chunksize: 1 })[Symbol.asyncIterator]();
        const out: unknown[] = [];
        out.push((await it.next()).value, (await it.next()).value);
        await whenFileExists(startedPath);
        // Item 2 holds one worker; `bad` ran on the other, so this task, queued
        // after it on that worker, comes back after the failure has reached the pool.
        assert.equal(await settled(pool.submit('add', [1, 1]), 'a task beside the blocked item'), 2);
        touch(releasePath);
        const rest = async () => {
          for (;;) {
            const r = await it.next();
            if (r.done === true) return;
            out.push(r.value);
          }
        };
        const err = await reasonOf(settled(rest(), 'the rest of the imap'));
        assert.deepEqual(out, [0, 1, 'released'], 'every result before the failing item, in order');
        assert.ok(err instanceof RangeError, String(err));
        assert.equal(err.message, 'bad item');
        assert.equal((err as RangeError & { index?: unknown }).index, 3);
      },
    );

    test('map and imap fail with the error of the lowest failing input position, even when a later item failed first', SHORT, async () => {
      await using pool = makePool(backend, { workers: 2 });
      for (const method of ['map', 'imap'] as const) {
        const dir = scratch();
        const startedPath = join(dir, 'started');
        const releasePath = join(dir, 'release');
        const items: Parameters<ContractTasks['itemOrBlock']>[0][] = [0, [startedPath, releasePath, 'fail'], 2, 'bad', 4];
        const out: unknown[] = [];
        const call: Promise<unknown> =
          method === 'map'
            ? pool.map('itemOrBlock', items, { chunksize: 1 })
            : (async () => {
                for await (const v of pool.imap('itemOrBlock', items, { chunksize: 1 })) out.push(v);
              })();
        const reason = reasonOf(settled(call, method));
        await whenFileExists(startedPath);
        assert.equal(await settled(pool.submit('add', [1, 1]), `a task beside the blocked item (${method})`), 2);
        touch(releasePath);
        const err = await reason;
        assert.ok(err instanceof RangeError, String(err));
        assert.equal(err.message, 'late failure', `${method} rejects with item 1's error, not item 3's`);
        assert.equal((err as RangeError & { index?: unknown }).index, 1);
        if (method === 'imap') assert.deepEqual(out, [0], 'imap yielded the result before item 1');
      }
    });

    test(
      'an item that cannot be cloned fails map with DataCloneError whose index and message give its input position',
      { ...SHORT, skip: backend.cannot.clone },
      async () => {
        await using pool = makePool(backend, { workers: 2 });
        const items: unknown[] = range(64);
        items[57] = () => 'a function';
        for (const chunksize of [16, 1, undefined]) {
          const err = await reasonOf(settled(untyped(pool).map('echo', items, { chunksize }), `map, chunksize ${String(chunksize)}`));
          assert.ok(err instanceof DataCloneError, String(err));
          assert.equal((err as DataCloneError & { index?: unknown }).index, 57, `chunksize ${String(chunksize)}`);
          assert.match(err.message, /^Item 57 of the map over `echo` cannot be sent to a worker: /);
          assert.doesNotMatch(err.message, /item 9\b|Argument 9\b/i, 'no position within the chunk');
        }
        assert.equal(await pool.submit('add', [1, 2]), 3);
      },
    );

    test('stats().completed counts map items, not chunks, and a failing chunk adds the items before its failing one', SHORT, async () => {
      await using pool = makePool(backend, { workers: 2 });
      const before = pool.stats();
      assert.equal((await pool.map('square', range(100), { chunksize: 10 })).length, 100);
      const after = pool.stats();
      assert.equal(after.completed - before.completed, 100);
      for await (const _ of pool.imap('square', range(30), { chunksize: 7 })) {
        // drain
      }
      assert.equal(pool.stats().completed - after.completed, 30, 'imap counts items too');
      const mid = pool.stats();
      const err = await reasonOf(pool.map('failIfNegative', [0, 1, 2, 3, 4, -1, 6, 7, 8, 9], { chunksize: 10 }));
      assert.ok(err instanceof RangeError, String(err));
      const end = pool.stats();
      assert.equal(end.completed - mid.completed, 5, 'the five items before the failing one returned values');
      assert.equal(end.failed - mid.failed, 1, 'the failing chunk counts once');
    });

    test(
      "breaking out of imap over an async generator has run the generator's finally by the time the loop has exited",
      SHORT,
      async () => {
        await using pool = makePool(backend, { workers: 2 });
        for (const method of ['imap', 'imapUnordered'] as const) {
          let closed = false;
          async function* numbers(): AsyncGenerator<number> {
            try {
              for (let i = 0; ; i++) {
                runaway(i);
                await new Promise((resolve) => setImmediate(resolve));
                yield i;
              }
            } finally {
              await new Promise((resolve) => setImmediate(resolve));
              closed = true;
            }
          }
          let seen = 0;
          for await (const _ of pool[method]('square', numbers(), { chunksize: 1 })) {
            if (++seen === 10) break;
          }
          assert.ok(closed, `${method}: the finally block ran before the loop exited`);
        }
      },
    );

    test('a failing item cancels the items of its call not yet started, and the pool still works', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      let produced = 0;
      function* items(): Generator<number> {
        for (let i = 0; i < 1000; i++) {
          produced++;
          yield i === 3 ? -1 : i;
        }
      }
      const before = pool.stats().cancelled;
      const err = await reasonOf(settled(pool.map('failIfNegative', items(), { chunksize: 1 }), 'the failing map'));
      assert.ok(err instanceof RangeError, String(err));
      assert.equal((err as RangeError & { index?: unknown }).index, 3);
      assert.ok(
        pool.stats().cancelled > before,
        `items read but not started are cancelled (cancelled: ${before} -> ${pool.stats().cancelled})`,
      );
      assert.ok(produced < 1000, `the rest of the input is not read (${produced} read)`);
      assert.deepEqual(await settled(pool.map('square', [1, 2, 3]), 'a map after the failed one'), [1, 4, 9]);
      assert.equal(await settled(pool.submit('add', [1, 2]), 'a task after the failed map'), 3);
    });

    test('imap over an infinite generator reads only a bounded window ahead of the loop', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const chunksize = 2;
      let produced = 0;
      function* naturals(): Generator<number> {
        for (let i = 0; ; i++) {
          produced++;
          runaway(produced);
          yield i;
        }
      }
      // The window is "a small multiple of workers x chunksize"; 64 items is generous for 1 x 2.
      await readsBoundedAhead(pool, naturals(), () => produced, chunksize, 300);
    });

    test('imap over an infinite async generator reads only a bounded window ahead of the loop', SHORT, async () => {
      await using pool = makePool(backend, { workers: 2 });
      let produced = 0;
      async function* naturals(): AsyncGenerator<number> {
        for (let i = 0; ; i++) {
          produced++;
          runaway(produced);
          yield i;
        }
      }
      await readsBoundedAhead(pool, naturals(), () => produced, 1, 200);
    });

    test('imap and imapUnordered stop reading their source when the loop breaks', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      for (const method of ['imap', 'imapUnordered'] as const) {
        for (const kind of ['sync', 'async'] as const) {
          let produced = 0;
          let closed = false;
          function* syncNaturals(): Generator<number> {
            try {
              for (let i = 0; ; i++) {
                produced++;
                runaway(produced);
                yield i;
              }
            } finally {
              closed = true;
            }
          }
          async function* asyncNaturals(): AsyncGenerator<number> {
            yield* syncNaturals();
          }
          const source = kind === 'sync' ? syncNaturals() : asyncNaturals();
          let seen = 0;
          for await (const _ of pool[method]('square', source, { chunksize: 1 })) {
            if (++seen === 25) break;
          }
          const atBreak = produced;
          // Round trips through the pool: reads after the break would have happened by now.
          assert.equal(await settled(pool.submit('add', [1, 1]), `a task after breaking out of ${method} (${kind})`), 2);
          assert.deepEqual(await pool.map('square', [2, 3]), [4, 9]);
          assert.equal(produced, atBreak, `${method} over a ${kind} generator reads nothing after the break`);
          assert.ok(closed, `${method} closes the ${kind} generator (its finally ran)`);
        }
      }
    });

    test('imapUnordered yields every result exactly once', SHORT, async () => {
      await using pool = makePool(backend, { workers: 2 });
      for (const chunksize of [1, 4, undefined]) {
        const out: number[] = [];
        for await (const v of pool.imapUnordered('square', range(300), { chunksize })) out.push(v);
        assert.equal(out.length, 300);
        assert.deepEqual(
          out.sort((x, y) => x - y),
          range(300).map((i) => i * i),
          `chunksize ${String(chunksize)}`,
        );
      }
    });

    test('with maxQueued reached, a map with chunksize 1 never runs more than one item in a task call', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1, maxQueued: 1 });
      await pool.ready();
      const log = join(scratch(), 'items.log');
      const items = range(40).map((i) => ({ i, log }));
      assert.deepEqual(await pool.map('chunkItem', items, { chunksize: 1 }), range(40));
      const perCall = new Map<string, number[]>();
      for (const line of readFileSync(log, 'utf8').split('\n').filter(Boolean)) {
        const [call, i] = line.split(' ');
        perCall.set(call, [...(perCall.get(call) ?? []), Number(i)]);
      }
      const bigger = [...perCall.values()].filter((group) => group.length > 1);
      assert.deepEqual(bigger, [], 'task calls that ran more than one item (the items of each)');
      assert.equal(perCall.size, 40);
      assert.equal(pool.stats().completed, 40);
    });

    test('concurrency bounds how many items of one call run at once', SHORT, async () => {
      await using pool = makePool(backend, { workers: 2 });
      await pool.ready();
      const dir = scratch();
      const dirs = (): string[] => range(10).map(() => dir);
      // The fixture (an async hold) can see overlap: without a bound, two items overlap.
      const free = await pool.map('occupancyIn', dirs(), { chunksize: 1 });
      assert.ok(Math.max(...free) >= 2, `fixture sanity: two items were seen running at once (${free.join(',')})`);
      const bounded = await pool.map('occupancyIn', dirs(), { concurrency: 1 });
      assert.equal(Math.max(...bounded), 1, `map with concurrency 1 ran one item at a time (${bounded.join(',')})`);
      const starred = await pool.starmap(
        'occupancy',
        dirs().map((d) => [d, 15] as [string, number]),
        { concurrency: 1, chunksize: 1 },
      );
      assert.equal(Math.max(...starred), 1, `starmap with concurrency 1 ran one item at a time (${starred.join(',')})`);
      const lazy: number[] = [];
      for await (const v of pool.imapUnordered('occupancyIn', dirs(), { concurrency: 1 })) lazy.push(v);
      assert.equal(lazy.length, 10);
      assert.equal(Math.max(...lazy), 1, `imapUnordered with concurrency 1 ran one item at a time (${lazy.join(',')})`);
    });

    test('aborting the signal of a map rejects it with CancelledError, and the pool still works', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const dir = scratch();
      const paths = range(4).map((i) => join(dir, `started-${i}`));
      const controller = new AbortController();
      const mapped = pool.map('touchThenHang', paths, { signal: controller.signal, chunksize: 1 });
      const reason = reasonOf(mapped);
      await whenFileExists(paths[0]);
      controller.abort();
      const err = await reason;
      assert.ok(err instanceof CancelledError, String(err));
      assert.equal(err.code, 'ERR_WARMPOOL_CANCELLED');
      assert.equal(await pool.submit('add', [1, 2]), 3);
      assert.ok(!existsSync(paths[1]), 'items after the abort never ran');
    });

    test(
      'a map without chunksize sends one one-item chunk per worker and reads no further until one of them comes back',
      SHORT,
      async () => {
        await using pool = makePool(backend, { workers: 2 });
        const dir = scratch();
        const paths = range(40).map((i) => join(dir, `started-${i}`));
        let produced = 0;
        function* source(): Generator<string> {
          for (const p of paths) {
            produced++;
            yield p;
          }
        }
        const controller = new AbortController();
        const reason = reasonOf(pool.map('touchThenHang', source(), { signal: controller.signal }));
        // Both probes run (and hang): nothing has come back, so nothing more is read.
        await whenFileExists(paths[0]);
        await whenFileExists(paths[1]);
        assert.equal(produced, 2, `read ${produced} items before any chunk came back`);
        controller.abort();
        assert.ok((await reason) instanceof CancelledError);
      },
    );

    test(
      'a map over an array of a task the pool has mapped before sends its chunks at once, sized from that map, with no one-item probes first',
      SHORT,
      async () => {
        const name = `map-prior-${backend.name}`;
        await using pool = makePool(backend, { workers: 2, name });
        const items = range(300);
        const squares300 = items.map((i) => i * i);
        let chunks = 0;
        const onStart = (message: unknown): void => {
          const m = message as { pool: string; task: string };
          if (m.pool === name && m.task === 'square') chunks++;
        };
        subscribe('tracing:warmpool:task:start', onStart);
        try {
          // The first map of a name measures with one-item probes: one per worker goes out, nothing more until one is back.
          const first = pool.map('square', items);
          assert.equal(chunks, 2, `the first map sent ${chunks} chunks before any came back`);
          assert.deepEqual(await first, squares300);
          // map() cuts and submits synchronously, so nothing of this call can have come back yet.
          chunks = 0;
          const second = pool.map('square', items);
          const sent = chunks;
          assert.deepEqual(await second, squares300);
          assert.ok(sent > 2, `the second map sent ${sent} chunks before any came back, expected more than one per worker`);
          assert.ok(
            sent < items.length / 2,
            `the second map sent ${sent} chunks for ${items.length} items, expected chunks of several items`,
          );
        } finally {
          unsubscribe('tracing:warmpool:task:start', onStart);
        }
      },
    );

    test('a map given an already-aborted signal rejects with CancelledError and reads no item from its source', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      let reads = 0;
      function* source(): Generator<number> {
        for (let i = 0; i < 1000; i++) {
          reads++;
          yield i;
        }
      }
      await assert.rejects(pool.map('echo', source(), { signal: AbortSignal.abort() }), CancelledError);
      assert.equal(reads, 0, `${reads} items were read from the source`);
      assert.equal(await pool.submit('echo', [1]), 1);
    });

    test('a map given an already-aborted signal rejects with CancelledError and runs none of its items', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const dir = scratch();
      const paths = range(5).map((i) => join(dir, `ran-${i}`));
      const err = await reasonOf(pool.map('touch', paths, { signal: AbortSignal.abort() }));
      assert.ok(err instanceof CancelledError, String(err));
      assert.equal(await pool.submit('add', [1, 2]), 3);
      assert.deepEqual(
        paths.filter((p) => existsSync(p)),
        [],
        'no item ran',
      );
    });

    test('onProgress is called with (done, total) as items complete, ending with (total, total)', SHORT, async () => {
      await using pool = makePool(backend, { workers: 2 });
      const calls: [number, number | undefined][] = [];
      const out = await pool.map('square', range(200), { chunksize: 5, onProgress: (done, total) => void calls.push([done, total]) });
      assert.equal(out.length, 200);
      assert.ok(calls.length > 0);
      assert.deepEqual(calls.at(-1), [200, 200]);
      let last = 0;
      for (const [done, total] of calls) {
        assert.equal(total, 200);
        assert.ok(done >= last && done <= 200, `done grows and stays within total: ${done}`);
        last = done;
      }
    });

    test('onProgress reports an undefined total for a generator, ending with (count, undefined)', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      function* numbers(): Generator<number> {
        for (let i = 0; i < 50; i++) yield i;
      }
      const calls: [number, number | undefined][] = [];
      await pool.map('square', numbers(), { chunksize: 3, onProgress: (done, total) => void calls.push([done, total]) });
      assert.deepEqual(calls.at(-1), [50, undefined]);
      for (const [, total] of calls) assert.equal(total, undefined);
      const lazyCalls: [number, number | undefined][] = [];
      for await (const _ of pool.imap('square', numbers(), { onProgress: (done, total) => void lazyCalls.push([done, total]) })) {
        // drain
      }
      assert.deepEqual(lazyCalls.at(-1), [50, undefined]);
    });

    test('a map whose onProgress callback throws rejects with that error, and the pool still serves tasks', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const broken = new Error('progress bar broke');
      await assert.rejects(
        pool.map('echo', [1, 2, 3], {
          onProgress: () => {
            throw broken;
          },
        }),
        (err) => err === broken,
      );
      assert.equal(await pool.submit('echo', [7]), 7);
      assert.deepEqual(await pool.map('echo', [1, 2, 3]), [1, 2, 3]);
    });
  });
});
