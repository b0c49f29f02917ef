// The child-process runtime: one warm Node process per worker, reached over
// Node's IPC channel with `serialization: 'advanced'` (the structured clone
// algorithm, so Map, Set, BigInt, Date and typed arrays cross intact).

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SpawnWorker } from '../handle.js';

export interface ProcessRuntimeOptions {
  readonly execArgv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string | undefined;
  readonly maxMemoryMb: number | undefined;
}

const entry = fileURLToPath(new URL('./entry.js', import.meta.url));

/**
 * The parent's execArgv, less what must not be inherited: debugger flags
 * would make every worker fight for the same port, and the test runner's
 * flags would turn a worker into a test run.
 */
export function inheritedExecArgv(): string[] {
  return process.execArgv.filter((arg) => !/^--(inspect|debug|test)/.test(arg));
}

export function processRuntime(options: ProcessRuntimeOptions): SpawnWorker {
  const execArgv = [...options.execArgv];
  if (options.maxMemoryMb !== undefined) execArgv.push(`--max-old-space-size=${options.maxMemoryMb}`);
  return (events) => {
    const child = fork(entry, [], {
      execArgv,
      env: options.env,
      cwd: options.cwd,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let gone = false;
    child.on('message', (msg: unknown[]) => {
      if (!gone) events.message(msg);
    });
    // An exit is reported once the IPC channel is closed too: a worker's last
    // messages (a result, a Fatal report) can still be in the pipe when 'exit'
    // fires, and the channel's 'disconnect' comes after them. Not 'close':
    // it never fires once the parent has called disconnect() itself.
    let exitStatus: [number | null, NodeJS.Signals | null] | undefined;
    const report = () => {
      if (gone || exitStatus === undefined) return;
      gone = true;
      events.exit(exitStatus[0], exitStatus[1]);
    };
    child.on('exit', (code, signal) => {
      exitStatus = [code, signal];
      if (!child.connected) report();
    });
    child.on('disconnect', report);
    child.on('error', (err) => {
      // A failed spawn has no pid and no 'close'. Other errors (a send on a
      // channel that just closed) are followed by 'close' anyway.
      if (child.pid === undefined && !gone) {
        gone = true;
        events.exit(null, null, err);
      }
    });
    return {
      send(message) {
        child.send(message);
      },
      terminate() {
        child.kill('SIGKILL');
      },
      close() {
        if (child.connected) child.disconnect();
      },
      ref() {
        child.ref();
        child.channel?.ref();
      },
      unref() {
        child.unref();
        child.channel?.unref();
      },
      get id() {
        return child.pid ?? -1;
      },
    };
  };
}
