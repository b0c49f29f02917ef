// RemotePool: the Executor contract across machines. Tasks become BullMQ jobs
// on a Redis queue; `warmpool worker <module>` hosts run them in their own
// warm local pools. The public class checks options and hands filled-in ones
// to ./remote/engine.ts; the host side is ./remote/host.ts.

import { Executor } from './executor.js';
import { checkInteger, checkMs, checkObject, expected } from './options.js';
import { RemoteEngine, type ConnectionSettings } from './remote/engine.js';
import { checkPeers } from './remote/peers.js';
import type { AnyTasks } from './types.js';

/**
 * Where Redis is: a `redis://` or `rediss://` (TLS) URL, with user and
 * password if needed (`redis://user:pass@host:6379/0`), or ioredis options
 * (`{ host, port, password, tls, db, ... }`).
 */
export type RedisConnection = string | (Record<string, unknown> & { url?: string });

export interface RemotePoolOptions {
  /** Redis, as a URL or ioredis options. Required. */
  connection: RedisConnection;
  /** Name of the BullMQ queue the `warmpool worker` hosts serve. Required. */
  queue: string;
  /** Prefix of every Redis key of the queue (BullMQ's `prefix`); hosts must use the same. Default: `'bull'`. */
  prefix?: string;
  /**
   * How many remote workers to plan for, in all hosts together: it sizes map
   * chunks and the map family's read-ahead, and is what `stats().workers`
   * reports. It starts nothing. Default: `4`.
   */
  workers?: number;
  /**
   * Most tasks accepted and not yet seen started by a host; beyond it
   * `submit` throws `QueueFullError`. Default: `Infinity`.
   */
  maxQueued?: number;
  /** Default per-task timeout in ms, counted from the task's start on a host (enforced there). Default: none. */
  timeout?: number;
  /**
   * ms from `submit` within which some host must start the task; past it the
   * future rejects with `TimeoutError` and the job is taken back (removed, or
   * stopped on a host that took it meanwhile). It bounds the wait in the queue,
   * which `timeout` does not count: use it to hear of a queue no host serves
   * (none started, a misspelled `queue` or `prefix`). Default: `Infinity` (wait).
   */
  queueTimeout?: number;
  /**
   * ms the first connection to Redis may take, from construction; past it
   * `ready()` and every future so far reject with `BrokerError` naming the
   * address, and so does every later `submit`. `Infinity` waits for Redis
   * indefinitely (ioredis keeps retrying). Default: `10000`.
   */
  connectTimeout?: number;
  /**
   * Bounds `shutdown()` against Redis, in ms. Shutdown waits for its tasks
   * while Redis is reachable; once Redis has been unreachable this long during
   * shutdown, the futures still outstanding reject with `BrokerError`. Closing
   * the connections then takes at most this long gracefully before they are
   * dropped. So a shutdown ends at most 2 × `closeTimeout` after Redis becomes
   * unreachable. Default: `5000`.
   */
  closeTimeout?: number;
  /**
   * ms after which a task not heard of through BullMQ's events has its job
   * read from Redis directly (events are best effort); the wait between two
   * reads of one job grows with its age, up to 10 × this. Default: `1000`.
   */
  pollInterval?: number;
  /**
   * Seconds a finished job (with its result) is kept in Redis, for a result
   * whose event was missed to be found: a Redis TTL on the job's hash, set by
   * the host when the task ends, so the value goes whatever else happens.
   * The queue's events stream and completed/failed sets get the same TTL,
   * renewed by every job. Default: `3600`.
   */
  resultTtl?: number;
  /**
   * Approximate cap of the queue's BullMQ events stream (BullMQ's
   * `streams.events.maxLen`), in entries; an entry holds at most about 1.5 KB
   * (results larger than 1 KiB are not copied into it). Default: `10000`.
   */
  eventsMaxLen?: number;
}

const OWN = new Set([
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
 */
export class RemotePool<M extends object = AnyTasks> extends Executor<M> {
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
    const engineOptions = {
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
    if (engineOptions.pollInterval < 10) throw new RangeError(`Expected \`pollInterval\` to be a number of ms >= 10, got \`${engineOptions.pollInterval}\` (number)`);
    checkPeers();
    super(new RemoteEngine(engineOptions), timeout);
  }
}
