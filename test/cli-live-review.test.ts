// A review of the CLI's --stats (issue 16): restarts are exact once the
// pool's messages can be found by its name, and `warmpool worker --stats`
// piped writes plain lines, and a last one when a signal stops it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ProcessPool } from '../lib/index.js';
import { LiveStats, RestartCounter } from '../lib/cli/live.js';
import { workerEvents } from './helpers.js';
import { describeWithRedis, freshQueue, startRedis, type RedisServer } from './redis.js';

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

const describeRedis = await describeWithRedis();
describeRedis('warmpool worker --stats, piped', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());

  test(
    'writes plain stats lines with an exact restart count while it waits for jobs, and a last one after a signal stops it',
    { timeout: 30_000 },
    async () => {
      const cli = fileURLToPath(new URL('../lib/cli/main.js', import.meta.url));
      const child = spawn(
        process.execPath,
        [
          cli,
          'worker',
          fileURLToPath(tasksUrl),
          '--connection',
          redis.url,
          '--queue',
          freshQueue('live'),
          '--workers',
          '1',
          '--stats',
          '--stats-interval',
          '50',
        ],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let stderr = '';
      // The last line may come after the local pool has shut down: 0 workers then.
      const statsLine = /^[01] workers: \d busy \d idle · queue 0 · [\d,]+ tasks\/s · run p50 \S+ p99 \S+ · restarts (~?\d+) · done 0$/;
      const lines = () => stderr.split('\n');
      const exited = once(child, 'exit');
      // Two stats lines after ready: it draws on its timer, not once.
      await new Promise<void>((resolve, reject) => {
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          const ready = lines().findIndex((l) => l.startsWith('warmpool worker: ready'));
          if (
            ready !== -1 &&
            lines()
              .slice(ready + 1)
              .filter((l) => statsLine.test(l)).length >= 2
          )
            resolve();
        });
        void exited.then(() => reject(new Error(`warmpool worker exited early: ${stderr}`)));
      });
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0, stderr);
      assert.ok(!stderr.includes('\r') && !stderr.includes('\x1b'), 'no redraws or escape codes when piped');
      const all = lines().filter((l) => l !== '');
      const stopping = all.findIndex((l) => l.startsWith('warmpool worker: stopping'));
      assert.ok(stopping !== -1, stderr);
      const last = all.at(-1)!;
      assert.match(last, statsLine, 'the last line is a stats line, written after the stop');
      assert.equal(statsLine.exec(last)![1], '0', 'restarts counted from the pool’s own exits, not estimated');
    },
  );
});
