// Observability end to end (./observe.test.ts) against RemotePool, with
// `warmpool worker` hosts on a private redis-server (see ./backends.ts); a
// file of its own so that each file stays within the runner's per-file timeout.
import { backends } from './backends.js';
import { observeSuite } from './observe.test.js';

observeSuite(backends.filter((b) => b.name === 'RemotePool'));
