// ThreadPool's own guarantees, beyond the shared contract suite: what only
// threads have (transfer, SharedArrayBuffer), how a thread dies (process.exit,
// an uncaught error in a callback, an unhandled rejection, out of memory),
// start failures without a respawn loop, recycling, thread options, and
// results that take the serialized path.
//
// Waiting: on futures, ready(), onIdle(), Atomics, and the pool's
// warmpool:worker messages (a thread recycled, exiting, its replacement
// ready), each bounded (`within`, test/helpers.ts); nothing polls.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  DataCloneError,
  ThreadPool,
  WorkerCrashedError,
  WorkerStartError,
  type AnyTasks,
  type PoolOptions,
  type TaskName,
} from '../lib/index.js';
import type * as regress from './fixtures/regress-tasks.js';
import type * as threadTasks from './fixtures/thread-tasks.js';
import { lines, reasonOf, starts, tempDir, within, workerEvents } from './helpers.js';
import { writeFileSync } from 'node:fs';

type T = typeof threadTasks;
const fixture = (file: string) => new URL(`./fixtures/${file}`, import.meta.url);
const tasksUrl = fixture('thread-tasks.js');
const T30 = { timeout: 30_000 };

const countLines = (file: string): number => lines(file).length;

/** A span of time in which a respawn loop would show: another pool starting a thread and running a task. */
async function yardstick(): Promise<void> {
  await using pool = new ThreadPool<T>(tasksUrl, { workers: 1 });
  assert.equal(await pool.submit('add', [1, 1]), 2);
}

test('an ArrayBuffer in `transfer` is moved to the thread: detached in the caller, whole in the task', T30, async () => {
  await using pool = new ThreadPool<T>(tasksUrl, { workers: 1 });
  const moved = new ArrayBuffer(1 << 20);
  assert.equal(await pool.submit('byteLength', [moved], { transfer: [moved] }), 1 << 20);
  assert.equal(moved.byteLength, 0, 'detached in the caller');
  const copied = new ArrayBuffer(1024);
  assert.equal(await pool.submit('byteLength', [copied]), 1024);
  assert.equal(copied.byteLength, 1024, 'without transfer, the caller keeps its buffer');
});

test('a SharedArrayBuffer is shared with the task, not copied: both sides see each other’s writes while the task runs', T30, async () => {
  await using pool = new ThreadPool<T>(tasksUrl, { workers: 2 });
  const shared = new Int32Array(new SharedArrayBuffer(16));
  assert.equal(await pool.submit('addShared', [shared, 0, 5]), 5);
  assert.equal(Atomics.load(shared, 0), 5, 'the task’s write is seen by the caller');
  // The task blocks until the caller writes: only one memory can make this end.
  const waiting = pool.submit('waitShared', [shared, 1]);
  await pool.submit('add', [1, 1]); // the other thread: the waiter has had time to start
  Atomics.store(shared, 1, 42);
  Atomics.notify(shared, 1);
  assert.equal(await waiting, 42);
  // A result that holds the SharedArrayBuffer (and a class instance, which sends the result the slow way) shares it back.
  const back = await pool.submit('shareBack', [shared]);
  Atomics.store(back.shared, 2, 7);
  assert.equal(Atomics.load(shared, 2), 7, 'the returned view is over the same memory');
});

test(
  'process.exit inside a task fails only that task, with WorkerCrashedError carrying the exit code; the thread is replaced',
  T30,
  async () => {
    using events = workerEvents('exit-thread');
    await using pool = new ThreadPool<T>(tasksUrl, { workers: 2, name: 'exit-thread' });
    await pool.ready();
    const others = Array.from({ length: 20 }, (_, i) => pool.submit('add', [i, i]));
    const err = await reasonOf(pool.submit('exitThread', [5]));
    assert.ok(err instanceof WorkerCrashedError, `got ${String(err)}`);
    assert.equal(err.exitCode, 5);
    assert.equal(err.code, 'ERR_WARMPOOL_WORKER_CRASHED');
    assert.deepEqual(
      await Promise.all(others),
      Array.from({ length: 20 }, (_, i) => 2 * i),
    );
    assert.equal(await pool.submit('add', [2, 2]), 4);
    await events.next('ready', 3);
    assert.equal(pool.stats().workers, 2, 'the replacement thread');
    const s = pool.stats();
    assert.equal(s.crashed, 1);
    assert.equal(s.completed, 21);
  },
);

for (const [title, name] of [
  ['an uncaught exception in a timer callback', 'throwInTimer'],
  ['an unhandled promise rejection', 'rejectUnhandled'],
] as const) {
  test(
    `${title} inside a task kills its thread: that task fails with WorkerCrashedError naming the error, and the pool serves on`,
    T30,
    async () => {
      await using pool = new ThreadPool<T>(tasksUrl, { workers: 2 });
      const other = pool.submit('add', [3, 4]);
      const err = await reasonOf(pool.submit(name, ['boom from the task']));
      assert.ok(err instanceof WorkerCrashedError, `got ${String(err)}`);
      assert.match(err.message, /boom from the task/);
      assert.equal(await other, 7);
      assert.equal(await pool.submit('add', [1, 2]), 3);
    },
  );
}

test(
  'a task that allocates without bound under maxMemoryMb fails with WorkerCrashedError saying it ran out of memory, and the pool serves the next task',
  { timeout: 60_000 },
  async () => {
    await using pool = new ThreadPool<T>(tasksUrl, { workers: 1, maxMemoryMb: 32 });
    const err = await reasonOf(pool.submit('allocateForever'));
    assert.ok(err instanceof WorkerCrashedError, `got ${String(err)}`);
    assert.match(err.message, /out of memory/i);
    assert.equal(await pool.submit('add', [20, 22]), 42);
  },
);

test(
  'a module that throws at import fails ready() and the waiting futures with WorkerStartError, and starts no more threads until a new submit',
  T30,
  async (t) => {
    const dir = await tempDir(t);
    const count = join(dir, 'count');
    await using pool = new ThreadPool<AnyTasks>(fixture('faults-import-throws.js'), {
      workers: 2,
      env: { ...process.env, WARMPOOL_FAULTS_COUNT: count },
    });
    const futures = [pool.submit('never'), pool.submit('never'), pool.submit('never')];
    const ready = await reasonOf(pool.ready());
    assert.ok(ready instanceof WorkerStartError, `got ${String(ready)}`);
    assert.ok(ready.cause instanceof RangeError, `cause: ${String(ready.cause)}`);
    assert.match(ready.message, /failing at import on purpose/);
    for (const f of futures) assert.ok((await reasonOf(f)) instanceof WorkerStartError);
    // The failed piscina instance is let go as the futures fail, and its
    // threads end in the background. No event tells when: ThreadPool publishes
    // `start` for these threads but `exit` only for a thread that reported its
    // start (the exit listener is attached then, lib/thread/threads.ts). The
    // pool counts no thread from the moment the futures fail.
    assert.equal(pool.stats().workers, 0, 'no thread counted after the start failure');
    const first = countLines(count);
    assert.ok(first >= 1 && first <= 2, `${first} imports for 2 threads`);
    await yardstick();
    assert.equal(countLines(count), first, 'no import since the failure');
    assert.ok((await reasonOf(pool.submit('never'))) instanceof WorkerStartError, 'a new submit tries again, and fails again');
    assert.ok(countLines(count) > first, 'the new submit made a new attempt');
    assert.equal(pool.stats().queued, 0);
  },
);

test(
  'a module whose import ends the thread (process.exit) fails ready() and the futures with WorkerStartError, without a respawn loop',
  T30,
  async (t) => {
    const dir = await tempDir(t);
    const count = join(dir, 'count');
    await using pool = new ThreadPool<AnyTasks>(fixture('thread-import-exits.js'), {
      workers: 2,
      env: { ...process.env, WARMPOOL_FAULTS_COUNT: count },
    });
    const f = pool.submit('never');
    const err = await reasonOf(f);
    assert.ok(err instanceof WorkerStartError, `got ${String(err)}`);
    assert.match(err.message, /exited with code:? 3/);
    await yardstick();
    const n = countLines(count);
    assert.ok(n <= 4, `${n} imports: at most the 2 first threads and one replacement each`);
    await yardstick();
    assert.equal(countLines(count), n, 'no import since');
  },
);

test('a module that hangs at import fails ready() and the waiting futures with a WorkerStartError naming startTimeout', T30, async () => {
  await using pool = new ThreadPool<AnyTasks>(fixture('faults-import-hangs.js'), { workers: 1, startTimeout: 300 });
  const f = pool.submit('never');
  const err = await reasonOf(pool.ready());
  assert.ok(err instanceof WorkerStartError, `got ${String(err)}`);
  assert.match(err.message, /startTimeout/);
  assert.ok((await reasonOf(f)) instanceof WorkerStartError);
});

for (const [label, together] of [
  ['one at a time', false],
  ['all submitted at once', true],
] as const) {
  test(`with maxTasksPerWorker: 2 and workers: 1, the thread changes every 2 tasks and every task succeeds (${label})`, T30, async () => {
    const name = `recycle-${label}`;
    using events = workerEvents(name);
    await using pool = new ThreadPool<T>(tasksUrl, { workers: 1, maxTasksPerWorker: 2, name });
    let ids: number[];
    if (together) {
      await pool.submit('thread'); // measured: later ones may be batched
      await within(pool.onIdle(), 10_000, 'the pool to be idle');
      assert.deepEqual([pool.stats().workers, pool.stats().busy], [1, 0]);
      ids = await Promise.all(Array.from({ length: 7 }, () => pool.submit('thread')));
      ids.unshift(-1);
    } else {
      ids = [];
      for (let i = 0; i < 8; i++) ids.push(await pool.submit('thread'));
    }
    // Tasks 2k and 2k+1 share a thread; consecutive pairs do not.
    for (let i = together ? 2 : 0; i + 1 < ids.length; i += 2) {
      assert.equal(ids[i], ids[i + 1], `tasks ${i} and ${i + 1}: ${ids.join(',')}`);
      if (i + 2 < ids.length) assert.notEqual(ids[i + 1], ids[i + 2], `tasks ${i + 1} and ${i + 2}: ${ids.join(',')}`);
    }
    // 8 tasks, 2 per thread: 4 threads recycled and gone, and the replacement of the last one ready.
    await within(Promise.all([events.next('exit', 4), events.next('ready', 5)]), 10_000, 'the last replacement thread');
    assert.equal(events.count('recycle'), 4);
    assert.equal(pool.stats().workers, 1);
  });
}

test('a thread sees the env it was given, and the parent’s environment by default', T30, async () => {
  await using given = new ThreadPool<T>(tasksUrl, { workers: 1, env: { ONLY_THIS: 'yes' } });
  assert.equal(await given.submit('envVar', ['ONLY_THIS']), 'yes');
  assert.equal(await given.submit('envVar', ['PATH']), undefined);
  process.env.WARMPOOL_THREAD_TEST = 'inherited';
  await using inherited = new ThreadPool<T>(tasksUrl, { workers: 1 });
  assert.equal(await inherited.submit('envVar', ['WARMPOOL_THREAD_TEST']), 'inherited');
});

test('an execArgv flag that threads do not accept is refused when the pool is made, also when no thread starts eagerly', T30, () => {
  for (const minWorkers of [1, 0]) {
    assert.throws(
      () => new ThreadPool<T>(tasksUrl, { workers: 1, minWorkers, execArgv: ['--no-such-flag-for-threads'] }),
      (err: unknown) => err instanceof Error && /execArgv/.test(err.message),
    );
  }
});

test('cwd is refused with a TypeError that says why (threads share the process’s working directory)', () => {
  assert.throws(
    () => new ThreadPool<T>(tasksUrl, { cwd: '/tmp' }),
    (err: unknown) => err instanceof TypeError && /working directory/.test(err.message),
  );
});

test(
  'results that are not plain data keep structured-clone semantics: a class instance arrives as a plain object, a large Map with its Dates',
  T30,
  async () => {
    await using pool = new ThreadPool<T>(tasksUrl, { workers: 1 });
    assert.deepEqual({ ...(await pool.submit('point', [3, 4])) }, { x: 3, y: 4 });
    const m = await pool.submit('manyObjects', [30_000]);
    assert.ok(m instanceof Map);
    assert.equal(m.size, 30_000);
    const last = m.get(29_999)!;
    assert.equal(last.s, '#29999');
    assert.ok(last.d instanceof Date && last.d.getTime() === 29_999);
  },
);

test('a result holding a promise fails only its own future with DataCloneError, and the thread stays', T30, async () => {
  await using pool = new ThreadPool<T>(tasksUrl, { workers: 1 });
  const before = await pool.submit('thread');
  const err = await reasonOf(pool.submit('promiseInside'));
  assert.ok(err instanceof DataCloneError, `got ${String(err)}`);
  assert.match(err.message, /could not be cloned/);
  assert.equal(await pool.submit('thread'), before, 'the same thread serves on');
});

test('20,000 tasks submitted at once all come back right, batched, and the counts add up', T30, async () => {
  await using pool = new ThreadPool<T>(tasksUrl, { workers: 2 });
  await pool.submit('add', [0, 0]);
  const n = 20_000;
  const results = await Promise.all(Array.from({ length: n }, (_, i) => pool.submit('add', [i, 1])));
  for (let i = 0; i < n; i++) if (results[i] !== i + 1) assert.fail(`task ${i} returned ${String(results[i])}`);
  const s = pool.stats();
  assert.equal(s.completed, n + 1);
  assert.equal(s.busy + s.queued, 0);
});

test('a script that uses a ThreadPool and never calls shutdown exits by itself with code 0', T30, async () => {
  const child = spawn(process.execPath, [fileURLToPath(fixture('thread-parent-noshutdown.js'))], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
  assert.deepEqual(JSON.parse(out), [5, [1, 4, 9]]);
});

// Batches, recycling and thread starts. Scenarios that, while their bug
// stood, threw out of an engine microtask (which kills the process) or left
// a run in flight for ever run in a child process
// (./fixtures/thread-regress-parent.ts) that the test bounds and reads; the
// others run here. Runs are counted through the log file
// ./fixtures/regress-tasks.ts appends to.

type Regress = typeof regress;
const regressUrl = fixture('regress-tasks.js');
const parentScript = fileURLToPath(fixture('thread-regress-parent.js'));

/** A pool shut down after the test without waiting, so a failing test cannot leave it running. */
function makeRegressPool(t: TestContext, options: PoolOptions<TaskName<Regress>>): ThreadPool<Regress> {
  const pool = new ThreadPool<Regress>(regressUrl, options);
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
async function scenario(
  name: string,
  ms: number,
  ...args: string[]
): Promise<{ code: number | null; report: Report | undefined; stderr: string }> {
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

test(
  'when a thread dies in the middle of a batch, the tasks it finished keep their results, only the crashing task fails with WorkerCrashedError, no task runs twice, and the pool does not throw',
  { timeout: 30_000 },
  async (t) => {
    const log = join(await tempDir(t), 'starts.log');
    const report = await reportOf('batch-crash', 25_000, log);
    const f = report.futures;
    assert.deepEqual(f.x1, { state: 'fulfilled', value: 'x1' }, 'x1 finished before the crash');
    assert.deepEqual(f.x2, { state: 'fulfilled', value: 'x2' }, 'x2 finished before the crash');
    assert.equal(f.crash.error, 'WorkerCrashedError', JSON.stringify(f.crash));
    assert.deepEqual(f.x4, { state: 'fulfilled', value: 'x4' });
    for (const x of ['x1', 'x2', 'crash', 'x4'])
      assert.equal(starts(log, x), 1, `${x} did not run exactly once:\n${lines(log).join('\n')}`);
    assert.equal(report.stats.crashed, 1);
    assert.equal(report.stats.completed, 30 + 3);
  },
);

test(
  'results of a batch go back before an async task of the same batch starts waiting: the short tasks’ futures settle while it waits',
  { timeout: 30_000 },
  async (t) => {
    const dir = await tempDir(t);
    const pool = makeRegressPool(t, { workers: 1 });
    await pool.ready();
    // Measured near zero, so they travel in one run: the file exists, so whenFile returns at once.
    for (let i = 0; i < 30; i++) await pool.submit('echo', [i]);
    for (let i = 0; i < 30; i++) await pool.submit('whenFile', [dir, 'warm']);

    const short = [1, 2, 3].map((x) => pool.submit('echo', [x]));
    const release = join(dir, 'release');
    const waits = pool.submit('whenFile', [release, 'released']);
    assert.deepEqual(await within(Promise.all(short), 10_000, 'the short tasks’ results while the task behind them waits'), [1, 2, 3]);
    assert.equal(waits.done(), false, 'the waiting task has not ended: nothing released it');
    writeFileSync(release, '');
    assert.equal(await within(waits, 10_000, 'the released task'), 'released');
    assert.equal(pool.stats().completed, 60 + 4);
    await pool.shutdown();
  },
);

test(
  'a task with a timeout submitted behind short tasks times out by its own start; the short tasks are fulfilled and the pool goes on',
  { timeout: 30_000 },
  async (t) => {
    const log = join(await tempDir(t), 'starts.log');
    const pool = makeRegressPool(t, { workers: 1 });
    await pool.ready();
    for (let i = 0; i < 30; i++) await pool.submit('echo', [i]);
    for (let i = 0; i < 30; i++) await pool.submit('stepOrBlock', ['warm', log, false]);

    const short = [1, 2, 3].map((x) => pool.submit('echo', [x]));
    const stuck = pool.submit('stepOrBlock', ['stuck', log, true], { timeout: 200 });
    const after = pool.submit('echo', ['after']);
    assert.deepEqual(await Promise.all(short), [1, 2, 3]);
    assert.equal(((await reasonOf(stuck)) as Error).name, 'TimeoutError');
    assert.equal(await after, 'after');
    assert.equal(starts(log, 'stuck'), 1);
    await pool.shutdown();
  },
);

test(
  'an argument that cannot be cloned in a batch fails only its own future with DataCloneError; the others of the batch run once and fulfil, and the pool does not throw',
  { timeout: 30_000 },
  async (t) => {
    const log = join(await tempDir(t), 'starts.log');
    const report = await reportOf('batch-clone', 25_000, log);
    const f = report.futures;
    assert.equal(f.fn.error, 'DataCloneError', JSON.stringify(f.fn));
    for (const x of ['a', 'b', 'c']) {
      assert.deepEqual(f[x], { state: 'fulfilled', value: x });
      assert.equal(starts(log, x), 1, `${x} did not run exactly once:\n${lines(log).join('\n')}`);
    }
  },
);

test(
  'cancelling the running task of a batch that does not return within the grace stops its thread; the task that finished before it is not lost (it runs again: the bystander rule), the one behind it runs once, and the pool does not throw',
  { timeout: 30_000 },
  async (t) => {
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
  },
);

test(
  'with maxTasksPerWorker, every task of a queue deeper than the threads runs and fulfils: none is given to a retiring thread and failed for it, and the pool does not throw',
  { timeout: 30_000 },
  async () => {
    const report = await reportOf('recycle', 25_000);
    const bad = Object.entries(report.futures).filter(([, o]) => o.state !== 'fulfilled');
    assert.deepEqual(bad, [], 'tasks that did not fulfil');
    assert.equal(report.stats.completed, 40);
    assert.equal(report.stats.crashed, 0);
  },
);

test(
  'startTimeout also bounds a thread started by a task submitted after startTimeout ms (minWorkers 0): its future fails with WorkerStartError',
  { timeout: 30_000 },
  async () => {
    const report = await reportOf('late-start-timeout', 25_000);
    assert.equal(report.futures.never.error, 'WorkerStartError', JSON.stringify(report.futures.never));
  },
);

test(
  'startTimeout bounds every new thread, not only the first of the pool: a task waiting for a replacement thread whose initializer hangs fails with WorkerStartError (as in a ProcessPool)',
  { timeout: 30_000 },
  async (t) => {
    const lock = join(await tempDir(t), 'lock');
    const report = await reportOf('replacement-start-timeout', 25_000, lock);
    assert.deepEqual(report.futures.first, { state: 'fulfilled', value: 'first' });
    assert.equal(report.futures.second.error, 'WorkerStartError', JSON.stringify(report.futures.second));
  },
);

test(
  'a thread whose initializer fails while another thread is ready does not fail the queue: the ready thread works through it (as in a ProcessPool)',
  { timeout: 30_000 },
  async (t) => {
    // Only the first thread's initializer can take the lock; every later one fails.
    const dir = await tempDir(t);
    const [lock, count] = [join(dir, 'lock'), join(dir, 'inits')];
    const pool = makeRegressPool(t, { workers: 2, minWorkers: 1, initializer: 'lockInit', initArgs: [lock, count] });
    await pool.ready();
    assert.equal(lines(count).length, 1);
    // Tasks of 100 ms: the queue wants a second thread, whose start fails.
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => pool.submit('spin', [100])));
    assert.ok(lines(count).length >= 2, 'the pool never tried to start a second thread, so the test proves nothing');
    const failed = outcomes.filter((o) => o.status === 'rejected').map((o) => String(o.reason));
    assert.deepEqual(failed, [], 'tasks failed although a ready thread could run them');
  },
);
