// RemotePool and `warmpool worker` while Redis is away or filling up, with
// real redis-servers that the tests stop (test/redis.ts): every wait on Redis
// has a bound (connect, shutdown, host signals, the queue), and a job leaves
// one copy of a large result in Redis, for at most resultTtl. The bounds are
// the ones docs/distributed.md states. Its own file: these tests wait out
// timeouts and TTLs, and run beside remote-pool.test.ts.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { BrokerError, RemotePool, TimeoutError, type RemotePoolOptions } from '../lib/index.js';
import { TaskKind } from '../lib/core/contract.js';
import { encodeJob } from '../lib/remote/codec.js';
import type * as remoteTasks from './fixtures/remote-tasks.js';
import { whenFileExists } from './fixtures/remote-tasks.js';
import { isAlive, reasonOf, tempDir, until } from './helpers.js';
import { describeWithRedis, externalRedisUrl, freshQueue, pidsIn, saying, startHost, startRedis, type RedisServer } from './redis.js';

type Tasks = typeof remoteTasks;
const tasksUrl = new URL('./fixtures/remote-tasks.js', import.meta.url);
const SHORT = { timeout: 30_000 };
const LONG = { timeout: 90_000 };

/** Shared by the tests that keep Redis up; the others start and stop their own. */
let redis: RedisServer;

function pool(queue: string, options: Partial<RemotePoolOptions> = {}): RemotePool<Tasks> {
  return new RemotePool<Tasks>({ connection: redis.url, queue, ...options });
}

/** Pids of the children of `pid` (Linux /proc), e.g. a host's local worker processes. */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(' ').map(Number);
}

/** The id of the last entry of the queue's events stream, to read what comes after it. */
async function lastEvent(client: Redis, queue: string): Promise<string> {
  const last = (await client.xrevrange(`bull:${queue}:events`, '+', '-', 'COUNT', 1)) as [string, string[]][];
  return last.length > 0 ? last[0][0] : '0-0';
}

/** Resolves when the queue's events stream, after entry `from`, has had `count` events named `name` (XREAD BLOCK: no polling). */
async function eventsSeen(client: Redis, queue: string, name: string, count: number, from = '0-0'): Promise<void> {
  let seen = 0;
  while (seen < count) {
    const reply = await client.xread('BLOCK', 10_000, 'STREAMS', `bull:${queue}:events`, from);
    assert.ok(reply !== null, `the ${name} events of queue ${queue}`);
    for (const [id, fields] of reply[0][1]) {
      from = id;
      if (fields[0] === 'event' && fields[1] === name) seen++;
    }
  }
}

/** Resolves when Redis reports `key` expired (keyspace notifications, enabled here). */
async function expired(url: string, key: string): Promise<void> {
  const sub = new Redis(url);
  try {
    await sub.config('SET', 'notify-keyspace-events', 'Ex');
    const gone = new Promise<void>((resolve) =>
      sub.on('message', (_channel: string, expiredKey: string) => expiredKey === key && resolve()),
    );
    await sub.subscribe('__keyevent@0__:expired');
    // Already gone before the subscription: no event will come.
    const probe = new Redis(url);
    const exists = await probe.exists(key);
    probe.disconnect();
    if (exists === 0) return;
    await gone;
  } finally {
    sub.disconnect();
  }
}

// These tests stop and restart their own redis-servers: a WARMPOOL_REDIS_URL
// server is not theirs to stop, so with one set they are skipped, saying so.
const describeOutages: (name: string, fn: () => void) => void =
  externalRedisUrl === undefined
    ? await describeWithRedis()
    : (name) =>
        void test(
          name,
          { skip: 'these tests stop their own redis-server; unset WARMPOOL_REDIS_URL and put redis-server on PATH to run them' },
          () => {},
        );

describeOutages('RemotePool and warmpool worker through Redis outages', () => {
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());

  test(
    'shutdown() ends within its bound while Redis is down: the task still outstanding rejects with BrokerError and the process exits by itself',
    SHORT,
    async () => {
      const own = await startRedis();
      // A script that awaits shutdown at top level: it exits 0 only if shutdown settles and leaves nothing holding the event loop.
      const script = [
        `import { RemotePool } from ${JSON.stringify(new URL('../lib/index.js', import.meta.url).href)};`,
        `const pool = new RemotePool({ connection: ${JSON.stringify(own.url)}, queue: 'q', closeTimeout: 1000 });`,
        "const f = pool.submit('add', [1, 2]);",
        'await pool.ready();',
        "console.log('ready');",
        "await new Promise((resolve) => process.stdin.once('data', resolve));",
        'const start = Date.now();',
        'await pool.shutdown();',
        "const err = await f.then(() => 'fulfilled', (e) => e.name + ': ' + e.message);",
        'console.log(JSON.stringify({ ms: Date.now() - start, err }));',
      ].join('\n');
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      const readyLine = new Promise<void>((resolve) =>
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('ready\n')) resolve();
        }),
      );
      const exit = once(child, 'exit');
      await readyLine;
      await own.stop();
      child.stdin.end('go\n');
      assert.deepEqual(await exit, [0, null], 'the script ended by itself, its top-level await settled');
      const report = JSON.parse(out.split('\n')[1]) as { ms: number; err: string };
      assert.match(report.err, /^BrokerError: Redis at redis:\/\/127\.0\.0\.1:\d+ was unreachable for 1000 ms \(`closeTimeout`\)/);
      // The bound is 2 × closeTimeout; the margin is for a loaded machine.
      assert.ok(report.ms < 10_000, `shutdown took ${report.ms} ms`);
    },
  );

  test('shutdown() with no task outstanding ends while Redis is down, and the pool refuses new work', SHORT, async () => {
    const own = await startRedis();
    const p = new RemotePool<Tasks>({ connection: own.url, queue: 'q', closeTimeout: 1000 });
    await p.ready();
    await own.stop();
    await p.shutdown();
    assert.throws(() => p.submit('add', [1, 1]), { name: 'PoolClosedError' });
  });

  test(
    'a host exits 0 on SIGTERM while Redis is down, after saying it cannot reach Redis, and its local worker processes are gone',
    SHORT,
    async () => {
      const own = await startRedis();
      const host = await startHost(own.url, freshQueue(), tasksUrl, ['--workers', '2']);
      try {
        const workers = childrenOf(host.child.pid!);
        assert.equal(workers.length, 2, 'two local workers');
        const warned = saying(host, 'warmpool worker: cannot reach Redis at redis://127.0.0.1:');
        await own.stop();
        await warned;
        const exit = once(host.child, 'exit');
        host.child.kill('SIGTERM');
        assert.deepEqual(await exit, [0, null]);
        for (const pid of workers) await until(() => !isAlive(pid), 10_000, `local worker ${pid} to exit`);
      } finally {
        await host.kill();
      }
    },
  );

  test('a host started without a reachable Redis says so, and exits 0 on SIGTERM leaving no local worker', SHORT, async () => {
    const own = await startRedis();
    await own.stop();
    const cli = new URL('../lib/cli/main.js', import.meta.url).pathname;
    const child = spawn(
      process.execPath,
      [cli, 'worker', new URL(tasksUrl).pathname, '--connection', own.url, '--queue', 'q', '--workers', '1'],
      {
        stdio: ['ignore', 'inherit', 'pipe'],
      },
    );
    try {
      let err = '';
      await new Promise<void>((resolve) =>
        child.stderr.on('data', (chunk: Buffer) => {
          err += chunk.toString();
          if (err.includes('cannot reach Redis')) resolve();
        }),
      );
      assert.match(err, new RegExp(`warmpool worker: cannot reach Redis at redis://127\\.0\\.0\\.1:${own.port} \\(connect ECONNREFUSED`));
      const exit = once(child, 'exit');
      const workers = childrenOf(child.pid!);
      child.kill('SIGTERM');
      assert.deepEqual(await exit, [0, null]);
      for (const pid of workers) await until(() => !isAlive(pid), 10_000, `local worker ${pid} to exit`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test(
    'a second signal stops a host at once while Redis is down and a task runs: the task’s local worker is stopped and the host exits 0',
    SHORT,
    async (t) => {
      const own = await startRedis();
      const queue = freshQueue();
      const host = await startHost(own.url, queue, tasksUrl, ['--workers', '1']);
      t.after(() => host.kill());
      const dir = await tempDir(t);
      const p = new RemotePool<Tasks>({ connection: own.url, queue, closeTimeout: 500 });
      const startedPath = join(dir, 'started');
      const f = p.submit('pidsThenForever', [startedPath]);
      f.catch(() => {});
      await whenFileExists(startedPath);
      const [worker] = pidsIn(startedPath);
      await own.stop();
      const exit = once(host.child, 'exit');
      const stopping = saying(host, 'warmpool worker: stopping, 1 running job');
      host.child.kill('SIGTERM');
      await stopping;
      host.child.kill('SIGTERM');
      assert.deepEqual(await exit, [0, null]);
      await until(() => !isAlive(worker), 10_000, `local worker ${worker} to exit`);
      await p.shutdown();
      assert.ok((await reasonOf(f)) instanceof BrokerError, 'the pool gave up on the task with Redis');
    },
  );

  test('shutdown({ cancelFutures: true }) resolves when the only tasks are jobs waiting in Redis, and removes them', SHORT, async () => {
    const queue = freshQueue();
    const p = pool(queue);
    await p.ready();
    const futures = [1, 2, 3].map((i) => p.submit('add', [i, 0]));
    const client = new Redis(redis.url);
    try {
      await eventsSeen(client, queue, 'waiting', 3);
      await client.ping(); // the pool's own reply to adding them came before this one
      await p.shutdown({ cancelFutures: true });
      for (const f of futures) assert.equal(f.state, 'cancelled');
      assert.equal(await client.zcard(`bull:${queue}:prioritized`), 0, 'their jobs are gone');
    } finally {
      client.disconnect();
    }
  });

  test('ready() rejects with BrokerError naming the address once connectTimeout passes, and waits 10000 ms by default', LONG, async () => {
    const own = await startRedis();
    await own.stop();
    const short = new RemotePool<Tasks>({ connection: own.url, queue: 'q', connectTimeout: 300 });
    const f = short.submit('add', [1, 2]);
    const err = await reasonOf(short.ready());
    assert.ok(err instanceof BrokerError);
    assert.match(
      err.message,
      new RegExp(
        `could not connect to Redis at redis://127\\.0\\.0\\.1:${own.port} for queue \`q\`: no connection within 300 ms \\(\`connectTimeout\`\\); last error: connect ECONNREFUSED`,
      ),
    );
    assert.equal(await reasonOf(f), err, 'the futures get the same error');
    assert.equal(await reasonOf(short.submit('add', [1, 2])), err, 'so do later submits');
    await short.shutdown();
    const byDefault = new RemotePool<Tasks>({ connection: own.url, queue: 'q' });
    assert.match(String(await reasonOf(byDefault.ready())), /no connection within 10000 ms \(`connectTimeout`\)/);
    await byDefault.shutdown();
  });

  test('connectTimeout: Infinity keeps waiting for Redis, and shutdown still ends while it waits', SHORT, async () => {
    const own = await startRedis();
    await own.stop();
    const p = new RemotePool<Tasks>({ connection: own.url, queue: 'q', connectTimeout: Infinity, closeTimeout: 300 });
    const f = p.submit('add', [1, 2]);
    await p.shutdown();
    assert.ok((await reasonOf(f)) instanceof BrokerError);
  });

  test('queueTimeout rejects a task no host starts with TimeoutError naming the queue, and removes its job', SHORT, async () => {
    const queue = freshQueue();
    await using p = pool(queue, { queueTimeout: 300 });
    const err = await reasonOf(p.submit('add', [1, 2]));
    assert.ok(err instanceof TimeoutError, String(err));
    assert.match(
      err.message,
      new RegExp(`No host started the task within 300 ms \\(\`queueTimeout\`\\): is a \`warmpool worker\` serving queue \`${queue}\``),
    );
    assert.equal(p.stats().timedOut, 1);
    const client = new Redis(redis.url);
    try {
      await eventsSeen(client, queue, 'removed', 1);
      assert.equal(await client.zcard(`bull:${queue}:prioritized`), 0, 'the job is gone');
    } finally {
      client.disconnect();
    }
  });

  test(
    'a 20 MB result is in Redis once (not in the events stream), the pool reads it whole and removes it, and what a job leaves expires after resultTtl; purge removes the rest',
    LONG,
    async (t) => {
      const own = await startRedis();
      t.after(() => own.stop());
      const queue = freshQueue();
      const size = 20_000_000;
      const host = await startHost(own.url, queue, tasksUrl, ['--workers', '1']);
      t.after(() => host.kill());
      const client = new Redis(own.url);
      t.after(() => client.disconnect());
      const p = new RemotePool<Tasks>({ connection: own.url, queue, resultTtl: 2 });
      t.after(() => p.shutdown());
      assert.equal(await p.submit('add', [1, 1]), 2, 'BullMQ has made its keys');
      // What Redis stores for the queue: every key's MEMORY USAGE. (INFO's
      // used_memory also counts, for a moment, a buffer the size of a large
      // value in the connection that sent or read it, until Redis' cron shrinks it.)
      const usedMemory = async () => {
        let bytes = 0;
        for (const key of await client.keys(`bull:${queue}:*`)) bytes += Number(await client.memory('USAGE', key, 'SAMPLES', '0'));
        return bytes;
      };
      const before = await usedMemory();

      // A producer that never reads the result (BullMQ's own Queue, a warmpool job): the result rests in Redis.
      const { Queue } = await import('bullmq');
      const producer = new Queue(queue, { connection: { host: '127.0.0.1', port: own.port } });
      t.after(() => producer.close());
      const from = await lastEvent(client, queue);
      await producer.add('filled', encodeJob('filled', TaskKind.Call, [size], Infinity), {
        jobId: 'big',
        removeOnComplete: { age: 2 },
        removeOnFail: { age: 2 },
      });
      await eventsSeen(client, queue, 'completed', 1, from);
      const resting = (await usedMemory()) - before;
      assert.ok(resting > size * 0.9 && resting < size * 1.25, `one copy of the result: Redis grew by ${resting} bytes for ${size}`);
      assert.equal(await client.hexists(`bull:${queue}:big`, 'warmpoolResult'), 1, 'it is in the job hash');
      const streamBytes = Number(await client.memory('USAGE', `bull:${queue}:events`));
      assert.ok(streamBytes < 100_000, `not in the events stream (${streamBytes} bytes)`);
      await expired(own.url, `bull:${queue}:big`);
      const afterTtl = (await usedMemory()) - before;
      assert.ok(afterTtl < size * 0.1, `gone after resultTtl: Redis holds ${afterTtl} bytes more than before`);

      // Through the pool: the value arrives whole, and the job is removed once read.
      const fromPool = await lastEvent(client, queue);
      const value = await p.submit('filled', [size]);
      assert.equal(value.length, size);
      assert.ok(
        [0, 1, 250, 251, size - 1].every((i) => value[i] === i % 251),
        'the bytes are right',
      );
      await eventsSeen(client, queue, 'removed', 1, fromPool);
      const left = (await usedMemory()) - before;
      assert.ok(left < size * 0.1, `nothing of it stays: Redis holds ${left} bytes more than before`);

      // After resultTtl, with hosts and pool still up, only BullMQ's bookkeeping stays.
      await expired(own.url, `bull:${queue}:events`);
      await expired(own.url, `bull:${queue}:completed`);
      const keys = (await client.keys(`bull:${queue}:*`)).map((k) => k.slice(`bull:${queue}:`.length)).sort();
      for (const key of keys)
        assert.ok(
          ['id', 'meta', 'marker', 'pc', 'stalled-check', 'wait', 'prioritized'].includes(key),
          `only bookkeeping stays, found \`${key}\` in ${keys.join(', ')}`,
        );

      // `warmpool purge` refuses while a host serves the queue, and removes every key once none does.
      const cli = new URL('../lib/cli/main.js', import.meta.url).pathname;
      const purge = (...args: string[]) =>
        new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
          execFile(process.execPath, [cli, 'purge', '--connection', own.url, '--queue', queue, ...args], (err, stdout, stderr) =>
            resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr }),
          );
        });
      await p.shutdown();
      const refused = await purge();
      assert.equal(refused.code, 1);
      assert.match(
        refused.stderr,
        new RegExp(
          `queue \`${queue}\` at redis://127\\.0\\.0\\.1:${own.port} is in use by 1 host\\(s\\) and 0 pool\\(s\\); stop them first, or pass --force`,
        ),
      );
      await host.stop();
      const purged = await purge();
      assert.equal(purged.code, 0, purged.stderr);
      assert.match(purged.stdout, new RegExp(`^removed \\d+ key\\(s\\) of queue ${queue} at redis://127\\.0\\.0\\.1:${own.port}\n$`));
      assert.deepEqual(await client.keys(`bull:${queue}:*`), []);
    },
  );
});
