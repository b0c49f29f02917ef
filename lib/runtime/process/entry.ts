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
// The parent closed the channel (idle timeout, retirement, shutdown) or died.
// Exit once what the tasks wrote to stdout and stderr has been flushed:
// process.exit() would drop writes still queued for a pipe. A pipe nobody
// reads cannot hold the worker forever: the parent kills a closing worker
// after a while, and the watchdog kills an orphan.
process.on('disconnect', () => {
  let pending = 2;
  const flushed = () => {
    if (--pending === 0) process.exit(0);
  };
  process.stdout.write('', flushed);
  process.stderr.write('', flushed);
});

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
