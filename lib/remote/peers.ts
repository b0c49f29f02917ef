// bullmq and ioredis are optional peer dependencies: `import 'warmpool'` must
// work without them, so they are never imported statically. Construction
// checks that they resolve (synchronously, so a missing one throws from the
// constructor, not from some later future), and the engine imports them
// when it starts.

import { createRequire } from 'node:module';
import { WarmpoolError } from '../core/errors.js';

export type BullMQ = typeof import('bullmq');
export type IORedis = typeof import('ioredis');

const PEERS = ['bullmq', 'ioredis'] as const;

function missingPeers(cause: unknown): WarmpoolError {
  return new WarmpoolError(
    'RemotePool and `warmpool worker` need the optional peer dependencies bullmq and ioredis, which are not installed: run `npm install bullmq ioredis`',
    { cause },
  );
}

/** Throws a WarmpoolError saying what to install when bullmq or ioredis cannot be found from here. */
export function checkPeers(): void {
  const require = createRequire(import.meta.url);
  for (const name of PEERS) {
    try {
      require.resolve(name);
    } catch (err) {
      throw missingPeers(err);
    }
  }
}

export async function loadPeers(): Promise<{ bullmq: BullMQ; Redis: IORedis['Redis'] }> {
  try {
    const [bullmq, ioredis] = await Promise.all([import('bullmq'), import('ioredis')]);
    return { bullmq, Redis: ioredis.Redis };
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND') throw missingPeers(err);
    throw err;
  }
}
