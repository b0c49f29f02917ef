// `warmpool stream <module> <task>`: runs one generator task on a warm pool
// and writes each value it yields as a JSON line, as it comes.
//
//   --args JSON ─▶ pool.stream(task, args, { highWaterMark, timeout }) ─▶ values ─▶ JSON Lines out
//   --send -|FILE ─▶ JSON Lines ─▶ s.send(value), one at a time ─▶ taskMessages() in the task
//                    (at the end of the input: s.end())
//   Ctrl-C ─▶ s.cancel(): the task's signal aborts, its finally runs; a second Ctrl-C exits at once
//
// Backpressure end to end: the values loop writes a line and waits for the
// output's 'drain' when it asks to, so the stream's window holds the task
// back; the input is read a line at a time and each `send` awaited, so a
// slow task holds the input back (readline pauses its stream).

import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { WorkerStartError, type TaskStream } from '../index.js';
import { argsOption, intOption, makePool, moduleAndTask, onInterrupt, parse, printUsage, shown, UsageError } from './args.js';
import { errorInfo } from './error-info.js';

export const summary = 'run a generator task on a warm pool and write its values as JSON Lines';

export const usage = `Usage: warmpool stream <module> <task> [options]

Runs the generator task (sync or async) exported by <module> on a warm
worker and writes each value it yields as one JSON line, as it comes, with
backpressure: the task is held at most --high-water-mark values ahead of
what has been written.

Options:
  --args JSON           the task's arguments, a JSON array (default: [])
  --send -|FILE         JSON Lines read and sent to the task one by one; the
                        task reads them with taskMessages() (warmpool/task).
                        At the end of the input the messages end. Without
                        --send, the task's messages end at once
  --out FILE|-          output (default: - , stdout)
  --threads             run on a worker thread (ThreadPool) instead of a process
  --high-water-mark N   values produced and not yet written, and messages
                        sent and not yet read, at most (default: 16)
  --timeout MS          most ms from the task's start to its last value
  -h, --help            this help

Exit code: 0 when the task ended, 1 when it failed (its error on stderr),
2 for bad usage, 130 when interrupted (Ctrl-C cancels the task: its
taskSignal() aborts and its finally runs; a second Ctrl-C exits at once).

Examples:
  warmpool stream ./tasks.js lines --args '["big.log"]' > lines.jsonl
  printf '{"theme":"dark"}\\n{"size":14}\\n' | warmpool stream ./tasks.js settings --args '[{}]' --send -
`;

const options = {
  args: { type: 'string' },
  send: { type: 'string' },
  out: { type: 'string' },
  threads: { type: 'boolean' },
  'high-water-mark': { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A line of the --send input that is not JSON: the run stops with exit code 2. */
class BadInput extends Error {}

/** Sends each JSON line of `path` (or stdin) to the stream, awaiting each send, then ends the messages. */
async function sendLines(s: TaskStream<unknown, unknown>, path: string, stopped: () => boolean, signal: AbortSignal): Promise<void> {
  const input = path === '-' ? process.stdin : createReadStream(path);
  // The signal closes the reader when the task has ended first (stdin on a terminal never ends by itself).
  const lines = createInterface({ input, crlfDelay: Infinity, signal });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (stopped()) return;
      if (line.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (err) {
        throw new BadInput(
          `Expected --send to give JSON Lines, got line ${n} ${shown(line.length > 60 ? `${line.slice(0, 60)}…` : line)}: ${(err as Error).message}`,
        );
      }
      await s.send(value);
    }
    s.end();
  } finally {
    lines.close();
    if (input !== process.stdin) input.destroy();
  }
}

async function writeLine(out: Writable, line: string): Promise<void> {
  if (!out.write(`${line}\n`)) await once(out, 'drain');
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, options);
  if (values.help === true) return printUsage(usage);
  const { module, given, task } = moduleAndTask(positionals);
  const args = argsOption(values.args);
  const highWaterMark = intOption('high-water-mark', values['high-water-mark'], 1);
  const timeout = intOption('timeout', values.timeout, 1);
  const sendPath = values.send;
  if (sendPath !== undefined && sendPath !== '-' && (!existsSync(sendPath) || !statSync(sendPath).isFile())) {
    throw new UsageError(`Cannot find the --send file ${shown(sendPath)}`);
  }
  const outPath = values.out ?? '-';

  const pool = makePool(values.threads === true ? 'thread' : 'process', module, { workers: 1 });
  try {
    await pool.ready();
  } catch (err) {
    await pool.shutdown({ cancelFutures: true });
    if (err instanceof WorkerStartError) {
      const cause = err.cause;
      throw new UsageError(`Cannot start the task module ${shown(given)}: ${cause instanceof Error ? cause.message : String(cause)}`);
    }
    throw err;
  }

  const s = pool.stream(task as never, args as never, {
    ...(highWaterMark === undefined ? {} : { highWaterMark }),
    ...(timeout === undefined ? {} : { timeout }),
  }) as TaskStream<unknown, unknown>;
  const out = outPath === '-' ? process.stdout : createWriteStream(outPath);
  // Output closed early (`| head`): the task is cancelled, not an error.
  let outClosed = false;
  out.on('error', () => {
    outClosed = true;
    s.cancel();
  });

  const sigint = onInterrupt(() => s.cancel());

  let written = 0;
  let failure: unknown;
  let badInput: BadInput | undefined;
  const inputOver = new AbortController();
  const sending =
    sendPath === undefined
      ? (s.end(), Promise.resolve())
      : sendLines(s, sendPath, () => sigint.interrupted, inputOver.signal).catch((err: unknown) => {
          if (err instanceof BadInput) {
            badInput = err;
            s.cancel();
          }
          // Else a send the stream's end rejected, or the reader closed by
          // inputOver: the values loop reports the outcome.
        });
  try {
    for await (const value of s) {
      if (outClosed) break;
      await writeLine(out, JSON.stringify(value) ?? 'null');
      written++;
    }
  } catch (err) {
    failure = err;
  } finally {
    sigint.off();
  }
  inputOver.abort();
  await sending;
  await s.done;
  await pool.shutdown({ cancelFutures: true });
  if (out !== process.stdout) await new Promise<void>((resolve) => out.end(resolve));
  // The task's messages may wait on a terminal: stdin is let go so the process can exit.
  if (sendPath === '-') process.stdin.destroy();

  if (badInput !== undefined) throw new UsageError(badInput.message);
  if (sigint.interrupted) {
    process.stderr.write(`warmpool stream: interrupted after ${written} value${written === 1 ? '' : 's'}; the task was cancelled\n`);
    return 130;
  }
  if (outClosed) return 0;
  if (failure !== undefined) {
    const info = errorInfo(failure);
    process.stderr.write(
      `warmpool stream: the task ${shown(task)} failed after ${written} value${written === 1 ? '' : 's'}: ${info.name}: ${info.message}\n`,
    );
    return 1;
  }
  return 0;
}
