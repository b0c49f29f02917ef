// What ProcessPool does beyond the shared contract (./contract.ts): sending
// short tasks ahead to a busy worker in one message (and never holding a
// result back for it), a map chunk or a measured call sent ahead behind a
// running one (then cancelled, its worker killed, or timed; a call of higher
// priority queued after it), losing a worker in the middle of
// such a batch, worker
// starts that fail while another worker serves the queue, and which of the
// parent's Node flags a worker inherits. Process faults have their own file
// (./process-faults.test.ts). Runs are counted through log files the fixtures
// append to (./fixtures/regress-tasks.ts); nothing sleeps to stand in for an
// event.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  CancelledError,
  DataCloneError,
  ProcessPool,
  WorkerCrashedError,
  type Future,
  type PoolOptions,
  type TaskName,
} from '../lib/index.js';
import { inheritedExecArgv } from '../lib/process/adapter.js';
import type * as regress from './fixtures/regress-tasks.js';
import { lines, logged, reasonOf, starts, tempDir, within } from './helpers.js';
import { writeFileSync } from 'node:fs';

type Tasks = typeof regress;

const tasksUrl = new URL('./fixtures/regress-tasks.js', import.meta.url);

/**
 * A pool the test shuts down itself; should the test fail first, it is shut
 * down after it without waiting, so a failing test cannot leave it running.
 */
function makePool(t: TestContext, options: PoolOptions<TaskName<Tasks>>): ProcessPool<Tasks> {
  const pool = new ProcessPool<Tasks>(tasksUrl, options);
  t.after(() => pool.shutdown({ wait: false, cancelFutures: true }));
  return pool;
}

/**
 * Waits for every future to settle, for at most `ms` each (Future.result's
 * own bound, which cancels nothing); fails naming the states if one hangs.
 */
async function allSettle(futures: Record<string, Future<unknown>>, ms: number): Promise<void> {
  await Promise.allSettled(Object.values(futures).map((f) => f.result(ms)));
  const states = Object.fromEntries(Object.entries(futures).map(([k, f]) => [k, f.state]));
  assert.ok(
    Object.values(futures).every((f) => f.done()),
    `futures still unsettled after ${ms} ms: ${JSON.stringify(states)}`,
  );
}

/** Runs `run` (one near-zero task) 30 times, so the pool measures that task name as near-zero work and sends it ahead behind another task. */
async function warmUp(pool: ProcessPool<Tasks>, run: () => Promise<unknown>): Promise<void> {
  await pool.ready();
  for (let i = 0; i < 30; i++) await run();
}

test(
  'a short task’s result is never held back behind a long task sent ahead after it to the same worker, so its timeout does not fire and the long task runs once',
  { timeout: 20_000 },
  async (t) => {
    const log = join(await tempDir(t), 'starts.log');
    const pool = makePool(t, { workers: 1 });
    await warmUp(pool, () => pool.submit('logspin', [0, 'warm']));

    // Submitted together: the pool sends both to its one worker in one message.
    const short = pool.submit('logspin', [0, 'A', log], { timeout: 300 });
    const long = pool.submit('logspin', [1000, 'B', log]);
    await Promise.allSettled([short, long]);

    assert.equal(short.exception(), undefined, `the short task failed: ${String(short.exception())}`);
    assert.equal(short.state, 'fulfilled');
    assert.equal(await short, 'A');
    assert.equal(await long, 'B');
    assert.equal(starts(log, 'A'), 1, lines(log).join('\n'));
    assert.equal(starts(log, 'B'), 1, `the long task ran more than once:\n${lines(log).join('\n')}`);
    await pool.shutdown();
  },
);

test(
  'when a worker dies in the middle of a batch, the tasks it finished keep their results, only the crashing task fails with WorkerCrashedError, and no task runs twice',
  { timeout: 20_000 },
  async (t) => {
    const log = join(await tempDir(t), 'starts.log');
    const pool = makePool(t, { workers: 1 });
    await warmUp(pool, () => pool.submit('step', [0]));

    const names = ['x1', 'x2', 'crash', 'x4'];
    const futures = names.map((x) => pool.submit('step', [x, log]));
    await Promise.allSettled(futures);

    const [x1, x2, crash, x4] = futures;
    assert.equal(x1.exception(), undefined, `x1 (finished before the crash) failed: ${String(x1.exception())}`);
    assert.equal(await x1, 'x1');
    assert.equal(x2.exception(), undefined, `x2 (finished before the crash) failed: ${String(x2.exception())}`);
    assert.equal(await x2, 'x2');
    assert.ok(crash.exception() instanceof WorkerCrashedError, `crash: ${String(crash.exception())}`);
    assert.equal((crash.exception() as WorkerCrashedError).exitCode, 7);
    assert.equal(await x4, 'x4');
    for (const x of names) assert.equal(starts(log, x), 1, `${x} did not run exactly once:\n${lines(log).join('\n')}`);
    assert.equal(pool.stats().crashed, 1);
    await pool.shutdown();
  },
);

// Results coming back together (docs/design.md, "Batching"): the worker holds
// results of tasks measured short and sends them before anything that could
// make them wait.

test(
  'results held for a batch go back before an async task of the same batch starts waiting: the short tasks’ futures settle while it waits',
  { timeout: 20_000 },
  async (t) => {
    const dir = await tempDir(t);
    const pool = makePool(t, { workers: 1 });
    await warmUp(pool, () => pool.submit('echo', [0]));
    // Measured near zero: the file exists, so it returns at once.
    await warmUp(pool, () => pool.submit('whenFile', [dir, 'warm']));

    // Submitted together: one message to the one worker, the waiting task last.
    const short = [1, 2, 3].map((x) => pool.submit('echo', [x]));
    const release = join(dir, 'release');
    const waits = pool.submit('whenFile', [release, 'released']);
    assert.deepEqual(await within(Promise.all(short), 10_000, 'the short tasks’ results while the task behind them waits'), [1, 2, 3]);
    assert.equal(waits.state, 'running', 'the waiting task is still running: nothing released it');
    writeFileSync(release, '');
    assert.equal(await within(waits, 10_000, 'the released task'), 'released');
    await pool.shutdown();
  },
);

test(
  'a task with a timeout submitted behind short tasks whose results the worker holds times out by its own start; the short tasks are fulfilled and the pool goes on',
  { timeout: 20_000 },
  async (t) => {
    const log = join(await tempDir(t), 'starts.log');
    const pool = makePool(t, { workers: 1 });
    await warmUp(pool, () => pool.submit('echo', [0]));
    await warmUp(pool, () => pool.submit('stepOrBlock', ['warm', log, false]));

    const short = [1, 2, 3].map((x) => pool.submit('echo', [x]));
    const stuck = pool.submit('stepOrBlock', ['stuck', log, true], { timeout: 200 });
    const after = pool.submit('echo', ['after']);
    assert.deepEqual(await Promise.all(short), [1, 2, 3]);
    const error = await stuck.then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.equal((error as Error | undefined)?.name, 'TimeoutError', String(error));
    assert.equal(await after, 'after');
    assert.equal(starts(log, 'stuck'), 1);
    assert.equal(pool.stats().timedOut, 1);
    await pool.shutdown();
  },
);

test(
  'a worker killed by a signal while it holds results of short tasks of its batch fails those tasks with WorkerCrashedError: every future settles, no task runs twice, and the pool goes on',
  { timeout: 20_000 },
  async (t) => {
    const log = join(await tempDir(t), 'starts.log');
    const pool = makePool(t, { workers: 1 });
    await warmUp(pool, () => pool.submit('stepOrBlock', ['warm', log, false]));

    // One message: a and b finish and their results wait behind k, which was
    // measured short but never returns this time; d is behind k.
    const futures = {
      a: pool.submit('stepOrBlock', ['a', log, false]),
      b: pool.submit('stepOrBlock', ['b', log, false]),
      k: pool.submit('stepOrBlock', ['k', log, true]),
      d: pool.submit('stepOrBlock', ['d', log, false]),
    };
    process.kill(await logged(log, 'k'), 'SIGKILL');
    await allSettle(futures, 10_000);

    const k = futures.k.exception();
    assert.ok(k instanceof WorkerCrashedError, `k: ${String(k)}`);
    assert.equal(k.signal, 'SIGKILL');
    for (const [x, f] of Object.entries(futures)) {
      // Its result was on its way or lost with the worker: fulfilled, or failed as the crash; never run again.
      if (f.state !== 'fulfilled') assert.ok(f.exception() instanceof WorkerCrashedError, `${x}: ${String(f.exception())}`);
      assert.ok(starts(log, x) <= 1, `${x} ran more than once:\n${lines(log).join('\n')}`);
    }
    assert.equal(starts(log, 'a'), 1);
    assert.equal(starts(log, 'b'), 1);
    assert.equal(await pool.submit('echo', ['still serving']), 'still serving');
    await pool.shutdown();
  },
);

/**
 * Two maps over one function on a one-worker pool: `head`'s single chunk runs
 * first; `rest` (16 items, chunksize 1: a read-ahead window of 16 chunks) is
 * queued behind it, and its first chunk is sent ahead to the busy worker.
 * Resolves once `head` has begun, after checking that exactly one of
 * `rest`'s chunks left the queue (the one sent ahead), so that the test
 * proves something.
 */
async function chunkSentAhead(pool: ProcessPool<Tasks>, log: string, queuedBehind: number): Promise<number> {
  const pid = await logged(log, 'head');
  assert.equal(pool.stats().queued, queuedBehind - 1, 'one chunk of the second map was sent ahead to the busy worker');
  return pid;
}

/** A started pool of `workers` processes, with a temp dir's start log and gate file (test/fixtures/regress-tasks.ts gatedStep/gatedSpin wait for the gate). */
async function gatedPool(t: TestContext, workers: 1 | 2): Promise<{ pool: ProcessPool<Tasks>; log: string; gate: string }> {
  const dir = await tempDir(t);
  const pool = makePool(t, workers === 1 ? { workers: 1 } : { workers: 2, minWorkers: 2 });
  await pool.ready();
  return { pool, log: join(dir, 'starts.log'), gate: join(dir, 'gate') };
}

const range16 = (): number[] => Array.from({ length: 16 }, (_, i) => i);
const rest = (log: string): [string, string, null][] => range16().map((i) => [`r${i}`, log, null]);

test(
  'a map chunk sent ahead to a busy worker and cancelled before it began never runs, and its worker is not stopped for it',
  { timeout: 20_000 },
  async (t) => {
    const { pool, log, gate } = await gatedPool(t, 1);
    const head = pool.starmap('gatedStep', [['head', log, gate]]);
    const abort = new AbortController();
    const second = pool.starmap('gatedStep', rest(log), { chunksize: 1, signal: abort.signal });
    const pid = await chunkSentAhead(pool, log, 16);
    abort.abort();
    await assert.rejects(second, CancelledError);
    writeFileSync(gate, '');
    assert.deepEqual(await head, ['head']);
    // The worker read the Drop while the head waited: nothing of the cancelled map ran.
    assert.equal(await pool.submit('step', ['after', log]), 'after');
    assert.deepEqual(
      lines(log).map((l) => l.split(' ')[1]),
      ['head', 'after'],
      `runs:\n${lines(log).join('\n')}`,
    );
    assert.equal(await logged(log, 'after'), pid, 'the same worker serves on');
    await pool.shutdown();
  },
);

test(
  'a map chunk sent ahead to a worker that is then killed by a signal never began there: it runs on the replacement, and only the running chunk fails with WorkerCrashedError',
  { timeout: 20_000 },
  async (t) => {
    const log = join(await tempDir(t), 'starts.log');
    const pool = makePool(t, { workers: 1 });
    await pool.ready();
    const head = pool.starmap('stepOrBlock', [['head', log, true]]);
    const second = pool.starmap(
      'stepOrBlock',
      range16().map((i) => [`r${i}`, log, false] as [string, string, boolean]),
      { chunksize: 1 },
    );
    const pid = await chunkSentAhead(pool, log, 16);
    process.kill(pid, 'SIGKILL');
    const err = await reasonOf(head);
    assert.ok(err instanceof WorkerCrashedError, `head: ${String(err)}`);
    assert.deepEqual(
      await second,
      range16().map((i) => `r${i}`),
    );
    for (const i of range16()) assert.equal(starts(log, `r${i}`), 1, `r${i} ran once:\n${lines(log).join('\n')}`);
    assert.notEqual(await logged(log, 'r0'), pid, 'the chunk sent ahead ran on the replacement');
    assert.equal(pool.stats().crashed, 1);
    await pool.shutdown();
  },
);

test(
  'a map chunk sent ahead behind a long chunk does not time out while it waits: its timeout counts from when its worker begins it',
  { timeout: 20_000 },
  async (t) => {
    const log = join(await tempDir(t), 'starts.log');
    const pool = makePool(t, { workers: 1 });
    await pool.ready();
    // The head runs five times the timeout of the items waiting behind it.
    const head = pool.starmap('logspin', [[1500, 'head', log]]);
    const second = pool.starmap(
      'logspin',
      range16().map((i) => [0, `r${i}`, log] as [number, string, string]),
      { chunksize: 1, timeout: 300 },
    );
    await chunkSentAhead(pool, log, 16);
    assert.deepEqual(await head, ['head']);
    assert.deepEqual(
      await second,
      range16().map((i) => `r${i}`),
    );
    assert.equal(pool.stats().timedOut, 0);
    await pool.shutdown();
  },
);

test(
  'the last chunks of a map are not sent ahead to a busy worker: a worker that frees up takes them all while the other is busy',
  { timeout: 20_000 },
  async (t) => {
    const { pool, log, gate } = await gatedPool(t, 2);
    const tail = ['t1', 't2', 't3', 't4'];
    const run = pool.starmap('gatedStep', [['head', log, gate], ...tail.map((x): [string, string, null] => [x, log, null])], {
      chunksize: 1,
    });
    const busy = await logged(log, 'head');
    // Every tail chunk runs while the head still waits for its gate: none was held behind it.
    for (const x of tail) assert.notEqual(await logged(log, x), busy, `${x} ran on the busy worker`);
    writeFileSync(gate, '');
    assert.deepEqual(await run, ['head', ...tail]);
    await pool.shutdown();
  },
);

// Calls sent ahead (./dispatch.ts #oneAhead): while the queue is deep, a
// worker running one measured call holds the next one. `gatedSpin` and
// `logspin` are measured at 5 ms first, so both are calls of known cost
// beyond PIPELINE_MS, which nothing but that rule sends behind another.

/** Measures `gatedSpin` and `logspin` as 5 ms calls on a ready pool. */
async function measureFiveMs(pool: ProcessPool<Tasks>): Promise<void> {
  await pool.ready();
  for (let i = 0; i < 5; i++) {
    await pool.submit('gatedSpin', [5, 'warm', null, null]);
    await pool.submit('logspin', [5, 'warm']);
  }
}

/**
 * On a one-worker pool: `head` has begun (logged), and of the calls queued
 * behind it exactly one left the queue, the one sent ahead, so that the test
 * proves something. Returns the worker's pid.
 */
async function callSentAhead(pool: ProcessPool<Tasks>, log: string, queuedBehind: number): Promise<number> {
  const pid = await logged(log, 'head');
  assert.equal(pool.stats().queued, queuedBehind - 1, 'one call was sent ahead to the busy worker');
  return pid;
}

const six = ['b0', 'b1', 'b2', 'b3', 'b4', 'b5'];

/**
 * A one-worker pool whose worker runs a head (`gatedSpin`) that waits for
 * `gate`, with the six calls of `six` queued behind it, the first one sent
 * ahead (checked). Should the test fail before the gate opens, the head is
 * cancelled after it, which stops its worker (cancelGrace), so no worker is
 * left waiting.
 */
async function heldBehindGate(t: TestContext) {
  const { pool, log, gate } = await gatedPool(t, 1);
  await measureFiveMs(pool);
  const head = pool.submit('gatedSpin', [5, 'head', log, gate]);
  t.after(() => head.cancel());
  const behind = six.map((x) => pool.submit('logspin', [5, x, log]));
  const pid = await callSentAhead(pool, log, 6);
  return { pool, log, gate, head, behind, pid };
}

test(
  'a call sent ahead to a busy worker and cancelled before it began never runs, its future is cancelled, and its worker is not stopped for it',
  { timeout: 20_000 },
  async (t) => {
    const { pool, log, gate, head, behind, pid } = await heldBehindGate(t);
    assert.equal(behind[0].cancel(), true, 'the call sent ahead could be cancelled');
    await assert.rejects(behind[0], CancelledError);
    writeFileSync(gate, '');
    assert.equal(await head, 'head');
    assert.deepEqual(await Promise.all(behind.slice(1)), six.slice(1));
    // The worker read the Drop while the head waited for its gate.
    assert.equal(starts(log, 'b0'), 0, `the cancelled call ran:\n${lines(log).join('\n')}`);
    for (const x of six.slice(1)) assert.equal(await logged(log, x), pid, `${x} ran on the same worker: it was not stopped`);
    assert.equal(pool.stats().crashed, 0);
    await pool.shutdown();
  },
);

test(
  'a call sent ahead to a worker that is then killed by a signal never began there: it runs once, on the replacement, and only the running call fails with WorkerCrashedError',
  { timeout: 20_000 },
  async (t) => {
    // Its gate never opens: the worker is killed while the head waits.
    const { pool, log, head, behind, pid } = await heldBehindGate(t);
    process.kill(pid, 'SIGKILL');
    const err = await reasonOf(head);
    assert.ok(err instanceof WorkerCrashedError, `head: ${String(err)}`);
    assert.deepEqual(await Promise.all(behind), six);
    for (const x of six) assert.equal(starts(log, x), 1, `${x} ran once:\n${lines(log).join('\n')}`);
    assert.notEqual(await logged(log, 'b0'), pid, 'the call sent ahead ran on the replacement');
    assert.equal(pool.stats().crashed, 1);
    await pool.shutdown();
  },
);

test(
  'a call with a timeout sent ahead behind a call that runs long this time is not timed out by the wait: its clock starts when its worker begins it',
  { timeout: 20_000 },
  async (t) => {
    const log = join(await tempDir(t), 'starts.log');
    const pool = makePool(t, { workers: 1 });
    await measureFiveMs(pool);
    // Measured at 5 ms, the head runs five times the timeout of the calls behind it.
    const head = pool.submit('logspin', [1500, 'head', log]);
    const behind = six.map((x) => pool.submit('logspin', [5, x, log], { timeout: 300 }));
    await callSentAhead(pool, log, 6);
    assert.equal(await head, 'head');
    assert.deepEqual(await Promise.all(behind), six);
    assert.equal(pool.stats().timedOut, 0);
    await pool.shutdown();
  },
);

test(
  'a call of higher priority submitted after a call was sent ahead waits for that one call only: it runs right after it, before the calls still queued',
  { timeout: 20_000 },
  async (t) => {
    const { pool, log, gate, head, behind } = await heldBehindGate(t);
    const urgent = pool.submit('logspin', [5, 'urgent', log], { priority: 1 });
    writeFileSync(gate, '');
    assert.equal(await head, 'head');
    assert.equal(await urgent, 'urgent');
    assert.deepEqual(await Promise.all(behind), six);
    assert.deepEqual(
      lines(log).map((l) => l.split(' ')[1]),
      ['head', 'b0', 'urgent', ...six.slice(1)],
      `runs:\n${lines(log).join('\n')}`,
    );
    await pool.shutdown();
  },
);

test(
  'a call is not sent ahead behind one measured many times longer: while that one runs, the other worker takes every call queued',
  { timeout: 20_000 },
  async (t) => {
    const { pool, log, gate } = await gatedPool(t, 2);
    // The head measured at 300 ms, the calls behind it at 5 ms: beyond
    // PIPELINE_MS, so the queue stays deep and the worker running them is
    // sent one ahead each time; the head's worker never is.
    await pool.submit('gatedSpin', [300, 'warm', null, null]);
    for (let i = 0; i < 5; i++) await pool.submit('logspin', [5, 'warm']);
    const head = pool.submit('gatedSpin', [300, 'head', log, gate]);
    t.after(() => head.cancel());
    const busy = await logged(log, 'head');
    const calls = Array.from({ length: 12 }, (_, i) => `c${i}`);
    const futures = calls.map((x) => pool.submit('logspin', [5, x, log]));
    // Every call runs while the head still waits for its gate: none was held behind it.
    for (const x of calls) assert.notEqual(await logged(log, x), busy, `${x} ran on the busy worker`);
    writeFileSync(gate, '');
    assert.equal(await head, 'head');
    assert.deepEqual(await Promise.all(futures), calls);
    await pool.shutdown();
  },
);

test(
  'a worker that fails to start while another worker is ready is not started again and again while that worker works through the queue',
  { timeout: 30_000 },
  async (t) => {
    const dir = await tempDir(t);
    const lock = join(dir, 'lock');
    const count = join(dir, 'inits');
    // Only the first worker's initializer can take the lock; every later one fails.
    const pool = makePool(t, { workers: 2, minWorkers: 1, initializer: 'lockInit', initArgs: [lock, count] });
    await pool.ready();
    assert.equal(lines(count).length, 1);

    // Six tasks of 300 ms: the pool wants a second worker, whose start fails;
    // the one ready worker runs them all, for about 1.8 s.
    const futures = Array.from({ length: 6 }, () => pool.submit('spin', [300]));
    await Promise.all(futures);

    const attempts = lines(count).length;
    assert.ok(attempts >= 2, 'the pool never tried to start a second worker, so the test proves nothing');
    assert.ok(
      attempts <= 3,
      `the initializer ran ${attempts} times in 1.8 s of work: a worker that failed to start was started again and again`,
    );
    await pool.shutdown();
  },
);

test(
  'a done callback of a task whose argument cannot be sent may cancel another task of its batch, or the batch’s head, without hanging the worker or throwing, and the pool goes on',
  { timeout: 20_000 },
  async (t) => {
    const log = join(await tempDir(t), 'starts.log');
    // The pool's internal errors surface as uncaught exceptions (from its
    // dispatch microtask), which the runner may report after the test: watch for them.
    const uncaught: unknown[] = [];
    const monitor = (err: unknown) => void uncaught.push(err);
    process.on('uncaughtExceptionMonitor', monitor);
    t.after(() => process.off('uncaughtExceptionMonitor', monitor));
    const pool = makePool(t, { workers: 1 });
    await warmUp(pool, () => pool.submit('echo', [0]));
    await warmUp(pool, () => pool.submit('logspin', [0, 'warm']));
    const unsendable = () => {};

    // A later task of the batch (the reviewer's d1).
    const a = pool.submit('echo', [1]);
    const b = pool.submit('echo', [unsendable]);
    const c = pool.submit('echo', [3]);
    const d = pool.submit('echo', [4]);
    b.addDoneCallback(() => c.cancel());
    await allSettle({ a, b, c, d }, 5000);
    assert.equal(await a, 1);
    assert.ok(b.exception() instanceof DataCloneError, `b: ${String(b.exception())}`);
    assert.equal(c.state, 'cancelled');
    assert.equal(await d, 4);
    assert.deepEqual(uncaught, [], 'uncaught exceptions after a later task of the batch was cancelled');

    // The batch's head (the reviewer's d2). The head runs long, so it is still
    // running when cancelled and the task behind it has not started.
    const head = pool.submit('logspin', [1000, 'H', log]);
    const next = pool.submit('logspin', [0, 'N', log]);
    const bad = pool.submit('echo', [unsendable]);
    bad.addDoneCallback(() => head.cancel());
    await allSettle({ head, next, bad }, 5000);
    assert.deepEqual(uncaught, [], 'uncaught exceptions after the batch’s head was cancelled');
    assert.ok(head.exception() instanceof CancelledError, `head: ${String(head.exception())}`);
    assert.ok(bad.exception() instanceof DataCloneError, `bad: ${String(bad.exception())}`);
    assert.equal(next.exception(), undefined, `the task behind the cancelled head failed: ${String(next.exception())}`);
    assert.equal(await next, 'N');
    assert.ok(starts(log, 'H') <= 1 && starts(log, 'N') === 1, `runs:\n${lines(log).join('\n')}`);

    const after = pool.submit('echo', ['still serving']);
    await allSettle({ after }, 5000);
    assert.equal(await after, 'still serving');
    await pool.shutdown();
    assert.deepEqual(uncaught, [], 'uncaught exceptions during the test');
  },
);

test(
  'a worker inherits the parent’s loader, preload, condition and V8 flags with their values, and none of its eval, print, inspect, test and watch flags (inheritedExecArgv)',
  { timeout: 5_000 },
  () => {
    const kept = ['--import', 'tsx', '--import=x', '-r', './a.js', '--conditions', 'dev', '--max-old-space-size=100'];
    assert.deepEqual(inheritedExecArgv(kept), kept);

    const dropped = [
      ['-e', 'console.log(1)'],
      ['--eval', 'console.log(1)'],
      ['--eval=console.log(1)'],
      ['-p', '1 + 1'],
      ['--print', '1 + 1'],
      ['--inspect'],
      ['--inspect=9229'],
      ['--inspect-brk'],
      ['--inspect-port', '9230'],
      ['--test'],
      ['--test-reporter', 'spec'],
      ['--test-reporter=spec'],
      ['--test-name-pattern', 'foo'],
      ['--test-timeout=1000'],
      ['--watch'],
    ];
    for (const flag of dropped) assert.deepEqual(inheritedExecArgv(flag), [], `kept from ${JSON.stringify(flag)}`);

    // Mixed: each value goes or stays with its own flag.
    assert.deepEqual(
      inheritedExecArgv([
        '--test-reporter',
        'spec',
        '--import',
        'tsx',
        '-e',
        'x',
        '-r',
        './a.js',
        '--watch',
        '--conditions',
        'dev',
        '--inspect-brk',
        '--max-old-space-size=100',
      ]),
      ['--import', 'tsx', '-r', './a.js', '--conditions', 'dev', '--max-old-space-size=100'],
    );
  },
);

test(
  'when the last worker that could serve the queue dies while a start failure stands, the queued tasks still settle',
  { timeout: 30_000 },
  async (t) => {
    const lock = join(await tempDir(t), 'lock');
    const pool = makePool(t, { workers: 2, minWorkers: 1, initializer: 'lockOnce', initArgs: [lock] });
    await pool.ready();
    const futures = {
      first: pool.submit('echo', ['first']),
      dies: pool.submit('dieAfter', [300]),
      a: pool.submit('echo', ['a']),
      b: pool.submit('echo', ['b']),
    };
    // Bounded by Future.result: before the fix the queued ones stayed pending forever.
    await allSettle(futures, 10_000);
    assert.equal(futures.dies.exception() instanceof WorkerCrashedError, true);
    // Before the temporary folder goes: a worker still starting would make its lock in it.
    await pool.shutdown();
  },
);
