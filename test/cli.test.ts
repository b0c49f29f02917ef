// The `warmpool` command, run for real in a child process: its help, exit
// codes and messages, `map` end to end (order, errors, a large streamed
// input in bounded memory, Ctrl-C), and `bench --json`.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from '../lib/cli/bench.js';
import { render } from '../lib/cli/progress.js';
import { tempDir } from './helpers.js';

const main = fileURLToPath(new URL('../lib/cli/main.js', import.meta.url));
const tasks = fileURLToPath(new URL('./fixtures/cli-tasks.js', import.meta.url));
const throwsOnImport = fileURLToPath(new URL('./fixtures/faults-import-throws.js', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
};

/** The command's backends: worker processes, and worker threads with --threads. */
const BACKENDS: [name: string, flags: string[]][] = [
  ['ProcessPool', []],
  ['ThreadPool', ['--threads']],
];

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[], env: NodeJS.ProcessEnv = {}, nodeFlags: string[] = []): ChildProcess {
  return spawn(process.execPath, [...nodeFlags, main, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
}

async function finish(child: ChildProcess): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  return { code, signal, stdout, stderr };
}

/** Runs `warmpool ...args` with `input` on its stdin (closed after it). */
async function warmpool(args: string[], input = '', env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  const child = start(args, env);
  const ran = finish(child);
  // The command may exit before it reads its input (bad usage): EPIPE is no failure here.
  child.stdin!.on('error', () => {});
  child.stdin!.end(input);
  return ran;
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

function jsonLines(text: string): unknown[] {
  return lines(text).map((l) => JSON.parse(l) as unknown);
}

function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/** Pids of live (not zombie) processes whose environment holds `mark`. A zombie is dead: PID 1 here does not reap. */
function liveProcessesMarked(mark: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
      if (!environ.includes(mark)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      // The state follows the parenthesised command name, which may itself hold spaces or ')'.
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && state !== 'X') found.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** The closing line of `warmpool map`, alone on stderr. */
const SUMMARY = (items: number, failed: string) =>
  new RegExp(`^warmpool map: ${items.toLocaleString('en-US')} items?, ${failed} failed, in [\\d.]+ (µs|ms|s) \\([\\d,]+ items/s\\)\n$`);

describe('warmpool command line', () => {
  test('`warmpool --help` lists every command with examples and exits 0', async () => {
    const r = await warmpool(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: warmpool <command>/);
    assert.match(r.stdout, /\n {2}bench {3}measure a cold call/);
    assert.match(r.stdout, /\n {2}map {5}run a task over each line/);
    assert.match(r.stdout, /\n {2}worker {2}serve a RemotePool queue/);
    assert.match(r.stdout, /\n {2}purge {3}remove every Redis key of a RemotePool queue/);
    assert.match(r.stdout, /\n {2}stream {2}run a generator task on a warm pool/);
    assert.match(r.stdout, /Examples:\n {2}warmpool bench/);
    assert.equal(r.stderr, '');
  });

  test('without a command it prints the help on stderr and exits 2; an unknown command names the known ones', async () => {
    const none = await warmpool([]);
    assert.equal(none.code, 2);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /^Usage: warmpool/);
    const unknown = await warmpool(['serve']);
    assert.equal(unknown.code, 2);
    assert.equal(
      unknown.stderr,
      'warmpool: unknown command `serve`; expected one of: bench, map, purge, stream, worker (see warmpool --help)\n',
    );
  });

  test('`--version` prints the package version, and package.json names the command', async () => {
    const r = await warmpool(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${pkg.version}\n`);
    assert.equal(pkg.bin.warmpool, './dist/lib/cli/main.js');
    assert.ok(readFileSync(main, 'utf8').startsWith('#!/usr/bin/env node\n'));
  });

  test('each command has its own help with examples', async () => {
    for (const name of ['bench', 'map']) {
      const r = await warmpool([name, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, new RegExp(`^Usage: warmpool ${name} <module> <task>`));
      assert.match(r.stdout, new RegExp(`Examples:\\n {2}warmpool ${name} `));
    }
  });

  test('bad input gets one line on stderr and exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['map', 'no-such-module.js', 'fib'],
        /^warmpool map: Cannot find the task module `no-such-module\.js` \(looked for .*no-such-module\.js\)/,
      ],
      [['bench', 'no-such-module.js', 'fib'], /^warmpool bench: Cannot find the task module `no-such-module\.js`/],
      [['map', tasks], /^warmpool map: Expected the name of an exported task as the second argument, got nothing/],
      [['map', tasks, 'fib', '--workers', '0'], /^warmpool map: Expected --workers to be an integer >= 1, got `0`/],
      [['map', tasks, 'fib', '--bogus'], /^warmpool map: Unknown option '--bogus'/],
      [['map', tasks, 'fib', '--ordered', '--unordered'], /^warmpool map: Expected one of --ordered and --unordered, got both/],
      [['map', tasks, 'fib', '--in', 'no-such-input.jsonl'], /^warmpool map: Cannot find the input file `no-such-input\.jsonl`/],
      [['bench', tasks, 'fib', '--args', '[1'], /^warmpool bench: Expected --args to be JSON \(an array of arguments\), got `\[1`: /],
      [
        ['bench', tasks, 'fib', '--args', '{"n":1}'],
        /^warmpool bench: Expected --args to be a JSON array of arguments, got `\{"n":1\}` \(object\)/,
      ],
      [['bench', tasks, 'fib', '--calls', 'many'], /^warmpool bench: Expected --calls to be an integer >= 1, got `many`/],
    ];
    for (const [args, message] of cases) {
      const r = await warmpool(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(lines(r.stderr).length, 1, r.stderr);
      assert.equal(r.stdout, '');
    }
  });

  for (const [backend, flags] of BACKENDS) {
    test(`${backend}: a task the module does not export is refused with the list of its function exports`, async () => {
      const exportsList =
        '`add`, `bigint`, `checked`, `crashOn`, `double`, `echo`, `fib`, `firstThenForever`, `forever`, `hangOrCrash`, `len`';
      const map = await warmpool(['map', ...flags, tasks, 'notATask', '--workers', '1'], '1\n');
      assert.equal(map.code, 2);
      assert.match(map.stderr, new RegExp(`Expected \`notATask\` to be a function exported by the task module, got only: ${exportsList}`));
      assert.equal(map.stdout, '');
      const bench = await warmpool(['bench', ...flags, tasks, 'fbi', '--cold', '1', '--calls', '1']);
      assert.equal(bench.code, 2);
      assert.match(
        bench.stderr,
        new RegExp(`^warmpool bench: Expected \`fbi\` to be a function exported by the task module, got only: ${exportsList}`, 'm'),
      );
    });

    test(`${backend}: a module that throws when imported is bad input for both commands`, async () => {
      const map = await warmpool(['map', ...flags, throwsOnImport, 'anything', '--workers', '1'], '1\n');
      assert.equal(map.code, 2);
      assert.match(map.stderr, /^warmpool map: Cannot start the task `anything` of `.*faults-import-throws\.js`: /);
      const bench = await warmpool(['bench', ...flags, throwsOnImport, 'anything', '--cold', '1']);
      assert.equal(bench.code, 2);
      assert.match(bench.stderr, /^warmpool bench: Cannot import the task module `.*faults-import-throws\.js`: /m);
    });
  }
});

for (const [backend, flags] of BACKENDS) {
  describe(`warmpool map on ${backend}`, () => {
    test('writes one result per line in input order, and on a piped stderr only a closing summary: items, failures, time, rate', async () => {
      const input = Array.from({ length: 40 }, (_, i) => `${i % 25}\n`).join('');
      const r = await warmpool(['map', ...flags, tasks, 'fib', '--workers', '2'], input);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        jsonLines(r.stdout),
        Array.from({ length: 40 }, (_, i) => fib(i % 25)),
      );
      // Not a terminal: no progress bar, no escape codes, one line at the end.
      assert.match(r.stderr, SUMMARY(40, 'none'));
    });

    test('--unordered writes every result once, each with its input index', async () => {
      const input = Array.from({ length: 30 }, (_, i) => `${i}\n`).join('');
      const r = await warmpool(['map', ...flags, tasks, 'double', '--unordered', '--workers', '2', '--chunksize', '3'], input);
      assert.equal(r.code, 0, r.stderr);
      const out = jsonLines(r.stdout) as { index: number; result: number }[];
      assert.deepEqual(
        out.map((o) => o.index).sort((a, b) => a - b),
        Array.from({ length: 30 }, (_, i) => i),
      );
      for (const o of out) assert.equal(o.result, o.index * 2);
    });

    test('--spread calls the task with each line as its argument list; blank lines are skipped', async () => {
      const r = await warmpool(['map', ...flags, tasks, 'add', '--spread', '--workers', '1'], '[1, 2]\n\n[10, 20]\n  \n[-1, 1]\n');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(jsonLines(r.stdout), [3, 30, 0]);
    });

    // The numbering is the command's own, the same on either backend: run once, to keep this file within the runner's per-file timeout.
    const lineNumbering = { skip: backend === 'ThreadPool' && "the line numbering is the command's own; run on ProcessPool" };
    test(
      "an item's index is its input line's number from 0, blank lines counted, in error lines and --unordered output alike",
      lineNumbering,
      async () => {
        const input = '1\n\n-2\n   \n\n3\n-4\n';
        const failing = await warmpool(['map', ...flags, tasks, 'checked', '--workers', '2'], input);
        assert.equal(failing.code, 1);
        const out = jsonLines(failing.stdout);
        assert.deepEqual(out[0], 1);
        assert.equal((out[1] as { index: number }).index, 2, 'the -2 on line 2');
        assert.equal(out[2], 3);
        assert.equal((out[3] as { index: number }).index, 6, 'the -4 on line 6');
        assert.match(failing.stderr, SUMMARY(4, '2'));
        const unordered = await warmpool(['map', ...flags, tasks, 'double', '--unordered', '--workers', '2'], '1\n\n2\n\n\n3\n');
        assert.equal(unordered.code, 0, unordered.stderr);
        const indexes = (jsonLines(unordered.stdout) as { index: number; result: number }[])
          .map((o) => [o.index, o.result])
          .sort((a, b) => a[0] - b[0]);
        assert.deepEqual(indexes, [
          [0, 2],
          [2, 4],
          [5, 6],
        ]);
      },
    );

    test('an item the pool gives up on (a timeout) after blank lines is blamed on its own line', lineNumbering, async () => {
      const r = await warmpool(['map', ...flags, tasks, 'firstThenForever', '--timeout', '1500', '--workers', '1'], '0\n\n\n1\n0\n');
      assert.equal(r.code, 1);
      const out = jsonLines(r.stdout);
      assert.equal(out.length, 3);
      assert.equal((out[1] as { index: number; error: { name: string } }).index, 3);
      assert.equal((out[1] as { error: { name: string } }).error.name, 'TimeoutError');
    });

    test('a failing item writes an error line with its index, the run goes on, and the exit code is 1', async () => {
      const r = await warmpool(['map', ...flags, tasks, 'checked', '--workers', '2'], '1\n-2\nnot json\n4\n[5]\n');
      assert.equal(r.code, 1);
      const out = jsonLines(r.stdout);
      assert.equal(out.length, 5);
      assert.equal(out[0], 1);
      assert.deepEqual(out[1], { index: 1, error: { name: 'RangeError', message: 'Expected a number >= 0, got -2', code: 'E_NEGATIVE' } });
      assert.deepEqual(Object.keys((out[2] as { error: object }).error), ['name', 'message', 'code']);
      assert.equal((out[2] as { index: number; error: { name: string } }).index, 2);
      assert.equal((out[2] as { error: { name: string } }).error.name, 'SyntaxError');
      assert.equal(out[3], 4);
      assert.deepEqual(out[4], [5]);
      assert.match(r.stderr, SUMMARY(5, '2'));
    });

    test('a result JSON cannot carry fails its item; undefined becomes null', async () => {
      const r = await warmpool(['map', ...flags, tasks, 'bigint', '--workers', '1'], '1\n');
      assert.equal(r.code, 1);
      assert.deepEqual(jsonLines(r.stdout), [
        { index: 0, error: { name: 'TypeError', message: 'Do not know how to serialize a BigInt', code: null } },
      ]);
    });

    test('--fail-fast stops at the first failing item: the output is the results before it, then its error line', async () => {
      const input = ['1', '2', '-3', ...Array.from({ length: 200 }, (_, i) => String(i))].join('\n');
      const r = await warmpool(['map', ...flags, tasks, 'checked', '--fail-fast', '--workers', '2'], input);
      assert.equal(r.code, 1);
      assert.deepEqual(jsonLines(r.stdout), [
        1,
        2,
        { index: 2, error: { name: 'RangeError', message: 'Expected a number >= 0, got -3', code: 'E_NEGATIVE' } },
      ]);
      assert.match(r.stderr, /stopped at the first failing item \(index 2, --fail-fast\)/);
    });

    test('--timeout stops a runaway item, writes its error line in input order, and the run goes on', async () => {
      // 1.5 s, not less: on a loaded machine an item that returns at once can still take a few hundred ms to be seen.
      const r = await warmpool(
        ['map', ...flags, tasks, 'firstThenForever', '--timeout', '1500', '--workers', '2'],
        '0\n0\n1\n0\n0\n1\n0\n',
      );
      assert.equal(r.code, 1);
      const timedOut = (index: number) => ({
        index,
        error: {
          name: 'TimeoutError',
          message: 'The item did not finish within 1500 ms; its worker was stopped',
          code: 'ERR_WARMPOOL_TIMEOUT',
        },
      });
      assert.deepEqual(jsonLines(r.stdout), [0, 0, timedOut(2), 0, 0, timedOut(5), 0]);
      assert.match(r.stderr, SUMMARY(7, '2'));
    });

    test('error lines of items the pool gave up on keep input order when a later item fails first', async () => {
      // Item 1 crashes its worker at once, while item 0 runs until its timeout, which is seen later.
      const r = await warmpool(['map', ...flags, tasks, 'hangOrCrash', '--timeout', '1500', '--workers', '2'], '"hang"\n"crash"\n"ok"\n');
      assert.equal(r.code, 1);
      const out = jsonLines(r.stdout) as { index: number; error: { name: string } }[];
      assert.deepEqual(
        out.map((o) => (typeof o === 'string' ? o : [o.index, o.error.name])),
        [[0, 'TimeoutError'], [1, 'WorkerCrashedError'], 'ok'],
      );
    });

    test('a crashed worker fails only the item that crashed it, found exactly inside a chunk of many', async () => {
      const n = 3000;
      const input = Array.from({ length: n }, (_, i) => (i === 1500 ? -1 : i)).join('\n');
      const r = await warmpool(['map', ...flags, tasks, 'crashOn', '--workers', '2', '--unordered'], input);
      assert.equal(r.code, 1);
      const out = jsonLines(r.stdout) as { index: number; result?: number; error?: { name: string } }[];
      assert.equal(out.length, n);
      assert.deepEqual(
        out.filter((o) => o.error !== undefined),
        [{ index: 1500, error: out.find((o) => o.index === 1500)!.error }],
      );
      assert.equal(out.find((o) => o.index === 1500)!.error!.name, 'WorkerCrashedError');
      for (const o of out) if (o.index !== 1500) assert.equal(o.result, o.index);
      assert.deepEqual(
        out.map((o) => o.index).sort((x, y) => x - y),
        Array.from({ length: n }, (_, i) => i),
      );
    });

    test('--in and --out read and write files, waiting on the file stream without piling up listeners', async (t) => {
      const dir = await tempDir(t);
      // 5 MB out: the file stream asks the writer to wait many times over.
      const input = Array.from({ length: 50_000 }, (_, i) => JSON.stringify(`${i}`.padEnd(100, '.'))).join('\n');
      writeFileSync(join(dir, 'in.jsonl'), input);
      const r = await warmpool([
        'map',
        ...flags,
        tasks,
        'echo',
        '--in',
        join(dir, 'in.jsonl'),
        '--out',
        join(dir, 'out.jsonl'),
        '--workers',
        '1',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, SUMMARY(50_000, 'none'));
      assert.equal(readFileSync(join(dir, 'out.jsonl'), 'utf8'), `${input}\n`);
    });

    test('200,000 lines (400 MB) piped in from a generator stream through in bounded memory', { timeout: 300_000 }, async () => {
      const n = 200_000;
      const width = 2000;
      // A separate generator process, so nothing in this test holds the input either.
      const generator = spawn(
        process.execPath,
        [
          '-e',
          `const s = JSON.stringify('x'.repeat(${width})) + '\\n'; let i = 0;
           const more = () => { while (i < ${n}) { i++; if (!process.stdout.write(s)) return void process.stdout.once('drain', more); } process.stdout.end(); };
           more();`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      // A 64 MB heap: a command that held the input (or let it pile up
      // anywhere) would die of it. Reading these lines into an array does.
      // The young generation is capped too: its default differs between Node
      // versions (larger on 24), and a ThreadPool has three heaps in one process.
      const child = start(['map', ...flags, tasks, 'len', '--workers', '2'], {}, [
        '--max-old-space-size=64',
        '--max-semi-space-size=8',
        `--import=${new URL('./fixtures/print-maxrss.js', import.meta.url).href}`,
      ]);
      generator.stdout.pipe(child.stdin!);
      let count = 0;
      let wrong = 0;
      let rest = '';
      child.stdout!.setEncoding('utf8').on('data', (s: string) => {
        const parts = (rest + s).split('\n');
        rest = parts.pop()!;
        for (const p of parts) {
          count++;
          if (p !== String(width)) wrong++;
        }
      });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      const [code] = (await once(child, 'close')) as [number | null];
      assert.equal(code, 0, stderr);
      assert.equal(count, n);
      assert.equal(wrong, 0);
      const maxRssKb = Number(/maxRSS (\d+) kB/.exec(stderr)?.[1]);
      assert.ok(maxRssKb > 0, stderr);
      // The input alone is 400 MB. With --threads the process holds three heaps (the command's and two threads').
      const boundMb = flags.includes('--threads') ? 300 : 250;
      assert.ok(maxRssKb < boundMb * 1024, `peak RSS ${Math.round(maxRssKb / 1024)} MB (bound ${boundMb} MB)`);
    });

    test('Ctrl-C (SIGINT) mid-run cancels running items, exits 130 and leaves no worker process', { timeout: 60_000 }, async () => {
      const mark = `WARMPOOL_CLI_TEST_MARK=${process.pid}-${Date.now()}`;
      const child = start(['map', ...flags, tasks, 'firstThenForever', '--workers', '2', '--chunksize', '1'], {
        [mark.split('=')[0]]: mark.split('=')[1],
      });
      const ran = finish(child);
      // Item 0 returns at once, items 1 and 2 spin forever (stdin stays open):
      // unless Ctrl-C cancels them, the command never ends.
      child.stdin!.write('0\n1\n2\n');
      const [first] = (await once(child.stdout!, 'data')) as [string];
      assert.equal(first, '0\n');
      const workers = liveProcessesMarked(mark).filter((pid) => pid !== child.pid);
      // The command waits for its pool to be ready before it reads: every worker has started.
      assert.equal(workers.length, backend === 'ProcessPool' ? 2 : 0);
      child.kill('SIGINT');
      const r = await ran;
      assert.equal(r.code, 130);
      assert.match(r.stderr, /interrupted after 1 item;/);
      assert.deepEqual(liveProcessesMarked(mark), []);
    });
  });
}

describe('warmpool bench', () => {
  for (const [backend, flags] of BACKENDS) {
    test(`${backend}: --json prints the figures in a fixed shape`, { timeout: 60_000 }, async (t) => {
      const dir = await tempDir(t);
      const svg = join(dir, 'chart.svg');
      const r = await warmpool(['bench', ...flags, tasks, 'fib', '--args', '[10]', '--calls', '3', '--cold', '2', '--json', '--svg', svg]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '', 'no progress lines with --json');
      const out = JSON.parse(r.stdout) as Record<string, any>;
      assert.deepEqual(Object.keys(out), [
        'module',
        'task',
        'args',
        'backend',
        'workers',
        'node',
        'cold',
        'poolStartMs',
        'warm',
        'coldOverWarm',
        'overheadColdOverWarm',
      ]);
      assert.deepEqual([out.module, out.task, out.args, out.backend, out.workers], [tasks, 'fib', [10], backend, 1]);
      assert.deepEqual(Object.keys(out.cold), ['median', 'min', 'max', 'runs', 'importMs', 'taskMs']);
      assert.equal(out.cold.runs, 2);
      assert.deepEqual(Object.keys(out.warm), ['calls', 'p50', 'p99', 'mean', 'min', 'max', 'taskP50']);
      assert.equal(out.warm.calls, 3);
      for (const v of [out.cold.median, out.cold.importMs.median, out.poolStartMs, out.warm.p50, out.coldOverWarm])
        assert.ok(typeof v === 'number' && v > 0, String(v));
      assert.ok(out.cold.min <= out.cold.median && out.cold.median <= out.cold.max);
      assert.ok(out.warm.min <= out.warm.p50 && out.warm.p50 <= out.warm.p99 && out.warm.p99 <= out.warm.max);
      const chart = readFileSync(svg, 'utf8');
      assert.match(chart, /^<svg [^>]*>[\s\S]*<\/svg>\n$/);
      assert.ok(chart.includes(`cold call (fresh ${backend === 'ProcessPool' ? 'process' : 'worker thread'})`));
      assert.ok(chart.includes(`warm ${backend}, p50`));
    });
  }

  test('the table names every figure, and progress goes to a piped stderr as plain lines', { timeout: 60_000 }, async () => {
    const r = await warmpool(['bench', tasks, 'add', '--args', '[1, 2]', '--calls', '3', '--cold', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^warmpool bench: add\(1, 2\) from .*cli-tasks\.js — ProcessPool, Node v/);
    for (const row of [
      'cold call: fresh process',
      'of which the module import',
      'pool start to first result',
      'warm call, p50',
      'warm call, p99',
      'cold / warm',
    ]) {
      assert.ok(r.stdout.includes(row), row);
    }
    assert.deepEqual(lines(r.stderr), ['cold calls (fresh process each) (1)', 'pool start (1 process) to first result', 'warm calls (3)']);
    assert.ok(!r.stderr.includes('\u001b'), 'no escape codes');
  });

  test(
    'a task name the module does not export exits 2 with the valid names, before any heading is printed',
    { timeout: 60_000 },
    async () => {
      const r = await warmpool(['bench', tasks, 'fibb', '--cold', '3']);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^warmpool bench: Expected `fibb` to be a function exported by the task module, got only: .*`fib`/);
      assert.ok(!r.stderr.includes('cold calls'), `no heading before the error: ${r.stderr}`);
    },
  );

  test(
    "the table gives the task's own run time in the worker beside the warm round trip, and the ratio without it",
    { timeout: 60_000 },
    async () => {
      const r = await warmpool(['bench', tasks, 'fib', '--args', '[22]', '--calls', '20', '--cold', '1', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as BenchResult;
      assert.ok(
        out.warm.taskP50 > 0 && out.warm.taskP50 <= out.warm.p50,
        `the task's run time is within the round trip: ${out.warm.taskP50} <= ${out.warm.p50}`,
      );
      assert.ok(Number.isFinite(out.overheadColdOverWarm) && out.overheadColdOverWarm > 0, String(out.overheadColdOverWarm));
      const table = await warmpool(['bench', tasks, 'add', '--args', '[1, 2]', '--calls', '3', '--cold', '1']);
      assert.ok(table.stdout.includes('of which the task (in the worker), p50'), table.stdout);
      assert.ok(table.stdout.includes("cold / warm, the task's own time left out"), table.stdout);
    },
  );

  test('a task that throws in the cold call exits 1 with its error', async () => {
    const r = await warmpool(['bench', tasks, 'checked', '--args', '[-1]', '--cold', '1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /warmpool bench: Error: The task failed in a cold call: RangeError: Expected a number >= 0, got -1\n$/);
  });
});

describe('progress line', () => {
  test('a known total draws a bar with count, percentage, rate and ETA within the terminal width', () => {
    const line = render('fib', 250, 1000, 2, 80);
    assert.equal(line, `fib [${'#'.repeat(8)}${'-'.repeat(22)}] 250/1,000 25% 125/s ETA 6s`);
    assert.ok(render('fib', 250, 1000, 2, 30).length <= 29);
    assert.equal(render('fib', 250, undefined, 2, 80), 'fib 250 125/s');
  });
});
