// Entry file of a worker process (spawned by ./adapter.ts). Frames
// (./channel.ts) come in on fd 3 and go out on fd 4. Writes are synchronous:
// a result leaves before the next task starts, however long that task runs
// or however it dies, and a full pipe makes the worker wait rather than
// buffer without bound.
//
// Orphans: when the parent dies, this process must exit too, also while its
// main thread is stuck in a synchronous loop and cannot see the IPC channel
// close. Whatever is to notice must not need this main thread: a read on a
// pipe that ends when the parent dies would end in the libuv threadpool,
// but its callback, the only place that can act, runs on the main thread.
// So the kernel does it: on Linux the worker is started through
// `setpriv --pdeathsig KILL` (./adapter.ts), which sets PR_SET_PDEATHSIG
// and execs node in the same process; the kernel SIGKILLs this process when
// the parent's spawning thread ends, and argv then ends with
// `--parent-death-signal <pid>`. Elsewhere (no setpriv, not Linux), a tiny
// watchdog thread, whose event loop stays free whatever the main thread
// does, polls the parent pid (a reparented process sees a new ppid) and
// SIGKILLs this process; it costs a V8 isolate (about 9 MB of RSS). The
// socket's end covers the ordinary case either way.

import { writeSync, writevSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Socket } from 'node:net';
import { FromWorker } from './protocol.js';
import { encodeError } from '../core/wire-error.js';
import { WorkerLoop } from './loop.js';
import { workerThreads } from '../core/builtins.js';
import { encodeFrameParts, readFrames } from './channel.js';

const WATCHDOG_MS = 200;

// Out of memory, V8 aborts the process and says why only on stderr; a
// report written on the fatal error tells the parent (./adapter.ts,
// outOfMemoryReport). Set here rather than by flags, so the task sees the
// user's execArgv and a child it forks inherits none of it.
const fatalReport = process.argv.indexOf('--fatal-report');
if (fatalReport !== -1) {
  const path = process.argv[fatalReport + 1];
  process.report.reportOnFatalError = true;
  process.report.compact = true;
  process.report.directory = dirname(path);
  process.report.filename = basename(path);
}

const flag = process.argv.indexOf('--parent-death-signal');
if (flag !== -1) {
  // The parent died before setpriv set the signal: nobody would send it now.
  if (process.ppid !== Number(process.argv[flag + 1])) process.exit(0);
} else {
  // Loaded only here: node:worker_threads and what it pulls in cost a worker memory it otherwise does not need.
  const watchdog = new (workerThreads().Worker)(
    `const { workerData } = require('node:worker_threads');
     setInterval(() => { if (process.ppid !== workerData.ppid) process.kill(workerData.pid, 'SIGKILL'); }, ${WATCHDOG_MS});`,
    { eval: true, workerData: { ppid: process.ppid, pid: process.pid }, resourceLimits: { maxOldGenerationSizeMb: 8 } },
  );
  watchdog.unref();
}

const OUT = 4;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes a whole frame to fd 4, waiting while the pipe is full. A frame with
 * binary parts is written as a list (writev), the parts from the task's own
 * buffers: the write ends before post returns, so no copy is needed to keep
 * them as they were.
 */
function post(message: unknown[]): void {
  const frame = encodeFrameParts(message);
  if (Array.isArray(frame)) {
    writeList(frame);
    return;
  }
  let offset = 0;
  while (offset < frame.length) {
    try {
      offset += writeSync(OUT, frame, offset);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 1); // the parent is behind: give it a moment
        continue;
      }
      // EPIPE and the like: the parent is gone, and so is the point of going on.
      process.exit(0);
    }
  }
}

function writeList(list: Uint8Array[]): void {
  let rest = list;
  for (;;) {
    let n: number;
    try {
      // libuv writes the whole list unless the pipe is non-blocking and full (it is blocking unless a task changed it).
      n = writevSync(OUT, rest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 1);
        continue;
      }
      process.exit(0);
    }
    let i = 0;
    while (i < rest.length && n >= rest[i].byteLength) n -= rest[i++].byteLength;
    if (i === rest.length) return;
    rest = [rest[i].subarray(n), ...rest.slice(i + 1)];
  }
}

const socket = new Socket({ fd: 3, readable: true, writable: false });
socket.on('error', () => {});
const loop = new WorkerLoop(post);
readFrames(socket, (msg) => loop.onMessage(msg));

// However this process ends by itself (process.exit in a task, an uncaught
// error, the end of the socket), the results it holds go first, then a word
// that it did: the parent then knows the task it sees running is the one
// that was. 'exit' listeners run synchronously, and writes here are too.
process.on('exit', () => {
  try {
    loop.flush();
    post([FromWorker.Exiting]);
  } catch {
    // The parent is gone: nobody to tell.
  }
});

// The parent ended the input (idle timeout, retirement, shutdown) or died.
// Exit once what the tasks wrote to stdout and stderr has been flushed:
// process.exit() would drop writes still queued for a pipe. A pipe nobody
// reads cannot hold the worker forever: the parent kills a closing worker
// after a while, and an orphan is killed (the parent-death signal or the
// watchdog, above).
socket.on('end', () => {
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
    loop.flush();
    post([FromWorker.Fatal, encodeError(err)]);
  } finally {
    process.exit(1);
  }
};
process.on('uncaughtException', die);
process.on('unhandledRejection', die);
