// RemotePool: the Executor contract across machines. Tasks become BullMQ jobs
// on a Redis queue; `warmpool worker <module>` hosts run them in their own
// warm local pools. The public class checks options and hands filled-in ones
// to ./remote/engine.ts; the host side is ./remote/host.ts.

import { Executor } from '../core/executor.js';
import { checkInteger, checkMs, checkObject, defaultPoolName, expected } from '../core/options.js';
import type { ConnectionSettings } from './connection.js';
import { RemoteEngine } from './engine.js';
import { checkPeers } from './peers.js';
import type { AnyTasks } from '../core/types.js';

/**
 * Where Redis is: a `redis://` or `rediss://` (TLS) URL, with user and
 * password if needed (`redis://user:pass@host:6379/0`), or ioredis options
 * (`{ host, port, password, tls, db, ... }`).
 *
 * @group Options
 */
export type RedisConnection = string | (Record<string, unknown> & {
  /** A `redis://` or `rediss://` URL, combined with the other ioredis options. */
  url?: string;
});

/**
 * Options of `RemotePool`: only these are accepted (any other key throws a
 * `TypeError`); worker options such as `cancelGrace` or `maxMemoryMb` are
 * given to the `warmpool worker` hosts instead.
 *
 * @group Options
 */
export interface RemotePoolOptions {
  /** Redis, as a `redis://`/`rediss://` URL or ioredis options. Required. */
  connection: RedisConnection;
  /**
   * The pool's name in diagnostics messages. A non-empty string.
   *
   * @defaultValue `warmpool-<n>`, n counting the pools made in this process
   */
  name?: string;
  /** Name of the BullMQ queue the `warmpool worker` hosts serve: a non-empty string without `:`. Required. */
  queue: string;
  /**
   * Prefix of every Redis key of the queue (BullMQ's `prefix`); hosts must
   * use the same. A non-empty string without `:`.
   *
   * @defaultValue `'bull'`
   */
  prefix?: string;
  /**
   * How many remote workers to plan for, in all hosts together: it sizes map
   * chunks and the map family's read-ahead, and is what `stats().workers`
   * reports. It starts nothing. An integer ≥ 1.
   *
   * @defaultValue `4`
   */
  workers?: number;
  /**
   * Most tasks accepted and not yet heard started by a host; beyond it
   * `submit` throws `QueueFullError`. An integer ≥ 0 or `Infinity`.
   *
   * @defaultValue `Infinity`
   */
  maxQueued?: number;
  /**
   * Default per-task timeout, in milliseconds. The clock starts when a host
   * starts the task, and the host enforces it (stopping its local worker).
   * A number ≥ 0 or `Infinity`.
   *
   * @defaultValue `Infinity` (no limit)
   */
  timeout?: number;
  /**
   * Milliseconds after which a task not heard of through BullMQ's events has
   * its job read from Redis directly (events are best effort); the clock
   * starts when the job is added to Redis, and the wait between two reads of one job grows
   * with its age, up to 10 × this. A number from 10 to 2³¹−1.
   *
   * @defaultValue `1000`
   */
  pollInterval?: number;
  /**
   * Seconds a finished job (with its result) is kept in Redis, so that a
   * result whose event was missed can still be found; the clock starts when
   * the job finishes. An integer ≥ 1.
   *
   * @defaultValue `3600`
   */
  resultTtl?: number;
  /**
   * Approximate cap, in entries, of the queue's BullMQ events stream
   * (BullMQ's `streams.events.maxLen`). An integer ≥ 100.
   *
   * @defaultValue `100000`
   */
  eventsMaxLen?: number;
}

const OWN = new Set(['name', 'connection', 'queue', 'prefix', 'workers', 'maxQueued', 'timeout', 'pollInterval', 'resultTtl', 'eventsMaxLen']);

function checkName(name: string, value: unknown): string {
  if (typeof value === 'string' && value.length > 0 && !value.includes(':')) return value;
  throw expected(name, 'a non-empty string without `:`', value);
}

export function resolveConnection(value: unknown): ConnectionSettings {
  if (typeof value === 'string') {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw expected('connection', 'a redis:// or rediss:// URL, or ioredis options', value);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw expected('connection', 'a redis:// or rediss:// URL, or ioredis options', value);
    return { url: value };
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return { ...(value as Record<string, unknown>) };
  throw expected('connection', 'a redis:// or rediss:// URL, or ioredis options', value);
}

/**
 * Runs tasks on `warmpool worker` hosts through a BullMQ queue on Redis:
 *
 * ```ts
 * const pool = new RemotePool<typeof tasks>({ connection: 'redis://host:6379', queue: 'jobs' });
 * ```
 *
 * and on each machine: `npx warmpool worker ./tasks.js --connection redis://host:6379 --queue jobs`.
 * The same submit/map/futures API as the local pools. Hosts enforce timeouts
 * and stop cancelled tasks in their local pools. Requires the optional peer
 * dependencies `bullmq` and `ioredis`. Call `shutdown()` when done: the
 * Redis connections keep the process alive.
 *
 * @group Pools
 */
export class RemotePool<M extends object = AnyTasks> extends Executor<M> {
  /**
   * Checks the options and starts connecting to Redis (`ready()` resolves
   * once connected). No task runs until a `warmpool worker` host serves the
   * queue.
   *
   * @param options - {@link RemotePoolOptions}: `connection` and `queue` are required.
   * @throws `TypeError` or `RangeError` for a bad or unknown option; a
   * `WarmpoolError` saying to run `npm install bullmq ioredis` when either
   * optional peer dependency is missing.
   */
  constructor(options: RemotePoolOptions) {
    const o = checkObject('options', options);
    for (const key of Object.keys(o)) {
      if (!OWN.has(key)) {
        throw new TypeError(
          `Expected \`options\` to hold only RemotePool options (${[...OWN].join(', ')}), got \`${key}\`: worker options are given to \`warmpool worker\``,
        );
      }
    }
    const connection = resolveConnection(o.connection);
    const queue = checkName('queue', o.queue);
    const prefix = o.prefix === undefined ? 'bull' : checkName('prefix', o.prefix);
    const timeout = o.timeout === undefined ? Infinity : checkMs('timeout', o.timeout);
    if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length === 0)) throw expected('name', 'a non-empty string', o.name);
    const engineOptions = {
      name: o.name ?? defaultPoolName(),
      connection,
      queue,
      prefix,
      workers: o.workers === undefined ? 4 : checkInteger('workers', o.workers, 1),
      maxQueued: o.maxQueued === undefined ? Infinity : checkInteger('maxQueued', o.maxQueued, 0, true),
      pollInterval: o.pollInterval === undefined ? 1000 : checkMs('pollInterval', o.pollInterval, false),
      resultTtl: o.resultTtl === undefined ? 3600 : checkInteger('resultTtl', o.resultTtl, 1),
      eventsMaxLen: o.eventsMaxLen === undefined ? 100_000 : checkInteger('eventsMaxLen', o.eventsMaxLen, 100),
    };
    if (engineOptions.pollInterval < 10) throw new RangeError(`Expected \`pollInterval\` to be a number of ms >= 10, got \`${engineOptions.pollInterval}\` (number)`);
    checkPeers();
    super(new RemoteEngine(engineOptions), timeout);
  }
}
