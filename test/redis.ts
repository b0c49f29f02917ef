// Real Redis and real `warmpool worker` hosts for the RemotePool tests and
// bench: a private redis-server on a free loopback port, without persistence,
// and host processes started from the built CLI. Nothing is mocked.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
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

/** Resolves when `child` has written a line matching `pattern` to `stream`; rejects if it exits first. */
function waitForLine(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        child[stream]!.off('data', onData);
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null, signal: string | null) =>
      reject(new Error(`${what} exited (code ${String(code)}, signal ${String(signal)}) before it was ready:\n${seen}`));
    child[stream]!.on('data', onData);
    child.once('exit', onExit);
  });
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Stops it (SIGTERM) and waits for the exit. */
  stop(): Promise<void>;
  /** Stops it and starts a fresh, empty one on the same port. */
  restart(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
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
