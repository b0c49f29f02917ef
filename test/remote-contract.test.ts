// The Executor contract (./contract.test.ts) against RemotePool, with
// `warmpool worker` hosts on a private redis-server (see ./backends.ts).
import { backends } from './backends.js';
import { contractSuite } from './contract.test.js';

contractSuite(backends.filter((b) => b.name === 'RemotePool'));
