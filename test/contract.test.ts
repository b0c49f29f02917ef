// The Executor contract (./contract-suite.ts) against the local backends.
import { backends } from './backends.js';
import { contractSuite } from './contract-suite.js';

contractSuite(backends.filter((b) => b.name !== 'RemotePool'));
