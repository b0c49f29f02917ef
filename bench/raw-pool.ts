// The raw baselines as "pools": N child processes (Node's IPC channel) or N
// worker threads (postMessage) that import the task module and answer
// [id, name, args] with [id, value]; calls go round-robin, one message each,
// with no queue, no batching, no error handling. This is the floor a pool
// built on the same transport is compared with. The same file is the child
// (argv `--raw-child <href>`) and the worker (workerData.rawPoolHref).

import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

type Request = [id: number, name: string, args: unknown[]];
type Reply = [id: number, value: unknown];
type Tasks = Record<string, (...args: unknown[]) => unknown>;

const SELF = fileURLToPath(import.meta.url);

export class RawPool {
  readonly #ends: { send(m: Request): void; stop(): Promise<void> }[] = [];
  readonly #pending = new Map<number, (v: unknown) => void>();
  #next = 0;
  #seq = 0;

  private constructor() {}

  /** Starts `workers` children ('process', with Node's IPC `serialization`, 'advanced' unless told) or threads; resolves when each has imported the module. */
  static async start(
    kind: 'process' | 'thread',
    href: string,
    workers: number,
    serialization: 'json' | 'advanced' = 'advanced',
  ): Promise<RawPool> {
    const pool = new RawPool();
    const onReply = ([id, value]: Reply): void => {
      const resolve = pool.#pending.get(id);
      pool.#pending.delete(id);
      resolve?.(value);
    };
    await Promise.all(
      Array.from({ length: workers }, async () => {
        if (kind === 'process') {
          const child: ChildProcess = fork(SELF, ['--raw-child', href], {
            serialization,
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
            execArgv: [],
          });
          await once(child, 'message'); // the child's "ready"
          child.on('message', onReply);
          pool.#ends.push({
            send: (m) => {
              child.send(m);
            },
            stop: async () => {
              const exited = once(child, 'exit');
              child.disconnect();
              await exited;
            },
          });
        } else {
          const worker = new Worker(SELF, { workerData: { rawPoolHref: href } });
          await once(worker, 'message');
          worker.on('message', onReply);
          pool.#ends.push({
            send: (m) => {
              worker.postMessage(m);
            },
            stop: async () => {
              await worker.terminate();
            },
          });
        }
      }),
    );
    return pool;
  }

  call(name: string, args: unknown[]): Promise<unknown> {
    const id = this.#seq++;
    const end = this.#ends[this.#next];
    this.#next = (this.#next + 1) % this.#ends.length;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      end.send([id, name, args]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#ends.map((e) => e.stop()));
  }
}

async function serve(href: string, send: (m: unknown) => void, onMessage: (fn: (m: Request) => void) => void): Promise<void> {
  const tasks = (await import(href)) as Tasks;
  onMessage(([id, name, args]) => {
    send([id, tasks[name](...args)] satisfies Reply);
  });
  send('ready');
}

if (!isMainThread && typeof (workerData as { rawPoolHref?: unknown } | null)?.rawPoolHref === 'string') {
  const port = parentPort!;
  await serve(
    (workerData as { rawPoolHref: string }).rawPoolHref,
    (m) => {
      port.postMessage(m);
    },
    (fn) => port.on('message', fn),
  );
} else if (isMainThread && process.argv[2] === '--raw-child' && process.argv[1] === SELF) {
  process.on('disconnect', () => process.exit(0));
  await serve(
    process.argv[3],
    (m) => {
      process.send!(m);
    },
    (fn) => process.on('message', fn),
  );
}
