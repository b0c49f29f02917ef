// The child-process runtime: one warm Node process per worker, reached over
// a socket pair on the child's fd 3 carrying length-prefixed frames
// (./channel.ts): JSON when JSON carries every value exactly, the structured
// clone serializer otherwise, so Map, Set, BigInt, Date and typed arrays
// cross intact.

import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { SpawnWorker } from '../handle.js';
import { encodeFrame, readFrames } from './channel.js';

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
  const args = [...options.execArgv];
  if (options.maxMemoryMb !== undefined) args.push(`--max-old-space-size=${options.maxMemoryMb}`);
  args.push(entry);
  return (events) => {
    const child = spawn(process.execPath, args, {
      env: options.env,
      cwd: options.cwd,
      stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
    });
    const socket = child.stdio[3] as Socket;
    let gone = false;
    readFrames(socket, (msg) => {
      if (!gone) events.message(msg);
    });
    // An exit is reported once the socket is closed too: a worker's last
    // frames (a result, a Fatal report) can still be unread when 'exit'
    // fires, and 'close' on the socket comes after them.
    let exitStatus: [number | null, NodeJS.Signals | null] | undefined;
    let socketClosed = false;
    const report = () => {
      if (gone || exitStatus === undefined || !socketClosed) return;
      gone = true;
      events.exit(exitStatus[0], exitStatus[1]);
    };
    child.on('exit', (code, signal) => {
      exitStatus = [code, signal];
      report();
    });
    socket.on('close', () => {
      socketClosed = true;
      report();
    });
    // EPIPE and the like when the worker has just died: its exit follows.
    socket.on('error', () => {});
    child.on('error', (err) => {
      // A failed spawn has no pid and no 'exit'.
      if (child.pid === undefined && !gone) {
        gone = true;
        events.exit(null, null, err);
      }
    });
    return {
      send(message) {
        socket.write(encodeFrame(message));
      },
      terminate() {
        child.kill('SIGKILL');
      },
      close() {
        // End of input: the worker exits once it has flushed its output.
        socket.end();
      },
      ref() {
        child.ref();
        socket.ref();
      },
      unref() {
        child.unref();
        socket.unref();
      },
      get id() {
        return child.pid ?? -1;
      },
    };
  };
}
