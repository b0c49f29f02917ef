// RemotePool's connections to Redis: BullMQ's Queue (adding and removing
// jobs), a QueueEvents reader (the fast path for outcomes) and an ioredis
// client of its own (the events stream's position, job hashes read in one
// pipeline, cancels published).

import type { JobData } from './codec.js';
import { loadPeers } from './peers.js';

/** Redis connection settings as BullMQ and ioredis take them; a URL is given as `{ url }`. */
export type ConnectionSettings = Record<string, unknown> & { url?: string };

export interface ConnectOptions {
  readonly connection: ConnectionSettings;
  readonly queue: string;
  readonly prefix: string;
  readonly eventsMaxLen: number;
}

/** BullMQ's job events, as the engine takes them. */
export interface EventHandlers {
  active(jobId: string): void;
  completed(jobId: string, returnvalue: unknown): void;
  failed(jobId: string, failedReason: string): void;
}

/** What of a BullMQ Queue and QueueEvents the engine uses. */
export interface Queue {
  addBulk(jobs: { name: string; data: JobData; opts: Record<string, unknown> }[]): Promise<unknown>;
  remove(id: string): Promise<number>;
  toKey(type: string): string;
  close(): Promise<void>;
}
export interface QueueEvents {
  close(): Promise<void>;
}
type Redis = InstanceType<Awaited<ReturnType<typeof loadPeers>>['Redis']>;

export interface Connected {
  queue: Queue;
  events: QueueEvents;
  redis: Redis;
}


/**
 * Opens the pool's BullMQ Queue, its own ioredis client and a QueueEvents
 * reader that starts at the events stream's current end.
 */
export async function connect(opts: ConnectOptions, on: EventHandlers): Promise<Connected> {
  const { bullmq, Redis } = await loadPeers();
  const { url, ...rest } = opts.connection;
  const connection = url === undefined ? rest : { url, ...rest };
  const prefix = opts.prefix;
  const queue = new bullmq.Queue(opts.queue, {
    connection,
    prefix,
    streams: { events: { maxLen: opts.eventsMaxLen } },
  });
  // Our own client for what BullMQ has no call for: reading the events
  // stream's position, reading job hashes in one pipeline, publishing cancels.
  // Commands fail at once while Redis is away instead of queueing: the
  // poll simply tries again at its next tick.
  const redisOptions = { ...rest, enableOfflineQueue: true, maxRetriesPerRequest: 1, lazyConnect: false };
  const redis = url === undefined ? new Redis(redisOptions) : new Redis(url, redisOptions);
  redis.on('error', () => {}); // reconnects by itself; failed commands are retried by the poll
  queue.on('error', () => {});
  try {
    await queue.waitUntilReady();
    const last = (await redis.xrevrange(queue.keys.events, '+', '-', 'COUNT', 1)) as [string, string[]][];
    const lastEventId = last.length > 0 ? last[0][0] : '0-0';
    const events = new bullmq.QueueEvents(opts.queue, { connection, prefix, lastEventId, autorun: false });
    events.on('error', () => {});
    events.on('active', ({ jobId }) => on.active(jobId));
    events.on('completed', ({ jobId, returnvalue }) => on.completed(jobId, returnvalue as unknown));
    events.on('failed', ({ jobId, failedReason }) => on.failed(jobId, failedReason));
    void events.run().catch(() => {});
    await events.waitUntilReady();
    return { queue, events, redis };
  } catch (err) {
    await Promise.allSettled([queue.close(), redis.quit()]);
    throw err;
  }
}
