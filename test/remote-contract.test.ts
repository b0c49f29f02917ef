// The Executor contract (./contract.test.ts) against RemotePool, with
// `warmpool worker` hosts on a private redis-server (see ./backends.ts), or
// the WARMPOOL_REDIS_URL one; skipped, saying how to include it, without
// either (./redis.ts).
import { backends } from './backends.js';
import { contractSuite } from './contract.test.js';

const remote = backends.filter((b) => b.name === 'RemotePool');
contractSuite(remote, await remote[0].unavailable?.());
