// ProcessPool's worker processes, as a set: starting them (up to what the
// queue and minWorkers ask for, never past `workers`, never in a loop after
// a start failure), telling when one is ready or failed to start
// (startTimeout), closing and killing them, and which of them keep the
// parent's event loop alive. What a worker's exit means for its tasks is the
// engine's (./engine.ts); this file sees workers, not tasks.
//
//   grow ─▶ spawn (./adapter.ts) ─▶ [Init, module, initializer, initArgs]
//                                      ├─▶ [Ready]       ─▶ owner.ready(w)
//                                      ├─▶ [StartError]  ─▶ owner.startFailed(cause)
//                                      └─▶ exit          ─▶ owner.exited(w, …)

import type { WorkerOptions } from '../core/contract.js';
import type { EngineCore } from '../core/engine-core.js';
import { WorkerStartError } from '../core/errors.js';
import type { SpawnWorker } from './handle.js';
import { ToWorker } from './protocol.js';
import { WorkerRecord } from './worker.js';

/** What the engine is told about its workers. */
export interface WorkersOwner {
  message(w: WorkerRecord, msg: unknown[]): void;
  /** A worker imported the module and ran the initializer. */
  workerReady(w: WorkerRecord): void;
  /** A worker could not start; `startFailure` is set. */
  startFailed(): void;
  /** A worker is gone; it is out of the list already. */
  /** `outOfMemory`: V8's account, when the worker died of reaching its heap limit. */
  exited(w: WorkerRecord, code: number | null, signal: string | null, error: Error | undefined, outOfMemory: string | undefined): void;
  /** Whether `w` is to keep the parent's event loop alive (besides tasks in flight and closing). */
  holdsLoop(w: WorkerRecord): boolean;
}

export class ProcessWorkers {
  readonly list: WorkerRecord[] = [];
  /** Set by a start failure: nothing starts until a new task clears it. */
  startFailure: WorkerStartError | undefined;
  readonly #opts: WorkerOptions;
  readonly #spawn: SpawnWorker;
  readonly #core: EngineCore<WorkerRecord>;
  readonly #owner: WorkersOwner;

  constructor(opts: WorkerOptions, spawn: SpawnWorker, core: EngineCore<WorkerRecord>, owner: WorkersOwner) {
    this.#opts = opts;
    this.#spawn = spawn;
    this.#core = core;
    this.#owner = owner;
  }

  /** Workers that count towards `workers`: not retiring, not on their way out. */
  liveCount(): number {
    let n = 0;
    for (const w of this.list) if (w.counts()) n++;
    return n;
  }

  /** Starts workers up to what the queue and minWorkers ask for, never past `workers`. */
  grow(queued: number): void {
    const opts = this.#opts;
    let live = 0;
    let busy = 0;
    for (const w of this.list) {
      if (w.counts()) {
        live++;
        if (w.inflight.length > 0) busy++;
      }
    }
    // After a start failure nothing starts until a new task asks (submit
    // clears the failure): replacing a worker that failed to start with
    // another would be a spawn loop.
    if (this.startFailure !== undefined) return;
    // A starting worker will take a queued task, so it is not counted as busy.
    const floor = this.#core.closed ? 0 : opts.minWorkers;
    const want = Math.min(opts.workers, Math.max(floor, busy + queued));
    for (let i = live; i < want; i++) this.#start();
  }

  #start(): void {
    const w = new WorkerRecord();
    this.list.push(w);
    w.handle = this.#spawn({
      message: (msg) => this.#onMessage(w, msg),
      exit: (code, signal, error, outOfMemory) => this.#onExit(w, code, signal, error, outOfMemory),
    });
    w.id = w.handle.pid;
    this.#core.workerEvent(w.id, 'start');
    const opts = this.#opts;
    w.trySend([ToWorker.Init, opts.moduleHref, opts.initializer, opts.initArgs]);
    if (opts.startTimeout !== Infinity) {
      w.timer = setTimeout(() => {
        w.timer = undefined;
        if (w.state !== 'starting') return;
        this.onStartFailure(
          w,
          new Error(`The worker did not import the module and run the initializer within ${opts.startTimeout} ms (startTimeout)`),
        );
      }, opts.startTimeout);
      w.timer.unref();
    }
    w.refed = true;
    this.updateRef(w);
  }

  #onMessage(w: WorkerRecord, msg: unknown[]): void {
    this.#owner.message(w, msg);
  }

  /** The worker said Ready. */
  onReady(w: WorkerRecord): void {
    if (w.state !== 'starting') return;
    w.state = 'ready';
    clearTimeout(w.timer);
    w.timer = undefined;
    this.startFailure = undefined;
    this.#core.workerEvent(w.id, 'ready');
    this.#owner.workerReady(w);
  }

  /** The worker could not start (StartError, startTimeout). */
  onStartFailure(w: WorkerRecord, cause: unknown): void {
    if (w.state !== 'starting') return;
    w.exitReason ??= 'startFailed';
    this.kill(w);
    this.failStart(cause);
  }

  failStart(cause: unknown): void {
    const message = `The task module ${this.#opts.moduleHref} failed to start in a new worker: ${cause instanceof Error ? cause.message : String(cause)}`;
    this.startFailure = new WorkerStartError(message, { cause });
    this.#owner.startFailed();
  }

  #onExit(w: WorkerRecord, code: number | null, signal: string | null, error: Error | undefined, outOfMemory: string | undefined): void {
    const i = this.list.indexOf(w);
    if (i === -1) return;
    this.list.splice(i, 1);
    clearTimeout(w.timer);
    clearTimeout(w.deadlineTimer);
    const wasStarting = w.state === 'starting';
    w.state = 'killed';
    this.#core.workerEvent(
      w.id,
      'exit',
      code,
      signal,
      w.exitReason ?? (wasStarting ? 'startFailed' : outOfMemory !== undefined ? 'memory' : 'crash'),
    );
    if (wasStarting) {
      // Exited before Ready or StartError: bad execArgv, process.exit or a
      // native crash during import.
      const memory = outOfMemory === undefined ? '' : `: it ran out of memory (${outOfMemory})`;
      this.failStart(
        w.fatal ?? error ?? new Error(`The worker exited during start (exit code ${String(code)}, signal ${String(signal)})${memory}`),
      );
    }
    this.#owner.exited(w, code, signal, error, outOfMemory);
  }

  /** A worker idle with nothing queued: above minWorkers, it closes after idleTimeout. */
  idle(w: WorkerRecord): void {
    const opts = this.#opts;
    if (opts.idleTimeout === Infinity || this.liveCount() <= opts.minWorkers) return;
    clearTimeout(w.timer);
    w.timer = setTimeout(() => {
      w.timer = undefined;
      if (w.state === 'ready' && w.inflight.length === 0 && this.liveCount() > this.#opts.minWorkers) {
        w.exitReason ??= 'idle';
        this.close(w);
      }
    }, opts.idleTimeout);
    w.timer.unref();
  }

  kill(w: WorkerRecord): void {
    if (w.kill()) this.updateRef(w);
  }

  close(w: WorkerRecord): void {
    if (w.state === 'starting') return this.kill(w);
    if (w.close(() => this.kill(w))) this.updateRef(w);
  }

  updateRef(w: WorkerRecord): void {
    w.holdLoop(w.inflight.length > 0 || w.state === 'closing' || this.#owner.holdsLoop(w));
  }

  updateRefs(): void {
    for (const w of this.list) this.updateRef(w);
  }
}
