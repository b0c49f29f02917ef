// The contract of a pool's lifecycle, run against every backend
// (./contract.ts): shutdown and its options, ready(), the initializer, and
// what stats() counts.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { CancelledError, PoolClosedError, TimeoutError, WorkerCrashedError, type PoolStats } from '../lib/index.js';
import {
  contractFile,
  makePool,
  makeRawPool,
  outcomes,
  type Pool,
  range,
  scratch,
  settled,
  SHORT,
  startBlocker,
  started,
  untyped,
} from './contract.js';
import { reasonOf } from './helpers.js';

await contractFile('pool lifecycle', (backend) => {
  describe('shutdown', () => {
    test('submit after shutdown throws PoolClosedError synchronously', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      assert.equal(await pool.submit('add', [1, 2]), 3);
      await pool.shutdown();
      assert.throws(
        () => pool.submit('add', [1, 2]),
        (err: unknown) => err instanceof PoolClosedError && err.code === 'ERR_WARMPOOL_POOL_CLOSED',
      );
      await assert.rejects(pool.map('square', [1]), PoolClosedError);
    });

    test('shutdown() resolves only after every accepted task, queued ones included, has finished', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const futures = [pool.submit('spin', [20]), pool.submit('asyncEcho', ['x']), pool.submit('spin', [20]), pool.submit('add', [1, 2])];
      await pool.shutdown();
      assert.deepEqual(
        futures.map((f) => f.state),
        ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'],
      );
      assert.equal(await futures[3], 3);
      const s = pool.stats();
      assert.equal(s.busy + s.queued, 0, 'nothing runs or waits');
      if (backend.cannot.workers === undefined) assert.equal(s.workers, 0, 'every worker has exited');
    });

    test(
      'shutdown() of a pool whose workers are still starting resolves, also when nothing else keeps the process alive',
      SHORT,
      async () => {
        const script = fileURLToPath(new URL('./fixtures/contract-shutdown.js', import.meta.url));
        const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
          const child = execFile(process.execPath, [script, backend.name], { timeout: 15_000 }, (err, out, errOut) => {
            if (err !== null && typeof err.code !== 'number') reject(err);
            else resolve({ code: child.exitCode, stdout: out, stderr: errOut });
          });
        });
        assert.equal(
          stdout.trim(),
          'shutdown resolved',
          `the script's await pool.shutdown() resolved (exit code ${String(code)}, stderr: ${stderr.trim()})`,
        );
        assert.equal(code, 0);
      },
    );

    test('shutdown({ cancelFutures: true }) cancels the queued tasks and lets the running one finish', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const blocker = await startBlocker(pool);
      const dir = scratch();
      const queued = [pool.submit('touch', [join(dir, 'a')]), pool.submit('touch', [join(dir, 'b')])];
      const closing = pool.shutdown({ cancelFutures: true });
      for (const f of queued) {
        const err = await reasonOf(f);
        assert.ok(err instanceof CancelledError, String(err));
      }
      assert.equal(blocker.future.done(), false, 'the running task is not cancelled');
      assert.throws(() => pool.submit('add', [1, 2]), PoolClosedError);
      blocker.release();
      await closing;
      assert.equal(await blocker.future, 'released');
      assert.ok(!existsSync(join(dir, 'a')) && !existsSync(join(dir, 'b')), 'the cancelled tasks never ran');
    });

    // Regression (found by test/properties.test.ts): the cancel from the
    // callback counted the second task out of the queue twice (queued -1).
    test(
      'shutdown({ cancelFutures: true }) counts each queued task out once, also when a done callback of one cancels another',
      SHORT,
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        const blocker = await startBlocker(pool);
        const [a, b, c] = [pool.submit('add', [1, 1]), pool.submit('add', [2, 2]), pool.submit('add', [3, 3])];
        a.addDoneCallback(() => b.cancel());
        const closing = pool.shutdown({ cancelFutures: true });
        let s: PoolStats;
        try {
          assert.deepEqual([a.state, b.state, c.state], ['cancelled', 'cancelled', 'cancelled']);
          s = pool.stats();
        } finally {
          blocker.release();
        }
        // RemotePool may not have heard yet that the blocker started, and count it queued.
        if (backend.cannot.startSeenAtOnce === undefined) assert.equal(s.queued, 0);
        assert.equal(s.cancelled, 3);
        await closing;
        assert.equal(pool.stats().queued, 0);
      },
    );

    test('shutdown({ wait: false }) returns before the accepted tasks finish, and they still finish', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const blocker = await startBlocker(pool);
      const queued = pool.submit('add', [1, 2]);
      await pool.shutdown({ wait: false });
      assert.equal(blocker.future.done(), false, 'shutdown returned while a task still ran');
      assert.equal(queued.done(), false);
      blocker.release();
      assert.equal(await blocker.future, 'released');
      assert.equal(await queued, 3);
    });

    test('await using shuts the pool down at the end of its block', SHORT, async () => {
      let escaped: Pool | undefined;
      {
        await using pool = makeRawPool(backend, { workers: 1 });
        escaped = pool;
        assert.equal(await pool.submit('add', [1, 2]), 3);
      }
      assert.throws(() => escaped.submit('add', [1, 2]), PoolClosedError);
      const s = escaped.stats();
      assert.equal(s.busy + s.queued, 0, 'nothing runs or waits');
      if (backend.cannot.workers === undefined) assert.equal(s.workers, 0, 'every worker has exited');
    });
  });

  describe('ready and the initializer', () => {
    test('ready() called before shutdown() settles rather than staying pending for ever', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const ready = pool.ready();
      await pool.shutdown();
      await settled(
        ready.then(
          () => 'fulfilled',
          () => 'rejected',
        ),
        'ready() called before shutdown()',
      );
    });

    test(
      'ready() resolves with the pool idle at its full size when minWorkers is left out, and a pool with minWorkers 0 is ready and runs work',
      SHORT,
      async () => {
        {
          await using pool = makePool(backend, { workers: 2 });
          await pool.ready();
          const s = pool.stats();
          assert.equal(s.idle, 2, 'minWorkers defaults to workers');
          assert.equal(s.busy, 0);
        }
        {
          await using pool = makePool(backend, { workers: 1, minWorkers: 0 });
          await pool.ready();
          assert.equal(await pool.submit('add', [1, 2]), 3);
        }
      },
    );

    test(
      'ready() resolves once minWorkers workers are started and idle, and no more are started eagerly',
      { ...SHORT, skip: backend.cannot.workers },
      async () => {
        {
          await using pool = makePool(backend, { workers: 2, minWorkers: 1 });
          await pool.ready();
          const s = pool.stats();
          assert.equal(s.idle, 1);
          assert.equal(s.workers, 1, 'no more than minWorkers are started eagerly');
        }
        {
          await using pool = makePool(backend, { workers: 1, minWorkers: 0 });
          await pool.ready();
          assert.equal(pool.stats().workers, 0);
          assert.equal(await pool.submit('add', [1, 2]), 3);
        }
      },
    );

    test(
      'the initializer runs once in each worker with initArgs, before its first task',
      { ...SHORT, skip: backend.cannot.initArgsClone },
      async () => {
        const key = randomUUID();
        const initArgs = [{ model: 'small' }, 7n, new Map([[1, 'one']])];
        await using pool = makePool(backend, { workers: 2, initializer: 'init', initArgs: [key, ...initArgs] });
        const states = await pool.map(
          'initState',
          range(12).map(() => key),
          { chunksize: 1 },
        );
        for (const s of states) {
          assert.equal(s.calls, 1, 'the initializer ran once in this worker');
          assert.equal(s.tasksBeforeInit, 0, 'no task ran before it');
          assert.deepEqual(s.args, initArgs);
        }
        await pool.ready();
        assert.equal((await pool.submit('initState', [key])).calls, 1);
      },
    );

    test('an async initializer is awaited before the worker runs its first task', SHORT, async () => {
      const key = randomUUID();
      await using pool = makePool(backend, { workers: 1, initializer: 'initSlowly', initArgs: [key, 'slow'] });
      const s = await pool.submit('initState', [key]);
      assert.equal(s.asyncInitDone, true);
      assert.equal(s.calls, 1);
      assert.deepEqual(s.args, ['slow']);
      assert.equal(s.tasksBeforeInit, 0);
    });
  });

  describe('stats', () => {
    test('stats() outcome counts are disjoint and add up to what happened', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const zero = { completed: 0, failed: 0, cancelled: 0, timedOut: 0, crashed: 0 };
      assert.deepEqual(outcomes(pool.stats()), zero);
      // 3 completed
      for (const i of range(3)) assert.equal(await pool.submit('add', [i, 1]), i + 1);
      // 2 failed
      await reasonOf(pool.submit('fail', ['x']));
      await reasonOf(untyped(pool).submit('noSuchTask'));
      // 2 cancelled: one before it ran, one while it ran
      await reasonOf(pool.submit('add', [1, 1], { signal: AbortSignal.abort() }));
      const startedPath = join(scratch(), 'started');
      const running = pool.submit('touchThenHang', [startedPath]);
      await started(running, startedPath);
      running.cancel();
      await reasonOf(running);
      // 1 timed out
      assert.ok((await reasonOf(pool.submit('hang', [], { timeout: 50 }))) instanceof TimeoutError);
      let crashed = 0;
      if (backend.cannot.crashIsolation === undefined) {
        // 1 crashed
        assert.ok((await reasonOf(pool.submit('crash', [3]))) instanceof WorkerCrashedError);
        crashed = 1;
      }
      assert.equal(await pool.submit('add', [1, 1]), 2);
      const s = pool.stats();
      assert.deepEqual(outcomes(s), { completed: 4, failed: 2, cancelled: 2, timedOut: 1, crashed });
      assert.equal(s.busy, 0, 'once every future has settled, no task counts as busy');
      assert.equal(s.queued, 0);
    });

    test('stats() run and wait time summaries are ordered: p50 <= p90 <= p99 <= max, and the mean is within them', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      await Promise.all([0, 1, 2, 5, 1, 0, 8, 3, 0, 2].map((ms) => pool.submit('spin', [ms])));
      const s = pool.stats();
      for (const [name, t] of [
        ['runTime', s.runTime],
        ['waitTime', s.waitTime],
      ] as const) {
        for (const key of ['p50', 'p90', 'p99', 'mean', 'max'] as const) {
          assert.ok(Number.isFinite(t[key]) && t[key] >= 0, `${name}.${key} is a finite number >= 0: ${t[key]}`);
        }
        assert.ok(t.p50 <= t.p90 && t.p90 <= t.p99 && t.p99 <= t.max, `${name}: ${JSON.stringify(t)}`);
        assert.ok(t.mean <= t.max, `${name}: mean <= max: ${JSON.stringify(t)}`);
      }
      assert.ok(s.runTime.max >= 8, 'the 8 ms task is in the run times');
    });
  });
});
