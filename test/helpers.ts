// Small helpers several test files share.

import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { existsSync, readdirSync, readFileSync, realpathSync, watch } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { PoolStats } from '../lib/index.js';

/** The rejection reason of `p`; fails the test if `p` fulfills. */
export async function reasonOf(p: PromiseLike<unknown>): Promise<unknown> {
  let value: unknown;
  try {
    value = await p;
  } catch (err) {
    return err;
  }
  assert.fail(`expected a rejection, got the value ${String(value)}`);
}

/** A fresh temporary folder, removed after the test. */
export async function tempDir(t: TestContext, prefix = 'warmpool-test-'): Promise<string> {
  const dir = realpathSync(await mkdtemp(join(tmpdir(), prefix)));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A message of the `warmpool:worker` diagnostics channel. */
export interface WorkerMessage {
  pool: string;
  worker: number;
  event: 'start' | 'ready' | 'exit' | 'recycle';
  exitCode?: number | null;
  signal?: string | null;
  /** Why it exited, where the pool knows it ('idle', 'startFailed', ...; lib/core/diagnostics.ts). */
  reason?: string;
}

/**
 * Records the `warmpool:worker` messages of the pool named `pool` (its
 * `name` option). `count(event)` is how many came; `next(event, n)` waits
 * until `n` have; `seen(match)` waits for a message that `match`es (one
 * already recorded included). Call `stop()` (or use `using`) when done.
 * These waits hold no timer: bound them with `within`, which also keeps the
 * event loop alive while they wait.
 */
export function workerEvents(pool: string): {
  messages: WorkerMessage[];
  count(event: WorkerMessage['event']): number;
  next(event: WorkerMessage['event'], n: number): Promise<void>;
  seen(match: (m: WorkerMessage) => boolean): Promise<WorkerMessage>;
  stop(): void;
  [Symbol.dispose](): void;
} {
  const messages: WorkerMessage[] = [];
  const waiting: { match: (m: WorkerMessage) => boolean; resolve: (m: WorkerMessage) => void }[] = [];
  const count = (event: string) => messages.filter((m) => m.event === event).length;
  const check = () => {
    for (let i = waiting.length - 1; i >= 0; i--) {
      const w = waiting[i];
      const m = messages.find(w.match);
      if (m !== undefined) {
        waiting.splice(i, 1);
        w.resolve(m);
      }
    }
  };
  const seen = (match: (m: WorkerMessage) => boolean) =>
    new Promise<WorkerMessage>((resolve) => {
      waiting.push({ match, resolve });
      check();
    });
  const onMessage = (message: unknown) => {
    const m = message as WorkerMessage;
    if (m.pool !== pool) return;
    messages.push(m);
    check();
  };
  subscribe('warmpool:worker', onMessage);
  const stop = () => unsubscribe('warmpool:worker', onMessage);
  return {
    messages,
    count,
    next: async (event, n) => {
      if (n <= 0) return;
      await seen((m) => m.event === event && count(event) >= n);
    },
    seen,
    stop,
    [Symbol.dispose]: stop,
  };
}

/**
 * `p`, or a failure naming `what` once `ms` have passed. The bound's timer is
 * ref'd on purpose: it keeps the event loop alive while `p` waits on an event
 * that nothing else holds the loop for (a pool's unref'd idle timer, a worker
 * going after a start failure), so the wait cannot end the file early.
 */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `condition` every 20 ms until it holds, failing after `timeoutMs`.
 * Only for states that no event announces (see the header).
 */
export async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
  // Still in the process table: a zombie has exited all the same (see the header).
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false; // gone between the two looks
  }
}

/** Resolves once at least `n` tasks have announced their pid as a file `dir/<pid>`. */
export function announced(dir: string, n: number, timeoutMs = 10_000): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const finish = () => {
      watcher.close();
      clearTimeout(timer);
    };
    const check = () => {
      const pids = readdirSync(dir)
        .filter((f) => /^\d+$/.test(f))
        .map(Number);
      if (pids.length >= n) {
        finish();
        resolve(pids);
      }
    };
    // Watch first, then look, so an announcement made in between is not missed.
    const watcher = watch(dir, check);
    watcher.on('error', (err) => {
      finish();
      reject(err);
    });
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`fewer than ${n} tasks announced themselves in ${dir} within ${timeoutMs} ms`));
    }, timeoutMs);
    check();
  });
}

/** Pids of this process's live children (Linux /proc; elsewhere none are found). */
export function childPids(): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === process.pid && state !== 'Z') pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** A pool whose module has a `pid` task (any backend). */
export interface WarmPool {
  ready(): Promise<void>;
  stats(): PoolStats;
  submit(name: 'pid'): PromiseLike<unknown>;
}

/**
 * Back to `min` warm workers: `ready()` settles when minWorkers workers have
 * started (the event a replacement's start is); a worker on its way out may
 * still be counted, so a round trip through a worker is made between looks.
 * Bounded by a deadline and by the test's own timeout.
 */
export async function expectWarm(pool: WarmPool, min: number, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    await pool.ready();
    const s = pool.stats();
    if (s.workers === min && s.idle === min) return;
    if (performance.now() > deadline) assert.fail(`pool not back to ${min} warm workers: ${JSON.stringify(s)}`);
    await pool.submit('pid');
  }
}

/** Lines of a log file (none if it was never written). */
export function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** How many times `start <tag> ...` appears in a log of ./fixtures/regress-tasks.ts. */
export function starts(log: string, tag: string): number {
  return lines(log).filter((l) => l.split(' ')[1] === tag).length;
}

/**
 * Resolves with the pid once `start <tag> <pid>` is in `log` (fs.watch on its
 * folder, then a look, so a line written in between is not missed); rejects
 * after `ms`.
 */
export function logged(log: string, tag: string, ms = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const finish = () => {
      watcher.close();
      clearTimeout(timer);
    };
    const check = () => {
      const line = lines(log).find((l) => l.split(' ')[1] === tag);
      if (line === undefined) return;
      finish();
      resolve(Number(line.split(' ')[2]));
    };
    const watcher = watch(join(log, '..'), check);
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`\`start ${tag}\` did not appear in ${log} within ${ms} ms`));
    }, ms);
    check();
  });
}

/** Consumes an async iterable, returning what it yielded and what it threw. */
export async function drain<T>(iterable: AsyncIterable<T>): Promise<{ yielded: T[]; error: unknown }> {
  const yielded: T[] = [];
  try {
    for await (const item of iterable) yielded.push(item);
  } catch (error) {
    return { yielded, error };
  }
  return { yielded, error: undefined };
}
