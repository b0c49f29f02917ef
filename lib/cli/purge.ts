// `warmpool purge --connection <url> --queue <name>`: removes every Redis key
// of a RemotePool queue (`<prefix>:<queue>:*`): waiting and finished jobs,
// results, the events stream, BullMQ's bookkeeping. What resultTtl does not
// remove by itself (ids, meta, a queue left with waiting jobs) goes here.
//
//   connect (fails at once if Redis cannot be reached)
//     ──▶ CLIENT LIST: hosts and pools still on the queue? refuse unless --force
//     ──▶ SCAN <prefix>:<queue>:* ──▶ UNLINK, in batches ──▶ "removed N keys"

import { loadPeers } from '../remote/peers.js';
import { redisAddress } from '../remote/connections.js';
import { resolveConnection } from '../remote/pool.js';
import { parse, UsageError } from './args.js';

export const summary = "remove every Redis key of a RemotePool queue (jobs, results, events, BullMQ's bookkeeping)";

const USAGE = `Usage: warmpool purge --connection <redis-url> --queue <name> [options]

Removes every Redis key of the queue (<prefix>:<queue>:*). Refuses while a
\`warmpool worker\` host or a RemotePool is connected to the queue, unless --force.

Options:
  --connection <url>  Redis, as for \`warmpool worker\`;
                      default: $WARMPOOL_REDIS_URL, else redis://127.0.0.1:6379
  --queue <name>      the queue (required)
  --prefix <prefix>   BullMQ key prefix (default: bull)
  --force             remove the keys even while hosts or pools use the queue
                      (their jobs are lost; pending futures fail with BrokerError)
  -h, --help          this help
`;

/** Keys UNLINKed per call. */
const BATCH = 500;

/** `text` as a literal in a Redis glob pattern. */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Connected clients of the queue, by BullMQ's client names: hosts (Workers) and pools (QueueEvents readers). */
export function clientsOf(clientList: string, prefix: string, queue: string): { hosts: number; pools: number } {
  const base = `${prefix}:${Buffer.from(queue).toString('base64')}`;
  let hosts = 0;
  let pools = 0;
  for (const line of clientList.split('\n')) {
    const name = /(?:^| )name=(\S*)/.exec(line)?.[1];
    if (name === undefined || name === '') continue;
    if (name === base || name.startsWith(`${base}:w:`)) hosts++;
    else if (name === `${base}:qe`) pools++;
  }
  return { hosts, pools };
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    connection: { type: 'string' },
    queue: { type: 'string' },
    prefix: { type: 'string' },
    force: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`Expected no arguments besides the options, got ${positionals.join(' ')}`);
  if (values.queue === undefined || values.queue === '' || values.queue.includes(':')) {
    throw new UsageError(
      `Expected --queue <name> (non-empty, without \`:\`), got ${values.queue === undefined ? 'none' : `\`${values.queue}\``}`,
    );
  }
  const queue = values.queue;
  const prefix = values.prefix ?? 'bull';
  let settings;
  try {
    settings = resolveConnection(values.connection ?? process.env.WARMPOOL_REDIS_URL ?? 'redis://127.0.0.1:6379');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const address = redisAddress(settings);
  const { Redis } = await loadPeers();
  const { url, ...rest } = settings;
  // One attempt, bounded: an operator's command should not wait for Redis.
  const options = { ...rest, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 10_000, lazyConnect: true };
  const redis = url === undefined ? new Redis(options) : new Redis(url, options);
  // ioredis rejects connect() with "Connection is closed"; the cause is in the error event.
  let cause: unknown;
  redis.on('error', (err: unknown) => {
    cause = err;
  });
  try {
    try {
      await redis.connect();
    } catch (err) {
      const reason = cause ?? err;
      process.stderr.write(
        `warmpool purge: could not connect to Redis at ${address}: ${reason instanceof Error ? reason.message : String(reason)}\n`,
      );
      return 1;
    }
    const { hosts, pools } = clientsOf(String(await redis.client('LIST')), prefix, queue);
    if ((hosts > 0 || pools > 0) && values.force !== true) {
      process.stderr.write(
        `warmpool purge: queue \`${queue}\` at ${address} is in use by ${hosts} host(s) and ${pools} pool(s); stop them first, or pass --force\n`,
      );
      return 1;
    }
    const pattern = `${globLiteral(prefix)}:${globLiteral(queue)}:*`;
    let removed = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', BATCH);
      cursor = next;
      if (keys.length > 0) removed += await redis.unlink(...keys);
    } while (cursor !== '0');
    process.stdout.write(`removed ${removed} key(s) of queue ${queue} at ${address}\n`);
    return 0;
  } finally {
    redis.disconnect();
  }
}
