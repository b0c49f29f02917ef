// Regression tests for the bugs of the ThreadPool review (issue 3), one test
// per bug. Scenarios that, while the bug stands, throw out of an engine
// microtask (which kills the process) or leave a run in flight for ever run
// in a child process (./fixtures/thread-regress-parent.ts) that the test
// bounds and reads; the others run here. Runs are counted through the log
// file ./fixtures/regress-tasks.ts appends to; nothing sleeps to stand in
// for an event.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ThreadPool, type PoolOptions, type TaskName } from '../lib/index.js';
import type * as regress from './fixtures/regress-tasks.js';
import { lines, starts, tempDir } from './helpers.js';

type Tasks = typeof regress;
const tasksUrl = new URL('./fixtures/regress-tasks.js', import.meta.url);
const parentScript = fileURLToPath(new URL('./fixtures/thread-regress-parent.js', import.meta.url));

/** A pool shut down after the test without waiting, so a failing test cannot leave it running. */
function makePool(t: TestContext, options: PoolOptions<TaskName<Tasks>>): ThreadPool<Tasks> {
  const pool = new ThreadPool<Tasks>(tasksUrl, options);
  t.after(() => pool.shutdown({ wait: false, cancelFutures: true }));
  return pool;
}

interface Outcome {
  state: string;
  value?: unknown;
  error?: string;
  message?: string;
}
interface Report {
  futures: Record<string, Outcome>;
  stats: Record<string, unknown>;
}

/** Runs a scenario of the parent fixture in a child process, killed after `ms`; its exit code and report. */
async function scenario(name: string, ms: number, ...args: string[]): Promise<{ code: number | null; report: Report | undefined; stderr: string }> {
  const child = spawn(process.execPath, [parentScript, name, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const killer = setTimeout(() => child.kill('SIGKILL'), ms);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(killer);
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  return { code, report: line === undefined ? undefined : (JSON.parse(line) as Report), stderr: stderr.slice(-1500) };
}

/** The report of a scenario whose process exited normally (a throw out of the engine kills it). */
async function reportOf(name: string, ms: number, ...args: string[]): Promise<Report> {
  const { code, report, stderr } = await scenario(name, ms, ...args);
  assert.equal(code, 0, `the parent process died: ${stderr}`);
  assert.ok(report !== undefined, `no report: ${stderr}`);
  return report;
}

/** Rejects after `ms` naming `what`: the bound of a wait that must end by itself. */
function bound<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const fail = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p, fail]).finally(() => clearTimeout(timer));
}

test('when a thread dies in the middle of a batch, the tasks it finished keep their results, only the crashing task fails with WorkerCrashedError, no task runs twice, and the pool does not throw', { timeout: 30_000 }, async (t) => {
  const log = join(await tempDir(t), 'starts.log');
  const report = await reportOf('batch-crash', 25_000, log);
  const f = report.futures;
  assert.deepEqual(f.x1, { state: 'fulfilled', value: 'x1' }, 'x1 finished before the crash');
  assert.deepEqual(f.x2, { state: 'fulfilled', value: 'x2' }, 'x2 finished before the crash');
  assert.equal(f.crash.error, 'WorkerCrashedError', JSON.stringify(f.crash));
  assert.deepEqual(f.x4, { state: 'fulfilled', value: 'x4' });
  for (const x of ['x1', 'x2', 'crash', 'x4']) assert.equal(starts(log, x), 1, `${x} did not run exactly once:\n${lines(log).join('\n')}`);
  assert.equal(report.stats.crashed, 1);
  assert.equal(report.stats.completed, 30 + 3);
});

test('an argument that cannot be cloned in a batch fails only its own future with DataCloneError; the others of the batch run once and fulfil, and the pool does not throw', { timeout: 30_000 }, async (t) => {
  const log = join(await tempDir(t), 'starts.log');
  const report = await reportOf('batch-clone', 25_000, log);
  const f = report.futures;
  assert.equal(f.fn.error, 'DataCloneError', JSON.stringify(f.fn));
  for (const x of ['a', 'b', 'c']) {
    assert.deepEqual(f[x], { state: 'fulfilled', value: x });
    assert.equal(starts(log, x), 1, `${x} did not run exactly once:\n${lines(log).join('\n')}`);
  }
});

test('cancelling the running task of a batch that does not return within the grace stops its thread; the task that finished before it is not lost (it runs again: the bystander rule), the one behind it runs once, and the pool does not throw', { timeout: 30_000 }, async (t) => {
  const log = join(await tempDir(t), 'starts.log');
  const report = await reportOf('batch-cancel', 25_000, log);
  const f = report.futures;
  assert.deepEqual(f.a, { state: 'fulfilled', value: 'a' });
  assert.equal(f.b.state, 'cancelled');
  assert.deepEqual(f.c, { state: 'fulfilled', value: 'c' });
  // A terminated thread sends nothing more: what it had finished in the batch runs again (docs/guide.md, ThreadPool).
  assert.ok(starts(log, 'a') >= 1 && starts(log, 'a') <= 2, `a ran ${starts(log, 'a')} times:\n${lines(log).join('\n')}`);
  for (const x of ['b', 'c']) assert.equal(starts(log, x), 1, `${x} did not run exactly once:\n${lines(log).join('\n')}`);
  assert.equal(report.stats.cancelled, 1);
});

test('with maxTasksPerWorker, every task of a queue deeper than the threads runs and fulfils: none is given to a retiring thread and failed for it, and the pool does not throw', { timeout: 30_000 }, async () => {
  const report = await reportOf('recycle', 25_000);
  const bad = Object.entries(report.futures).filter(([, o]) => o.state !== 'fulfilled');
  assert.deepEqual(bad, [], 'tasks that did not fulfil');
  assert.equal(report.stats.completed, 40);
  assert.equal(report.stats.crashed, 0);
});

test('startTimeout also bounds a thread started by a task submitted after startTimeout ms (minWorkers 0): its future fails with WorkerStartError', { timeout: 30_000 }, async () => {
  const report = await reportOf('late-start-timeout', 25_000);
  assert.equal(report.futures.never.error, 'WorkerStartError', JSON.stringify(report.futures.never));
});

test('startTimeout bounds every new thread, not only the first of the pool: a task waiting for a replacement thread whose initializer hangs fails with WorkerStartError (as in a ProcessPool)', { timeout: 30_000 }, async (t) => {
  const lock = join(await tempDir(t), 'lock');
  const report = await reportOf('replacement-start-timeout', 25_000, lock);
  assert.deepEqual(report.futures.first, { state: 'fulfilled', value: 'first' });
  assert.equal(report.futures.second.error, 'WorkerStartError', JSON.stringify(report.futures.second));
});

test('ready() called before shutdown() settles (as a ProcessPool’s does) rather than staying pending for ever', { timeout: 15_000 }, async (t) => {
  const pool = makePool(t, { workers: 1 });
  const ready = pool.ready();
  await pool.shutdown();
  await bound(ready.then(() => 'settled', () => 'settled'), 5_000, 'ready()');
});

test('a thread whose initializer fails while another thread is ready does not fail the queue: the ready thread works through it (as in a ProcessPool)', { timeout: 30_000 }, async (t) => {
  // Only the first thread's initializer can take the lock; every later one fails.
  const dir = await tempDir(t);
  const [lock, count] = [join(dir, 'lock'), join(dir, 'inits')];
  const pool = makePool(t, { workers: 2, minWorkers: 1, initializer: 'lockInit', initArgs: [lock, count] });
  await pool.ready();
  assert.equal(lines(count).length, 1);
  // Tasks of 100 ms: the queue wants a second thread, whose start fails.
  const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => pool.submit('spin', [100])));
  assert.ok(lines(count).length >= 2, 'the pool never tried to start a second thread, so the test proves nothing');
  const failed = outcomes.filter((o) => o.status === 'rejected').map((o) => String((o).reason));
  assert.deepEqual(failed, [], 'tasks failed although a ready thread could run them');
});
