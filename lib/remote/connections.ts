// Closing BullMQ's Redis connections in bounded time, for RemotePool and
// `warmpool worker` alike.
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

import type { ConnectionSettings } from './engine.js';

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
    if (connection.status !== 'initializing') connection.client.then((client) => client.disconnect(), () => {});
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
    return await Promise.race([work.then(() => true, () => true), expired]);
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
