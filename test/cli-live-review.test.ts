// A review of the CLI's --stats (issue 16): restarts are exact once the
// pool's messages can be found by its name.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProcessPool } from '../lib/index.js';
import { LiveStats, RestartCounter } from '../lib/cli/live.js';
import { workerEvents } from './helpers.js';

const tasksUrl = new URL('./fixtures/tasks.js', import.meta.url);

/** A stream that keeps what is written. */
function sink(): { text: string; isTTY: boolean; columns: number; write(s: string): boolean } {
  return {
    text: '',
    isTTY: false,
    columns: 200,
    write(s: string) {
      this.text += s;
      return true;
    },
  };
}

describe('--stats restarts', () => {
  test('the live line counts restarts exactly, from the pool’s own exits, not the ~N estimate', { timeout: 30_000 }, async () => {
    const restarts = new RestartCounter();
    const pool = new ProcessPool<typeof import('./fixtures/tasks.js')>(tasksUrl, { workers: 1, maxTasksPerWorker: 1 });
    await using _ = pool;
    try {
      using events = workerEvents(pool.name ?? '');
      const stream = sink();
      const live = new LiveStats(stream, pool, { mode: 'lines', restarts });
      live.start();
      await pool.submit('add', [1, 1]);
      await events.next('exit', 1);
      live.stop();
      assert.match(stream.text.trim().split('\n').at(-1)!, / · restarts 1 · /);
    } finally {
      restarts.close();
    }
  });
});
