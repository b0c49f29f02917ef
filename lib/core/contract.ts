// The contract between the user-facing side (Executor, the map family) and
// an engine, and what every backend's transport carries: how a task's
// arguments are applied, and the status a result comes back with.

import type { TransferListItem } from './types.js';
import type { TraceCarrier } from './trace-context.js';
import type { Future } from './future.js';
import type { PoolStats } from './stats.js';
import type { TaskStream } from './stream.js';

/** How a task's `args` are applied. Chunks come from the map family; their result is a list. */
export const enum TaskKind {
  /** `fn(...args)` */
  Call = 0,
  /** `args` is a list of items: `fn(item)` for each (map, imap). */
  Chunk = 1,
  /** `args` is a list of argument lists: `fn(...argList)` for each (starmap). */
  StarChunk = 2,
  /**
   * `fn(...args)` with a line back to the caller for `reportProgress()`: a
   * `submit` with `onProgress`. The worker makes the task a channel and sends
   * its progress before its result.
   */
  Progress = 3,
  /** `pool.stream`: `args` is `[highWaterMark, args]`; `fn(...args)` makes a generator the worker drives with credits. */
  Stream = 4,
}

/**
 * Added to a `TaskKind` on the wire when the task carries a trace context
 * (./trace-context.ts): its args field is then `[carrier, args]`. A flag
 * rather than a field per task, so a task without one costs nothing more.
 */
export const TRACED = 16;

export const enum Status {
  /** value: the result */
  Ok = 0,
  /** value: a wire error (see wire-error.ts) */
  Error = 1,
  /** value: [index within the chunk, wire error] */
  ChunkError = 2,
  /** ThreadPool: a batched task cancelled before the thread began it; no value. */
  Skipped = 3,
  /** ThreadPool: value is the result as `v8.serialize` bytes (see thread/clone-check.ts). */
  Serialized = 4,
}

/** The options of a pool of warm workers, validated and filled in (ProcessPool, ThreadPool). */
export interface WorkerOptions {
  readonly moduleHref: string;
  readonly workers: number;
  readonly minWorkers: number;
  /** ms; Infinity for never. */
  readonly idleTimeout: number;
  readonly maxTasksPerWorker: number;
  readonly initializer: string | null;
  readonly initArgs: readonly unknown[];
  /** ms; Infinity for none. */
  readonly startTimeout: number;
}

/** Per-task options, validated. */
export interface TaskOptions {
  readonly priority: number;
  /** ms, Infinity for none. */
  readonly timeout: number;
  readonly signal: AbortSignal | undefined;
  /** ThreadPool: ArrayBuffers (and ports) to move rather than copy. Others ignore it. */
  readonly transfer?: readonly TransferListItem[] | undefined;
  /** The caller's `onProgress` (kind Progress): the core keeps a CallerChannel for the task. */
  readonly onProgress?: ((value: unknown) => unknown) | undefined;
  /**
   * The trace context to run under when none is found at submit (no span
   * active, no subscriber set one): how a RemotePool host passes on the one
   * its job carries.
   */
  readonly trace?: TraceCarrier | undefined;
}

/** What Executor and the map family see of an engine (lib/core/engine-core.ts, over a backend's transport). */
export interface Engine {
  /** Workers to plan for: sizes map chunks and read-ahead. */
  readonly workers: number;
  /** The backend has a line to a running task, which `pool.stream` and `onProgress` need (not RemotePool). */
  readonly channels: boolean;
  submit(name: string, args: readonly unknown[], kind: TaskKind, options: TaskOptions): Future<unknown>;
  /** `pool.stream`; only where `channels`. */
  stream(name: string, args: readonly unknown[], options: TaskOptions, highWaterMark: number): TaskStream<unknown, unknown>;
  ready(): Promise<void>;
  /** Resolves when nothing is queued or running. */
  onIdle(): Promise<void>;
  stats(): PoolStats;
  shutdown(wait: boolean, cancelFutures: boolean): Promise<void>;
}

/** A chunk whose item `index` threw `error`; map turns it into the item's error. */
export class ChunkFailure {
  constructor(
    readonly index: number,
    readonly error: unknown,
  ) {}
}
