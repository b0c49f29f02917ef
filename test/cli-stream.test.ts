// `warmpool stream`, run for real in a child process on both of the
// command's backends: values as JSON Lines in order, a task's error and its
// exit code, messages from stdin with --send -, bad input, and Ctrl-C
// cancelling a task that never ends (its finally runs).

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.js';

const main = fileURLToPath(new URL('../lib/cli/main.js', import.meta.url));
const tasks = fileURLToPath(new URL('./fixtures/cli-stream-tasks.js', import.meta.url));
const BOUND = { timeout: 60_000 };

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, [main, 'stream', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
}

async function finish(child: ChildProcess): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

async function warmpoolStream(args: string[], input = ''): Promise<Ran> {
  const child = start(args);
  const ran = finish(child);
  child.stdin!.on('error', () => {});
  child.stdin!.end(input);
  return ran;
}

function lines(text: string): unknown[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown);
}

for (const [backend, flags] of [
  ['ProcessPool', []],
  ['ThreadPool', ['--threads']],
] as const) {
  describe(`warmpool stream (${backend})`, () => {
    test('writes every value the generator yields as a JSON line, in order, and exits 0', BOUND, async () => {
      const r = await warmpoolStream([...flags, tasks, 'count', '--args', '[500]', '--high-water-mark', '4']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        lines(r.stdout),
        Array.from({ length: 500 }, (_, i) => i),
      );
      assert.equal(r.stderr, '');
    });

    test('a task that fails after values writes those values, names the error on stderr and exits 1', BOUND, async () => {
      const r = await warmpoolStream([...flags, tasks, 'failAfter', '--args', '[3]']);
      assert.equal(r.code, 1);
      assert.deepEqual(lines(r.stdout), [0, 1, 2]);
      assert.match(r.stderr, /the task `failAfter` failed after 3 values: RangeError: failed after 3/);
    });

    test(
      '--send - sends each JSON line of stdin to the task, which answers each in order; the end of stdin ends its messages',
      BOUND,
      async () => {
        const r = await warmpoolStream(
          [...flags, tasks, 'settings', '--args', '[{"theme":"light","size":12}]', '--send', '-'],
          '{"theme":"dark"}\n\n{"size":14}\n',
        );
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(lines(r.stdout), [
          { theme: 'dark', size: 12 },
          { theme: 'dark', size: 14 },
        ]);
      },
    );

    test('with --send - the command exits when the task ends, though stdin stays open', BOUND, async () => {
      const child = start([...flags, tasks, 'count', '--args', '[3]', '--send', '-']);
      child.stdin!.write('1\n');
      const r = await finish(child);
      child.stdin!.destroy();
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lines(r.stdout), [0, 1, 2]);
    });

    test('a --send line that is not JSON stops the task and is a usage error naming the line', BOUND, async () => {
      const r = await warmpoolStream([...flags, tasks, 'settings', '--args', '[{}]', '--send', '-'], '{"a":1}\nnot json\n');
      assert.equal(r.code, 2);
      assert.match(r.stderr, /Expected --send to give JSON Lines, got line 2 `not json`/);
    });

    test('Ctrl-C (SIGINT) cancels a task that never ends: its finally runs, and the command exits 130', BOUND, async (t) => {
      const closed = join(await tempDir(t), 'closed');
      const child = start([...flags, tasks, 'untilCancelled', '--args', JSON.stringify([closed])]);
      const ran = finish(child);
      // The first value is out: the task is running.
      await once(child.stdout!, 'data');
      child.kill('SIGINT');
      const r = await ran;
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /warmpool stream: interrupted after \d+ values?; the task was cancelled/);
      assert.ok(existsSync(closed), 'the generator’s finally ran');
    });
  });
}

test('warmpool stream: bad usage exits 2 with the reason', BOUND, async () => {
  const r = await warmpoolStream([tasks, 'count', '--args', '{"n":1}']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Expected --args to be a JSON array of arguments/);
});
