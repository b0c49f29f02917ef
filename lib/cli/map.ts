// `warmpool map <module> <task>`: JSON Lines in, the task over each line on a
// warm pool, JSON Lines out.
//
// Memory stays bounded whatever the input's size: lines are read through
// readline (which pauses its stream when its consumer lags), pulled by
// `imap`/`imapUnordered` (which read only a window ahead of the results
// taken), and written with the output stream's backpressure respected.
//
// Per-item errors: the library's map family is fail-fast, so the pool runs
// ./map-task.js, which calls the user's task inside a try and returns an
// error as data; the run goes on and the error becomes a line. Only what the
// task cannot catch itself (a timeout, a crashed worker) fails the map's
// iterator, and that ends the run. See docs/cli.md.

import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { CancelledError, TimeoutError, WorkerStartError } from '../index.js';
import { intOption, makePool, moduleAndTask, parse, shown, printUsage, UsageError } from './args.js';
import { errorInfo } from './error-info.js';
import type { Item, Outcome } from './map-task.js';
import { Progress } from './progress.js';

export const summary = 'run a task over each line of a JSON Lines file on a warm pool';

export const usage = `Usage: warmpool map <module> <task> [options]

Reads JSON Lines (one value per line), calls the task exported by <module>
with each value on a warm pool, and writes one JSON line per result, in
input order. Blank lines are skipped; an item's index counts the others.

Options:
  --in FILE|-        input (default: - , stdin)
  --out FILE|-       output (default: - , stdout)
  --workers N        worker processes or threads (default: the number of cores)
  --threads          run on worker threads (ThreadPool) instead of processes
  --chunksize N      items per message (default: chosen from measured cost;
                     1 when --timeout is given)
  --timeout MS       most ms one item may run; a timeout ends the run
  --spread           each line is an array of arguments: task(...line)
  --ordered          results in input order (default)
  --unordered        results in completion order, as {"index": i, "result": r}
  --fail-fast        stop at the first failing item
  -h, --help         this help

A failing item writes {"index": i, "error": {"name", "message", "code"}}
and the run goes on (unless --fail-fast). Exit code: 0 when every item
succeeded, 1 when any failed, 2 for bad usage, 130 when interrupted (Ctrl-C
cancels what is running and stops every worker). A progress bar is drawn on
stderr when it is a terminal.

Examples:
  warmpool map ./tasks.js fib --in numbers.jsonl --out fibs.jsonl
  seq 1 30 | warmpool map ./tasks.js fib --unordered
  echo '[2, 3]' | warmpool map ./tasks.js add --spread
`;

const options = {
  in: { type: 'string' },
  out: { type: 'string' },
  workers: { type: 'string' },
  threads: { type: 'boolean' },
  chunksize: { type: 'string' },
  timeout: { type: 'string' },
  spread: { type: 'boolean' },
  ordered: { type: 'boolean' },
  unordered: { type: 'boolean' },
  'fail-fast': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Output flushes once this much has gathered, or when the event loop turns. */
const FLUSH_BYTES = 64 * 1024;

/** Lines to a stream in few writes, waiting when the stream asks to (backpressure). */
class LineWriter {
  readonly #out: Writable;
  #buffer = '';
  #scheduled = false;
  #blocked = false;
  failed: Error | undefined;

  constructor(out: Writable) {
    this.#out = out;
    out.on('drain', () => (this.#blocked = false));
    out.on('error', (err) => (this.failed ??= err));
  }

  add(line: string): void {
    this.#buffer += `${line}\n`;
    if (!this.#scheduled) {
      this.#scheduled = true;
      // Results of one chunk arrive in one turn of the loop: they go out in one write.
      setImmediate(() => {
        this.#scheduled = false;
        this.#write();
      });
    }
  }

  /** True when the caller should `await settle()` before adding more. */
  get pressed(): boolean {
    return this.#blocked || this.#buffer.length >= FLUSH_BYTES;
  }

  /** Writes what is buffered and waits until the stream has taken it in. */
  async settle(): Promise<void> {
    this.#write();
    if (!this.#blocked || this.failed !== undefined) return;
    try {
      // once() also rejects on 'error', and removes both listeners either way.
      await once(this.#out, 'drain');
    } catch (err) {
      this.failed ??= err as Error;
    }
  }

  #write(): void {
    if (this.#buffer === '' || this.failed !== undefined) return;
    const text = this.#buffer;
    this.#buffer = '';
    if (!this.#out.write(text)) this.#blocked = true;
  }
}

/** Non-blank lines of `input` as items [index, line]; closes the input when the consumer stops. */
async function* items(input: Readable): AsyncGenerator<Item> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let index = 0;
  try {
    for await (const line of lines) {
      if (line.trim() === '') continue;
      yield [index++, line];
    }
  } finally {
    lines.close();
    input.destroy();
  }
}

/** Counts the lines of a file in the background, for the progress bar's total. */
async function countLines(path: string): Promise<number> {
  let n = 0;
  let last = 10;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
    last = chunk[chunk.length - 1];
  }
  return last === 10 ? n : n + 1;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, options);
  if (values.help === true) return printUsage(usage);
  const { module, given, task } = moduleAndTask(positionals);
  if (values.ordered === true && values.unordered === true) throw new UsageError('Expected one of --ordered and --unordered, got both');
  const workers = intOption('workers', values.workers, 1);
  const timeout = intOption('timeout', values.timeout, 1);
  const chunksize = intOption('chunksize', values.chunksize, 1) ?? (timeout === undefined ? undefined : 1);
  const inPath = values.in ?? '-';
  const outPath = values.out ?? '-';
  if (inPath !== '-' && (!existsSync(inPath) || !statSync(inPath).isFile())) throw new UsageError(`Cannot find the input file ${shown(inPath)}`);

  const pool = makePool(values.threads === true ? 'thread' : 'process', new URL('./map-task.js', import.meta.url), {
    ...(workers === undefined ? {} : { workers }),
    initializer: 'setup',
    initArgs: [module.href, task, values.spread === true],
  });
  try {
    await pool.ready();
  } catch (err) {
    await pool.shutdown({ cancelFutures: true });
    if (err instanceof WorkerStartError) {
      const cause = err.cause;
      const detail = cause instanceof Error ? cause.message : String(cause);
      throw new UsageError(`Cannot start the task ${shown(task)} of ${shown(given)}: ${detail}`);
    }
    throw err;
  }

  const input = inPath === '-' ? process.stdin : createReadStream(inPath);
  const out = outPath === '-' ? process.stdout : createWriteStream(outPath);
  const writer = new LineWriter(out);
  const progress = new Progress(process.stderr, 'off');
  if (progress.mode === 'bar') {
    progress.phase(task);
    if (inPath !== '-') countLines(inPath).then((n) => progress.setTotal(n), () => {});
  }

  const controller = new AbortController();
  let interrupted = false;
  const onSigint = () => {
    // A second Ctrl-C does not wait for the workers to stop.
    if (interrupted) process.exit(130);
    interrupted = true;
    controller.abort();
  };
  process.on('SIGINT', onSigint);

  const ordered = values.unordered !== true;
  const mapOptions = {
    signal: controller.signal,
    ...(chunksize === undefined ? {} : { chunksize }),
    ...(timeout === undefined ? {} : { timeout }),
  };
  const results = (ordered ? pool.imap('run', items(input), mapOptions) : pool.imapUnordered('run', items(input), mapOptions)) as AsyncIterableIterator<Outcome>;
  let done = 0;
  let failed = 0;
  let stopped: string | undefined;
  try {
    for await (const [index, json, error] of results) {
      if (interrupted || writer.failed !== undefined) break;
      done++;
      if (json === null) {
        failed++;
        writer.add(JSON.stringify({ index, error }));
        if (values['fail-fast'] === true) {
          stopped = `stopped at the first failing item (index ${index}, --fail-fast)`;
          break;
        }
      } else {
        writer.add(ordered ? json : `{"index":${index},"result":${json}}`);
      }
      progress.update(done);
      if (writer.pressed) await writer.settle();
    }
  } catch (err) {
    if (!(interrupted && err instanceof CancelledError)) {
      // A timeout or a crashed worker fails the map itself: it ends the run.
      const index = (err as { index?: unknown }).index;
      done++;
      failed++;
      const info = errorInfo(err);
      // The library names the task it ran, which here is the wrapper's `run`.
      if (err instanceof TimeoutError) info.message = `The item did not finish within ${timeout} ms; its worker was stopped`;
      if (typeof index === 'number') writer.add(JSON.stringify({ index, error: info }));
      stopped = `stopped at item ${typeof index === 'number' ? index : '?'}: ${info.name}: ${info.message}`;
    }
  } finally {
    process.off('SIGINT', onSigint);
    progress.end();
  }
  await writer.settle();
  await pool.shutdown({ cancelFutures: interrupted || stopped !== undefined });
  if (out !== process.stdout) {
    await new Promise<void>((resolve) => out.end(resolve));
  }
  if (writer.failed !== undefined && (writer.failed as NodeJS.ErrnoException).code !== 'EPIPE') throw writer.failed;
  if (interrupted) {
    process.stderr.write(`warmpool map: interrupted after ${done} items; running items were cancelled and every worker stopped\n`);
    return 130;
  }
  if (stopped !== undefined) process.stderr.write(`warmpool map: ${stopped}\n`);
  if (failed > 0) process.stderr.write(`warmpool map: ${failed} of ${done} items failed\n`);
  return failed > 0 ? 1 : 0;
}
