// Observability end to end (./observe.test.ts) against RemotePool, with
// `warmpool worker` hosts on a private redis-server (see ./backends.ts); a
// file of its own so that each file stays within the runner's per-file
// timeout. Below the shared suite, what only RemotePool's caller shows
// (docs/guide.md, "What RemotePool publishes").
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { subscribeTasks, subscribeWorkers, type TaskMessage, type WorkerMessage } from '../lib/core/diagnostics.js';
import type { Executor } from '../lib/index.js';
import { backends } from './backends.js';
import { touch, whenFileExists } from './fixtures/contract-tasks.js';
import type * as observeTasks from './fixtures/observe-tasks.js';
import { observeSuite } from './observe.test.js';

const remote = backends.filter((b) => b.name === 'RemotePool');
observeSuite(remote);

describe('RemotePool: what its caller publishes', () => {
  const backend = remote[0];
  before(() => backend.setup?.());
  after(() => backend.teardown?.());

  test('asyncStart comes while the task still runs on its host, naming the host as <hostname>:<pid>, and the caller publishes nothing on warmpool:worker', { timeout: 30_000 }, async () => {
    const name = 'observe-remote-running';
    const pool = backend.make({ name, workers: 1 }, new URL('./fixtures/observe-tasks.js', import.meta.url)) as unknown as Executor<typeof observeTasks>;
    await using _ = pool;
    await pool.ready();
    const dir = mkdtempSync(join(tmpdir(), 'warmpool-observe-remote-'));
    const events: string[] = [];
    const workerMessages: WorkerMessage[] = [];
    let begun: (m: TaskMessage) => void = () => {};
    const started = new Promise<TaskMessage>((resolve) => (begun = resolve));
    const on = (event: string) => (m: TaskMessage) => {
      if (m.pool !== name) return;
      events.push(event);
      if (event === 'asyncStart') begun({ ...m });
    };
    const stopTasks = subscribeTasks({ start: on('start'), asyncStart: on('asyncStart'), error: on('error'), asyncEnd: on('asyncEnd') });
    const stopWorkers = subscribeWorkers((m) => {
      if (m.pool === name) workerMessages.push(m);
    });
    try {
      // The task ends only once this test releases it, after asyncStart.
      const f = pool.submit('block', [join(dir, 'started'), join(dir, 'release')]);
      const [m] = await Promise.all([started, whenFileExists(join(dir, 'started'))]);
      assert.deepEqual(events, ['start', 'asyncStart']);
      assert.equal(f.state, 'running');
      const escaped = hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      assert.match(String(m.worker), new RegExp(`^${escaped}:\\d+$`));
      assert.notEqual(Number(String(m.worker).split(':').pop()), process.pid, 'a host, not this process');
      assert.ok(typeof m.waitMs === 'number' && m.waitMs >= 0, `waitMs: ${m.waitMs}`);
      touch(join(dir, 'release'));
      await f;
      assert.deepEqual(events, ['start', 'asyncStart', 'asyncEnd']);
      assert.deepEqual(workerMessages, []);
    } finally {
      stopTasks();
      stopWorkers();
      touch(join(dir, 'release'));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
