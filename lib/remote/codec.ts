// What travels through Redis between a RemotePool and `warmpool worker`
// hosts, and how. BullMQ stores job data and return values as JSON, which
// loses Map, Set, BigInt, Date, typed arrays, -0, cycles and error classes;
// so arguments and results travel as one base64 string of `v8.serialize`
// output (the structured clone format the local pools use), and errors go
// through wire-error.ts as they do between a local pool and its workers.

import { deserialize, serialize } from 'node:v8';
import { Status, TaskKind } from '../core/contract.js';
import type { TraceCarrier } from '../core/trace-context.js';
import { BrokerError } from '../core/errors.js';

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
  /** The W3C trace context captured at submit (../core/trace-context.ts), when there was one; plain strings, so JSON. */
  readonly c?: TraceCarrier;
}

/**
 * What a job returns: [status, value, runTimeMs, host], v8-serialized,
 * base64. `host` is the name of the `warmpool worker` that ran it (the
 * `worker` of its `warmpool:task` messages); hosts before it was added
 * leave it out.
 */
export type Envelope = [status: Status, value: unknown, runTime: number, host?: string];

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
 * The envelope of a job's result, read by `decode` from what Redis held (the
 * base64 return value, or the raw bytes of RESULT_FIELD); when it cannot be
 * read, the BrokerError its task fails with.
 */
export function readEnvelope<T>(jobId: string, stored: T, decode: (stored: T) => unknown): Envelope | BrokerError {
  try {
    return decode(stored) as Envelope;
  } catch (err) {
    return new BrokerError(`The result of job ${jobId} could not be read`, { cause: err });
  }
}

/**
 * The job data of a task. Throws `v8.serialize`'s error when an argument
 * cannot be sent (the engine names it, as the local pools do).
 */
export function encodeJob(name: string, kind: TaskKind, args: readonly unknown[], timeout: number, trace?: TraceCarrier): JobData {
  const a = encodeValue(args);
  const t = timeout === Infinity ? 0 : timeout;
  return trace === undefined ? { n: name, k: kind, a, t } : { n: name, k: kind, a, t, c: trace };
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
    d.t >= 0 &&
    (d.c === undefined || isCarrier(d.c))
  );
}

function isCarrier(c: unknown): c is TraceCarrier {
  return typeof c === 'object' && c !== null && !Array.isArray(c) && Object.values(c).every((v) => typeof v === 'string');
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
