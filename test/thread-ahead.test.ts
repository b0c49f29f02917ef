// ThreadPool's runs sent ahead (lib/thread/engine.ts, #sendAhead): while the
// queue is deep, a busy thread whose run has begun and is of known cost gets
// its next run at once, held in its port. What must hold: a held task that
// is cancelled never runs; one whose thread is stopped runs once, elsewhere;
// its timeout starts when the thread begins it, not while it waits; a free
// thread takes back what another holds when the queue runs dry; a map's
// results stay in order.
//
// Setting it up: a `spinThenWait` blocker (known cost: it ran once before)
// holds the pool's thread; tasks with a `timeout` go alone, one per run, so
// the number sent ahead is known. That one was sent shows in
// stats().queued, a state no event announces (hence `until`).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CancelledError, ThreadPool, TimeoutError, WorkerCrashedError, type Future } from '../lib/index.js';
import type * as threadTasks from './fixtures/thread-tasks.js';
import { reasonOf, until, within } from './helpers.js';

type T = typeof threadTasks;
const tasksUrl = new URL('./fixtures/thread-tasks.js', import.meta.url);
const T30 = { timeout: 30_000 };
/** Long enough never to fire: it only makes a task go alone. */
const ALONE = { timeout: 60_000 };

/** Spun by a blocker before it waits: above PIPELINE_MS, so that blockers are never batched together. */
const BLOCKER_MS = 5;

/** A pool whose blocker, `spinThenWait`, has a measured cost (it ran once, with its slot set). */
async function poolWithKnownBlocker(workers: number): Promise<ThreadPool<T>> {
  const pool = new ThreadPool<T>(tasksUrl, { workers });
  const open = new Int32Array(new SharedArrayBuffer(4));
  open[0] = 1;
  assert.equal(await pool.submit('spinThenWait', [open, 0, BLOCKER_MS]), 1);
  return pool;
}

function release(gate: Int32Array, i: number): void {
  Atomics.store(gate, i, 1);
  Atomics.notify(gate, i);
}

/** Gate slots for blockers; disposed (declared after the pool: first) by opening all, so a failing test does not leave its pool's shutdown waiting on a blocked thread. */
function gates(n: number): Int32Array & Disposable {
  const gate = new Int32Array(new SharedArrayBuffer(4 * n)) as Int32Array & Disposable;
  gate[Symbol.dispose] = () => {
    for (let i = 0; i < n; i++) if (Atomics.load(gate, i) === 0) release(gate, i);
  };
  return gate;
}

test('a task sent ahead to a busy thread and cancelled before it began never runs; the rest run once each', T30, async () => {
  await using pool = await poolWithKnownBlocker(1);
  using gate = gates(4);
  const blocker = pool.submit('spinThenWait', [gate, 0, BLOCKER_MS]);
  const held = pool.submit('addShared', [gate, 1, 1], ALONE);
  const rest = [pool.submit('addShared', [gate, 2, 1], ALONE), pool.submit('addShared', [gate, 3, 1], ALONE)];
  await until(() => pool.stats().queued === 2, 10_000, 'a task sent ahead behind the blocker');
  assert.equal(held.cancel(), true, 'not begun: cancellable');
  release(gate, 0);
  assert.equal(await within(blocker, 10_000, 'the blocker'), 1);
  assert.deepEqual(await within(Promise.all(rest), 10_000, 'the tasks after it'), [1, 1]);
  assert.ok((await reasonOf(held)) instanceof CancelledError);
  assert.equal(Atomics.load(gate, 1), 0, 'the cancelled task never ran');
  assert.equal(pool.stats().cancelled, 1);
});

test('a task held by a thread that is stopped for another task goes back to the queue and runs once, in another thread', T30, async () => {
  await using pool = await poolWithKnownBlocker(1);
  using gate = gates(4);
  const before = await pool.submit('thread');
  const blocker = pool.submit('spinThenWait', [gate, 0, BLOCKER_MS]);
  const held = pool.submit('thread', [], ALONE);
  const rest = [pool.submit('addShared', [gate, 2, 1], ALONE), pool.submit('addShared', [gate, 3, 1], ALONE)];
  await until(() => pool.stats().queued === 2, 10_000, 'a task sent ahead behind the blocker');
  // Running: cancel stops its thread (cancelGrace 0), the held task in it.
  assert.equal(blocker.cancel(), true);
  const ranIn = await within(held, 10_000, 'the held task, run again');
  assert.notEqual(ranIn, before, 'it ran in the replacement thread');
  assert.deepEqual(await within(Promise.all(rest), 10_000, 'the tasks after it'), [1, 1]);
  const stats = pool.stats();
  assert.equal(stats.crashed, 0, 'the held task is no casualty of the stop');
  // waitShared and `thread` before, the held task and the two after: each once.
  assert.equal(stats.completed, 5);
});

test('the timeout of a task sent ahead starts when its thread begins it, not while it waits behind another', T30, async () => {
  await using pool = new ThreadPool<T>(tasksUrl, { workers: 1 });
  using gate = gates(4);
  // `spin` of 400 ms has a measured cost of 400 ms.
  await pool.submit('spin', [400]);
  const blocker = pool.submit('spin', [400]);
  // Would time out behind the blocker if its clock started when it was sent.
  const held = pool.submit('addShared', [gate, 1, 1], { timeout: 150 });
  const rest = [pool.submit('addShared', [gate, 2, 1], ALONE), pool.submit('addShared', [gate, 3, 1], ALONE)];
  await until(() => pool.stats().queued === 2, 10_000, 'a task sent ahead behind the blocker');
  await within(blocker, 10_000, 'the blocker');
  assert.equal(await within(held, 10_000, 'the held task'), 1, 'it ran, and did not time out');
  assert.deepEqual(await within(Promise.all(rest), 10_000, 'the tasks after it'), [1, 1]);
  assert.equal(pool.stats().timedOut, 0);
});

test(
  'when the queue runs dry, a free thread takes back a task another thread holds behind a blocked one; each runs once',
  T30,
  async () => {
    await using pool = await poolWithKnownBlocker(2);
    using gate = gates(8);
    const blockers = [pool.submit('spinThenWait', [gate, 0, BLOCKER_MS]), pool.submit('spinThenWait', [gate, 1, BLOCKER_MS])];
    // Five alone: one sent ahead to each thread, three left in the queue.
    const tasks = [2, 3, 4, 5, 6].map((i) => pool.submit('addShared', [gate, i, 1], ALONE));
    await until(() => pool.stats().queued === 3, 10_000, 'a task sent ahead to each thread');
    // One thread goes on; the other stays blocked, holding a task.
    release(gate, 1);
    assert.deepEqual(await within(Promise.all(tasks), 10_000, 'every task, the held one taken back'), [1, 1, 1, 1, 1]);
    assert.equal(Atomics.load(gate, 0), 0, 'the other thread is still blocked');
    release(gate, 0);
    assert.deepEqual(await within(Promise.all(blockers), 10_000, 'the blockers'), [1, 1]);
    for (const i of [2, 3, 4, 5, 6]) assert.equal(Atomics.load(gate, i), 1, `task ${i} ran once`);
  },
);

test('a map of many small items keeps its results in order while chunks are sent ahead to busy threads', T30, async () => {
  await using pool = new ThreadPool<T>(tasksUrl, { workers: 2 });
  const items = Array.from({ length: 30_000 }, (_, i) => i);
  const expected = items.map((x) => x * x);
  // The second map runs with chunk costs measured by the first.
  for (let round = 0; round < 2; round++) assert.deepEqual(await within(pool.map('square', items), 20_000, 'the map'), expected);
});

// A thread that ends while it holds two runs. The held run begins only after
// its thread has posted the first run's reply (lib/thread/entry.ts), so the
// first run is done; its reply may still wait in piscina's port when the
// thread ends. The parent blocks in Atomics.wait until the held task has
// begun (or is exiting), so that when its event loop next runs, the reply
// and the thread's end are both waiting for it, in whichever order Node
// delivers them.

/** Gate slots: 0 the blocker's gate, 1 its run count, 2 and 3 the held task's, 4 and 5 tasks after it. */
const SLOTS = 6;

/** A one-thread pool whose blocker, countThenWait, has a measured cost. */
async function poolWithCountingBlocker(blocker: Blocker = 'countThenWait'): Promise<ThreadPool<T>> {
  const pool = new ThreadPool<T>(tasksUrl, { workers: 1 });
  const open = new Int32Array(new SharedArrayBuffer(8));
  open[0] = 1;
  assert.equal(await pool.submit(blocker, [open, 0, 1, BLOCKER_MS]), 1);
  return pool;
}

/** countThenWait, or the same with a line to stdout after. */
type Blocker = 'countThenWait' | 'countWaitThenLog';

/** The blocker, a held task (`hold`), and two tasks after it (so that the queue is deep enough to send one ahead). */
async function blockerAndHeld(pool: ThreadPool<T>, gate: Int32Array, hold: () => Future<number>, blocker: Blocker = 'countThenWait') {
  const first = pool.submit(blocker, [gate, 0, 1, BLOCKER_MS]);
  const held = hold();
  const rest = [pool.submit('addShared', [gate, 4, 1], ALONE), pool.submit('addShared', [gate, 5, 1], ALONE)];
  await until(() => pool.stats().queued === 2, 10_000, 'a task sent ahead behind the blocker');
  return { blocker: first, held, rest };
}

/** The blocker ran once and its result arrived; the tasks after the held one ran. */
async function blockerOnce(blocker: Future<number>, rest: Future<number>[], gate: Int32Array): Promise<void> {
  assert.equal(await within(blocker, 10_000, 'the blocker'), 1, 'the blocker ran once and its result arrived');
  assert.deepEqual(await within(Promise.all(rest), 10_000, 'the tasks after it'), [1, 1]);
  assert.equal(Atomics.load(gate, 1), 1, 'the blocker ran once');
}

test(
  "a thread that exits in its held run before the parent read its first run's reply: the first run's result arrives, once",
  T30,
  async () => {
    await using pool = await poolWithCountingBlocker();
    using gate = gates(SLOTS);
    const { blocker, held, rest } = await blockerAndHeld(pool, gate, () => pool.submit('signalThen', [gate, 2, true], ALONE));
    release(gate, 0);
    assert.notEqual(Atomics.wait(gate, 2, 0, 10_000), 'timed-out', 'the held task exits');
    assert.ok((await reasonOf(held)) instanceof WorkerCrashedError, 'the held task, begun, crashed its thread');
    await blockerOnce(blocker, rest, gate);
    assert.deepEqual([pool.stats().crashed, pool.stats().completed], [1, 4]);
  },
);

test(
  "a held task cancelled after it began, before the parent read the first run's reply: the first run's result arrives, once",
  T30,
  async () => {
    await using pool = await poolWithCountingBlocker();
    using gate = gates(SLOTS);
    const { blocker, held, rest } = await blockerAndHeld(pool, gate, () => pool.submit('signalThen', [gate, 2, false], ALONE));
    release(gate, 0);
    assert.notEqual(Atomics.wait(gate, 2, 0, 10_000), 'timed-out', 'the held task begins');
    // Begun in its thread, its future not yet told: cancelling stops the thread (cancelGrace 0).
    assert.equal(held.cancel(), true);
    assert.ok((await reasonOf(held)) instanceof CancelledError);
    await blockerOnce(blocker, rest, gate);
    assert.deepEqual([pool.stats().crashed, pool.stats().cancelled, pool.stats().completed], [0, 1, 4]);
  },
);

test('a thread that exits in its first run while it holds a second: the held task runs once, on the replacement thread', T30, async () => {
  await using pool = await poolWithCountingBlocker();
  using gate = gates(SLOTS);
  const { blocker, held, rest } = await blockerAndHeld(pool, gate, () => pool.submit('addShared', [gate, 3, 1], ALONE));
  // 2: the blocker exits its thread.
  Atomics.store(gate, 0, 2);
  Atomics.notify(gate, 0);
  assert.ok((await reasonOf(blocker)) instanceof WorkerCrashedError);
  assert.equal(await within(held, 10_000, 'the held task'), 1);
  assert.deepEqual(await within(Promise.all(rest), 10_000, 'the tasks after it'), [1, 1]);
  assert.equal(Atomics.load(gate, 3), 1, 'the held task ran once');
  assert.deepEqual([pool.stats().crashed, pool.stats().completed], [1, 4]);
});

test(
  "a task held behind a run that wrote to stdout begins once that run's reply has left: stopped, it takes no result with it",
  T30,
  async () => {
    await using pool = await poolWithCountingBlocker('countWaitThenLog');
    using gate = gates(SLOTS);
    const hold = () => pool.submit('signalThen', [gate, 2, false], ALONE);
    const { blocker, held, rest } = await blockerAndHeld(pool, gate, hold, 'countWaitThenLog');
    release(gate, 0);
    // Not Atomics.wait: the blocker's output drains through this thread's event loop.
    const begun = Atomics.waitAsync(gate, 2, 0, 10_000);
    assert.notEqual(begun.async ? await begun.value : begun.value, 'timed-out', 'the held task begins');
    assert.equal(held.cancel(), true);
    assert.ok((await reasonOf(held)) instanceof CancelledError);
    await blockerOnce(blocker, rest, gate);
    assert.equal(pool.stats().crashed, 0);
  },
);

test(
  'a held task that times out after it began is stopped with its thread; the run it was held behind keeps its result, once',
  T30,
  async () => {
    await using pool = await poolWithCountingBlocker();
    using gate = gates(SLOTS);
    // Its clock starts when the thread begins it; it then waits on slot 3, which nothing sets.
    const { blocker, held, rest } = await blockerAndHeld(pool, gate, () => pool.submit('signalThen', [gate, 2, false], { timeout: 100 }));
    release(gate, 0);
    assert.ok((await reasonOf(held)) instanceof TimeoutError);
    assert.equal(Atomics.load(gate, 2), 1, 'it began');
    await blockerOnce(blocker, rest, gate);
    assert.deepEqual([pool.stats().timedOut, pool.stats().crashed], [1, 0]);
  },
);
