// RemotePool's Redis connections, and closing BullMQ's in bounded time (for
// `warmpool worker` too).
//
//   new Connections ──▶ loadPeers ──▶ Queue ─┬─ waitUntilReady ──▶ events stream's last id
//                                           │      ──▶ QueueEvents from there ──▶ `connected`
//                       our own ioredis ────┘   (reachable/unreachable: its ready/close)
//          └── connectTimeout passes first ──▶ BrokerError; all dropped
//
//   close gracefully (QUIT, let BullMQ finish) ──┬── done within the bound ──▶ end
//                                                └── bound passes, or Redis unreachable
//                                                        ──▶ drop: ioredis disconnect() ──▶ end
//
// Why a bound at all: while an ioredis client is reconnecting, BullMQ's
// `QueueEvents.close()` and `Worker.close()` never resolve (they wait for an
// `end` event that a client with no socket does not emit; ioredis'
// `disconnect()` during a reconnect only clears the retry timer). `Queue.close()`
// and ioredis' `quit()` do resolve. So every close is raced against a timer,
// and then every connection is dropped with ioredis' `disconnect()`, which
// clears the reconnect timer and the socket: nothing is left holding the
// event loop, whatever became of the graceful close.
//
// Events. The QueueEvents reader starts at the stream's last entry as read
// before the first job is added, so no event of the pool's jobs can come
// before its start position.

import { BrokerError } from '../core/errors.js';
import { loadPeers } from './peers.js';
import type { JobData } from './codec.js';
import type { ConnectionSettings } from './pool.js';

export interface ConnectOptions {
  readonly connection: ConnectionSettings;
  readonly queue: string;
  readonly prefix: string;
  readonly eventsMaxLen: number;
  /** ms the first connection may take; Infinity waits for Redis indefinitely. */
  readonly connectTimeout: number;
  /** ms shutdown waits on an unreachable Redis, and on a graceful close, before it gives up and drops the connections. */
  readonly closeTimeout: number;
}

/** What of a BullMQ Queue and QueueEvents RemotePool uses. */
export interface Queue {
  getBackend(): unknown;
  addBulk(jobs: { name: string; data: JobData; opts: Record<string, unknown> }[]): Promise<unknown>;
  remove(id: string): Promise<number>;
  toKey(type: string): string;
  close(): Promise<void>;
}
interface QueueEvents {
  getBackend(): unknown;
  close(): Promise<void>;
}
export type Redis = InstanceType<Awaited<ReturnType<typeof loadPeers>>['Redis']>;

export interface Connected {
  readonly queue: Queue;
  readonly events: QueueEvents;
  /** Our own client, for what BullMQ has no call for (the events stream's position, job hashes in one pipeline, cancels). */
  readonly redis: Redis;
}

/** BullMQ's events of the queue, as the engine takes them. */
export interface JobEvents {
  active(jobId: string): void;
  completed(jobId: string, returnvalue: unknown): void;
  failed(jobId: string, failedReason: string): void;
}

/**
 * A RemotePool's connections: made once, within connectTimeout; watched for
 * reachability (shutdown's bound); closed once, within closeTimeout.
 */
export class Connections {
  readonly #opts: ConnectOptions;
  /** Set once connected. */
  conn: Connected | undefined;
  /** Resolves once connected; rejects with the BrokerError that ready() and the futures get. */
  readonly connecting: Promise<Connected>;
  /** Our own client is connected (it reconnects with the others; it stands for them). */
  reachable = false;
  /** What #connect has made so far, so that a connection given up on can be dropped. */
  readonly #made: { queue?: Queue; events?: QueueEvents; redis?: Redis } = {};
  /** The last error a connection reported, for the message when connecting fails. */
  #lastError: unknown;
  /** Set once #connectWithin has failed: #connect makes nothing more. */
  #gaveUp = false;
  /** Rejects `connecting` when the pool gives up on a connection still being made. */
  #abandonConnect: (err: unknown) => void = () => {};
  /** Set by `guardShutdown`: called once Redis has been unreachable for closeTimeout. */
  #onOutage: (() => void) | undefined;
  /** Runs while the pool is shut down and Redis unreachable. */
  #outageTimer: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;

  constructor(opts: ConnectOptions, events: JobEvents) {
    this.#opts = opts;
    this.connecting = this.#connectWithin(events);
    this.connecting.then(
      (conn) => (this.conn = conn),
      () => {},
    );
  }

  /** #connect bounded by connectTimeout; rejects with the BrokerError that ready() and the futures get. */
  async #connectWithin(events: JobEvents): Promise<Connected> {
    const bound = this.#opts.connectTimeout;
    let timer: NodeJS.Timeout | undefined;
    const givenUp = new Promise<never>((_, reject) => {
      this.#abandonConnect = reject;
      if (bound !== Infinity) timer = setTimeout(() => reject(new Error(`no connection within ${bound} ms (\`connectTimeout\`)`)), bound);
    });
    const attempt = this.#connect(events);
    try {
      return await Promise.race([attempt, givenUp]);
    } catch (err) {
      this.#gaveUp = true;
      this.#dropAll();
      // What #connect makes after this (it stops at its next step) is dropped too.
      attempt.finally(() => this.#dropAll()).catch(() => {});
      const last = this.#lastError instanceof Error && this.#lastError !== err ? `; last error: ${this.#lastError.message}` : '';
      throw new BrokerError(
        `RemotePool could not connect to Redis at ${redisAddress(this.#opts.connection)} for queue \`${this.#opts.queue}\`: ${err instanceof Error ? err.message : String(err)}${last}`,
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
      this.#abandonConnect = () => {};
    }
  }

  async #connect(on: JobEvents): Promise<Connected> {
    const { bullmq, Redis } = await loadPeers();
    if (this.#gaveUp) throw new Error('given up');
    const { url, ...rest } = this.#opts.connection;
    const connection = url === undefined ? rest : { url, ...rest };
    const prefix = this.#opts.prefix;
    const onError = (err: unknown) => {
      this.#lastError = err;
    };
    const queue = new bullmq.Queue(this.#opts.queue, {
      connection,
      prefix,
      streams: { events: { maxLen: this.#opts.eventsMaxLen } },
    });
    this.#made.queue = queue;
    // Commands fail at once while Redis is away instead of queueing: the
    // poll simply tries again at its next tick. Its state stands for the
    // reachability of Redis (shutdown's bound).
    const redisOptions = { ...rest, enableOfflineQueue: true, maxRetriesPerRequest: 1, lazyConnect: false };
    const redis = url === undefined ? new Redis(redisOptions) : new Redis(url, redisOptions);
    this.#made.redis = redis;
    redis.on('error', onError); // reconnects by itself; failed commands are retried by the poll
    redis.on('ready', () => this.#setReachable(true));
    redis.on('close', () => this.#setReachable(false));
    queue.on('error', onError);
    await queue.waitUntilReady();
    const last = (await redis.xrevrange(queue.keys.events, '+', '-', 'COUNT', 1)) as [string, string[]][];
    const lastEventId = last.length > 0 ? last[0][0] : '0-0';
    if (this.#gaveUp) throw new Error('given up');
    const events = new bullmq.QueueEvents(this.#opts.queue, { connection, prefix, lastEventId, autorun: false });
    this.#made.events = events;
    events.on('error', onError);
    events.on('active', ({ jobId }) => on.active(jobId));
    events.on('completed', ({ jobId, returnvalue }) => on.completed(jobId, returnvalue as unknown));
    events.on('failed', ({ jobId, failedReason }) => on.failed(jobId, failedReason));
    void events.run().catch(() => {});
    await events.waitUntilReady();
    this.reachable = redis.status === 'ready';
    return { queue, events, redis };
  }

  /** Drops every connection made so far at once. */
  #dropAll(): void {
    const { queue, events, redis } = this.#made;
    // close() first: it stops QueueEvents' read loop, which would otherwise
    // retry on the dropped connection forever.
    events?.close().catch(() => {});
    dropConnections(events);
    dropConnections(queue);
    redis?.disconnect();
  }

  #setReachable(reachable: boolean): void {
    this.reachable = reachable;
    if (reachable) {
      clearTimeout(this.#outageTimer);
      this.#outageTimer = undefined;
    } else if (this.#onOutage !== undefined) {
      this.#armOutageTimer();
    }
  }

  /**
   * From shutdown on, the pool waits for its tasks only while Redis can be
   * reached: once Redis has been unreachable for closeTimeout (now, or after
   * it goes away later), `onOutage` is called, to fail what is outstanding.
   */
  guardShutdown(onOutage: () => void): void {
    this.#onOutage = onOutage;
    if (!this.reachable) this.#armOutageTimer();
  }

  #armOutageTimer(): void {
    if (this.#outageTimer !== undefined || this.#closed !== undefined) return;
    this.#outageTimer = setTimeout(() => {
      this.#outageTimer = undefined;
      if (!this.reachable) this.#onOutage?.();
    }, this.#opts.closeTimeout);
  }

  /**
   * Closes the connections, once: gracefully within closeTimeout while Redis
   * is reachable, then by force. A connection still being made is given up.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearTimeout(this.#outageTimer);
      this.#outageTimer = undefined;
      let conn = this.conn;
      if (conn === undefined) {
        this.#abandonConnect(new Error('the pool was shut down before it connected'));
        // Undefined when it was given up (#connectWithin dropped what it made).
        conn = await this.connecting.catch(() => undefined);
        if (conn === undefined) return;
      }
      if (this.reachable) {
        const { queue, events, redis } = conn;
        await settledWithin(Promise.allSettled([events.close(), queue.close(), redis.quit()]), this.#opts.closeTimeout);
      }
      this.#dropAll();
    })();
    return this.#closed;
  }
}

/** The part of a BullMQ RedisConnection this file uses. */
interface BullConnection {
  status: string;
  readonly client: Promise<{ disconnect(): void }>;
  close(force?: boolean): Promise<void>;
}
/** A BullMQ Queue, QueueEvents or Worker, by what is used here. */
export interface BullClass {
  getBackend(): unknown;
}

/**
 * Drops every Redis connection of a BullMQ object at once, made or not. A
 * connection still being made is disconnected by BullMQ's `close(true)`;
 * a made one is disconnected through its client, since its `close` may be
 * stuck behind an earlier graceful close.
 */
export function dropConnections(target: BullClass | undefined): void {
  if (target === undefined) return;
  const backend = target.getBackend() as { connection?: BullConnection; blockingConnection?: BullConnection };
  for (const connection of [backend.connection, backend.blockingConnection]) {
    if (connection === undefined) continue;
    connection.close(true).catch(() => {});
    if (connection.status !== 'initializing')
      connection.client.then(
        (client) => client.disconnect(),
        () => {},
      );
  }
}

/**
 * Resolves when `work` settles or `ms` pass, whichever is first; true if
 * `work` settled. The timer holds the event loop on purpose: a caller awaiting
 * shutdown must see it end, not have the process exit under an unsettled await.
 */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Where Redis is, for messages: `host:port`, or the URL without its
 * password. Never includes credentials.
 */
export function redisAddress(connection: ConnectionSettings): string {
  const { url, host, port, path } = connection as { url?: string; host?: unknown; port?: unknown; path?: unknown };
  if (url !== undefined) {
    try {
      const u = new URL(url);
      return `${u.protocol}//${u.hostname || '127.0.0.1'}:${u.port || '6379'}${u.pathname.length > 1 ? u.pathname : ''}`;
    } catch {
      return 'the given URL';
    }
  }
  if (typeof path === 'string') return path;
  return `${typeof host === 'string' ? host : '127.0.0.1'}:${typeof port === 'number' || typeof port === 'string' ? String(port) : '6379'}`;
}
