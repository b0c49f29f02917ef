// The one interface every runtime (child process, worker thread) implements
// for the scheduler. The scheduler never touches a ChildProcess or a Worker
// directly, so a runtime is one adapter file plus one worker entry file.

/** What a runtime reports back about one worker. */
export interface WorkerEvents {
  message(message: unknown[]): void;
  /** The worker is gone: exited, crashed, killed, or failed to spawn. Called exactly once. */
  exit(exitCode: number | null, signal: string | null, error?: Error): void;
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
  /** For diagnostics and tests: the process id, or the thread id. */
  readonly id: number;
}

export type SpawnWorker = (events: WorkerEvents) => WorkerHandle;
