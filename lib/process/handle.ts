// The one interface between ProcessPool's engine and a worker process: the
// engine never touches a ChildProcess, so the runtime is one adapter file
// (./adapter.ts) plus one entry file (./entry.ts). (ThreadPool's threads are
// piscina's, behind lib/thread/threads.ts.)

/** What a runtime reports back about one worker. */
export interface WorkerEvents {
  message(message: unknown[]): void;
  /**
   * The worker is gone: exited, crashed, killed, or failed to spawn. Called
   * exactly once. `outOfMemory` is V8's account (`Allocation failed -
   * JavaScript heap out of memory`) when the worker died of reaching its
   * heap limit (`maxMemoryMb`, else V8's default).
   */
  exit(exitCode: number | null, signal: string | null, error?: Error, outOfMemory?: string): void;
}

export interface WorkerHandle {
  /**
   * Sends one protocol message. Throws, having sent nothing, when a value in
   * it cannot be cloned; the scheduler relies on that to fail only the task
   * that carried the value.
   */
  send(message: unknown[]): void;
  /** Stops the worker now, even inside a synchronous loop. `exit` follows. */
  terminate(): void;
  /** Asks an idle worker to exit by itself. `exit` follows. */
  close(): void;
  /** Whether this worker keeps the parent's event loop alive. */
  ref(): void;
  unref(): void;
  /** The process id, for `warmpool:worker` messages; -1 when the spawn failed. */
  readonly pid: number;
}

export type SpawnWorker = (events: WorkerEvents) => WorkerHandle;
