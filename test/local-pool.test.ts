// What LocalPool does beyond the shared contract (./contract.ts and the contract-*.test.ts files):
// an object of functions as the module, values passed by reference, and how
// timeouts behave when tasks run in the calling thread.
//
// Rules as in the contract suite: no sleep stands in for an event (the only
// timers are the timeouts under test), no assertion on elapsed time, every
// test has a `timeout`, every pool is shut down (`await using`).

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LocalPool, TimeoutError, WorkerStartError, type Future } from '../lib/index.js';
import { taskSignal } from '../lib/task.js';
import { tasksUrl, type Tasks } from './backends.js';
import type * as throwing from './fixtures/faults-import-throws.js';
import { untilAborted } from './fixtures/tasks.js';
import { reasonOf } from './helpers.js';

const SHORT = { timeout: 20_000 };

const root = mkdtempSync(join(tmpdir(), 'warmpool-local-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('LocalPool', () => {
  test('a pool made from an object of functions runs them, typed by the object', SHORT, async () => {
    const tasks = {
      add: (a: number, b: number): number => a + b,
      greet: async (name: string): Promise<string> => {
        await new Promise((resolve) => setImmediate(resolve));
        return `hello ${name}`;
      },
    };
    await using pool = new LocalPool(tasks, { workers: 2 });
    await pool.ready();
    const sum: Future<number> = pool.submit('add', [2, 3]);
    const greeting: Future<string> = pool.submit('greet', ['you']);
    assert.equal(await sum, 5);
    assert.equal(await greeting, 'hello you');
    assert.deepEqual(await pool.map('greet', ['a', 'b']), ['hello a', 'hello b']);
    assert.deepEqual(
      await pool.starmap('add', [
        [1, 1],
        [2, 2],
      ]),
      [2, 4],
    );
    // Compiled, never run: the object's types are checked like a module's.
    const _typeChecks = (): void => {
      // @ts-expect-error add takes numbers
      void pool.submit('add', ['2', 3]);
      // @ts-expect-error the object has no such function
      void pool.submit('nope', []);
      // @ts-expect-error greet gives a string, not a number
      const _notANumber: Future<number> = pool.submit('greet', ['x']);
    };
    void _typeChecks;
  });

  test(
    'values are passed by reference: the task receives the very object passed, and the caller the very object returned',
    SHORT,
    async () => {
      const kept = { returned: true };
      const tasks = {
        mutate: (o: { seen: boolean }): { seen: boolean } => {
          o.seen = true;
          return o;
        },
        kept: (): { returned: boolean } => kept,
        unclonable: (f: () => string): (() => string) => f,
      };
      await using pool = new LocalPool(tasks, { workers: 1 });
      const sent = { seen: false };
      const back = await pool.submit('mutate', [sent]);
      assert.equal(back, sent, 'the same object comes back');
      assert.equal(sent.seen, true, "the task's change is visible to the caller");
      assert.equal(await pool.submit('kept'), kept);
      const fn = (): string => 'a function';
      assert.equal(await pool.submit('unclonable', [fn]), fn, 'nothing is refused as unclonable');
    },
  );

  test(
    'a timeout on an async task that ignores its signal rejects with TimeoutError, and with cancelGrace 0 its slot goes to the next task',
    SHORT,
    async () => {
      await using pool = new LocalPool<Tasks>(tasksUrl, { workers: 1, cancelGrace: 0 });
      const hung = pool.submit('hang', [], { timeout: 50 });
      const next = pool.submit('add', [1, 2]);
      const err = await reasonOf(hung);
      assert.ok(err instanceof TimeoutError, String(err));
      assert.equal(err.code, 'ERR_WARMPOOL_TIMEOUT');
      assert.equal(hung.state, 'rejected');
      // `hang` never settles: `next` can only run in the one slot if the timed-out task gave it up.
      assert.equal(await next, 3);
      assert.equal(pool.stats().timedOut, 1);
    },
  );

  test('a timeout aborts the taskSignal() of the running task, with a TimeoutError as its reason', SHORT, async () => {
    let signal: AbortSignal | undefined;
    let ended: Promise<string> | undefined;
    const tasks = {
      cooperative: (): Promise<string> => {
        signal = taskSignal();
        ended = untilAborted();
        return ended;
      },
    };
    await using pool = new LocalPool(tasks, { workers: 1 });
    const err = await reasonOf(pool.submit('cooperative', [], { timeout: 50 }));
    assert.ok(err instanceof TimeoutError, String(err));
    assert.ok(signal !== undefined && ended !== undefined, 'the task ran');
    assert.equal(signal.aborted, true);
    assert.ok(signal.reason instanceof TimeoutError, `the reason is a TimeoutError, got ${String(signal.reason)}`);
    assert.equal(await ended, 'stopped', 'untilAborted ended on its aborted signal');
  });

  test(
    'a cooperative task that ends on its taskSignal() after a timeout frees its slot without waiting out cancelGrace',
    SHORT,
    async () => {
      // The grace outlasts the test's own timeout: the next task can only run
      // because `untilAborted` saw its signal abort and returned.
      await using pool = new LocalPool<Tasks>(tasksUrl, { workers: 1, cancelGrace: 600_000 });
      const cooperative = pool.submit('untilAborted', [], { timeout: 50 });
      const next = pool.submit('add', [2, 2]);
      const err = await reasonOf(cooperative);
      assert.ok(err instanceof TimeoutError, String(err));
      assert.equal(await next, 4);
    },
  );

  test(
    'a module that throws at import makes ready() and every submit reject with WorkerStartError, whose cause is the import error, and is imported once',
    SHORT,
    async () => {
      // The fixture appends a line to this file each time it is imported.
      const countFile = join(mkdtempSync(join(root, 'import-')), 'count');
      const previous = process.env.WARMPOOL_FAULTS_COUNT;
      process.env.WARMPOOL_FAULTS_COUNT = countFile;
      try {
        await using pool = new LocalPool<typeof throwing>(new URL('./fixtures/faults-import-throws.js', import.meta.url), { workers: 2 });
        const early = pool.submit('never');
        const check = (err: unknown, what: string): void => {
          assert.ok(err instanceof WorkerStartError, `${what}: a WorkerStartError, got ${String(err)}`);
          assert.equal(err.code, 'ERR_WARMPOOL_WORKER_START');
          assert.ok(err.cause instanceof RangeError, `${what}: the cause is the module's RangeError, got ${String(err.cause)}`);
          assert.equal(err.cause.message, 'faults-import-throws: failing at import on purpose');
        };
        check(await reasonOf(pool.ready()), 'ready()');
        check(await reasonOf(early), 'a submit made while the module loaded');
        check(await reasonOf(pool.submit('never')), 'a submit made after the load failed');
        check(await reasonOf(pool.starmap('never', [[], []])), 'a starmap');
        check(await reasonOf(pool.ready()), 'ready() again');
        assert.equal(readFileSync(countFile, 'utf8'), 'import\n', 'the module was imported once, not retried');
      } finally {
        if (previous === undefined) delete process.env.WARMPOOL_FAULTS_COUNT;
        else process.env.WARMPOOL_FAULTS_COUNT = previous;
      }
    },
  );

  test('a task cancelled between being taken from the queue and starting never runs, and counts only as cancelled', SHORT, async () => {
    let ran = 0;
    await using pool = new LocalPool(
      {
        work: async (x: number) => {
          ran++;
          await Promise.resolve();
          return x;
        },
      },
      { workers: 1, timeout: 50 },
    );
    await pool.ready();
    const f = pool.submit('work', [1]);
    await Promise.resolve(); // the pool takes it from its queue; p-limit starts it later
    assert.equal(f.cancel(), true);
    assert.equal(await pool.submit('work', [2]), 2);
    assert.equal(ran, 1, 'only the second task ran');
    const s = pool.stats();
    assert.deepEqual([s.cancelled, s.timedOut, s.completed], [1, 0, 1]);
  });
});
