// The harness of the Executor contract (docs/contract.md): the contract is
// written once, in the test/contract-*.test.ts files, one file per concern,
// and each file declares its tests through `contractFile`, which runs them
// against every backend in ./backends.ts. A behaviour a backend cannot have is
// skipped with the reason its entry gives in `cannot`; RemotePool is skipped,
// saying how to include it, when no Redis can be had (./redis.ts).
//
// Rules kept in the contract files: no sleep stands in for an event (blockers
// wait for a file and announce their start with one; the only timers are the
// timeouts and grace periods under test); no assertion on elapsed time; every
// test has a `timeout`; every pool is shut down (`await using`). Process
// faults and lifecycle (kills, orphans, memory limits, idle timeout,
// maxTasksPerWorker) and Future's own methods have their own suites.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Executor, Future, PoolOptions, PoolStats, TaskName } from '../lib/index.js';
import { backends, type Backend, type Tasks } from './backends.js';
import type * as contractTasks from './fixtures/contract-tasks.js';
import { cloneSamples, touch, whenFileExists } from './fixtures/contract-tasks.js';
import { childPids } from './helpers.js';

export type ContractTasks = typeof contractTasks;
export type Pool = Executor<ContractTasks>;
export const contractTasksUrl = new URL('./fixtures/contract-tasks.js', import.meta.url);

/** A pool of the contract fixtures (./fixtures/contract-tasks.ts, which re-exports ./fixtures/tasks.ts). */
export function makePool(backend: Backend, options: PoolOptions<TaskName<ContractTasks>> = {}): Pool {
  return boundedDispose(makeRawPool(backend, options));
}

/** As makePool, with the backend's own `Symbol.asyncDispose`. */
export function makeRawPool(backend: Backend, options: PoolOptions<TaskName<ContractTasks>> = {}): Pool {
  return backend.make(options as PoolOptions<TaskName<Tasks>>, contractTasksUrl);
}

const DISPOSE_MS = 5_000;
/** Tests whose pool did not shut down within DISPOSE_MS; reported by the `after` hook. */
export const stuckPools: string[] = [];
let currentTest = '';
beforeEach((t) => {
  currentTest = t.name;
});

/**
 * `await using` disposal (which is `shutdown()`) bounded to DISPOSE_MS, so that
 * a pool holding a task that never settles cannot hang its test past its
 * timeout and hide the test's own failure. Such a pool is recorded, and the
 * `after` hook below fails the file naming the test and stops its workers.
 */
export function boundedDispose(pool: Pool): Pool {
  const dispose = pool[Symbol.asyncDispose].bind(pool);
  Object.defineProperty(pool, Symbol.asyncDispose, {
    configurable: true,
    value: async () => {
      const test = currentTest;
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        dispose().then(() => 'done' as const),
        new Promise<'stuck'>((resolve) => (timer = setTimeout(resolve, DISPOSE_MS, 'stuck' as const))),
      ]);
      clearTimeout(timer);
      if (outcome === 'stuck') stuckPools.push(`${test} (stats: ${JSON.stringify(pool.stats())})`);
    },
  });
  return pool;
}

const SETTLE_MS = 5_000;
/**
 * What `p` settles with, failing the test if it has not settled within
 * SETTLE_MS: used where a lib bug has been seen to leave a call hanging, so
 * that the test fails saying so instead of running into its timeout.
 */
export async function settled<T>(p: PromiseLike<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = Symbol('stuck');
  try {
    const outcome = await Promise.race([p, new Promise<typeof stuck>((resolve) => (timer = setTimeout(resolve, SETTLE_MS, stuck)))]);
    if (outcome === stuck) assert.fail(`${what} did not settle within ${SETTLE_MS} ms`);
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}

/** The same pool without the module's types, to send what the types forbid. */
export function untyped(pool: Pool): Executor {
  return pool;
}

export const SHORT = { timeout: 20_000 };
export const LONG = { timeout: 60_000 };

// Keeps this file's event loop alive, so that a pool whose shutdown does not
// hold the loop by itself cannot end the whole file early: that guarantee has
// its own test, in a separate process ('shutdown() of a pool whose workers
// are still starting resolves ...').
const keepAlive = setInterval(() => {}, 60_000);
after(() => clearInterval(keepAlive));

// Safety net: a pool that cannot shut down (a lib bug) would keep its worker
// processes, and so this file, alive until the runner kills it. After the
// last test, any child process still alive is killed, and the file fails
// naming the tests whose pool did not shut down.
after(() => {
  const left = childPids();
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (stuckPools.length > 0 || left.length > 0) {
    throw new Error(
      `pools did not shut down within ${DISPOSE_MS} ms in: ${stuckPools.join('; ') || '(none recorded)'}; ` +
        `worker processes still running after the last test: ${left.join(', ') || 'none'}`,
    );
  }
});

const root = mkdtempSync(join(tmpdir(), 'warmpool-contract-'));
after(() => rmSync(root, { recursive: true, force: true }));
let scratchCount = 0;
/** A fresh empty directory for one test's files. */
export function scratch(): string {
  return mkdtempSync(join(root, `${scratchCount++}-`));
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Waits until the task behind `future` has created `path` (it started), failing fast if it settles first. */
export async function started(future: PromiseLike<unknown>, path: string): Promise<void> {
  const stop = new AbortController();
  try {
    await Promise.race([
      whenFileExists(path, stop.signal),
      Promise.resolve(future).then(
        () => {
          throw new Error(`the task settled before it created ${path}`);
        },
        (err: unknown) => {
          throw new Error(`the task failed before it created ${path}`, { cause: err });
        },
      ),
    ]);
  } finally {
    stop.abort();
  }
}

export interface Blocker {
  future: Future<string>;
  release(): void;
}

/** Submits a task that occupies a worker until `release()`, and waits until it runs. */
export async function startBlocker(pool: Pool): Promise<Blocker> {
  const dir = scratch();
  const startedPath = join(dir, 'started');
  const releasePath = join(dir, 'release');
  const future = pool.submit('block', [startedPath, releasePath]);
  await started(future, startedPath);
  return { future, release: () => void touch(releasePath) };
}

/**
 * Runs many short tasks, so that the pool has measured a short mean run time:
 * a pool may then send tasks ahead to busy workers, which must not change
 * what priority and cancel() promise.
 */
export async function warmUp(pool: Pool): Promise<void> {
  await Promise.all(range(50).map((i) => pool.submit('add', [i, 1])));
}

/** Asserts that `value` is equal to `cloneSamples()`, key by key, with its cycle and shared reference intact. */
export function assertSamples(value: unknown): void {
  assert.ok(typeof value === 'object' && value !== null, 'an object');
  const got = value as Record<string, unknown>;
  const want = cloneSamples();
  for (const key of Object.keys(want)) assert.deepEqual(got[key], want[key], `sample \`${key}\``);
  const cycle = got.cycle as { self: unknown };
  assert.equal(cycle.self, cycle, 'a cycle stays a cycle');
  const twice = got.twice as unknown[];
  assert.equal(twice[0], twice[1], 'a value referenced twice stays one value');
  assert.ok(Object.is(got.negativeZero, -0), '-0 stays -0');
  assert.ok(Number.isNaN(got.nan), 'NaN stays NaN');
}

/**
 * Most items an "infinite" source yields before it throws: a pool that read
 * without bound would otherwise spin forever in a synchronous generator.
 */
const RUNAWAY = 100_000;
export function runaway(produced: number): void {
  if (produced > RUNAWAY) throw new Error(`the pool read more than ${RUNAWAY} items of an infinite source`);
}

/** The five outcome counts of stats(). */
export function outcomes(s: PoolStats): Pick<PoolStats, 'completed' | 'failed' | 'cancelled' | 'timedOut' | 'crashed'> {
  return { completed: s.completed, failed: s.failed, cancelled: s.cancelled, timedOut: s.timedOut, crashed: s.crashed };
}

const MESSAGE_FORM =
  /^Expected `[A-Za-z]+` to be .+, got `.*` \((number|string|boolean|object|array|null|undefined|function|symbol|bigint)\)$/s;

/** Asserts a TypeError or RangeError about `option`, in the form "Expected `x` to be ..., got `v` (type)". */
export function assertOptionError(err: unknown, option: string): void {
  assert.ok(err instanceof TypeError || err instanceof RangeError, `a TypeError or RangeError, got ${String(err)}`);
  assert.match(err.message, MESSAGE_FORM);
  assert.ok(err.message.startsWith(`Expected \`${option}\` `), `the message names \`${option}\`: ${err.message}`);
}

/**
 * Declares one concern of the contract for every backend of ./backends.ts:
 * `declare(backend)` declares its suites and tests, inside a suite named
 * "<backend> contract". A backend that cannot run here (RemotePool
 * without Redis) gets one skipped test saying why: node:test's summary does
 * not count a skipped suite.
 */
export async function contractFile(concern: string, declare: (backend: Backend) => void): Promise<void> {
  for (const backend of backends) {
    const skip = await backend.unavailable?.();
    if (skip !== undefined) {
      test(`${backend.name} contract: ${concern}`, { skip }, () => {});
      continue;
    }
    describe(`${backend.name} contract`, () => {
      if (backend.setup !== undefined) before(() => backend.setup!());
      if (backend.teardown !== undefined) after(() => backend.teardown!());
      declare(backend);
    });
  }
}
