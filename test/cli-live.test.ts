// `--stats` of `warmpool map` and `warmpool worker` (lib/cli/live.ts): the
// line itself, its two modes, the restart count from `warmpool:worker`, and
// the command run for real, piped and in a real terminal (tmux).

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { publishWorker } from '../lib/core/diagnostics.js';
import { LiveStats, RestartCounter, ms, renderStats, restartsOf } from '../lib/cli/live.js';
import type { PoolStats } from '../lib/index.js';
import { tempDir, until } from './helpers.js';

const main = fileURLToPath(new URL('../lib/cli/main.js', import.meta.url));
const tasks = fileURLToPath(new URL('./fixtures/cli-tasks.js', import.meta.url));

function stats(over: Partial<PoolStats> = {}): PoolStats {
  const t = { p50: 1.25, p90: 4, p99: 38.4, mean: 2, max: 50 };
  return {
    workers: 4,
    busy: 3,
    idle: 1,
    queued: 1200,
    completed: 5000,
    failed: 2,
    cancelled: 0,
    timedOut: 1,
    crashed: 0,
    runTime: t,
    waitTime: t,
    ...over,
  };
}

class FakeStream {
  text = '';
  constructor(
    readonly isTTY: boolean,
    readonly columns = 200,
  ) {}
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

describe('live stats line', () => {
  test('the line shows workers busy and idle, queue, rate, p50 and p99 run time, restarts and what is done', () => {
    assert.equal(
      renderStats(stats(), 1234.4, { value: 2, exact: true }),
      '4 workers: 3 busy 1 idle · queue 1,200 · 1,234 tasks/s · run p50 1.3ms p99 38ms · restarts 2 · done 5,003 (3 failed)',
    );
    assert.equal(
      renderStats(stats(), 50_000, { value: 1, exact: false }, Infinity, 'fib ', 120_000),
      'fib 4 workers: 3 busy 1 idle · queue 1,200 · 50,000 items/s · run p50 1.3ms p99 38ms · restarts ~1 · done 120,000 items',
    );
  });

  test('a narrow terminal drops whole parts from the end, and the line never reaches the last column', () => {
    for (const columns of [20, 40, 60, 80, 100]) {
      const line = renderStats(stats(), 1234, { value: 0, exact: true }, columns);
      assert.ok(line.length <= columns - 1, `${columns}: ${line}`);
    }
    assert.equal(renderStats(stats(), 1234, { value: 0, exact: true }, 60), '4 workers: 3 busy 1 idle · queue 1,200 · 1,234 tasks/s');
  });

  test('durations are short: fractions under 1 ms, one decimal under 10 ms, seconds from 1000 ms', () => {
    assert.deepEqual([0.354, 4.24, 38.4, 1234].map(ms), ['0.35ms', '4.2ms', '38ms', '1.2s']);
  });

  test('restarts come from the pool’s stats when it counts them, else from the channel, else an estimate from timeouts and crashes', () => {
    assert.deepEqual(restartsOf({ ...stats(), restarts: 7 } as PoolStats, 3), { value: 7, exact: true });
    assert.deepEqual(restartsOf(stats(), 3), { value: 3, exact: true });
    assert.deepEqual(restartsOf(stats({ timedOut: 2, crashed: 3 }), undefined), { value: 5, exact: false });
  });

  test('the restart counter counts the exits of a pool whose reason is a restart, and knows nothing of a pool that published nothing', () => {
    const counter = new RestartCounter();
    try {
      publishWorker('live-a', 1, 'start');
      assert.equal(counter.count('live-a'), 0);
      publishWorker('live-a', 1, 'exit', { exitCode: 1, reason: 'crash' });
      publishWorker('live-a', 2, 'exit', { exitCode: 0, reason: 'recycle' });
      publishWorker('live-a', 3, 'exit', { exitCode: 0, reason: 'idle' });
      publishWorker('live-a', 4, 'exit', { exitCode: 0, reason: 'shutdown' });
      assert.equal(counter.count('live-a'), 2);
      assert.equal(counter.count('live-b'), undefined);
      assert.equal(counter.count(undefined), undefined);
    } finally {
      counter.close();
    }
  });

  test('on a terminal the line is redrawn in place and ends with a plain last line; elsewhere every draw is a plain line', () => {
    const source = { stats: () => stats() };
    const tty = new FakeStream(true, 80);
    const live = new LiveStats(tty, source, { mode: LiveStats.modeFor(tty) });
    assert.equal(live.mode, 'live');
    assert.equal(live.intervalMs, 250);
    live.start();
    live.draw();
    live.note('warmpool worker: stopping');
    live.stop();
    const frames = tty.text.split('\r\x1b[K');
    assert.equal(frames[0], '');
    assert.ok(
      frames.slice(1, 3).every((f) => f.startsWith('4 workers') && !f.includes('\n')),
      JSON.stringify(frames),
    );
    assert.ok(frames.includes('warmpool worker: stopping\n'), 'a note clears the line and keeps its own');
    assert.ok(frames.at(-1)?.endsWith('\n'), 'the last line stays');

    const piped = new FakeStream(false);
    const plain = new LiveStats(piped, source, { mode: LiveStats.modeFor(piped), intervalMs: 50 });
    assert.equal(plain.mode, 'lines');
    plain.start();
    plain.draw();
    plain.stop();
    assert.ok(!piped.text.includes('\x1b'), 'no escape codes in a log');
    assert.equal(piped.text.split('\n').filter((l) => l.startsWith('4 workers')).length, 2);

    assert.equal(LiveStats.modeFor(tty, false), 'lines', 'results printed on the terminal: plain lines');
  });
});

describe('warmpool map --stats and warmpool worker --stats', () => {
  test(
    'piped, map --stats writes plain stats lines on stderr and a last one that counts every item; stdout keeps only results',
    { timeout: 60_000 },
    async () => {
      const child = spawn(process.execPath, [main, 'map', tasks, 'double', '--stats', '--stats-interval', '50', '--workers', '2'], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      child.stdin.end(Array.from({ length: 3000 }, (_, i) => String(i)).join('\n'));
      const [code] = (await once(child, 'close')) as [number | null];
      assert.equal(code, 0, stderr);
      assert.equal(stdout.split('\n').filter((l) => l !== '').length, 3000);
      assert.ok(!stderr.includes('\x1b'), 'no escape codes when stderr is not a terminal');
      const statsLines = stderr.split('\n').filter((l) => l.startsWith('double 2 workers: '));
      assert.ok(statsLines.length >= 1, stderr);
      assert.match(
        statsLines.at(-1)!,
        /^double 2 workers: 0 busy 2 idle · queue 0 · [\d,]+ items\/s · run p50 \S+ p99 \S+ · restarts ~?0 · done 3,000 items$/,
      );
    },
  );

  test('--stats-interval without --stats is a usage error', { timeout: 30_000 }, async () => {
    for (const command of [
      ['map', tasks, 'double'],
      ['worker', tasks, '--queue', 'q'],
    ]) {
      const child = spawn(process.execPath, [main, ...command, '--stats-interval', '100'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      child.stdin.end();
      const [code] = (await once(child, 'close')) as [number | null];
      assert.equal(code, 2, stderr);
      assert.match(stderr, /Expected --stats with --stats-interval, got --stats-interval alone/);
    }
  });

  const tmux = (() => {
    try {
      execFileSync('tmux', ['-V'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  test(
    'in a real terminal (tmux), map --stats redraws one line in place while it runs and leaves the last one',
    { timeout: 90_000, skip: tmux ? false : 'tmux is not installed (.ci/run installs it)' },
    async (t) => {
      // The server's socket lives outside the test's folder: the folder is
      // removed by an `after` hook that may run before the one stopping tmux.
      const socket = join(tmpdir(), `warmpool-tmux-${process.pid}-${Date.now()}.sock`);
      const run = (...args: string[]) =>
        execFileSync('tmux', ['-S', socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const stop = () => {
        try {
          run('kill-server');
        } catch {
          // Already gone.
        }
        rmSync(socket, { force: true });
      };
      t.after(stop);
      const dir = await tempDir(t);
      const out = join(dir, 'out.jsonl');
      const done = join(dir, 'done');
      run('new-session', '-d', '-s', 'live', '-x', '150', '-y', '12', 'bash', '--norc', '--noprofile');
      // Enough items that the run lasts a while: the test waits for the line, then for the end.
      const command = `clear; seq 1 1000000 | ${process.execPath} ${main} map ${tasks} double --stats --workers 2 --out ${out}; echo $? > ${done}`;
      run('send-keys', '-t', 'live', command, 'Enter');
      const screen = () => run('capture-pane', '-p', '-t', 'live');
      const statsRows = () =>
        screen()
          .split('\n')
          .filter((l) => /^double 2 workers: \d busy \d idle · queue/.test(l));
      await until(() => statsRows().length > 0 || existsSync(done), 60_000, 'the live line on the terminal');
      if (!existsSync(done)) {
        const first = statsRows();
        assert.equal(first.length, 1, `one live line, redrawn in place:\n${screen()}`);
      }
      await until(() => existsSync(done), 80_000, 'the run to end');
      assert.equal(readFileSync(done, 'utf8').trim(), '0');
      const rows = statsRows();
      assert.equal(rows.length, 1, screen());
      assert.match(rows[0], /done 1,000,000 items$/);
      stop();
    },
  );
});
