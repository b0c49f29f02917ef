// The child-process runtime: one warm Node process per worker, reached over
// two socket pairs carrying length-prefixed frames (./channel.ts): the
// child's fd 3 brings tasks, its fd 4 takes results back. JSON when JSON
// carries every value exactly, the structured clone serializer otherwise, so
// Map, Set, BigInt, Date and typed arrays cross intact.
//
// Out of memory: V8 aborts a process that reaches its heap limit (SIGABRT,
// on Node 20 and 24 alike), as it aborts on any other fatal error, and says
// which in a message on the stderr the worker shares with the parent. So
// every worker is given a file name (`--fatal-report`, after the entry
// script, so that the task's `process.execArgv` stays the user's) and its
// entry sets `process.report.reportOnFatalError`, which makes Node write a
// diagnostic report (about 10 KB, only when it dies of a fatal error; no
// cost before) to that file; its header's `trigger` is `OOMError` for a
// heap out of memory. The file is read and removed when the worker's exit
// is reported.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { SpawnWorker } from './handle.js';
import { encodeFrame, readFrames } from './channel.js';

export interface ProcessRuntimeOptions {
  readonly execArgv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string | undefined;
  readonly maxMemoryMb: number | undefined;
}

const entry = fileURLToPath(new URL('./entry.js', import.meta.url));

/**
 * Flags of the parent that a worker inherits: module loading (loaders,
 * preloads, conditions), V8 and runtime settings. Anything else is left out,
 * above all what would change what the worker runs (`-e`, `-p`, `--test`,
 * `--watch`) or make every worker fight for one port (`--inspect`). A flag's
 * value given as the next argument goes or stays with its flag.
 */
const INHERITED =
  /^(--(import|require|loader|experimental-loader|conditions|experimental-[\w-]+|no-[\w-]+|enable-source-maps|max-old-space-size|max-semi-space-size|stack-size|expose-gc|harmony[\w-]*|unhandled-rejections|trace-[\w-]+|disable-proto|frozen-intrinsics|input-type|env-file|preserve-symlinks[\w-]*|abort-on-uncaught-exception|disable-warning|pending-deprecation|throw-deprecation|no-deprecation)|-r|-C)$/;

export function inheritedExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  let keepValue = false;
  for (const arg of argv) {
    if (!arg.startsWith('-')) {
      // The value of the flag before it.
      if (keepValue) out.push(arg);
      keepValue = false;
      continue;
    }
    const eq = arg.indexOf('=');
    const keep = INHERITED.test(eq === -1 ? arg : arg.slice(0, eq));
    if (keep) out.push(arg);
    keepValue = keep && eq === -1;
  }
  return out;
}

let deathSignal: string | null | undefined;

/**
 * How a worker learns that its parent died while its main thread is stuck
 * in synchronous code (./entry.ts): on Linux, util-linux's
 * `setpriv --pdeathsig KILL -- node ...` sets PR_SET_PDEATHSIG and then
 * execs node in the same process, so the kernel SIGKILLs the worker the
 * moment the thread that spawned it ends, at no cost in the worker (no
 * thread, no timer). Found once per process: a setpriv that is there and
 * accepts the option (util-linux 2.33 and later) exec'ing this node
 * (`--version`, a few ms, synchronously, at the first pool's first spawn).
 * null where it cannot be used: the worker falls back to a watchdog thread.
 */
export function deathSignalLauncher(): string | null {
  if (deathSignal !== undefined) return deathSignal;
  deathSignal = null;
  if (process.platform !== 'linux') return null;
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  if (setpriv === undefined) return null;
  const probe = spawnSync(setpriv, ['--pdeathsig', 'KILL', '--', process.execPath, '--version'], { stdio: 'ignore', timeout: 5000 });
  if (probe.status === 0) deathSignal = setpriv;
  return deathSignal;
}

/** Workers spawned by this process: part of each one's fatal-error report name. */
let spawned = 0;

/**
 * The V8 account of a worker's death from its fatal-error report, when the
 * fatal error was running out of heap; the report is removed either way.
 * Undefined when there is no report (the worker did not die of a fatal
 * error) or it is not about memory.
 */
export function outOfMemoryReport(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  rmSync(path, { force: true });
  try {
    const header = (JSON.parse(text) as { header?: { event?: unknown; trigger?: unknown } }).header;
    const event = typeof header?.event === 'string' ? header.event : '';
    return header?.trigger === 'OOMError' || /heap out of memory/i.test(event) ? event || 'JavaScript heap out of memory' : undefined;
  } catch {
    // A report cut short (the process was killed while writing it): the kind is unknown.
    return undefined;
  }
}

export function processRuntime(options: ProcessRuntimeOptions): SpawnWorker {
  const baseArgs = [...options.execArgv];
  if (options.maxMemoryMb !== undefined) baseArgs.push(`--max-old-space-size=${options.maxMemoryMb}`);
  baseArgs.push(entry);
  return (events) => {
    const reportPath = join(tmpdir(), `warmpool-fatal-${process.pid}-${++spawned}.json`);
    const args = [...baseArgs, '--fatal-report', reportPath];
    const setpriv = deathSignalLauncher();
    // With the parent-death signal, the worker is told the pid it must still
    // see as its parent once running: the parent may have died before setpriv set it.
    const [file, argv] =
      setpriv === null
        ? [process.execPath, args]
        : [setpriv, ['--pdeathsig', 'KILL', '--', process.execPath, ...args, '--parent-death-signal', String(process.pid)]];
    const child = spawn(file, argv, {
      env: options.env,
      cwd: options.cwd,
      stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'pipe'],
    });
    const toChild = child.stdio[3] as Socket;
    const fromChild = child.stdio[4] as Socket;
    let gone = false;
    readFrames(fromChild, (msg) => {
      if (!gone) events.message(msg);
    });
    // An exit is reported once the result socket is closed too: a worker's
    // last frames (a result, a Fatal report) can still be unread when 'exit'
    // fires, and 'close' comes after them.
    let exitStatus: [number | null, NodeJS.Signals | null] | undefined;
    let socketClosed = false;
    const report = () => {
      if (gone || exitStatus === undefined || !socketClosed) return;
      gone = true;
      const [code, signal] = exitStatus;
      // A clean exit wrote no report: no file system call on the common path.
      const outOfMemory = signal === null && code === 0 ? undefined : outOfMemoryReport(reportPath);
      events.exit(code, signal, undefined, outOfMemory);
    };
    child.on('exit', (code, signal) => {
      exitStatus = [code, signal];
      report();
    });
    fromChild.on('close', () => {
      socketClosed = true;
      report();
    });
    // The task socket closed (EOF, or EPIPE on a write) while the pool still
    // meant to use it: a task closed its worker's fd 3, and the worker would
    // wait forever for tasks that cannot reach it. Stop it, so it is
    // replaced. (Reading is only for the EOF: the worker never writes on fd 3.)
    let closing = false;
    toChild.on('close', () => {
      if (!closing) child.kill('SIGKILL');
    });
    toChild.resume();
    // EPIPE and the like when the worker has just died: its exit follows.
    toChild.on('error', () => {});
    fromChild.on('error', () => {});
    child.on('error', (err) => {
      // A failed spawn has no pid and no 'exit'.
      if (child.pid === undefined && !gone) {
        gone = true;
        events.exit(null, null, err);
      }
    });
    return {
      send(message) {
        toChild.write(encodeFrame(message));
      },
      terminate() {
        child.kill('SIGKILL');
      },
      close() {
        // End of input: the worker exits once it has flushed its output.
        closing = true;
        toChild.end();
      },
      ref() {
        child.ref();
        toChild.ref();
        fromChild.ref();
      },
      unref() {
        child.unref();
        toChild.unref();
        fromChild.unref();
      },
      pid: child.pid ?? -1,
    };
  };
}
