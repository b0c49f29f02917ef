// Entry file of a worker process (forked by ./adapter.ts).
//
// Orphans: when the parent dies, this process must exit too, also while its
// main thread is stuck in a synchronous loop and cannot see the IPC channel
// close. Linux's PR_SET_PDEATHSIG would do it but needs a native addon, so a
// tiny watchdog thread, whose event loop stays free whatever the main thread
// does, polls the parent pid (a reparented process sees a new ppid) and
// SIGKILLs this process. `disconnect` covers the ordinary case at once.

import { Worker } from 'node:worker_threads';
import { FromWorker } from '../../messages.js';
import { encodeError } from '../../wire-error.js';
import { WorkerLoop } from '../../worker-runtime.js';

const WATCHDOG_MS = 200;

const watchdog = new Worker(
  `const { workerData } = require('node:worker_threads');
   setInterval(() => { if (process.ppid !== workerData.ppid) process.kill(workerData.pid, 'SIGKILL'); }, ${WATCHDOG_MS});`,
  { eval: true, workerData: { ppid: process.ppid, pid: process.pid }, resourceLimits: { maxOldGenerationSizeMb: 8 } },
);
watchdog.unref();

const send = process.send!.bind(process);
const loop = new WorkerLoop((msg) => {
  send(msg);
});

process.on('message', (msg: unknown[]) => loop.onMessage(msg));
process.on('disconnect', () => process.exit(0));

// An uncaught error kills the worker (as Node would); the parent hears why
// first, to put it in the WorkerCrashedError of the task that was running.
let dying = false;
const die = (err: unknown) => {
  if (dying) return;
  dying = true;
  try {
    send([FromWorker.Fatal, encodeError(err)], undefined, undefined, () => process.exit(1));
    setTimeout(() => process.exit(1), 1000).unref();
  } catch {
    process.exit(1);
  }
};
process.on('uncaughtException', die);
process.on('unhandledRejection', die);
