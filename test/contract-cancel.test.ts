// The contract of cancel(), signals, timeouts and `cancelGrace`, run against
// every backend (./contract.ts): what is cancelled never runs, what runs is
// stopped, and the pool goes on.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CancelledError, TimeoutError } from '../lib/index.js';
import { contractFile, makePool, scratch, settled, SHORT, startBlocker, started, warmUp } from './contract.js';
import { reasonOf } from './helpers.js';

await contractFile('cancel and timeout', (backend) => {
  // ── cancel and timeout ──────────────────────────────────────────────────
  describe('cancel and timeout', () => {
    test('cancel() of a pending task rejects its future with CancelledError and the task never runs', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const blocker = await startBlocker(pool);
      const mark = join(scratch(), 'ran');
      const f = pool.submit('touch', [mark]);
      assert.equal(f.cancel(), true);
      assert.equal(f.state, 'cancelled');
      const err = await reasonOf(f);
      assert.ok(err instanceof CancelledError, String(err));
      blocker.release();
      assert.equal(await blocker.future, 'released');
      assert.equal(await pool.submit('add', [1, 2]), 3);
      assert.ok(!existsSync(mark), 'the cancelled task never ran');
    });

    test(
      'a pending task cancelled while its worker runs a long synchronous task never runs, also once the pool has measured short tasks',
      { ...SHORT, skip: backend.cannot.runBesideSyncCode },
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        await warmUp(pool);
        const dir = scratch();
        const startedPath = join(dir, 'started');
        const mark = join(dir, 'ran');
        const busy = pool.submit('touchThenSpin', [startedPath, 300]);
        const victim = pool.submit('touch', [mark]);
        await started(busy, startedPath);
        assert.equal(victim.state, 'pending');
        assert.equal(victim.cancel(), true);
        const err = await reasonOf(victim);
        assert.ok(err instanceof CancelledError, String(err));
        assert.equal(await busy, 300);
        assert.equal(await pool.submit('add', [1, 2]), 3);
        assert.ok(!existsSync(mark), 'the cancelled task never ran');
      },
    );

    test('cancelling a pending task never holds back the results of the tasks submitted before it', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      await warmUp(pool);
      for (let round = 0; round < 5; round++) {
        const first = pool.submit('add', [1, 1]);
        const second = pool.submit('asyncEcho', ['second']);
        const third = pool.submit('add', [2, 2]);
        // Let the pool dispatch: `third` may now travel to the worker with the others.
        await Promise.resolve();
        assert.equal(third.cancel(), true);
        try {
          // Bounded, so that a result that never comes fails the test instead of hanging it.
          const results = await Promise.all([first.result(5_000), second.result(5_000)]);
          assert.deepEqual(results, [2, 'second']);
        } catch (err) {
          if (!(err instanceof TimeoutError)) throw err;
          assert.fail(
            `round ${round}: after cancelling the third task, the first two did not settle within 5 s (states: ${first.state}, ${second.state})`,
          );
        } finally {
          // A task left hanging is stopped, so that the pool can shut down.
          first.cancel();
          second.cancel();
        }
      }
    });

    test('a pending task cancelled from the done callback of the task before it never stalls the tasks after it', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      for (let round = 0; round < 20; round++) {
        await warmUp(pool);
        const first = pool.submit('spin', [2]);
        const second = pool.submit('add', [2, 2]);
        const third = pool.submit('add', [3, 3]);
        first.addDoneCallback(() => void second.cancel());
        assert.ok((await settled(first, `round ${round}: the first task`)) >= 0);
        assert.equal(await settled(third, `round ${round}: the task after the cancelled one`), 6);
        assert.equal(second.cancelled(), true);
      }
    });

    test(
      'cancel() of a running task stops it, and the next task is still served',
      { ...SHORT, skip: backend.cannot.stopSyncCode },
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        const startedPath = join(scratch(), 'started');
        const f = pool.submit('touchThenForever', [startedPath]);
        const next = pool.submit('add', [2, 2]);
        await started(f, startedPath);
        if (backend.cannot.startSeenAtOnce === undefined) assert.equal(f.running(), true);
        assert.equal(f.cancel(), true);
        const err = await reasonOf(f);
        assert.ok(err instanceof CancelledError, String(err));
        assert.equal(await next, 4);
        assert.equal(await pool.submit('add', [3, 3]), 6);
      },
    );

    test(
      'a timeout stops a synchronous infinite loop with TimeoutError, and the next task runs on a fresh worker',
      { ...SHORT, skip: backend.cannot.stopSyncCode },
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        const before = await pool.submit('workerToken');
        const f = pool.submit('forever', [], { timeout: 100 });
        const next = pool.submit('workerToken');
        const err = await reasonOf(f);
        assert.ok(err instanceof TimeoutError, String(err));
        assert.equal(err.code, 'ERR_WARMPOOL_TIMEOUT');
        const after = await next;
        assert.notEqual(after, before, 'the worker that ran the loop was replaced');
        assert.equal(await pool.submit('add', [1, 2]), 3);
      },
    );

    test('the pool default timeout applies to a task that sets none', { ...SHORT, skip: backend.cannot.stopSyncCode }, async () => {
      await using pool = makePool(backend, { workers: 1, timeout: 100 });
      const err = await reasonOf(pool.submit('forever'));
      assert.ok(err instanceof TimeoutError, String(err));
      assert.equal(await pool.submit('add', [1, 2], { timeout: Infinity }), 3);
    });

    test('a timeout counts from the start of the task, not from when it was queued', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      await pool.ready();
      // The first task runs 500 ms; the second waits that long in the queue,
      // more than its 250 ms timeout, then runs for 50 ms, well within it.
      const long = pool.submit('spin', [500]);
      const short = pool.submit('spin', [50], { timeout: 250 });
      assert.ok((await short) > 0);
      assert.ok((await long) > 0);
    });

    test('aborting the signal of a queued task is the same as cancel(): CancelledError, and it never runs', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const blocker = await startBlocker(pool);
      const mark = join(scratch(), 'ran');
      const controller = new AbortController();
      const f = pool.submit('touch', [mark], { signal: controller.signal });
      controller.abort();
      assert.equal(f.cancelled(), true);
      const err = await reasonOf(f);
      assert.ok(err instanceof CancelledError, String(err));
      blocker.release();
      assert.equal(await blocker.future, 'released');
      assert.equal(await pool.submit('add', [1, 2]), 3);
      assert.ok(!existsSync(mark), 'the aborted task never ran');
    });

    test('aborting the signal of a running task is the same as cancel(): CancelledError, and the pool goes on', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const startedPath = join(scratch(), 'started');
      const controller = new AbortController();
      const f = pool.submit('touchThenHang', [startedPath], { signal: controller.signal });
      await started(f, startedPath);
      controller.abort();
      assert.equal(f.cancelled(), true);
      const err = await reasonOf(f);
      assert.ok(err instanceof CancelledError, String(err));
      assert.equal(await pool.submit('add', [1, 2]), 3);
    });

    test('a task submitted with an already-aborted signal gets a future that is already cancelled and never runs', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const mark = join(scratch(), 'ran');
      const f = pool.submit('touch', [mark], { signal: AbortSignal.abort() });
      assert.equal(f.cancelled(), true);
      const err = await reasonOf(f);
      assert.ok(err instanceof CancelledError, String(err));
      assert.equal(await pool.submit('add', [1, 2]), 3);
      assert.ok(!existsSync(mark), 'the task never ran');
    });

    test('with cancelGrace, a cancelled task that ends on its taskSignal() keeps its worker', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1, cancelGrace: 5000 });
      const before = await pool.submit('workerToken');
      const startedPath = join(scratch(), 'started');
      const f = pool.submit('touchThenUntilAborted', [startedPath]);
      await started(f, startedPath);
      assert.equal(f.cancel(), true);
      const err = await reasonOf(f);
      assert.ok(err instanceof CancelledError, String(err));
      assert.equal(await pool.submit('workerToken'), before, 'the same worker serves the next task');
    });

    test('with cancelGrace, a timed-out task that ends on its taskSignal() keeps its worker', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1, cancelGrace: 5000 });
      const before = await pool.submit('workerToken');
      const err = await reasonOf(pool.submit('untilAborted', [], { timeout: 50 }));
      assert.ok(err instanceof TimeoutError, String(err));
      assert.equal(await pool.submit('workerToken'), before, 'the same worker serves the next task');
    });

    test(
      'with cancelGrace, a cancelled task that ignores its signal is stopped after the grace and its worker replaced',
      { ...SHORT, skip: backend.cannot.stopSyncCode },
      async () => {
        await using pool = makePool(backend, { workers: 1, cancelGrace: 100 });
        const before = await pool.submit('workerToken');
        const startedPath = join(scratch(), 'started');
        const f = pool.submit('touchThenForever', [startedPath]);
        await started(f, startedPath);
        assert.equal(f.cancel(), true);
        const err = await reasonOf(f);
        assert.ok(err instanceof CancelledError, String(err));
        assert.notEqual(await pool.submit('workerToken'), before, 'a fresh worker serves the next task');
      },
    );
  });
});
