// RemotePool: the Executor contract across machines. Tasks become BullMQ jobs
// on a Redis queue; `warmpool worker <module>` hosts run them in their own
// warm local pools. The public class checks options and hands filled-in ones
// to ./remote/engine.ts; the host side is ./remote/host.ts.

import { Executor } from '../core/executor.js';
import { checkInteger, checkKeys, checkMs, checkObject, defaultPoolName, expected, POOL_KEYS } from '../core/options.js';
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
export type RedisConnection =
  | string
  | (Record<string, unknown> & {
      /** A `redis://` or `rediss://` URL, combined with the other ioredis options. */
      url?: string;
    });

/**
 * Redis connection settings as BullMQ and ioredis take them; a URL is given
 * as `{ url }`. Declared here, not beside the connections that use it, so that
 * the published declarations of `RemotePool` do not reach the types of the
 * optional peers bullmq and ioredis (./peers.ts): a project without them must
 * still compile.
 */
export type ConnectionSettings = Record<string, unknown> & { url?: string };

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
   * Milliseconds from `submit` within which some host must start the task;
   * past it the future rejects with `TimeoutError` (counted as `timedOut`)
   * and the job is taken back (removed, or stopped on a host that took it
   * meanwhile). It bounds the wait in the queue, which `timeout` does not
   * count: use it to hear of a queue no host serves (none started, a
   * misspelled `queue` or `prefix`). A number ≥ 0 or `Infinity`.
   *
   * @defaultValue `Infinity` (wait for a host)
   */
  queueTimeout?: number;
  /**
   * Milliseconds the first connection to Redis may take; the clock starts at
   * construction. Past it `ready()`, every future so far and every later
   * `submit` reject with `BrokerError` naming the address. `Infinity` waits
   * for Redis indefinitely (ioredis keeps retrying). A number ≥ 0 or `Infinity`.
   *
   * @defaultValue `10000`
   */
  connectTimeout?: number;
  /**
   * Bounds `shutdown()` against Redis, in milliseconds. Shutdown waits for
   * its tasks while Redis is reachable; once Redis has been unreachable this
   * long during shutdown (the clock starts at `shutdown()`, or when Redis goes
   * away after it), the futures still outstanding reject with `BrokerError`.
   * Closing the connections then takes at most this long gracefully before
   * they are dropped. So a shutdown ends at most 2 × `closeTimeout` after
   * Redis becomes unreachable. A number from 0 to 2³¹−1.
   *
   * @defaultValue `5000`
   */
  closeTimeout?: number;
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
   * Seconds a finished job (with its result) is kept in Redis at most, so
   * that a result whose event was missed can still be found; the clock starts
   * when the job finishes. It is a Redis TTL on the job's hash, set by the
   * host, so the value goes whatever else happens; the queue's events stream
   * and completed/failed sets get at least as long, renewed by every job. A
   * result over 1 KiB is removed as soon as the pool has read it. An integer ≥ 1.
   *
   * @defaultValue `3600`
   */
  resultTtl?: number;
  /**
   * Approximate cap, in entries, of the queue's BullMQ events stream
   * (BullMQ's `streams.events.maxLen`); an entry holds at most about 1.5 KB
   * (results over 1 KiB are not copied into it). An integer ≥ 100.
   *
   * @defaultValue `10000`
   */
  eventsMaxLen?: number;
}

const OWN = new Set([
  'name',
  'connection',
  'queue',
  'prefix',
  'workers',
  'maxQueued',
  'timeout',
  'queueTimeout',
  'connectTimeout',
  'closeTimeout',
  'pollInterval',
  'resultTtl',
  'eventsMaxLen',
]);

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
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
      throw expected('connection', 'a redis:// or rediss:// URL, or ioredis options', value);
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
    checkKeys(o, OWN, (key) =>
      POOL_KEYS.has(key)
        ? `RemotePool takes ${[...OWN].map((k) => `\`${k}\``).join(', ')}, and worker options are given to \`warmpool worker\` on each host`
        : undefined,
    );
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
      eventsMaxLen: o.eventsMaxLen === undefined ? 10_000 : checkInteger('eventsMaxLen', o.eventsMaxLen, 100),
      queueTimeout: o.queueTimeout === undefined ? Infinity : checkMs('queueTimeout', o.queueTimeout),
      connectTimeout: o.connectTimeout === undefined ? 10_000 : checkMs('connectTimeout', o.connectTimeout),
      closeTimeout: o.closeTimeout === undefined ? 5000 : checkMs('closeTimeout', o.closeTimeout, false),
    };
    if (engineOptions.pollInterval < 10)
      throw new RangeError(`Expected \`pollInterval\` to be a number of ms >= 10, got \`${engineOptions.pollInterval}\` (number)`);
    checkPeers();
    super(new RemoteEngine(engineOptions).core, timeout, engineOptions.name);
  }
}
