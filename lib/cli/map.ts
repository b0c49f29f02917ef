// `warmpool map <module> <task>`: JSON Lines in, the task over each line on a
// warm pool, JSON Lines out. Reading the items and writing the lines is
// ./map-io.ts.
//
// Memory stays bounded whatever the input's size: lines are read through
// readline (which pauses its stream when its consumer lags), pulled by
// `imap`/`imapUnordered` (which read only a window ahead of the results
// taken), and written with the output stream's backpressure respected.
//
// Per-item errors: the library's map family is fail-fast, so the pool runs
// ./map-task.js, which calls the user's task inside a try and returns an
// error as data; the run goes on and the error becomes a line. What the
// task cannot catch itself (a timeout, a crashed worker) ends the imap; the
// run then goes on with a round over the items that imap left unfinished
// (one per chunk, so the failing one is known exactly) and a fresh imap over
// the rest of the input. See docs/cli.md ("Errors").
//
// Per-item progress: the run starts with a probe, one item per worker, each
// a `submit` with `onProgress`; if none reports, the rest runs in imap's
// chunks (no per-item cost), where the task module's wrapper flags an item
// that reports after all. A task that reports runs one item per `submit`
// with `onProgress` from then on, and the items' last values are shown
// beside the count. See docs/cli.md ("Progress of each item").

import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { TimeoutError, WorkerCrashedError, WorkerStartError, type Future } from '../index.js';
import { count } from '../core/errors.js';
import { flags, intOption, makePool, moduleAndTask, onInterrupt, parse, shown, printUsage, UsageError } from './args.js';
import { formatMs } from './chart.js';
import { errorInfo } from './error-info.js';
import type { Item, Outcome } from './map-task.js';
import { countLines, Feed, items, LineNumbers, LineWriter } from './map-io.js';
import { LiveStats, RestartCounter } from './live.js';
import { ItemProgress } from './item-progress.js';
import { Progress } from './progress.js';

export const summary = 'run a task over each line of a JSON Lines file on a warm pool';

export const usage = `Usage: warmpool map <module> <task> [options]

Reads JSON Lines (one value per line), calls the task exported by <module>
with each value on a warm pool, and writes one JSON line per result, in
input order. An item's index is its line's number, counting from 0; blank
lines are skipped (they count as lines but give no output).

Options:
  --in FILE|-        input (default: - , stdin)
  --out FILE|-       output (default: - , stdout)
  --workers N        worker processes or threads (default: the number of cores)
  --threads          run on worker threads (ThreadPool) instead of processes
  --chunksize N      items per message (default: chosen from measured cost;
                     1 when --timeout is given)
  --timeout MS       most ms one item may run (its worker is then stopped)
  --spread           each line is an array of arguments: task(...line)
  --ordered          results in input order (default)
  --unordered        results in completion order, as {"index": i, "result": r}
  --fail-fast        stop at the first failing item
  --stats            a live view of the pool on stderr: workers busy/idle,
                     queue, tasks/s, p50/p99 run time, restarts; redrawn in
                     place on a terminal, a plain line every 2 s otherwise
  --stats-interval MS  ms between --stats lines (default: 250 on a
                     terminal, 2000 otherwise)
  -h, --help         this help

A failing item writes {"index": i, "error": {"name", "message", "code"}}
and the run goes on (unless --fail-fast). Exit code: 0 when every item
succeeded, 1 when any failed, 2 for bad usage, 130 when interrupted (Ctrl-C
cancels what is running and stops every worker). A progress bar is drawn on
stderr when it is a terminal and the results go elsewhere. A task that calls
reportProgress() (warmpool/task) has each running item's last value shown:
on the bar, or as a plain line on stderr at most once a second.

Examples:
  warmpool map ./tasks.js fib --in numbers.jsonl --out fibs.jsonl
  seq 1 30 | warmpool map ./tasks.js fib --unordered
  echo '[2, 3]' | warmpool map ./tasks.js add --spread
`;

const options = flags(
  ['in', 'out', 'workers', 'chunksize', 'timeout', 'stats-interval'],
  ['threads', 'spread', 'ordered', 'unordered', 'fail-fast', 'stats'],
);

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
  if (inPath !== '-' && (!existsSync(inPath) || !statSync(inPath).isFile()))
    throw new UsageError(`Cannot find the input file ${shown(inPath)}`);
  const statsInterval = intOption('stats-interval', values['stats-interval'], 1);
  if (statsInterval !== undefined && values.stats !== true)
    throw new UsageError('Expected --stats with --stats-interval, got --stats-interval alone');

  // Made before the pool, so that it sees the pool's first workers start.
  const restarts = values.stats === true ? new RestartCounter() : undefined;
  const pool = makePool(values.threads === true ? 'thread' : 'process', new URL('./map-task.js', import.meta.url), {
    ...(workers === undefined ? {} : { workers }),
    initializer: 'setup',
    initArgs: [module.href, task, values.spread === true],
  });
  try {
    await pool.ready();
  } catch (err) {
    restarts?.close();
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
  // A line redrawn on the terminal would be torn by results printed there.
  const resultsOnTerminal = out === process.stdout && process.stdout.isTTY;
  const live =
    restarts === undefined
      ? undefined
      : new LiveStats(process.stderr, pool, {
          mode: LiveStats.modeFor(process.stderr, !resultsOnTerminal),
          ...(statsInterval === undefined ? {} : { intervalMs: statsInterval }),
          restarts,
          prefix: (): string => {
            const now: string = itemProgress.summary();
            return now === '' ? `${task} ` : `${task} (${now}) `;
          },
          items: () => done,
        });
  // --stats replaces the progress bar: two lines redrawn on one terminal line would fight.
  const progress = new Progress(process.stderr, 'off', live === undefined && !resultsOnTerminal);
  if (progress.mode === 'bar') {
    progress.phase(task);
    if (inPath !== '-')
      countLines(inPath).then(
        (n) => progress.setTotal(n),
        () => {},
      );
  }
  // The items' own progress: on the bar or in the --stats line when there is
  // one, else as plain lines (stderr piped, or results on the terminal).
  const itemProgress = new ItemProgress(progress.mode === 'bar' || live !== undefined ? undefined : process.stderr);
  progress.setDetail(() => itemProgress.summary());

  const controller = new AbortController();
  const sigint = onInterrupt(() => controller.abort());

  const ordered = values.unordered !== true;
  const failFast = values['fail-fast'] === true;
  const lineOf = new LineNumbers();
  const feed = new Feed(items(input, lineOf));
  const startedAt = performance.now();
  /** Error lines of items the pool gave up on (ordered output: held until the items before them are out). */
  const held: { index: number; line: string }[] = [];
  let done = 0;
  let failed = 0;
  let stopped: string | undefined;
  const write = (line: string) => {
    writer.add(line);
    done++;
    progress.update(done);
  };
  const emit = (index: number, line: string) => {
    while (held.length > 0 && held[0].index < index) write(held.shift()!.line);
    write(line);
  };
  // Rounds: one imap over the input, and after a timeout or a crash (which
  // end an imap) first a round of the items it left unfinished, one per
  // chunk, then a fresh round over the rest of the input. Before the first
  // imap, and instead of it once the task is seen reporting progress, a
  // round of one submit per item.
  let replay: Item[] = [];
  // Blame is exact when chunks hold one item; otherwise the library names
  // the first item of the failed chunk, so that chunk is run again alone.
  const exact = chunksize === 1;
  const poolSize = workers ?? availableParallelism();
  /** probe: the first items, one submit each; chunks: imap; items: one submit each, for a task that reports progress. */
  let mode: 'probe' | 'chunks' | 'items' = 'probe';
  /** The error line of an item the pool gave up on (a timeout, a crash), and why a --fail-fast run stops there. */
  const failure = (index: number, err: unknown): { line: string; stop: string } => {
    const info = errorInfo(err);
    // The library names the task it ran, which here is the wrapper's `run`.
    if (err instanceof TimeoutError) info.message = `The item did not finish within ${timeout} ms; its worker was stopped`;
    return { line: JSON.stringify({ index, error: info }), stop: `stopped at item ${index}: ${info.name}: ${info.message}` };
  };

  /**
   * One submit per item with `onProgress`, at most `window` in flight,
   * results written in input order (or as they come with --unordered).
   * In the probe, it stops taking items once `poolSize` of them finished
   * and none reported progress. Returns false when the run must stop
   * (Ctrl-C, --fail-fast, a failed write).
   */
  const itemRound = async (): Promise<boolean> => {
    const source = feed.fresh();
    const window = mode === 'probe' ? poolSize : 2 * poolSize;
    type Slot = { index: number; line: string | undefined; stop: string | undefined };
    const pending: Slot[] = [];
    let finishedQuietly = 0;
    let inputDone = false;
    let pulling = false;
    let wake: () => void = () => {};
    const wakeUp = () => wake();
    const taking = () => !inputDone && (mode === 'items' || (mode === 'probe' && finishedQuietly < poolSize && !itemProgress.seen));
    const submitItem = (item: Item) => {
      const [index] = item;
      const slot: Slot = { index, line: undefined, stop: undefined };
      pending.push(slot);
      const future = pool.submit('run', [item], {
        signal: controller.signal,
        onProgress: (value: unknown) => {
          itemProgress.set(index, value);
          progress.refresh();
        },
        ...(timeout === undefined ? {} : { timeout }),
      }) as Future<Outcome>;
      future
        .then(
          ([, json, error]) => {
            slot.line = json === null ? JSON.stringify({ index, error }) : ordered ? json : `{"index":${index},"result":${json}}`;
            if (json === null) slot.stop = `stopped at the first failing item (index ${index}, --fail-fast)`;
          },
          (err: unknown) => {
            ({ line: slot.line, stop: slot.stop } = failure(index, err));
          },
        )
        .finally(() => {
          if (!itemProgress.seen) finishedQuietly++;
          itemProgress.delete(index);
          wakeUp();
        });
    };
    try {
      for (;;) {
        // Made before anything below awaits, so that no wake-up is missed.
        const woken = new Promise<void>((resolve) => (wake = resolve));
        if (sigint.interrupted || writer.failed !== undefined) return false;
        // Write what is done: the head in order, or anything with --unordered.
        for (let i = 0; i < pending.length;) {
          const slot = pending[i];
          if (slot.line === undefined) {
            if (ordered) break;
            i++;
            continue;
          }
          pending.splice(i, 1);
          feed.finished(slot.index);
          if (slot.stop !== undefined) failed++;
          emit(slot.index, slot.line);
          if (slot.stop !== undefined && failFast) {
            stopped = slot.stop;
            return false;
          }
        }
        if (writer.pressed) await writer.settle();
        // A read in flight may still bring an item, which this round then runs.
        if (!taking() && pending.length === 0 && !pulling) return true;
        if (taking() && !pulling && pending.length < window) {
          pulling = true;
          source.next().then((r) => {
            pulling = false;
            if (r.done === true) inputDone = true;
            else submitItem(r.value);
            wakeUp();
          }, wakeUp);
        }
        await woken;
      }
    } finally {
      // A read still waiting ends (its item, if any, goes to the next round).
      feed.abandon();
    }
  };

  live?.start();
  try {
    rounds: for (;;) {
      if (replay.length === 0 && mode !== 'chunks') {
        if (!(await itemRound())) break;
        if (mode === 'probe' && itemProgress.seen) mode = 'items';
        if (mode === 'items' || feed.ended) break;
        mode = 'chunks';
        continue;
      }
      const replaying = replay.length > 0;
      const first = feed.read;
      const source = replaying ? replay : feed.fresh();
      const roundOptions = {
        signal: controller.signal,
        ...(timeout === undefined ? {} : { timeout }),
        ...(replaying ? { chunksize: 1 } : chunksize === undefined ? {} : { chunksize }),
      };
      const results = (
        ordered ? pool.imap('run', source, roundOptions) : pool.imapUnordered('run', source, roundOptions)
      ) as AsyncIterableIterator<Outcome>;
      try {
        for await (const [index, json, error, reported] of results) {
          if (sigint.interrupted || writer.failed !== undefined) break rounds;
          feed.finished(index);
          if (json === null) {
            failed++;
            emit(index, JSON.stringify({ index, error }));
            if (failFast) {
              stopped = `stopped at the first failing item (index ${index}, --fail-fast)`;
              break rounds;
            }
          } else {
            emit(index, ordered ? json : `{"index":${index},"result":${json}}`);
          }
          if (reported === true && mode === 'chunks') {
            // The task reports progress after all: this imap takes no more
            // items and finishes those it has; the rest go one per submit.
            mode = 'items';
            feed.abandon();
          }
          if (writer.pressed) await writer.settle();
        }
        if (!replaying && mode === 'chunks') break;
        replay = [];
      } catch (err) {
        // After Ctrl-C: the cancel, or a worker the terminal's SIGINT reached too.
        if (sigint.interrupted) break;
        const position = (err as { index?: unknown }).index;
        if (!(err instanceof TimeoutError || err instanceof WorkerCrashedError) || typeof position !== 'number') throw err;
        const index = replaying ? replay[position][0] : lineOf.of(first + position);
        if (replaying || exact) {
          const { line, stop } = failure(index, err);
          failed++;
          feed.finished(index);
          if (failFast) {
            emit(index, line);
            stopped = stop;
            break;
          }
          if (!ordered) emit(index, line);
          else {
            // A replayed item can fail after a later one already has: keep them sorted.
            const at = held.findIndex((h) => h.index > index);
            held.splice(at === -1 ? held.length : at, 0, { index, line });
          }
        }
        feed.abandon();
        replay = feed.unfinished();
      }
    }
  } finally {
    sigint.off();
    live?.stop();
    restarts?.close();
    itemProgress.close();
    progress.end();
    feed.close();
  }
  if (!sigint.interrupted && stopped === undefined) for (const { line } of held) write(line);
  await writer.settle();
  await pool.shutdown({ cancelFutures: sigint.interrupted || stopped !== undefined });
  if (out !== process.stdout) {
    await new Promise<void>((resolve) => out.end(resolve));
  }
  if (writer.failed !== undefined && (writer.failed as NodeJS.ErrnoException).code !== 'EPIPE') throw writer.failed;
  if (sigint.interrupted) {
    process.stderr.write(`warmpool map: interrupted after ${count(done, 'item')}; running items were cancelled and every worker stopped\n`);
    return 130;
  }
  if (stopped !== undefined) process.stderr.write(`warmpool map: ${stopped}\n`);
  // One line at the end, failures or not: the count, the failures, the time and the rate.
  const ms = performance.now() - startedAt;
  const rate = ms > 0 ? Math.round((done * 1000) / ms).toLocaleString('en-US') : '-';
  process.stderr.write(
    `warmpool map: ${count(done, 'item')}, ${failed === 0 ? 'none' : failed} failed, in ${formatMs(ms)} (${rate} items/s)\n`,
  );
  return failed > 0 ? 1 : 0;
}
