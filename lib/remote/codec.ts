// What travels through Redis between a RemotePool and `warmpool worker`
// hosts, and how. BullMQ stores job data and return values as JSON, which
// loses Map, Set, BigInt, Date, typed arrays, -0, cycles and error classes;
// so arguments and results travel as one base64 string of `v8.serialize`
// output (the structured clone format the local pools use), and errors go
// through wire-error.ts as they do between a local pool and its workers.

import { deserialize, serialize } from 'node:v8';
import { DataCloneError } from '../core/errors.js';
import { Status, TaskKind } from '../core/contract.js';

/** `job.data` of a warmpool job. Short keys: every job carries them. */
export interface JobData {
  /** Export name. */
  readonly n: string;
  /** TaskKind: a call or a map chunk. */
  readonly k: TaskKind;
  /** base64 of v8.serialize(args). */
  readonly a: string;
  /** Timeout in ms from the job's start on a host; 0 for none (JSON has no Infinity). */
  readonly t: number;
}

/** What a job returns: [status, value, runTimeMs], v8-serialized, base64. */
export type Envelope = [status: Status, value: unknown, runTime: number];

/** Name of the pub/sub channel on which cancels of running jobs of `queue` are announced to hosts. */
export function cancelChannel(prefix: string, queue: string): string {
  return `${prefix}:${queue}:warmpool:cancel`;
}

/**
 * A job's return value that says "the result is too large for the events
 * stream: read it from the job hash's RESULT_FIELD". BullMQ copies a return
 * value into the queue's events stream as well as the job hash; a large
 * result would be in Redis twice. Not valid base64, so no encoded envelope
 * can be mistaken for it.
 */
export const RESULT_ELSEWHERE = '@warmpool:result-field';
/** Field of the job hash holding a large result (raw v8 bytes, no base64); the job is removed once it is read. */
export const RESULT_FIELD = 'warmpoolResult';
/** Serialized results longer than this many bytes go to RESULT_FIELD instead of the return value. */
export const LARGE_RESULT_BYTES = 1024;

export function encodeValue(value: unknown): string {
  return serialize(value).toString('base64');
}

export function decodeValue(text: string): unknown {
  return deserialize(Buffer.from(text, 'base64'));
}

/**
 * The job data of a task, or a DataCloneError naming the argument that
 * cannot be sent, as the local pools name it.
 */
export function encodeJob(name: string, kind: TaskKind, args: readonly unknown[], timeout: number): JobData {
  let a: string;
  try {
    a = encodeValue(args);
  } catch (err) {
    throw cloneErrorFor(args, kind, err);
  }
  return { n: name, k: kind, a, t: timeout === Infinity ? 0 : timeout };
}

function cloneErrorFor(args: readonly unknown[], kind: TaskKind, err: unknown): DataCloneError {
  const reason = err instanceof Error ? err.message : String(err);
  for (let i = 0; i < args.length; i++) {
    try {
      serialize(args[i]);
    } catch {
      const what = kind === TaskKind.Call ? `argument ${i}` : `item ${i}`;
      return new DataCloneError(`The ${what} of the task cannot be sent to a remote worker: ${reason}`, { cause: err });
    }
  }
  return new DataCloneError(`The arguments of the task cannot be sent to a remote worker: ${reason}`, { cause: err });
}

/** Checks job data read from Redis, which anyone who can write to the queue could have put there. */
export function isJobData(data: unknown): data is JobData {
  if (typeof data !== 'object' || data === null) return false;
  const d = data as Record<string, unknown>;
  return (
    typeof d.n === 'string' &&
    (d.k === TaskKind.Call || d.k === TaskKind.Chunk || d.k === TaskKind.StarChunk) &&
    typeof d.a === 'string' &&
    typeof d.t === 'number' &&
    d.t >= 0
  );
}

/**
 * warmpool priorities (higher first, any finite number) as BullMQ's (1 runs
 * first, up to 2^21 - 1). Every warmpool job gets one, 0 included: BullMQ
 * takes jobs without a priority before any prioritized job, which would put
 * priority 0 ahead of priority 10. Equal BullMQ priorities run first in, first out.
 */
export function bullPriority(priority: number): number {
  const MID = 2 ** 20;
  return Math.min(2 ** 21 - 1, Math.max(1, MID - Math.round(priority)));
}
