// A pool's life you can wait on: onIdle() and the `warmpool:worker`
// diagnostics channel, over every local backend (./backends.ts). RemotePool
// has no workers of its own; its onIdle is covered with the others through
// the same engine core.

import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { after, before, describe, test } from 'node:test';
import { backends } from './backends.js';
import { workerEvents as record, type WorkerMessage } from './helpers.js';

const SHORT = { timeout: 30_000 };

for (const backend of backends.filter((b) => b.name !== 'RemotePool')) {
  describe(`${backend.name}: a pool's life`, () => {
    before(async () => backend.setup?.());
    after(async () => backend.teardown?.());

    test('onIdle() resolves at once on a pool with nothing to do, and after every accepted task has settled otherwise', SHORT, async () => {
      await using pool = backend.make({ workers: 2 });
      await pool.onIdle();
      const futures = Array.from({ length: 20 }, (_, i) => pool.submit('delayedSquare', [i, 3]));
      await pool.onIdle();
      for (const f of futures) assert.equal(f.done(), true, 'every future settled before onIdle resolved');
      assert.deepEqual(
        futures.map((f) => f.state),
        futures.map(() => 'fulfilled'),
      );
      const stats = pool.stats();
      assert.equal(stats.queued, 0);
    });

    test('onIdle() counts a cancelled or failed task as settled', SHORT, async () => {
      await using pool = backend.make({ workers: 1 });
      const running = pool.submit('delayedSquare', [2, 50]);
      const queued = pool.submit('add', [1, 1]);
      const failing = pool.submit('fail', ['no']);
      queued.cancel();
      await pool.onIdle();
      assert.equal(running.state, 'fulfilled');
      assert.equal(queued.state, 'cancelled');
      assert.equal(failing.state, 'rejected');
    });

    test(
      'a pool publishes start, ready and exit of its workers on warmpool:worker, named by the name option',
      { ...SHORT, skip: backend.cannot.workers },
      async () => {
        const name = `lifecycle-${backend.name}`;
        const seen = record(name);
        try {
          const pool = backend.make({ workers: 2, name });
          await pool.ready();
          await seen.next('ready', 2);
          const started = seen.messages.filter((m) => m.event === 'start').map((m) => m.worker);
          const ready = seen.messages.filter((m) => m.event === 'ready').map((m) => m.worker);
          assert.equal(started.length, 2);
          assert.deepEqual([...ready].sort(), [...started].sort(), 'each worker that started became ready');
          await pool.shutdown();
          await seen.next('exit', 2);
          const exited = seen.messages.filter((m) => m.event === 'exit');
          assert.deepEqual(exited.map((m) => m.worker).sort(), [...started].sort());
          for (const m of exited) assert.ok('exitCode' in m && 'signal' in m, 'an exit says its code and signal');
        } finally {
          seen.stop();
        }
      },
    );

    test(
      'a worker past maxTasksPerWorker is announced as recycled, and its replacement starts',
      { ...SHORT, skip: backend.cannot.workers },
      async () => {
        const name = `recycle-${backend.name}`;
        const seen = record(name);
        try {
          await using pool = backend.make({ workers: 1, maxTasksPerWorker: 2, name });
          for (let i = 0; i < 3; i++) assert.equal(await pool.submit('add', [i, 1]), i + 1);
          await seen.next('recycle', 1);
          await seen.next('start', 2);
          const recycled = seen.messages.find((m) => m.event === 'recycle')!;
          assert.equal(recycled.worker, seen.messages[0].worker, 'the first worker is the one recycled');
        } finally {
          seen.stop();
        }
      },
    );

    test(
      'a pool without a name is named warmpool-<n>, and a name must be a non-empty string',
      { ...SHORT, skip: backend.cannot.workers },
      async () => {
        let pool = '';
        const onMessage = (message: unknown) => {
          pool ||= (message as WorkerMessage).pool;
        };
        subscribe('warmpool:worker', onMessage);
        try {
          await using p = backend.make({ workers: 1 });
          await p.ready();
        } finally {
          unsubscribe('warmpool:worker', onMessage);
        }
        assert.match(pool, /^warmpool-\d+$/);
        assert.throws(() => backend.make({ name: '' }), /Expected `name` to be a non-empty string/);
      },
    );
  });
}
