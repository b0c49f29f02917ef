// `--stats` of the commands that run pools (`map`, `worker`): a live view of
// the pool on stderr. On a terminal, one line redrawn a few times a second;
// elsewhere (a log, a pipe) it degrades to a plain line every few seconds.
// Either way a last plain line is written when the run ends.
//
//   4 workers: 3 busy 1 idle · queue 120 · 1,234/s · run p50 1.2ms p99 8.0ms · restarts 0
//
// Everything comes from `pool.stats()`, except restarts, which PoolStats does
// not count: they are counted from the `warmpool:worker` channel (exits whose
// reason is a restart), by `pool.name`, once the pool is seen publishing
// there. Before that (a pool that does not publish) the line shows `~N`, N being the
// tasks that timed out or crashed: each of those cost a ProcessPool or
// ThreadPool its worker (the commands set no cancelGrace). If PoolStats gains
// a restart count, `restartsOf` is the one place to read it.

import type { PoolStats } from '../core/stats.js';
import { RESTART_REASONS, subscribeWorkers } from '../core/diagnostics.js';
import type { ProgressStream } from './progress.js';

/** Redraws on a terminal this often, in ms (4 a second). */
export const LIVE_MS = 250;
/** A plain line this often when stderr is not a terminal, in ms. */
export const LINES_MS = 2_000;
/** Tasks/s is measured over about this window, in ms. */
const RATE_WINDOW_MS = 2_000;

/** Counts worker restarts per pool name from `warmpool:worker`. Make it before the pool, to see its first workers start. */
export class RestartCounter {
  readonly #restarts = new Map<string, number>();
  readonly #stop: () => void;

  constructor() {
    this.#stop = subscribeWorkers((m) => {
      const n = this.#restarts.get(m.pool) ?? 0;
      this.#restarts.set(m.pool, m.event === 'exit' && m.reason !== undefined && RESTART_REASONS.has(m.reason) ? n + 1 : n);
    });
  }

  /** Restarts of the pool so named, or `undefined` when it has published nothing. */
  count(pool: string | undefined): number | undefined {
    return pool === undefined ? undefined : this.#restarts.get(pool);
  }

  close(): void {
    this.#stop();
  }
}

/** What the view reads: a pool. `name` is the pool's `name` option, as its channel messages carry it. */
export interface LiveSource {
  stats(): PoolStats;
  readonly name?: string;
}

/** Restarts as shown: exact from the channel, else an estimate from the outcome counts. */
export function restartsOf(stats: PoolStats, counted: number | undefined): { value: number; exact: boolean } {
  const own = (stats as { restarts?: unknown }).restarts;
  if (typeof own === 'number') return { value: own, exact: true };
  if (counted !== undefined) return { value: counted, exact: true };
  return { value: stats.timedOut + stats.crashed, exact: false };
}

function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A duration in ms, short: 0.35ms, 4.2ms, 38ms, 1.2s. */
export function ms(value: number): string {
  if (value >= 1000) return `${(value / 1000).toFixed(1)}s`;
  if (value >= 10) return `${Math.round(value)}ms`;
  if (value >= 1) return `${value.toFixed(1)}ms`;
  return `${value.toFixed(2)}ms`;
}

/** The tasks that reached an outcome. */
export function finished(s: PoolStats): number {
  return s.completed + s.failed + s.cancelled + s.timedOut + s.crashed;
}

/** One stats line, at most `columns - 1` characters wide (parts at the end go first). */
export function renderStats(
  s: PoolStats,
  rate: number,
  restarts: { value: number; exact: boolean },
  columns = Infinity,
  prefix = '',
  items?: number,
): string {
  const failed = s.failed + s.timedOut + s.crashed;
  const parts = [
    `${prefix}${s.workers} workers: ${s.busy} busy ${s.idle} idle`,
    `queue ${count(s.queued)}`,
    `${count(rate)} ${items === undefined ? 'tasks' : 'items'}/s`,
    `run p50 ${ms(s.runTime.p50)} p99 ${ms(s.runTime.p99)}`,
    `restarts ${restarts.exact ? '' : '~'}${restarts.value}`,
    items === undefined ? `done ${count(finished(s))}${failed > 0 ? ` (${count(failed)} failed)` : ''}` : `done ${count(items)} items`,
  ];
  // Drop whole parts from the end rather than cut one in the middle.
  let line = parts.join(' · ');
  while (line.length > columns - 1 && parts.length > 1) {
    parts.pop();
    line = parts.join(' · ');
  }
  return line.length > columns - 1 ? line.slice(0, Math.max(0, columns - 1)) : line;
}

export type LiveMode = 'live' | 'lines';

export interface LiveOptions {
  /** `'live'`: one line redrawn in place (a terminal); `'lines'`: plain lines. */
  mode: LiveMode;
  /** ms between draws. Default LIVE_MS for 'live', LINES_MS for 'lines'. */
  intervalMs?: number;
  /** Restart counts from the channel. */
  restarts?: RestartCounter;
  /** Put before the line (say, the task's name). */
  prefix?: () => string;
  /**
   * Items done, when a task carries several (map's chunks): the rate and the
   * count are then of items, the run times still of tasks.
   */
  items?: () => number;
}

/** The view. `start()` draws on a timer that does not hold the process open; `stop()` writes the last line. */
export class LiveStats {
  readonly #stream: ProgressStream;
  readonly #pool: LiveSource;
  readonly #options: LiveOptions;
  readonly mode: LiveMode;
  readonly intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #drawn = false;
  /** (time, finished) samples for tasks/s, oldest first. */
  readonly #samples: [number, number][] = [];

  constructor(stream: ProgressStream, pool: LiveSource, options: LiveOptions) {
    this.#stream = stream;
    this.#pool = pool;
    this.#options = options;
    this.mode = options.mode;
    this.intervalMs = options.intervalMs ?? (options.mode === 'live' ? LIVE_MS : LINES_MS);
  }

  /** 'live' when the stream is a terminal and the line is `allowed` there (results are not printed on it). */
  static modeFor(stream: ProgressStream, allowed = true): LiveMode {
    return stream.isTTY === true && allowed ? 'live' : 'lines';
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#sample(performance.now(), this.#options.items?.() ?? finished(this.#pool.stats()));
    this.#timer = setInterval(() => this.draw(), this.intervalMs);
    this.#timer.unref();
    if (this.mode === 'live') this.draw();
  }

  /** The line as it would be drawn now. */
  line(now = performance.now()): string {
    const s = this.#pool.stats();
    const items = this.#options.items?.();
    const rate = this.#sample(now, items ?? finished(s));
    const columns = this.mode === 'live' ? (this.#stream.columns ?? 80) : Infinity;
    return renderStats(
      s,
      rate,
      restartsOf(s, this.#options.restarts?.count(this.#pool.name)),
      columns,
      this.#options.prefix?.() ?? '',
      items,
    );
  }

  /** Draws now: redraws the line on a terminal, writes a plain line otherwise. */
  draw(): void {
    const line = this.line();
    if (this.mode === 'live') {
      this.#stream.write(`\r\x1b[K${line}`);
      this.#drawn = true;
    } else this.#stream.write(`${line}\n`);
  }

  /** Writes a message line without tearing the live line: cleared, written, redrawn. */
  note(text: string): void {
    if (this.mode === 'live' && this.#drawn) {
      this.#stream.write(`\r\x1b[K${text.endsWith('\n') ? text : `${text}\n`}`);
      if (this.#timer !== undefined) this.draw();
    } else this.#stream.write(text);
  }

  /** Stops drawing and writes the last line as a plain line. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    const started = this.#timer !== undefined;
    this.#timer = undefined;
    if (!started) return;
    const line = this.line();
    this.#stream.write(this.mode === 'live' ? `\r\x1b[K${line}\n` : `${line}\n`);
    this.#drawn = false;
  }

  /** Records a sample and returns the rate over about the last RATE_WINDOW_MS. */
  #sample(now: number, done: number): number {
    const samples = this.#samples;
    samples.push([now, done]);
    while (samples.length > 2 && now - samples[1][0] >= RATE_WINDOW_MS) samples.shift();
    const [t0, d0] = samples[0];
    return now - t0 > 0 ? ((done - d0) * 1000) / (now - t0) : 0;
  }
}
