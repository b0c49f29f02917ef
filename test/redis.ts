// Real Redis and real `warmpool worker` hosts for the RemotePool tests and
// bench: a private redis-server on a free loopback port, without persistence,
// and host processes started from the built CLI. Nothing is mocked.
//
// Which Redis (read once per process):
//   WARMPOOL_REDIS_URL=redis://host:port   use that server; nothing is spawned,
//                                          nothing in it is flushed (queues
//                                          have fresh names), and tests that
//                                          restart Redis are skipped
//   otherwise                              spawn `redis-server` from PATH
//   neither                                RemotePool tests and bench section
//                                          are skipped, saying how to include
//                                          them, unless WARMPOOL_REQUIRE_REDIS=1
//                                          (CI) makes that a failure

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../lib/cli/main.js', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Resolves when `child` has written a line matching `pattern` to `stream`;
 * rejects if it exits first, or at once if it could not be spawned (a spawn
 * error such as ENOENT comes as an 'error' event and no 'exit' ever follows).
 */
function waitForLine(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const done = () => {
      child[stream]!.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        done();
        resolve();
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      done();
      reject(new Error(`${what} exited (code ${String(code)}, signal ${String(signal)}) before it was ready:\n${seen}`));
    };
    const onError = (err: Error) => {
      done();
      reject(new Error(`${what} could not be started: ${err.message}`, { cause: err }));
    };
    child[stream]!.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

/** The server WARMPOOL_REDIS_URL names, if set: used instead of spawning one. */
export const externalRedisUrl: string | undefined = process.env.WARMPOOL_REDIS_URL || undefined;

const HOW_TO_INCLUDE =
  'put `redis-server` on PATH (Debian/Ubuntu: apt-get install redis-server) or set WARMPOOL_REDIS_URL=redis://host:port';

let availability: Promise<string | undefined> | undefined;

/**
 * Why RemotePool cannot be run here (no WARMPOOL_REDIS_URL and no
 * `redis-server` on PATH), with how to include it; undefined when it can.
 * Under WARMPOOL_REQUIRE_REDIS=1 a missing Redis rejects instead, so a CI run
 * cannot pass by skipping RemotePool.
 */
export function redisUnavailable(): Promise<string | undefined> {
  availability ??= (async () => {
    if (externalRedisUrl !== undefined) return undefined;
    const probe = spawn('redis-server', ['--version'], { stdio: 'ignore' });
    const failure = await new Promise<Error | undefined>((resolve) => {
      probe.once('error', resolve);
      probe.once('exit', () => resolve(undefined));
    });
    if (failure === undefined) return undefined;
    const reason = `no Redis: \`redis-server\` could not be started (${failure.message}) and WARMPOOL_REDIS_URL is not set; to include RemotePool, ${HOW_TO_INCLUDE}`;
    if (process.env.WARMPOOL_REQUIRE_REDIS === '1') throw new Error(`WARMPOOL_REQUIRE_REDIS=1 and ${reason}`);
    return reason;
  })();
  return availability;
}

/**
 * `describe(name, fn)` when a Redis is at hand; otherwise one skipped test of
 * that name saying why and how to include it (node:test's summary does not
 * count a skipped suite, so a skipped suite would vanish from it).
 */
export async function describeWithRedis(): Promise<(name: string, fn: () => void) => void> {
  const reason = await redisUnavailable();
  if (reason === undefined) return (name, fn) => void describe(name, fn);
  return (name) => void test(name, { skip: reason }, () => {});
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** True when it is the WARMPOOL_REDIS_URL server, which these helpers neither stop nor restart. */
  readonly external: boolean;
  /** Stops it (SIGTERM) and waits for the exit; nothing for an external server. */
  stop(): Promise<void>;
  /** Stops it and starts a fresh, empty one on the same port; throws for an external server. */
  restart(): Promise<void>;
}

/** Checks that the WARMPOOL_REDIS_URL server answers, so a wrong URL fails here and not as a hang in a test. */
async function externalRedis(url: string): Promise<RedisServer> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new Error(`WARMPOOL_REDIS_URL=${url}: Redis did not answer: ${(err as Error).message}`, { cause: err });
  } finally {
    client.disconnect();
  }
  return {
    port: Number(new URL(url).port || 6379),
    url,
    external: true,
    stop: async () => {},
    restart: () => Promise.reject(new Error(`WARMPOOL_REDIS_URL=${url} is not ours to restart`)),
  };
}

/** The WARMPOOL_REDIS_URL server, or a private redis-server spawned from PATH. */
export async function startRedis(): Promise<RedisServer> {
  if (externalRedisUrl !== undefined) return externalRedis(externalRedisUrl);
  const port = await freePort();
  let child: ChildProcess;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await waitForLine(child, 'stdout', /Ready to accept connections/, 'redis-server');
    child.stdout!.resume();
    child.stderr!.resume();
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    external: false,
    stop: () => stopChild(child, 'SIGTERM'),
    async restart() {
      await stopChild(child, 'SIGTERM');
      await start();
    },
  };
}

export interface Host {
  readonly child: ChildProcess;
  /** SIGTERM: stop taking jobs, finish the running ones, exit. Waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
}

/** Starts `warmpool worker <module>` on `queue` and waits until it takes jobs. */
export async function startHost(url: string, queue: string, module: URL, args: string[] = []): Promise<Host> {
  const child = spawn(process.execPath, [CLI, 'worker', fileURLToPath(module), '--connection', url, '--queue', queue, ...args], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  await waitForLine(child, 'stderr', /warmpool worker: ready/, 'warmpool worker');
  child.stderr.pipe(process.stderr);
  return {
    child,
    stop: () => stopChild(child, 'SIGTERM'),
    kill: () => stopChild(child, 'SIGKILL'),
  };
}

let queues = 0;
/** A queue name no other test of this process uses. */
export function freshQueue(prefix = 'q'): string {
  return `${prefix}${process.pid}x${queues++}`;
}

/** Resolves when `host` writes `text` to its stderr. */
export function saying(host: Host, text: string): Promise<void> {
  return new Promise((resolve) => {
    const onData = (chunk: Buffer) => {
      if (!chunk.toString().includes(text)) return;
      host.child.stderr!.off('data', onData);
      resolve();
    };
    host.child.stderr!.on('data', onData);
  });
}

/** The pids a pidsThen* task wrote: [local worker, its host]. */
export function pidsIn(path: string): [number, number] {
  const [worker, host] = readFileSync(path, 'utf8').split(' ').map(Number);
  return [worker, host];
}
