// RemotePool against a real redis-server and real `warmpool worker` hosts
// (test/redis.ts): faults the contract suite cannot reach — a host killed
// mid-job, Redis restarted mid-run, a burst with most events dropped —
// plus what only RemotePool has (its options, its peers, other producers on
// the same queue). The Executor contract itself runs against RemotePool in
// the contract-*.test.ts files.
//
// Without a Redis (test/redis.ts says where one comes from) the tests that
// need one are reported as one skipped test saying how to include them; the
// rest (options, an unreachable Redis, the worker command's refusals, missing
// peers) run anyway.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { BrokerError, CancelledError, RemotePool, TimeoutError, WarmpoolError, type Future, type RemotePoolOptions } from '../lib/index.js';
import type * as remoteTasks from './fixtures/remote-tasks.js';
import { cloneSamples, touch, whenFileExists } from './fixtures/remote-tasks.js';
import { reasonOf, tempDir } from './helpers.js';
import {
  describeWithRedis,
  externalRedisUrl,
  freshQueue,
  pidsIn,
  saying,
  startHost,
  startRedis,
  type Host,
  type RedisServer,
} from './redis.js';

type Tasks = typeof remoteTasks;
const tasksUrl = new URL('./fixtures/remote-tasks.js', import.meta.url);
const SHORT = { timeout: 30_000 };
const LONG = { timeout: 90_000 };
/** Short lock and stall checks, so a dead host's job is taken back in about two seconds. */
const FAST_RECOVERY = ['--lock-duration', '1000', '--stalled-interval', '1000'];

let redis: RedisServer;
/** A URL where no Redis listens, for tests that never reach one. */
const NOWHERE = 'redis://127.0.0.1:1';

/** Hosts started by a test, stopped after it even when it fails. */
async function hosts(t: { after(fn: () => Promise<void>): void }, queue: string, count: number, args: string[] = []): Promise<Host[]> {
  const started = await Promise.all(
    Array.from({ length: count }, () => startHost(redis.url, queue, tasksUrl, ['--workers', '1', ...args])),
  );
  t.after(() => Promise.all(started.map((h) => h.kill())).then(() => {}));
  return started;
}

function pool(queue: string, options: Partial<RemotePoolOptions> = {}): RemotePool<Tasks> {
  return new RemotePool<Tasks>({ connection: redis.url, queue, ...options });
}

/** Submits `pidsThenBlock` and waits until a host runs it: its future, the pids of its local worker and host, and what ends it. */
async function blockedOnHost(
  p: RemotePool<Tasks>,
  dir: string,
): Promise<{ f: Future<string>; worker: number; host: number; release: () => void }> {
  const started = join(dir, 'started');
  const release = join(dir, 'release');
  const f = p.submit('pidsThenBlock', [started, release]);
  await whenFileExists(started);
  const [worker, host] = pidsIn(started);
  return { f, worker, host, release: () => touch(release) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once process `pid` has exited; fails after `ms`. Polls: a process that is not our child has no exit event. */
async function exited(pid: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) assert.fail(`process ${pid} was still alive after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

(await describeWithRedis())('RemotePool against a real Redis', () => {
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());

  test(
    'values cross Redis both ways with their types: Map, Set, BigInt, Date, RegExp, typed arrays, errors, -0, NaN, cycles',
    SHORT,
    async (t) => {
      const queue = freshQueue();
      await hosts(t, queue, 1);
      await using p = pool(queue);
      const report = await p.submit('matchesSamples', [cloneSamples()]);
      assert.deepEqual(
        Object.entries(report).filter(([, ok]) => !ok),
        [],
        'every sample arrives equal',
      );
      const back = (await p.submit('echo', [cloneSamples()])) as Record<string, unknown>;
      for (const [key, want] of Object.entries(cloneSamples())) assert.deepEqual(back[key], want, `sample ${key}`);
      assert.ok(back.map instanceof Map && back.set instanceof Set && back.date instanceof Date, 'classes kept');
      const err = await reasonOf(p.submit('failCustom'));
      assert.ok(err instanceof Error);
      assert.equal((err as Error & { code?: string }).code, 'E_CUSTOM');
      assert.ok(err.cause instanceof RangeError, 'the cause keeps its class');
      assert.match(err.stack!, /failCustom/, 'the remote stack is kept');
    },
  );

  test('a timeout stops a synchronous loop on the remote host with TimeoutError, and the host serves the next task', SHORT, async (t) => {
    const queue = freshQueue();
    await hosts(t, queue, 1);
    await using p = pool(queue);
    const err = await reasonOf(p.submit('forever', [], { timeout: 300 }));
    assert.ok(err instanceof TimeoutError, String(err));
    assert.equal(await p.submit('add', [1, 2]), 3);
    assert.equal(p.stats().timedOut, 1);
  });

  test(
    'cancel() of a task running on a remote host rejects it with CancelledError and stops its local worker process',
    SHORT,
    async (t) => {
      const queue = freshQueue();
      await hosts(t, queue, 1);
      const dir = await tempDir(t);
      await using p = pool(queue);
      const startedPath = join(dir, 'started');
      const f = p.submit('pidsThenForever', [startedPath]);
      await whenFileExists(startedPath);
      const [worker] = pidsIn(startedPath);
      assert.equal(f.cancel(), true);
      assert.ok((await reasonOf(f)) instanceof CancelledError);
      await exited(worker);
      assert.equal(await p.submit('add', [2, 2]), 4, 'the host goes on with a fresh worker');
    },
  );

  test(
    'a running task cancelled just before its pool shuts down is still stopped on its host, and a new pool on the same queue and hosts gets its next task run',
    SHORT,
    async (t) => {
      const queue = freshQueue();
      await hosts(t, queue, 1);
      const dir = await tempDir(t);
      const startedPath = join(dir, 'started');
      const first = pool(queue);
      const f = first.submit('pidsThenForever', [startedPath]);
      await whenFileExists(startedPath);
      const [worker] = pidsIn(startedPath);
      assert.equal(f.cancel(), true);
      assert.ok((await reasonOf(f)) instanceof CancelledError);
      // At once: nothing outstanding keeps the pool, so only a cancel still
      // on its way to the host can be lost here.
      await first.shutdown();
      await exited(worker);
      // The one host holds one job at a time: this runs only if the cancelled
      // job gave its slot back. queueTimeout turns a stuck slot into a clear failure.
      await using second = pool(queue, { queueTimeout: 15_000 });
      assert.equal(await second.submit('add', [2, 3]), 5);
    },
  );

  test(
    'a host started with --threads runs tasks in worker threads of its own process, and a timeout stops a synchronous loop there',
    SHORT,
    async (t) => {
      const queue = freshQueue();
      const [host] = await hosts(t, queue, 1, ['--threads']);
      await using p = pool(queue);
      const token = await p.submit('workerToken');
      assert.equal(token.split(':')[0], String(host.child.pid), 'the task ran in the host process (a thread)');
      assert.ok((await reasonOf(p.submit('forever', [], { timeout: 300 }))) instanceof TimeoutError);
      assert.equal(await p.submit('add', [2, 5]), 7);
    },
  );

  test(
    'a task whose host is killed with SIGKILL mid-job runs again on another host once its lock expires, and the dead host leaves no process behind',
    LONG,
    async (t) => {
      const queue = freshQueue();
      const [a, b] = await hosts(t, queue, 2, FAST_RECOVERY);
      const dir = await tempDir(t);
      await using p = pool(queue, { pollInterval: 200 });
      const { f, worker, host: hostPid, release } = await blockedOnHost(p, dir);
      const victim = [a, b].find((h) => h.child.pid === hostPid);
      assert.ok(victim !== undefined, `the task runs under one of the hosts (${hostPid})`);
      await victim.kill();
      await exited(worker);
      release();
      const pids = await f;
      assert.notEqual(pids.split(' ')[1], String(hostPid), 'the surviving host ran it');
    },
  );

  test(
    'SIGTERM lets a host finish its running job and exit 0; a second signal stops the job, which fails with BrokerError',
    LONG,
    async (t) => {
      const queue = freshQueue();
      const [first, second] = await hosts(t, queue, 2);
      const dir = await tempDir(t);
      await using p = pool(queue);
      // Graceful: the job a host holds when it gets SIGTERM still completes.
      const startedA = join(dir, 'a');
      const releaseA = join(dir, 'a-release');
      const a = p.submit('pidsThenBlock', [startedA, releaseA]);
      await whenFileExists(startedA);
      const hostA = [first, second].find((h) => h.child.pid === pidsIn(startedA)[1])!;
      const exitA = once(hostA.child, 'exit');
      const stoppingA = saying(hostA, 'warmpool worker: stopping, 1 running job');
      hostA.child.kill('SIGTERM');
      await stoppingA;
      touch(releaseA);
      assert.equal(await a, readFileSync(startedA, 'utf8'));
      assert.deepEqual(await exitA, [0, null]);
      // Forced: a second signal cancels the running job on the other host.
      const startedB = join(dir, 'b');
      const b = p.submit('pidsThenForever', [startedB]);
      await whenFileExists(startedB);
      const hostB = [first, second].find((h) => h.child.pid === pidsIn(startedB)[1])!;
      assert.notEqual(hostB, hostA);
      const exitB = once(hostB.child, 'exit');
      // Signals of one kind do not queue: the second goes once the first is seen.
      const stopping = saying(hostB, 'warmpool worker: stopping, 1 running job');
      hostB.child.kill('SIGTERM');
      await stopping;
      hostB.child.kill('SIGTERM');
      const err = await reasonOf(b);
      assert.ok(err instanceof BrokerError, String(err));
      assert.match(err.message, /stopped by a second signal/);
      assert.deepEqual(await exitB, [0, null]);
      await exited(pidsIn(startedB)[0]);
    },
  );

  const restartSkip =
    externalRedisUrl !== undefined &&
    'WARMPOOL_REDIS_URL names a server these tests may not restart; unset it to run this test on a private redis-server';
  test(
    'futures settle, with a result or a BrokerError, when Redis restarts empty during a run, and the pool works after it',
    { ...LONG, skip: restartSkip },
    async (t) => {
      const queue = freshQueue();
      await hosts(t, queue, 2);
      const dir = await tempDir(t);
      await using p = pool(queue, { pollInterval: 200 });
      const startedPath = join(dir, 'started');
      const futures = [p.submit('touchThenSpin', [startedPath, 200]), ...Array.from({ length: 30 }, () => p.submit('spin', [100]))];
      await whenFileExists(startedPath);
      await redis.restart();
      const outcomes = await Promise.allSettled(futures);
      for (const o of outcomes) {
        if (o.status === 'rejected') assert.ok(o.reason instanceof BrokerError, `a clear error, got ${String(o.reason)}`);
      }
      assert.ok(
        outcomes.some((o) => o.status === 'rejected'),
        'jobs lost with Redis fail',
      );
      assert.equal(await p.submit('add', [5, 5]).result(20_000), 10, 'after Redis is back, work is served again');
    },
  );

  test(
    'a job whose hash leaves Redis while its host runs it fails its future with BrokerError; the host says so once, not as a BullMQ warning, and serves the next task',
    SHORT,
    async (t) => {
      const queue = freshQueue();
      const [host] = await hosts(t, queue, 1);
      let said = '';
      host.child.stderr!.on('data', (chunk: Buffer) => (said += chunk.toString()));
      const dir = await tempDir(t);
      await using p = pool(queue, { pollInterval: 200 });
      const { f, release } = await blockedOnHost(p, dir);
      // As a flush or an empty restart would, but of this job alone (the Redis may be shared: WARMPOOL_REDIS_URL).
      const client = new Redis(redis.url);
      try {
        const jobKeys = (await client.keys(`bull:${queue}:*`)).filter((key) => /:[0-9a-f]{12}-\d+$/.test(key));
        assert.equal(jobKeys.length, 1, `one job hash: ${jobKeys.join(', ')}`);
        await client.del(jobKeys[0]);
      } finally {
        client.disconnect();
      }
      const told = saying(host, 'is no longer in Redis');
      release();
      const err = await reasonOf(f);
      assert.ok(err instanceof BrokerError, String(err));
      assert.match(err.message, /no longer in Redis/);
      await told;
      // One job at a time on this host: this one starts once the vanished job's processing is over, both BullMQ errors reported.
      assert.equal(await p.submit('add', [2, 2]), 4);
      assert.equal(said.match(/is no longer in Redis/g)?.length, 1, said);
      assert.doesNotMatch(said, /Missing key/);
    },
  );

  test(
    'a burst of 20,000 tasks settles every future with its own result, even with the events stream capped so that most events are dropped',
    LONG,
    async (t) => {
      const queue = freshQueue();
      await hosts(t, queue, 2);
      await using p = pool(queue, { pollInterval: 200, eventsMaxLen: 100 });
      const n = 20_000;
      const futures = Array.from({ length: n }, (_, i) => p.submit('add', [i, 1]));
      const results = await Promise.all(futures);
      for (let i = 0; i < n; i++) if (results[i] !== i + 1) assert.fail(`task ${i} gave ${String(results[i])}`);
      const s = p.stats();
      assert.equal(s.completed, n);
      assert.equal(s.queued + s.busy, 0);
    },
  );

  test(
    'map over many items travels in chunks and keeps input order; a failing item rejects with its own error and index',
    SHORT,
    async (t) => {
      const queue = freshQueue();
      await hosts(t, queue, 2);
      await using p = pool(queue);
      const items = Array.from({ length: 5000 }, (_, i) => i);
      assert.deepEqual(
        await p.map('square', items),
        items.map((x) => x * x),
      );
      // stats().completed counts items; the jobs in Redis show the chunks.
      assert.equal(p.stats().completed, 5000);
      const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
      const jobs = new Queue(queue, { connection });
      try {
        const chunks = await jobs.getCompletedCount();
        assert.ok(chunks > 0 && chunks < 5000, `items travelled in chunks, not one job each (${chunks} jobs)`);
      } finally {
        await jobs.close();
        connection.disconnect();
      }
      const err = await reasonOf(p.map('failIfNegative', [1, 2, -3, 4]));
      assert.ok(err instanceof Error);
      assert.equal((err as Error & { index?: number }).index, 2);
    },
  );

  test(
    'shutdown({ cancelFutures: true }) removes only its own waiting jobs: another producer’s jobs on the same queue still run',
    SHORT,
    async (t) => {
      const queue = freshQueue();
      const mine = pool(queue);
      await using theirs = pool(queue);
      await Promise.all([mine.ready(), theirs.ready()]);
      const myFutures = [1, 2, 3].map((i) => mine.submit('add', [i, 0]));
      const theirFutures = [1, 2, 3].map((i) => theirs.submit('add', [i, 10]));
      await new Promise((resolve) => setImmediate(resolve));
      await mine.shutdown({ cancelFutures: true });
      for (const f of myFutures) assert.equal(f.state, 'cancelled');
      await hosts(t, queue, 1);
      assert.deepEqual(await Promise.all(theirFutures), [11, 12, 13]);
    },
  );

  test('a host runs only exports of its own module: any other name fails with TaskNotFoundError and the host goes on', SHORT, async (t) => {
    const queue = freshQueue();
    await hosts(t, queue, 1);
    await using p = pool(queue);
    const err = await reasonOf((p as RemotePool).submit('readFileSync', ['/etc/passwd']));
    assert.equal((err as Error).name, 'TaskNotFoundError');
    assert.equal(await p.submit('add', [1, 1]), 2);
  });
});

describe('RemotePool without a Redis', () => {
  test('the test helper startRedis rejects at once, naming the spawn error, when redis-server is not on PATH', SHORT, async (t) => {
    const dir = await tempDir(t);
    const helper = new URL('./redis.js', import.meta.url).href;
    const script = `import(${JSON.stringify(helper)}).then((m) => m.startRedis()).then(() => console.log('started'), (err) => console.log(err.message));`;
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: dir };
    delete env.WARMPOOL_REDIS_URL;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env });
    assert.match(stdout, /^redis-server could not be started: spawn redis-server ENOENT/);
  });

  test('RemotePool checks its options at construction, with messages saying what was expected and what arrived', SHORT, () => {
    assert.throws(
      () => new RemotePool({ connection: 'http://x', queue: 'q' }),
      /Expected `connection` to be a redis:\/\/ or rediss:\/\/ URL/,
    );
    assert.throws(
      () => new RemotePool({ connection: NOWHERE, queue: '' }),
      /Expected `queue` to be a non-empty string without `:`, got `` \(string\)/,
    );
    assert.throws(() => new RemotePool({ connection: NOWHERE, queue: 'q', pollInterval: 1 }), RangeError);
    assert.throws(
      () => new RemotePool({ connection: NOWHERE, queue: 'q', workers: 2, minWorkers: 1 } as RemotePoolOptions),
      /worker options are given to `warmpool worker`/,
    );
  });

  test('ready() rejects with BrokerError, and futures fail with it, when Redis cannot be reached', SHORT, async () => {
    const p = new RemotePool<Tasks>({
      connection: { host: '127.0.0.1', port: 1, retryStrategy: () => null, maxRetriesPerRequest: 0 },
      queue: 'q',
    });
    const f = p.submit('add', [1, 2]);
    const err = await reasonOf(p.ready());
    assert.ok(err instanceof BrokerError);
    assert.match(err.message, /could not connect to Redis at 127\.0\.0\.1:1 for queue `q`/);
    assert.ok((await reasonOf(f)) instanceof BrokerError);
    await p.shutdown();
  });

  test(
    'warmpool worker refuses a missing queue, a bad number and a module that fails to load, with a message and a non-zero exit code',
    SHORT,
    async (t) => {
      const cli = new URL('../lib/cli/main.js', import.meta.url).pathname;
      const run = (args: string[]) =>
        new Promise<{ code: number | null; stderr: string }>((resolve) => {
          execFile(process.execPath, [cli, 'worker', ...args], (_err, _out, stderr) =>
            resolve({ code: _err === null ? 0 : (_err.code as number), stderr }),
          );
        });
      const module = new URL(tasksUrl).pathname;
      const noQueue = await run([module, '--connection', NOWHERE]);
      assert.equal(noQueue.code, 2);
      assert.match(noQueue.stderr, /Expected --queue <name>, got none/);
      const badWorkers = await run([module, '--queue', 'q', '--workers', 'two']);
      assert.equal(badWorkers.code, 2);
      assert.match(badWorkers.stderr, /Expected --workers to be an integer >= 1, got `two`/);
      const dir = await tempDir(t);
      const broken = join(dir, 'broken.mjs');
      writeFileSync(broken, "throw new Error('broken module');\n");
      const failed = await run([broken, '--connection', NOWHERE, '--queue', freshQueue(), '--workers', '1']);
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /could not start: .*broken module/);
    },
  );

  test('importing warmpool works without bullmq and ioredis installed, and new RemotePool then says to install them', SHORT, async (t) => {
    const dir = await tempDir(t);
    // A copy of the built package beside its real dependencies but without the peers.
    const root = new URL('../../', import.meta.url);
    const script = [
      "import { ProcessPool, RemotePool } from 'warmpool';",
      "if (typeof ProcessPool !== 'function') throw new Error('no ProcessPool');",
      "try { new RemotePool({ connection: 'redis://127.0.0.1:1', queue: 'q' }); console.log('constructed'); }",
      'catch (err) { console.log(err.name + ": " + err.message); }',
    ].join('\n');
    writeFileSync(join(dir, 'main.mjs'), script);
    const sh = [
      `mkdir -p ${dir}/node_modules/warmpool`,
      `cp -r ${root.pathname}package.json ${root.pathname}dist ${dir}/node_modules/warmpool/`,
      `for m in ${root.pathname}node_modules/*; do case "$(basename "$m")" in bullmq|ioredis) ;; *) ln -s "$m" ${dir}/node_modules/ ;; esac; done`,
      `ln -s ${root.pathname}node_modules/@* ${dir}/node_modules/ 2>/dev/null || true`,
    ].join(' && ');
    await promisify(execFile)('sh', ['-c', sh]);
    const { stdout } = await promisify(execFile)(process.execPath, [join(dir, 'main.mjs')], { cwd: dir });
    assert.match(stdout, /^WarmpoolError: RemotePool .*`npm install bullmq ioredis`/);
    assert.ok(WarmpoolError.name === 'WarmpoolError');
  });
});
