// Raw Node IPC baselines that warmpool's design targets are measured against.
//
//   node dist/bench/raw-ipc.js [--rounds=N] [--quick] [--json]
//
// Measures, interleaved over several rounds (medians and min–max across rounds):
//   1. child_process.fork IPC ping-pong latency, serialization 'json' and 'advanced'
//   2. worker_threads postMessage ping-pong latency
//   3. raw throughput over N child processes, unbatched and with B items per message
//   4. v8.serialize + v8.deserialize (and JSON) cost of one small task message
//
// The exported functions are building blocks for the main benchmark. The same file
// is the child (`--child` argv flag) and the worker (marked through workerData).

import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

export type Serialization = 'json' | 'advanced';

interface TaskMsg {
  t: 1;
  id: number;
  name: string;
  args: [number, number];
}
interface ReplyMsg {
  t: 2;
  id: number;
  ok: true;
  v: number;
}
type Incoming = TaskMsg | TaskMsg[];

const SELF = fileURLToPath(import.meta.url);
const WORKER_MARK = '__warmpoolRawIpcWorker';

// ---------------------------------------------------------------- child / worker side

function reply(m: TaskMsg): ReplyMsg {
  return { t: 2, id: m.id, ok: true, v: m.args[0] + m.args[1] };
}

function answer(msg: Incoming): ReplyMsg | ReplyMsg[] {
  if (Array.isArray(msg)) {
    const out = new Array<ReplyMsg>(msg.length);
    for (let i = 0; i < msg.length; i++) out[i] = reply(msg[i]);
    return out;
  }
  return reply(msg);
}

function runChild(): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error('raw-ipc --child must be started with an IPC channel');
  process.on('message', (msg: Incoming) => {
    send(answer(msg));
  });
  // Exit as soon as the parent goes away (disconnect or parent death).
  process.on('disconnect', () => process.exit(0));
}

function runWorker(): void {
  const port = parentPort;
  if (!port) throw new Error('raw-ipc worker without parentPort');
  port.on('message', (msg: Incoming) => {
    port.postMessage(answer(msg));
  });
}

// ---------------------------------------------------------------- helpers

function task(id: number): TaskMsg {
  return { t: 1, id, name: 'add', args: [1, 2] };
}

function nowNs(): bigint {
  return process.hrtime.bigint();
}

/** Fork this file as an echo child; resolves once the child is running. */
export async function spawnEchoChild(serialization: Serialization): Promise<ChildProcess> {
  const child = fork(SELF, ['--child'], {
    serialization,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [],
  });
  await once(child, 'spawn');
  return child;
}

/** Disconnect and wait for exit; SIGKILL if it does not exit within timeoutMs. */
export async function stopChild(child: ChildProcess, timeoutMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  if (child.connected) child.disconnect();
  const timer = setTimeout(() => {
    child.kill('SIGKILL');
  }, timeoutMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

export function spawnEchoWorker(): Worker {
  return new Worker(new URL(import.meta.url), { workerData: { [WORKER_MARK]: true } });
}

interface Endpoint {
  send(msg: unknown): void;
  onMessage(fn: (msg: ReplyMsg | ReplyMsg[]) => void): () => void;
}

function childEndpoint(child: ChildProcess): Endpoint {
  return {
    send: (msg) => {
      child.send(msg as object);
    },
    onMessage: (fn) => {
      const h = (m: unknown): void => fn(m as ReplyMsg | ReplyMsg[]);
      child.on('message', h);
      return () => {
        child.off('message', h);
      };
    },
  };
}

function workerEndpoint(w: Worker): Endpoint {
  return {
    send: (msg) => {
      w.postMessage(msg);
    },
    onMessage: (fn) => {
      const h = (m: unknown): void => fn(m as ReplyMsg | ReplyMsg[]);
      w.on('message', h);
      return () => {
        w.off('message', h);
      };
    },
  };
}

/**
 * Sequential ping-pong: send one task, wait for its reply, send the next.
 * Callback-driven (no promise per round trip) so it measures the transport only.
 * Returns `rounds` latencies in ms (warmup round trips are not included).
 */
function pingPong(ep: Endpoint, warmup: number, rounds: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const lat = new Array<number>(rounds);
    const total = warmup + rounds;
    let i = 0;
    let t0 = 0n;
    const off = ep.onMessage((m) => {
      const t1 = nowNs();
      if (Array.isArray(m) || m.id !== i) {
        off();
        reject(new Error(`unexpected reply ${JSON.stringify(m)} for id ${i}`));
        return;
      }
      if (i >= warmup) lat[i - warmup] = Number(t1 - t0) / 1e6;
      i++;
      if (i === total) {
        off();
        resolve(lat);
        return;
      }
      t0 = nowNs();
      ep.send(task(i));
    });
    t0 = nowNs();
    ep.send(task(0));
  });
}

// ---------------------------------------------------------------- exported benchmarks

export interface PingPongOpts {
  rounds: number;
  warmup?: number;
}

/** Ping-pong with an echo child that is already running (see spawnEchoChild); per-round-trip latencies in ms. */
export function childPingPong(child: ChildProcess, rounds: number, warmup = 0): Promise<number[]> {
  return pingPong(childEndpoint(child), warmup, rounds);
}

/** child_process.fork IPC ping-pong; per-round-trip latencies in ms. */
export async function rawIpcPingPong(opts: PingPongOpts & { serialization: Serialization }): Promise<number[]> {
  const child = await spawnEchoChild(opts.serialization);
  try {
    return await pingPong(childEndpoint(child), opts.warmup ?? 3000, opts.rounds);
  } finally {
    await stopChild(child);
  }
}

/** worker_threads postMessage ping-pong; per-round-trip latencies in ms. */
export async function workerPingPong(opts: PingPongOpts): Promise<number[]> {
  const w = spawnEchoWorker();
  try {
    await once(w, 'online');
    return await pingPong(workerEndpoint(w), opts.warmup ?? 3000, opts.rounds);
  } finally {
    await w.terminate();
  }
}

export interface ThroughputOpts {
  serialization: Serialization;
  /** Total items (tasks) sent, split evenly across children. */
  messages: number;
  children: number;
  /** 0 = one plain object per message; B >= 1 = arrays of B items per message (both directions). */
  batch: number;
  /** Untimed warmup items per child, on the same children, before the timed run. */
  warmup?: number;
}

/** Blast all items at once to each child, count replies. */
function blast(eps: Endpoint[], itemsPerChild: number, batch: number): Promise<number> {
  return new Promise((resolve) => {
    const expected = itemsPerChild * eps.length;
    let received = 0;
    const offs: (() => void)[] = [];
    const t0 = nowNs();
    const done = (): void => {
      const secs = Number(nowNs() - t0) / 1e9;
      for (const off of offs) off();
      resolve(expected / secs);
    };
    for (const ep of eps) {
      offs.push(
        ep.onMessage((m) => {
          received += Array.isArray(m) ? m.length : 1;
          if (received === expected) done();
        }),
      );
    }
    let id = 0;
    for (const ep of eps) {
      if (batch === 0) {
        for (let i = 0; i < itemsPerChild; i++) ep.send(task(id++));
      } else {
        for (let i = 0; i < itemsPerChild; i += batch) {
          const n = Math.min(batch, itemsPerChild - i);
          const arr = new Array<TaskMsg>(n);
          for (let k = 0; k < n; k++) arr[k] = task(id++);
          ep.send(arr);
        }
      }
    }
  });
}

/**
 * Raw IPC throughput over `children` forked processes: returns items (replies) per second,
 * timed from the first send to the last reply (children already spawned and warmed up).
 */
export async function rawIpcThroughput(opts: ThroughputOpts): Promise<number> {
  const children = await Promise.all(Array.from({ length: opts.children }, () => spawnEchoChild(opts.serialization)));
  try {
    const eps = children.map(childEndpoint);
    const perChild = Math.floor(opts.messages / opts.children);
    await blast(eps, opts.warmup ?? Math.min(perChild, 5000), opts.batch);
    return await blast(eps, perChild, opts.batch);
  } finally {
    await Promise.all(children.map((c) => stopChild(c)));
  }
}

/** ns per call of serialize+deserialize of one small task message (v8 and JSON). */
export function serializeCost(iterations = 200_000): { v8Ns: number; jsonNs: number } {
  const msg = task(123);
  let sink = 0;
  const run = (fn: () => number): number => {
    for (let i = 0; i < Math.min(iterations, 20_000); i++) sink += fn(); // warm up
    const t0 = nowNs();
    for (let i = 0; i < iterations; i++) sink += fn();
    return Number(nowNs() - t0) / iterations;
  };
  const v8Ns = run(() => (deserialize(serialize(msg)) as TaskMsg).id);
  const jsonNs = run(() => (JSON.parse(JSON.stringify(msg)) as TaskMsg).id);
  if (sink === 0) console.log(''); // keep sink observable
  return { v8Ns, jsonNs };
}

// ---------------------------------------------------------------- stats

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

// ---------------------------------------------------------------- main

interface Scenario {
  name: string;
  unit: string;
  run: () => Promise<Record<string, number>>;
}

function scenarios(quick: boolean): Scenario[] {
  const rounds = quick ? 2000 : 10_000;
  const warmup = quick ? 1000 : 3000;
  const messages = quick ? 10_000 : 50_000;
  const lat = (xs: number[]): Record<string, number> => {
    const s = [...xs].sort((a, b) => a - b);
    return { p50: percentile(s, 50) * 1000, p99: percentile(s, 99) * 1000 };
  };
  const list: Scenario[] = [];
  for (const serialization of ['json', 'advanced'] as const) {
    list.push({
      name: `fork ping-pong ${serialization}`,
      unit: 'µs',
      run: async () => lat(await rawIpcPingPong({ serialization, rounds, warmup })),
    });
  }
  list.push({
    name: 'worker ping-pong',
    unit: 'µs',
    run: async () => lat(await workerPingPong({ rounds, warmup })),
  });
  for (const serialization of ['json', 'advanced'] as const) {
    for (const batch of [0, 1, 16, 64, 256]) {
      list.push({
        name: `fork x2 throughput ${serialization} ${batch === 0 ? 'unbatched' : `B=${batch}`}`,
        unit: 'items/s',
        run: async () => ({
          rate: await rawIpcThroughput({ serialization, messages, children: 2, batch }),
        }),
      });
    }
  }
  list.push({
    name: 'serialize+deserialize',
    unit: 'ns/call',
    run: async () => {
      const r = serializeCost(quick ? 50_000 : 200_000);
      return { v8: r.v8Ns, json: r.jsonNs };
    },
  });
  return list;
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x >= 10_000) return Math.round(x).toLocaleString('en-US');
  if (x >= 100) return x.toFixed(0);
  return x.toFixed(1);
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const quick = argv.includes('--quick');
  const roundsArg = argv.find((a) => a.startsWith('--rounds='));
  const nRounds = roundsArg ? Number(roundsArg.slice('--rounds='.length)) : quick ? 2 : 5;
  const list = scenarios(quick);
  const results = new Map<string, Record<string, number[]>>();

  console.error(`raw-ipc: node ${process.version}, ${nRounds} rounds, ${list.length} scenarios`);
  for (let r = 0; r < nRounds; r++) {
    // Rotate the order each round so no scenario always runs first/last.
    const order = list.map((_, i) => list[(i + r * 3) % list.length]);
    for (const sc of order) {
      const res = await sc.run();
      const acc = results.get(sc.name) ?? {};
      for (const [k, v] of Object.entries(res)) (acc[k] ??= []).push(v);
      results.set(sc.name, acc);
    }
    console.error(`  round ${r + 1}/${nRounds} done`);
  }

  if (argv.includes('--json')) {
    console.log(JSON.stringify(Object.fromEntries(results), null, 2));
    return;
  }
  const rows: string[][] = [['scenario', 'metric', 'unit', 'median', 'min', 'max']];
  for (const sc of list) {
    for (const [k, vs] of Object.entries(results.get(sc.name) ?? {})) {
      rows.push([sc.name, k, sc.unit, fmt(median(vs)), fmt(Math.min(...vs)), fmt(Math.max(...vs))]);
    }
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  for (const row of rows) {
    console.log(row.map((cell, c) => (c < 3 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  }
}

// ---------------------------------------------------------------- entry

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;

if (!isMainThread && (workerData as Record<string, unknown> | null)?.[WORKER_MARK] === true) {
  runWorker();
} else if (isMainThread && isMain && process.argv[2] === '--child') {
  runChild();
} else if (isMainThread && isMain) {
  main().then(
    () => {
      // Everything should be closed by now; flag it loudly if something keeps us alive.
      setTimeout(() => {
        console.error('raw-ipc: process still alive 5s after main() finished; forcing exit');
        process.exit(2);
      }, 5000).unref();
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
      setTimeout(() => process.exit(1), 1000).unref();
    },
  );
}
