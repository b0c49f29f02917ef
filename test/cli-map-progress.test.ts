// `warmpool map` showing a task's own progress, run for real in a child
// process with stderr piped (plain lines) on both of the command's
// backends: a task that reports from its first item, one that reports only
// for a later item (found in map chunks), and one that reports nothing.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatProgress, ItemProgress } from '../lib/cli/item-progress.js';
import { Progress } from '../lib/cli/progress.js';
import { tempDir } from './helpers.js';

const main = fileURLToPath(new URL('../lib/cli/main.js', import.meta.url));
const tasks = fileURLToPath(new URL('./fixtures/cli-progress-tasks.js', import.meta.url));
const BOUND = { timeout: 60_000 };

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The child's stderr so far, and a way to wait for a pattern in it. */
function watchStderr(child: ChildProcess): { text: () => string; seen: (pattern: RegExp) => Promise<void> } {
  let text = '';
  const waiting = new Set<{ pattern: RegExp; resolve: () => void }>();
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    text += s;
    for (const w of waiting) {
      if (!w.pattern.test(text)) continue;
      waiting.delete(w);
      w.resolve();
    }
  });
  return {
    text: () => text,
    seen: (pattern) =>
      pattern.test(text)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            waiting.add({ pattern, resolve });
            child.once('close', () => reject(new Error(`The command exited before ${pattern} was on stderr:\n${text}`)));
          }),
  };
}

async function finish(child: ChildProcess, stderr: () => string): Promise<Ran> {
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr: stderr() };
}

function mapCommand(flags: string[], task: string, input: string): ChildProcess {
  const child = spawn(process.execPath, [main, 'map', ...flags, tasks, task, '--workers', '2'], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {});
  child.stdin.end(input);
  return child;
}

function progressLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('warmpool map: progress:'));
}

describe('warmpool map: the values a task reports, shown compactly', () => {
  test('a fraction shows as a percent, a done/total pair as done/total, anything else as short text', () => {
    assert.equal(formatProgress(0.456), '45%');
    assert.equal(formatProgress(1), '100%');
    assert.equal(formatProgress({ done: 3, total: 4 }), '3/4');
    assert.equal(formatProgress({ completed: 1200, max: 5000 }), '1,200/5,000');
    assert.equal(formatProgress([2, 8]), '2/8');
    assert.equal(formatProgress(37), '37');
    assert.equal(formatProgress('parsing headers'), 'parsing headers');
    assert.equal(formatProgress({ stage: 'download', bytes: 123456789, extra: [1, 2, 3] }).length, 24);
    assert.equal(formatProgress(10n), '10');
  });

  test("on a terminal, the bar carries the running items' progress after its counts, within the terminal width", () => {
    const items = new ItemProgress();
    items.set(7, 0.25);
    items.set(3, { done: 1, total: 9 });
    const bar = new Progress({ isTTY: true, columns: 60, write: () => true }, 'off');
    bar.phase('steps', 10);
    bar.setDetail(() => items.summary());
    bar.update(2);
    const line = bar.line();
    assert.match(line, / · #3 1\/9 #7 25%$/);
    assert.ok(line.length <= 59, line);
    items.delete(3);
    assert.match(bar.line(), / · #7 25%$/);
    items.delete(7);
    assert.doesNotMatch(bar.line(), /·/);
  });
});

for (const [backend, flags] of [
  ['ProcessPool', []],
  ['ThreadPool', ['--threads']],
] as const) {
  describe(`warmpool map with a task that reports progress (${backend}, stderr piped)`, () => {
    test('each value a running item reports is written as a plain line on stderr while it runs, and its result after', BOUND, async (t) => {
      const dir = await tempDir(t);
      const child = mapCommand([...flags], 'steps', `${JSON.stringify(dir)}\n`);
      const err = watchStderr(child);
      const ran = finish(child, err.text);
      await err.seen(/^warmpool map: progress: #0 50%$/m);
      writeFileSync(join(dir, 'a'), '');
      await err.seen(/^warmpool map: progress: #0 3\/4$/m);
      writeFileSync(join(dir, 'b'), '');
      const r = await ran;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '"done"\n');
      assert.deepEqual(progressLines(r.stderr), ['warmpool map: progress: #0 50%', 'warmpool map: progress: #0 3/4']);
      assert.match(r.stderr, /warmpool map: 1 item, none failed/);
    });

    test(
      'a task that reports only for a later item is found in map chunks, and the items after it show their progress',
      BOUND,
      async (t) => {
        const dir = await tempDir(t);
        // Enough quiet items after the reporting one to outlast imap's read-ahead (4 chunks of 1 per worker).
        const input = [...Array.from({ length: 20 }, (_, i) => i), { report: true }, ...Array.from({ length: 40 }, (_, i) => i), { dir }];
        const child = mapCommand([...flags, '--chunksize', '1'], 'mixed', input.map((v) => JSON.stringify(v)).join('\n') + '\n');
        const err = watchStderr(child);
        const ran = finish(child, err.text);
        await err.seen(/^warmpool map: progress: #61 50%$/m);
        writeFileSync(join(dir, 'a'), '');
        writeFileSync(join(dir, 'b'), '');
        const r = await ran;
        assert.equal(r.code, 0, r.stderr);
        const expected = [
          ...Array.from({ length: 20 }, (_, i) => i * 2),
          'reported',
          ...Array.from({ length: 40 }, (_, i) => i * 2),
          'done',
        ];
        assert.deepEqual(
          r.stdout
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as unknown),
          expected,
        );
      },
    );

    test('a task that reports nothing writes nothing on stderr but the summary', BOUND, async () => {
      const child = mapCommand([...flags], 'quiet', Array.from({ length: 2000 }, (_, i) => `${i}\n`).join(''));
      const err = watchStderr(child);
      const r = await finish(child, err.text);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, Array.from({ length: 2000 }, (_, i) => `${i * 2}\n`).join(''));
      assert.match(r.stderr, /^warmpool map: 2,000 items, none failed, in .*\n$/);
    });
  });
}
