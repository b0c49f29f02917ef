// Everything ThreadPool knows about piscina, in one place: making the
// instance (lazily, and again after a start failure), telling when a thread
// has started or failed to (ThreadNote.Started, startTimeout), retiring
// threads past maxTasksPerWorker, setting aside threads that failed to start
// while others serve, letting an instance go, and reading piscina's errors.
// The engine (./engine.ts) sees runs and threadIds, never piscina's workers.
//
//   new Piscina({ filename: entry.js, workerData: ThreadInit, loadBalancer })
//        │  piscina starts a thread ─▶ entry.ts imports the module
//        │                               └─▶ [ThreadNote.Started, threadId, error | null]
//        ▼
//   #onNote ──▶ started: events.started(id)        error: events.broken / events.failed
//   worker 'error' ──▶ remembered: the exit that follows is a crash (or out of memory)
//   piscina 'workerDestroy' while the thread lives ──▶ piscina or the engine ended it
//   worker 'exit' ──▶ #onThreadGone ──▶ events.exited(id, code, retired, died)
//   startTimeout: one timer for the earliest thread not yet started

import { once } from 'node:events';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import type { WorkerOptions } from '../core/contract.js';
import { WorkerCrashedError } from '../core/errors.js';
import { MAX_TIMER_MS } from '../core/options.js';
import { decodeError } from '../core/wire-error.js';
import { RETIRED_SLOTS, ThreadNote, type ThreadInit } from './protocol.js';

const ENTRY = new URL('./entry.cjs', import.meta.url);

/**
 * piscina, loaded when the first ThreadPool needs it: importing warmpool for a
 * ProcessPool or a LocalPool should not pay piscina's load time (13 ms on its
 * own in docs/benchmarks.md, section 7). It is a CommonJS package, so
 * require() loads it synchronously.
 */
let piscinaClass: typeof Piscina | undefined;
function loadPiscina(): typeof Piscina {
  return (piscinaClass ??= (createRequire(import.meta.url)('piscina') as { Piscina: typeof Piscina }).Piscina);
}

export type { Piscina };

/** Filled-in options, from ThreadPool. */
export interface ThreadsOptions extends WorkerOptions {
  readonly env: NodeJS.ProcessEnv | undefined;
  readonly execArgv: string[] | undefined;
  readonly maxMemoryMb: number | undefined;
}

/** What the engine is told about threads. */
export interface ThreadEvents {
  /** A thread was seen for the first time (piscina started it). */
  spawned(threadId: number): void;
  /** A thread imported the module and ran the initializer. */
  started(threadId: number): void;
  /** A thread failed to start while others of the instance had: it is set aside. */
  broken(threadId: number, cause: unknown): void;
  /** No thread of the instance can start. */
  failed(cause: unknown): void;
  /**
   * A started thread exited; a retired one frees its place. `died`: it ended
   * by itself (`'memory'`: out of `maxMemoryMb`; `'crash'`: an uncaught
   * error, `process.exit`), not ended by piscina or the engine.
   */
  exited(threadId: number, exitCode: number, retired: boolean, died: 'crash' | 'memory' | undefined): void;
  /** A dying thread told what it finished of its batch, the one of that tag. */
  partial(tag: number, reply: unknown[]): void;
  /** A thread sent results of its batch ahead of the reply (ThreadNote.Flushed). */
  flushed(note: unknown[]): void;
}

export class Threads {
  readonly #opts: ThreadsOptions;
  readonly #events: ThreadEvents;
  #piscina: Piscina | undefined;
  /** Threads that reported a good start and have not exited, by threadId. */
  readonly #started = new Set<number>();
  /** Slot 0: how many threads of the current piscina instance have started (see ThreadInit.started). */
  #startedCount = new Int32Array(new SharedArrayBuffer(4));
  /** Threads past maxTasksPerWorker, as they wrote themselves (see ThreadInit.retired). */
  #retired = new Int32Array(new SharedArrayBuffer(4 * (RETIRED_SLOTS + 1)));
  /** Threads that failed to start while others had: skipped until a new submit retries them. */
  readonly #broken = new Set<number>();
  /** Threads past maxTasksPerWorker, being terminated: no run may go to them. */
  readonly #retiring = new Set<number>();
  #startTimer: NodeJS.Timeout | undefined;
  /** Threads not yet started, by threadId: when they were first seen (performance.now()). */
  readonly #firstSeen = new Map<number, number>();
  /** Started threads that piscina ended (idle, aborted run, destroy) while they were alive: their exit is no crash. */
  readonly #ended = new Set<number>();
  /** Started threads that emitted 'error' (an uncaught error, out of memory): their exit is a crash. */
  readonly #errors = new Map<number, unknown>();
  /** Instances let go after a start failure, still ending their threads: destroy() waits for them too. */
  readonly #letGo = new Set<Promise<void>>();
  /** Threads piscina let go of that may still be ending: destroy() waits for their exit too. */
  readonly #ending = new Set<Worker>();
  /** Set by the engine around piscina.run() of a run sent ahead: the busy thread it may go to. */
  aheadTo = 0;
  /** The thread the balancer last gave a run to; the engine reads it right after piscina.run(). */
  picked = 0;

  constructor(opts: ThreadsOptions, events: ThreadEvents) {
    this.#opts = opts;
    this.#events = events;
  }

  /** The current instance, if any. */
  get instance(): Piscina | undefined {
    return this.#piscina;
  }

  /** Threads started and not exited. */
  get startedCount(): number {
    return this.#started.size;
  }

  /** Threads alive in the current instance, started or not. */
  get alive(): number {
    return this.#piscina?.threads.length ?? 0;
  }

  /** Threads that cannot take a run: retiring, or set aside after a failed start. */
  get unavailable(): number {
    return this.#retiring.size + this.#broken.size;
  }

  /** Whether any thread of the current instance has started (it may have exited since). */
  anyStarted(): boolean {
    return Atomics.load(this.#startedCount, 0) > 0;
  }

  /** The piscina instance, made on first need (again after a start failure). Throws when new Worker() refuses the options. */
  pool(): Piscina {
    if (this.#piscina !== undefined) return this.#piscina;
    const o = this.#opts;
    this.#startedCount = new Int32Array(new SharedArrayBuffer(4));
    this.#retired = new Int32Array(new SharedArrayBuffer(4 * (RETIRED_SLOTS + 1)));
    this.#broken.clear();
    const init: ThreadInit = {
      moduleHref: o.moduleHref,
      initializer: o.initializer,
      initArgs: o.initArgs,
      maxTasks: o.maxTasksPerWorker,
      started: this.#startedCount,
      retired: this.#retired,
    };
    const PiscinaClass = loadPiscina();
    const piscina = new PiscinaClass({
      filename: ENTRY.href,
      minThreads: o.minWorkers,
      maxThreads: o.workers,
      idleTimeout: o.idleTimeout,
      // Two: the run in hand and one sent ahead (dispatch.ts, Dispatch.send); the
      // balancer below decides, this only sizes piscina's drain events.
      concurrentTasksPerWorker: 2,
      // warmpool's queue holds what waits; piscina's must never fill.
      maxQueue: Infinity,
      workerData: init,
      env: o.env,
      execArgv: o.execArgv,
      resourceLimits: o.maxMemoryMb === undefined ? undefined : { maxOldGenerationSizeMb: o.maxMemoryMb },
      recordTiming: false,
      // A free thread first, always (one that is retiring must not be given
      // a run); else, for a run the engine sends ahead, the thread it names
      // while that one holds a single run. Every run carries a signal, so a
      // thread with one reads as isRunningAbortableTask (currentUsage is then
      // Infinity, piscina 5 worker_pool/index.js). Synchronous inside
      // piscina.run() while piscina's own queue is empty, which it is: a run
      // it cannot place waits there only while a thread starts.
      loadBalancer: (_task, threads) => {
        let behind: (typeof threads)[number] | null = null;
        for (const t of threads) {
          if (!this.usable(t.id)) continue;
          if (t.currentUsage === 0) {
            this.picked = t.id;
            return t;
          }
          if (t.id === this.aheadTo && t.isRunningAbortableTask) behind = t;
        }
        if (behind !== null) this.picked = behind.id;
        return behind;
      },
    });
    piscina.on('message', (msg: unknown) => this.#onNote(piscina, msg));
    // Errors of threads with no run in flight; those with one reject the run.
    piscina.on('error', () => {});
    // How a crash is told from piscina ending a thread: worker.terminate()
    // and process.exit(1) both exit with code 1 and no 'error'. piscina ends
    // a thread (idle past idleTimeout, its run aborted, destroy) through
    // workerInfo.destroy(), which emits workerDestroy at once, while the
    // thread still has its threadId; a thread that died emits it only from
    // piscina's own 'exit' listener, when threadId already reads -1
    // (piscina 5, dist/worker_pool/index.js destroy(), dist/index.js onWorkerExit).
    piscina.on('workerDestroy', (w: { id: number }) => {
      const id = w.id;
      if (id < 0) return; // already exited
      if (this.#started.has(id)) this.#ended.add(id);
      // piscina's destroy() waits only for the threads still in its list;
      // one it let go earlier (idle past idleTimeout, its run aborted, an
      // 'error' before the exit) may still be ending. Its exit is kept so
      // that destroy() resolves only once every thread has been joined
      // (Node emits 'exit' after uv_thread_join). The Worker is still in
      // piscina.threads while this event runs (_removeWorker deletes it after).
      const worker = piscina.threads.find((t) => t.threadId === id);
      if (worker !== undefined && !this.#ending.has(worker)) {
        this.#ending.add(worker);
        worker.once('exit', () => this.#ending.delete(worker));
      }
    });
    this.#piscina = piscina;
    this.#firstSeen.clear();
    this.watchStarts();
    return piscina;
  }

  /** Not retiring (as the engine or the thread itself says), not broken. */
  usable(threadId: number): boolean {
    if (this.#retiring.has(threadId) || this.#broken.has(threadId)) return false;
    const r = this.#retired;
    if (Atomics.load(r, 0) === 0) return true;
    for (let i = 1; i <= RETIRED_SLOTS; i++) if (Atomics.load(r, i) === threadId) return false;
    return true;
  }

  /**
   * Every new thread has startTimeout ms to import the module and run the
   * initializer, from when it is first seen in piscina's list (after the
   * pool is made, a run is posted, or a thread exits: the moments piscina
   * starts threads). One timer, for the earliest deadline. Call after a run
   * is posted; skipped while every thread has started (piscina.threads copies a list).
   */
  watchStarts(): void {
    const piscina = this.#piscina;
    if (piscina === undefined || this.#started.size >= this.#opts.workers) return;
    const now = performance.now();
    for (const w of piscina.threads) {
      const id = w.threadId;
      if (id >= 0 && !this.#started.has(id) && !this.#broken.has(id) && !this.#firstSeen.has(id)) {
        this.#firstSeen.set(id, now);
        this.#events.spawned(id);
      }
    }
    if (this.#opts.startTimeout !== Infinity) this.#armStartTimer();
  }

  #armStartTimer(): void {
    if (this.#startTimer !== undefined || this.#firstSeen.size === 0) return;
    let first = Infinity;
    for (const seen of this.#firstSeen.values()) first = Math.min(first, seen);
    const due = first + this.#opts.startTimeout;
    this.#startTimer = setTimeout(() => this.#onStartTimer(), Math.min(MAX_TIMER_MS, Math.max(0, due - performance.now())));
    this.#startTimer.unref();
  }

  #onStartTimer(): void {
    this.#startTimer = undefined;
    const piscina = this.#piscina;
    if (piscina === undefined) return;
    const ms = this.#opts.startTimeout;
    const now = performance.now();
    const late: number[] = [];
    const alive = new Set(piscina.threads.map((w) => w.threadId));
    for (const [id, seen] of this.#firstSeen) {
      if (!alive.has(id))
        this.#firstSeen.delete(id); // died while starting: its runs said so
      else if (now + 1 >= seen + ms) late.push(id);
    }
    if (late.length > 0) {
      const cause = new Error(`A new thread did not import the module and run the initializer within ${ms} ms (startTimeout)`);
      for (const id of late) this.#firstSeen.delete(id);
      if (this.#started.size === 0) {
        // No thread can run what waits: it all fails, and the instance goes.
        this.#events.failed(cause);
        return;
      }
      // Others serve on; the late ones are set aside and stopped.
      for (const id of late) {
        this.setAside(id, cause);
        for (const w of piscina.threads) if (w.threadId === id) void w.terminate();
      }
    }
    this.#armStartTimer();
  }

  #onNote(piscina: Piscina, msg: unknown): void {
    if (!Array.isArray(msg) || piscina !== this.#piscina) return;
    const threadId = msg[1] as number;
    if (msg[0] === ThreadNote.Partial) {
      this.#events.partial(msg[3] as number, msg[2] as unknown[]);
      return;
    }
    if (msg[0] === ThreadNote.Flushed) {
      this.#events.flushed(msg);
      return;
    }
    if (msg[0] !== ThreadNote.Started) return;
    if (msg[2] !== null) {
      const cause = decodeError(msg[2]);
      if (this.anyStarted()) this.setAside(threadId, cause);
      else this.#events.failed(cause);
      return;
    }
    // It may have exited since it posted this.
    const worker = piscina.threads.find((w) => w.threadId === threadId);
    if (worker === undefined) return;
    // Its own 'exit' listener: piscina's workerDestroy event names the
    // thread by worker.threadId, which reads -1 once the thread has exited.
    worker.once('exit', (code: number) => this.#onThreadGone(piscina, threadId, code));
    // 'error' comes before 'exit' (an uncaught error, ERR_WORKER_OUT_OF_MEMORY).
    worker.once('error', (err: unknown) => this.#errors.set(threadId, err));
    this.#started.add(threadId);
    this.#firstSeen.delete(threadId);
    this.#events.started(threadId);
  }

  /** Whether the thread ended by itself, and how; forgets what was noted of it. */
  #died(threadId: number): 'crash' | 'memory' | undefined {
    const err = this.#errors.get(threadId);
    const ended = this.#ended.delete(threadId);
    if (this.#errors.delete(threadId)) return (err as { code?: unknown } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'memory' : 'crash';
    return ended ? undefined : 'crash';
  }

  #onThreadGone(piscina: Piscina, threadId: number, code: number): void {
    const died = this.#died(threadId);
    if (piscina !== this.#piscina) {
      // An instance being destroyed or let go: only the exit is news (warmpool ended it).
      this.#events.exited(threadId, code, false, undefined);
      return;
    }
    this.#started.delete(threadId);
    const r = this.#retired;
    for (let i = 1; i <= RETIRED_SLOTS; i++) {
      if (Atomics.compareExchange(r, i, threadId, 0) === threadId) {
        Atomics.sub(r, 0, 1);
        break;
      }
    }
    this.#firstSeen.delete(threadId);
    this.#events.exited(threadId, code, this.#retiring.delete(threadId), died);
    // piscina starts a replacement as it sees the exit (its listener runs before this one).
    this.watchStarts();
  }

  /**
   * One thread failed to start while others of the pool have: the others
   * serve on (as in a ProcessPool). That thread is skipped, not replaced
   * (a replacement would fail the same way: a loop), until a new submit.
   */
  setAside(threadId: number, cause: unknown): void {
    this.#broken.add(threadId);
    this.#events.broken(threadId, cause);
  }

  /** A new submit: lets the threads that failed to start go, so that piscina starts others (once). */
  retryBroken(): void {
    if (this.#broken.size === 0) return;
    const piscina = this.#piscina;
    const ids = [...this.#broken];
    this.#broken.clear();
    if (piscina === undefined) return;
    for (const w of piscina.threads) if (ids.includes(w.threadId)) void w.terminate();
  }

  /** A thread past maxTasksPerWorker: piscina sees its exit, drops it and starts a replacement (up to minThreads). False when it was retiring already. */
  retire(piscina: Piscina, threadId: number): boolean {
    if (this.#retiring.has(threadId)) return false;
    const worker = piscina.threads.find((w) => w.threadId === threadId);
    if (worker === undefined) return true;
    this.#retiring.add(threadId);
    void worker.terminate();
    return true;
  }

  /** No thread of the current instance can start: let it go, ending its threads in the background. */
  letGo(): void {
    const piscina = this.#piscina;
    clearTimeout(this.#startTimer);
    this.#startTimer = undefined;
    this.#firstSeen.clear();
    this.#piscina = undefined;
    this.#started.clear();
    this.#retiring.clear();
    if (piscina !== undefined) {
      const ending = piscina.destroy().finally(() => this.#letGo.delete(ending));
      this.#letGo.add(ending);
    }
  }

  /** Ends every thread, of the current instance and of those let go. */
  async destroy(): Promise<void> {
    clearTimeout(this.#startTimer);
    const piscina = this.#piscina;
    this.#piscina = undefined;
    if (piscina !== undefined) await piscina.destroy();
    await Promise.allSettled(this.#letGo);
    await Promise.allSettled([...this.#ending].map((w) => once(w, 'exit')));
  }
}

/** Whether piscina rejected a run because a value of it could not be cloned (nothing was posted). */
export function isDataCloneError(err: unknown): boolean {
  return err instanceof Error && err.name === 'DataCloneError';
}

/**
 * What piscina rejects a run with when its thread dies, as a
 * WorkerCrashedError. piscina says the exit code only in its message
 * (`worker exited with code: N`, index.js onWorkerExit), so it is read from
 * there; out of memory comes as Node's own ERR_WORKER_OUT_OF_MEMORY.
 */
export function crashError(err: unknown): WorkerCrashedError {
  const text = err instanceof Error ? err.message : String(err);
  const exit = /exited with code:? (-?\d+)/.exec(text);
  const code = exit === null ? null : Number(exit[1]);
  const oom = err instanceof Error && (err as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY';
  const detail = oom ? `the thread ran out of memory (maxMemoryMb): ${text}` : text;
  const crash = new WorkerCrashedError(code, null, detail);
  Object.defineProperty(crash, 'cause', { value: err, enumerable: false, writable: true, configurable: true });
  return crash;
}
