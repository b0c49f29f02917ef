// ProcessPool's fault and lifecycle guarantees, with real processes, real
// kills and real timeouts: crash isolation, start failures without a spawn
// loop, memory limits, worker recycling, idle timeout, env/cwd/execArgv, no
// orphans when the parent dies, exit without shutdown, a stdout flood.
//
// Waiting: on events (a future settling, ready(), a file appearing, a child
// exiting, the pool's warmpool:worker messages). A worker leaving after a
// start failure or an idle timeout is its `exit` message, awaited `within` a
// bound whose timer also holds the event loop (nothing else does: a pool lets
// an idle script exit). One thing has no event: an unrelated process (a dead
// parent's former worker) dying, which is polled at a short interval, bounded
// by a deadline (`until`).
//
// Zombies: this machine's PID 1 does not reap orphans, so a worker whose
// parent was killed stays a zombie after it exits, and `process.kill(pid, 0)`
// keeps succeeding on it. `isAlive` counts a zombie as dead: it has exited
// and runs nothing; it only waits for its new parent to collect its status.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ProcessPool, WorkerCrashedError, WorkerStartError, type AnyTasks } from '../lib/index.js';
import type * as faults from './fixtures/faults-tasks.js';
import type * as initFixture from './fixtures/faults-init.js';
import { announced, expectWarm, isAlive, reasonOf, tempDir, until, within, workerEvents } from './helpers.js';

type Faults = typeof faults;

/**
 * ProcessPool whose disposal keeps the event loop alive until shutdown()
 * resolves. A lib bug (shown on its own by the "shutdown() of a pool ..."
 * tests below): a worker stopped while starting does not hold the event loop
 * while shutdown() waits for its exit, so an in-process test disposing of
 * such a pool would end in "Promise resolution is still pending but the event
 * loop has already resolved" and hide its own result. The interval is not a
 * wait: it only keeps the loop running while shutdown() waits for the exit event.
 */
class TestPool<M extends object> extends ProcessPool<M> {
  override async [Symbol.asyncDispose](): Promise<void> {
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      await this.shutdown();
    } finally {
      clearInterval(keepAlive);
    }
  }
}

const fixture = (file: string) => new URL(`./fixtures/${file}`, import.meta.url);
const faultsUrl = fixture('faults-tasks.js');

// ── helpers ─────────────────────────────────────────────────────────────

/** Whether `pid` is a live warmpool worker process (so cleanup never kills a reused pid). */
function isLiveWorker(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('entry.js');
  } catch {
    return false;
  }
}

/** Cleanup after a failed no-orphans check: a worker left running must not outlive the test. */
function killLeftovers(pids: readonly number[]): void {
  for (const pid of pids) if (isLiveWorker(pid)) process.kill(pid, 'SIGKILL');
}

/** Spawns a parent fixture script with its own node, stdout and stderr piped. */
function spawnParent(script: string, args: readonly string[] = [], nodeArgs: readonly string[] = []): ChildProcess {
  return spawn(process.execPath, [...nodeArgs, fileURLToPath(fixture(script)), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function stopChild(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Collects a child's stderr, to show in failure messages. */
function collectStderr(child: ChildProcess): () => string {
  const chunks: Buffer[] = [];
  child.stderr!.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks).toString('utf8');
}

/** The first line the child prints; rejects if it exits first. */
function firstLine(child: ChildProcess, stderr: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      child.off('exit', onExit);
      resolve(line);
    });
    const onExit = (code: number | null, signal: string | null) =>
      reject(new Error(`parent script exited (code ${code}, signal ${signal}) before printing; stderr:\n${stderr()}`));
    child.once('exit', onExit);
  });
}

interface ParentRun {
  code: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a parent fixture script to its exit; kills it and fails if it has not exited within `timeoutMs`. */
async function runParent(script: string, args: readonly string[], timeoutMs: number, nodeArgs: readonly string[] = []): Promise<ParentRun> {
  const child = spawnParent(script, args, nodeArgs);
  const stderr = collectStderr(child);
  const out: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  const closed = once(child, 'close');
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  try {
    const [code, signal] = await exited;
    if (timedOut) assert.fail(`${script} ${args.join(' ')} did not exit by itself within ${timeoutMs} ms; stderr:\n${stderr()}`);
    // Its stdout and stderr close when every process holding them is gone:
    // its workers too, which inherit them.
    await within(closed, 5_000, `the workers of ${script} to exit after it (they hold its stdout open)`);
    return { code, signal, stdout: Buffer.concat(out), stderr: stderr() };
  } finally {
    clearTimeout(timer);
    stopChild(child);
  }
}

// ── crash isolation ─────────────────────────────────────────────────────

const crashes: {
  title: string;
  submit: (pool: ProcessPool<Faults>) => PromiseLike<unknown>;
  check: (err: WorkerCrashedError) => void;
}[] = [
  {
    title: 'a task that calls process.exit(3) fails with WorkerCrashedError carrying exit code 3, while a task on another worker succeeds',
    submit: (pool) => pool.submit('crash', [3]),
    check: (err) => {
      assert.equal(err.exitCode, 3);
      assert.equal(err.signal, null);
      assert.match(err.message, /exit code 3\b/);
    },
  },
  {
    title:
      'an exception thrown in a timer callback inside a task crashes the worker and fails that task with WorkerCrashedError whose cause is the thrown error',
    submit: (pool) => pool.submit('throwInTimer', ['thrown from a timer']),
    check: (err) => {
      assert.ok(err.cause instanceof RangeError, `cause: ${String(err.cause)}`);
      assert.equal(err.cause.message, 'thrown from a timer');
      assert.match(err.message, /RangeError: thrown from a timer/);
    },
  },
  {
    title:
      'an unhandled rejection inside a task crashes the worker and fails that task with WorkerCrashedError whose cause is the rejection reason',
    submit: (pool) => pool.submit('rejectUnhandled', ['rejected, unhandled']),
    check: (err) => {
      assert.ok(err.cause instanceof SyntaxError, `cause: ${String(err.cause)}`);
      assert.equal(err.cause.message, 'rejected, unhandled');
      assert.match(err.message, /SyntaxError: rejected, unhandled/);
    },
  },
];

for (const { title, submit, check } of crashes) {
  test(title, { timeout: 30_000 }, async (t) => {
    const dir = await tempDir(t);
    await using pool = new TestPool<Faults>(faultsUrl, { workers: 2 });
    await pool.ready();
    // Submitted together to two idle workers: one each.
    const go = join(dir, 'go');
    const other = pool.submit('waitForFile', [go]);
    const err = await reasonOf(submit(pool));
    assert.ok(err instanceof WorkerCrashedError, `got ${String(err)}`);
    assert.equal(err.code, 'ERR_WARMPOOL_WORKER_CRASHED');
    check(err);
    // The other worker's task went on running through the crash and finishes.
    assert.equal(other.state, 'running');
    await writeFile(go, '');
    assert.equal(typeof (await other), 'number');
    await expectWarm(pool, 2);
    assert.equal(await pool.submit('add', [2, 3]), 5);
    const s = pool.stats();
    assert.equal(s.crashed, 1);
    assert.equal(s.failed, 0);
  });
}

test(
  'a worker killed from outside with SIGKILL mid-task fails only that task, with WorkerCrashedError (signal SIGKILL)',
  { timeout: 30_000 },
  async (t) => {
    const dir = await tempDir(t);
    const goDir = await tempDir(t);
    await using pool = new TestPool<Faults>(faultsUrl, { workers: 2 });
    await pool.ready();
    const running = pool.submit('announceAndHang', [dir]);
    const other = pool.submit('waitForFile', [join(goDir, 'go')]);
    const [victim] = await announced(dir, 1);
    process.kill(victim, 'SIGKILL');
    const err = await reasonOf(running);
    assert.ok(err instanceof WorkerCrashedError, `got ${String(err)}`);
    assert.equal(err.signal, 'SIGKILL');
    assert.equal(err.exitCode, null);
    assert.match(err.message, /SIGKILL/);
    assert.equal(other.state, 'running');
    await writeFile(join(goDir, 'go'), '');
    assert.notEqual(await other, victim);
    await expectWarm(pool, 2);
    const pids = await Promise.all([pool.submit('pid'), pool.submit('pid')]);
    assert.ok(!pids.includes(victim), 'the killed worker was replaced');
    assert.equal(pool.stats().crashed, 1);
  },
);

test(
  'tasks sent ahead to a worker behind a task that crashes it are not lost: they run on its replacement (process.exit(0) mid-task is a crash too)',
  { timeout: 30_000 },
  async () => {
    await using pool = new TestPool<Faults>(faultsUrl, { workers: 1 });
    // Short tasks first, so the pool learns they are short and sends several per message.
    const before = new Set(await Promise.all(Array.from({ length: 20 }, () => pool.submit('pid'))));
    assert.equal(before.size, 1);
    const crashing = pool.submit('crash', [0]);
    const behind = Array.from({ length: 5 }, () => pool.submit('pid'));
    const err = await reasonOf(crashing);
    assert.ok(err instanceof WorkerCrashedError, `got ${String(err)}`);
    assert.equal(err.exitCode, 0);
    const pids = await Promise.all(behind);
    assert.equal(new Set(pids).size, 1);
    assert.ok(!before.has(pids[0]), 'they ran on the replacement');
    const s = pool.stats();
    assert.equal(s.crashed, 1);
    assert.equal(s.completed, 25);
  },
);

// Regression: a worker whose fd 3 a task had closed stayed in the pool as
// idle and was sent the next task, which then waited forever.
test(
  'a task that closes its worker’s task input (fd 3) leaves no worker that never answers: the next task settles and the pool serves on a replacement',
  { timeout: 30_000 },
  async () => {
    using events = workerEvents('closed-input');
    await using pool = new TestPool<Faults>(faultsUrl, { workers: 1, name: 'closed-input' });
    const victim = await pool.submit('pid');
    const outcome = (future: PromiseLike<unknown> & { result(ms: number): Promise<unknown> }) =>
      future.result(10_000).then(
        (value) => value,
        (err: unknown) => err,
      );
    // The pool stops the worker as soon as it sees fd 3 closed: before or after
    // the task's result has left, so the task itself may fail.
    const closing = await outcome(pool.submit('closeChannel', ['in']));
    assert.ok(closing === victim || closing instanceof WorkerCrashedError, `the closing task: ${String(closing)}`);
    // Sent to the broken worker or to its replacement: it settles either way
    // (WorkerCrashedError when it reached the broken worker: at most once, as below).
    const next = await outcome(pool.submit('add', [1, 2]));
    assert.ok(next === 3 || next instanceof WorkerCrashedError, `the next task: ${String(next)}`);
    await within(
      events.seen((m) => m.event === 'exit' && m.worker === victim),
      5_000,
      `the exit of worker ${victim}, whose input was closed`,
    );
    assert.equal(isAlive(victim), false, 'its exit message comes once the process has exited');
    await expectWarm(pool, 1);
    assert.equal(await pool.submit('add', [2, 3]), 5);
  },
);

// At most once: the pool cannot tell a worker that died before reading a task
// from one that died running it (telling would cost a message per task), so a
// task handed to a worker that dies fails with WorkerCrashedError and is never
// run a second time. docs/guide.md says so.
test('a task whose worker dies under it fails with WorkerCrashedError and is never run again', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'runs');
  await using pool = new TestPool<Faults>(faultsUrl, { workers: 1 });
  const err = await reasonOf(pool.submit('countAndCrash', [file]));
  assert.ok(err instanceof WorkerCrashedError, `got ${String(err)}`);
  assert.equal(err.exitCode, 7);
  // The replacement serves a task, so any retry would have happened by now.
  assert.equal(await pool.submit('add', [1, 2]), 3);
  assert.equal(countLines(file), 1);
  assert.equal(pool.stats().crashed, 1);
});

// ── start failures ──────────────────────────────────────────────────────

function countLines(file: string): number {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
}

test(
  'a module that throws at import makes ready() reject with WorkerStartError whose cause is the import error',
  { timeout: 30_000 },
  async (t) => {
    const dir = await tempDir(t);
    await using pool = new TestPool<AnyTasks>(fixture('faults-import-throws.js'), {
      workers: 1,
      env: { ...process.env, WARMPOOL_FAULTS_COUNT: join(dir, 'count') },
    });
    const err = await reasonOf(pool.ready());
    assert.ok(err instanceof WorkerStartError, `got ${String(err)}`);
    assert.equal(err.code, 'ERR_WARMPOOL_WORKER_START');
    assert.ok(err.cause instanceof RangeError, `cause: ${String(err.cause)}`);
    assert.equal(err.cause.message, 'faults-import-throws: failing at import on purpose');
    assert.match(err.message, /failing at import on purpose/);
  },
);

test(
  'a module that throws at import fails the waiting futures with WorkerStartError and spawns no more workers until a new submit',
  { timeout: 30_000 },
  async (t) => {
    const dir = await tempDir(t);
    const count = join(dir, 'count');
    using events = workerEvents('import-throws');
    await using pool = new TestPool<AnyTasks>(fixture('faults-import-throws.js'), {
      name: 'import-throws',
      workers: 2,
      env: { ...process.env, WARMPOOL_FAULTS_COUNT: count },
    });
    // Submitted while both minWorkers workers are still starting.
    const futures = [pool.submit('never'), pool.submit('never'), pool.submit('never')];
    for (const f of futures) {
      const err = await reasonOf(f);
      assert.ok(err instanceof WorkerStartError, `got ${String(err)}`);
      assert.ok(err.cause instanceof RangeError);
    }
    // Every worker started has gone: as many exits as starts.
    await within(events.next('exit', events.count('start')), 10_000, 'the failed workers to exit');
    assert.equal(pool.stats().workers, 0);
    assert.equal(countLines(count), 2, 'one import per minWorkers worker');
    // A yardstick of time in which a spawn loop would have started workers:
    // another pool starting a worker and running a task.
    {
      await using yardstick = new TestPool<Faults>(faultsUrl, { workers: 1 });
      assert.equal(await yardstick.submit('add', [1, 1]), 2);
    }
    assert.equal(pool.stats().workers, 0, 'no worker is starting');
    assert.equal(countLines(count), 2, 'no import since the failures');
    // ready() after the failure reports it again without spawning.
    assert.ok((await reasonOf(pool.ready())) instanceof WorkerStartError);
    // A new submit is a new reason to try: one more attempt (a worker, or a
    // round of minWorkers workers), then no more.
    assert.ok((await reasonOf(pool.submit('never'))) instanceof WorkerStartError);
    await within(events.next('exit', events.count('start')), 10_000, 'the failed workers to exit');
    assert.equal(pool.stats().workers, 0);
    assert.ok(
      events.messages.filter((m) => m.event === 'exit').every((m) => m.reason === 'startFailed'),
      JSON.stringify(events.messages),
    );
    const retried = countLines(count) - 2;
    assert.ok(retried >= 1 && retried <= 2, `${retried} imports after one new submit`);
    const s = pool.stats();
    assert.equal(s.crashed, 4);
    assert.equal(s.queued, 0);
  },
);

test(
  'an initializer that throws makes ready() and the waiting futures reject with WorkerStartError whose cause is its error; each new submit tries once more',
  { timeout: 30_000 },
  async (t) => {
    const dir = await tempDir(t);
    const count = join(dir, 'count');
    await using pool = new TestPool<typeof initFixture>(fixture('faults-init.js'), {
      workers: 1,
      initializer: 'failingInit',
      initArgs: ['bad config'],
      env: { ...process.env, WARMPOOL_FAULTS_COUNT: count },
    });
    const err = await reasonOf(pool.ready());
    assert.ok(err instanceof WorkerStartError, `got ${String(err)}`);
    assert.ok(err.cause instanceof URIError, `cause: ${String(err.cause)}`);
    assert.equal(err.cause.message, 'initializer failed: bad config');
    assert.equal(countLines(count), 1);
    const taskErr = await reasonOf(pool.submit('ping'));
    assert.ok(taskErr instanceof WorkerStartError, `got ${String(taskErr)}`);
    assert.ok(taskErr.cause instanceof URIError);
    assert.equal(countLines(count), 2, 'the submit made exactly one more attempt');
  },
);

test(
  'after an initializer failure a later submit starts a new worker, and succeeds when the initializer does',
  { timeout: 30_000 },
  async (t) => {
    const dir = await tempDir(t);
    await using pool = new TestPool<typeof initFixture>(fixture('faults-init.js'), {
      workers: 1,
      initializer: 'flakyInit',
      env: { ...process.env, WARMPOOL_FAULTS_COUNT: join(dir, 'count') },
    });
    const err = await reasonOf(pool.ready());
    assert.ok(err instanceof WorkerStartError, `got ${String(err)}`);
    assert.ok(err.cause instanceof EvalError, `cause: ${String(err.cause)}`);
    assert.equal(await pool.submit('ping'), 'pong');
    await pool.ready();
    assert.equal(countLines(join(dir, 'count')), 2);
  },
);

test(
  'a module that hangs at import fails ready() and the waiting futures with a WorkerStartError naming startTimeout',
  { timeout: 30_000 },
  async () => {
    await using pool = new TestPool<AnyTasks>(fixture('faults-import-hangs.js'), { workers: 1, startTimeout: 300 });
    const future = pool.submit('never');
    const started = performance.now();
    const err = await reasonOf(pool.ready());
    assert.ok(err instanceof WorkerStartError, `got ${String(err)}`);
    assert.match(err.message, /startTimeout/);
    assert.ok(performance.now() - started >= 250, 'not before startTimeout');
    const taskErr = await reasonOf(future);
    assert.ok(taskErr instanceof WorkerStartError, `got ${String(taskErr)}`);
    assert.match(taskErr.message, /startTimeout/);
  },
);

const shutdownCases = [
  { mode: 'import', label: 'after its module threw at import', out: 'ready rejected: WorkerStartError\nshutdown resolved\n' },
  { mode: 'hang', label: 'after its module hung past startTimeout', out: 'ready rejected: WorkerStartError\nshutdown resolved\n' },
  { mode: 'fresh', label: 'while its worker is still starting', out: 'shutdown resolved\n' },
] as const;

for (const { mode, label, out } of shutdownCases) {
  test(`shutdown() of a pool ${label} resolves, holding the event loop until its worker has exited`, { timeout: 30_000 }, async () => {
    // In a script of its own: if the pending shutdown does not hold the event
    // loop, the script ends with its top-level await unsettled (exit code 13).
    const run = await runParent('faults-parent-shutdown.js', [mode], 10_000);
    assert.equal(run.stdout.toString('utf8'), out, `exit code ${run.code}; stderr:\n${run.stderr}`);
    assert.equal(run.code, 0, run.stderr);
  });
}

// ── resource limits and recycling ───────────────────────────────────────

test(
  'a task that allocates without bound under maxMemoryMb: 64 fails with WorkerCrashedError and the pool serves the next task',
  { timeout: 60_000 },
  async () => {
    // In a script of its own, so V8's out-of-memory report lands in a pipe, not in the test output.
    const run = await runParent('faults-parent-memory.js', [], 30_000);
    assert.equal(run.code, 0, run.stderr);
    const seen = JSON.parse(run.stdout.toString('utf8')) as { error: string; crashed: boolean; next: number; stats: number };
    assert.equal(seen.error, 'WorkerCrashedError');
    assert.ok(seen.crashed, 'instanceof WorkerCrashedError');
    assert.equal(seen.next, 42);
    assert.equal(seen.stats, 1);
    assert.match(run.stderr, /heap/i, 'the worker died of its heap limit');
  },
);

test(
  'with maxTasksPerWorker: 2 and workers: 1, the worker pid changes every 2 tasks and every task succeeds (one at a time)',
  { timeout: 30_000 },
  async () => {
    await using pool = new TestPool<Faults>(faultsUrl, { workers: 1, maxTasksPerWorker: 2 });
    const pids: number[] = [];
    for (let i = 0; i < 6; i++) pids.push(await pool.submit('pid'));
    assertPairs(pids);
  },
);

test(
  'with maxTasksPerWorker: 2 and workers: 1, the worker pid changes every 2 tasks and every task succeeds (all submitted at once)',
  { timeout: 30_000 },
  async () => {
    await using pool = new TestPool<Faults>(faultsUrl, { workers: 1, maxTasksPerWorker: 2 });
    await pool.ready();
    const pids = await Promise.all(Array.from({ length: 6 }, () => pool.submit('pid')));
    assertPairs(pids);
    assert.equal(pool.stats().completed, 6);
  },
);

function assertPairs(pids: readonly number[]): void {
  const expected = [pids[0], pids[0], pids[2], pids[2], pids[4], pids[4]];
  assert.deepEqual(pids, expected, `pids ${pids.join(', ')}`);
  assert.equal(new Set(pids).size, 3, `pids ${pids.join(', ')}`);
}

test('a worker above minWorkers exits after idleTimeout ms idle, down to minWorkers', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  using events = workerEvents('idle');
  await using pool = new TestPool<Faults>(faultsUrl, { workers: 2, minWorkers: 1, idleTimeout: 200, name: 'idle' });
  // Two tasks that can only both finish when running at once: the pool grows to 2.
  const go = join(dir, 'go');
  const both = Promise.all([pool.submit('announceAndWaitForFile', [dir, go]), pool.submit('announceAndWaitForFile', [dir, go])]);
  await announced(dir, 2);
  await writeFile(go, '');
  const pids = await both;
  assert.notEqual(pids[0], pids[1]);
  assert.equal(pool.stats().workers, 2);
  // The idle timer is unref'd (a script that forgets shutdown still exits): `within`'s timer holds the loop.
  const exit = await within(
    events.seen((m) => m.event === 'exit'),
    5_000,
    'the idle worker above minWorkers to exit',
  );
  assert.equal(exit.reason, 'idle');
  assert.equal(pool.stats().workers, 1);
  assert.equal(pool.stats().idle, 1);
  assert.equal(await pool.submit('add', [1, 2]), 3);
});

// ── env, cwd, execArgv ──────────────────────────────────────────────────

test('a worker sees the env and cwd it was given (env replaces the parent environment)', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  assert.ok(process.env.PATH !== undefined, 'the test needs PATH set in the parent');
  {
    await using pool = new TestPool<Faults>(faultsUrl, { workers: 1, env: { WARMPOOL_FAULTS_VAR: 'from env' }, cwd: dir });
    assert.equal(await pool.submit('envVar', ['WARMPOOL_FAULTS_VAR']), 'from env');
    assert.equal(await pool.submit('envVar', ['PATH']), undefined);
    assert.equal(realpathSync(await pool.submit('cwd')), dir);
  }
  {
    await using pool = new TestPool<Faults>(faultsUrl, { workers: 1, cwd: pathToFileURL(dir) });
    assert.equal(realpathSync(await pool.submit('cwd')), dir);
    assert.equal(await pool.submit('envVar', ['PATH']), process.env.PATH, 'env defaults to the parent environment');
  }
});

test(
  "by default workers get the parent's loader flags (node --import reaches the worker); a given execArgv replaces them",
  { timeout: 30_000 },
  async () => {
    const preload = fixture('faults-preload.js').href;
    const run = await runParent('faults-parent-execargv.js', [], 20_000, ['--import', preload]);
    assert.equal(run.code, 0, run.stderr);
    const seen = JSON.parse(run.stdout.toString('utf8')) as Record<
      'parent' | 'inherited' | 'given',
      { preloaded: boolean; execArgv: string[] }
    >;
    assert.deepEqual(seen.parent, { preloaded: true, execArgv: ['--import', preload] });
    assert.deepEqual(seen.inherited, { preloaded: true, execArgv: ['--import', preload] });
    assert.deepEqual(seen.given, { preloaded: false, execArgv: ['--no-warnings'] });
  },
);

// ── no orphans ──────────────────────────────────────────────────────────

const orphanCases = [
  { mode: 'idle', label: 'idle' },
  { mode: 'hang', label: 'busy in an async task that never settles' },
  { mode: 'spin', label: 'busy in a synchronous infinite loop' },
] as const;

for (const { mode, label } of orphanCases) {
  test(`a parent killed by SIGKILL leaves no worker process alive within 5 s (workers ${label})`, { timeout: 30_000 }, async (t) => {
    const dir = await tempDir(t);
    const child = spawnParent('faults-parent-orphans.js', [mode, dir]);
    const stderr = collectStderr(child);
    let pids: number[] = [];
    try {
      pids = JSON.parse(await firstLine(child, stderr)) as number[];
      assert.equal(pids.length, 2);
      assert.equal(new Set(pids).size, 2, 'two distinct workers');
      for (const pid of pids) assert.ok(isAlive(pid), `worker ${pid} alive before the kill`);
      if (mode !== 'idle') assert.deepEqual((await announced(dir, 2)).sort(), [...pids].sort(), 'both workers busy');
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      // Not our children: no event tells of their death, so poll (see the header).
      await until(() => pids.every((pid) => !isAlive(pid)), 5_000, `workers ${pids.join(', ')} to exit`);
    } finally {
      stopChild(child);
      killLeftovers(pids);
    }
  });
}

test('after shutdown() resolves, every worker process is gone', { timeout: 30_000 }, async () => {
  const pool = new ProcessPool<Faults>(faultsUrl, { workers: 2 });
  let pids: number[] = [];
  try {
    await pool.ready();
    pids = await Promise.all([pool.submit('pid'), pool.submit('pid')]);
    assert.equal(new Set(pids).size, 2);
  } finally {
    await pool.shutdown();
  }
  try {
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker ${pid} still exists`);
  } finally {
    killLeftovers(pids);
  }
});

// ── exit without shutdown ───────────────────────────────────────────────

test(
  'a script that runs tasks and never calls shutdown exits by itself with code 0, and its workers exit too',
  { timeout: 30_000 },
  async () => {
    const run = await runParent('faults-parent-noshutdown.js', ['task'], 10_000);
    assert.equal(run.code, 0, run.stderr);
    const { result, pids } = JSON.parse(run.stdout.toString('utf8')) as { result: number; pids: number[] };
    assert.equal(result, 5);
    try {
      // The workers are not our children: poll (see the header).
      await until(() => pids.every((pid) => !isAlive(pid)), 5_000, `workers ${pids.join(', ')} to exit`);
    } finally {
      killLeftovers(pids);
    }
  },
);

test('a script that makes a pool, awaits ready() and never calls shutdown exits by itself with code 0', { timeout: 30_000 }, async () => {
  const run = await runParent('faults-parent-noshutdown.js', ['ready'], 10_000);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.toString('utf8'), 'ready\n');
});

test('a script that makes a pool and does nothing else exits by itself with code 0', { timeout: 30_000 }, async () => {
  const run = await runParent('faults-parent-noshutdown.js', ['nothing'], 10_000);
  assert.equal(run.code, 0, run.stderr);
});

// ── output ──────────────────────────────────────────────────────────────

const FLOOD_BYTES = 5 * 1024 * 1024;

/** Runs the flood script: a worker writes FLOOD_BYTES to stdout (a pipe), returns, and the pool shuts down. */
async function runFlood(): Promise<{ stdout: Buffer; written: number; resultLine: string }> {
  const run = await runParent('faults-parent-flood.js', [String(FLOOD_BYTES)], 30_000);
  assert.equal(run.code, 0, run.stderr);
  // The script prints the result while the worker's output may still be on
  // its way through the same pipe: look for it anywhere.
  const match = /RESULT (\d+)\n/.exec(run.stdout.toString('latin1'));
  assert.ok(match, `no RESULT line in ${run.stdout.length} bytes of output`);
  return { stdout: run.stdout, written: Number(match[1]), resultLine: match[0] };
}

test('a task that writes 5 MB to stdout still returns its result', { timeout: 60_000 }, async () => {
  const { written } = await runFlood();
  assert.ok(written >= FLOOD_BYTES, `the task wrote ${written} bytes`);
});

test('all the output a task wrote to stdout arrives, even when the pool shuts down right after the task', { timeout: 60_000 }, async () => {
  const { stdout, written, resultLine } = await runFlood();
  assert.equal(stdout.length - resultLine.length, written, 'bytes of task output that reached stdout');
});
