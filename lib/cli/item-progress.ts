// Per-item progress for `warmpool map`: the last value each running item gave
// `reportProgress()`, shown compactly (a fraction as a percent, a
// {done, total}-like object as done/total, anything else as short JSON),
// and, when stderr is not a terminal, written as plain lines at most once a
// period so that a task reporting in a hot loop does not flood a log.

import type { ProgressStream } from './progress.js';

/** Plain progress lines: at most one per this many ms. */
export const ITEM_LINE_MS = 1000;

/** Longest shown form of a value that is neither a fraction nor a count. */
const MAX_SHOWN = 24;

const DONE_KEYS = ['done', 'completed', 'current', 'value', 'loaded', 'processed', 'count', 'n'] as const;
const TOTAL_KEYS = ['total', 'max', 'of', 'size', 'length'] as const;

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function amount(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en-US') : String(Number(n.toPrecision(4)));
}

function clip(text: string): string {
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text;
}

/**
 * A progress value as the command shows it: a number in [0, 1] as a percent
 * (`0.456` → `45%`); `{done, total}` (or `completed`/`current`/… over
 * `total`/`max`/…) and `[done, total]` as `12/40`; another number as itself;
 * a string as itself; anything else as JSON; each at most 24 characters.
 */
export function formatProgress(value: unknown): string {
  if (finite(value)) return value >= 0 && value <= 1 ? `${Math.floor(value * 100)}%` : amount(value);
  if (typeof value === 'string') return clip(value);
  if (Array.isArray(value) && value.length === 2 && finite(value[0]) && finite(value[1])) return `${amount(value[0])}/${amount(value[1])}`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const done = DONE_KEYS.map((k) => o[k]).find(finite);
    const total = TOTAL_KEYS.map((k) => o[k]).find(finite);
    if (done !== undefined && total !== undefined) return `${amount(done)}/${amount(total)}`;
    if (finite(o.percent)) return `${Math.floor(o.percent)}%`;
    if (finite(o.progress)) return formatProgress(o.progress);
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    // A BigInt or a cycle: String() says something.
  }
  return clip(json ?? String(value));
}

/**
 * The running items that reported progress, by input index, and their last
 * values. `lines` writes `warmpool map: progress: #3 45%, #4 12/40` to a
 * stream that is not a terminal, at most every ITEM_LINE_MS (the latest
 * values win; a value reported in between is written at the period's end).
 */
export class ItemProgress {
  readonly #values = new Map<number, unknown>();
  readonly #lines: ProgressStream | undefined;
  #lastLine = -Infinity;
  #timer: NodeJS.Timeout | undefined;
  #changed = false;
  /** Whether any item reported progress in this run. */
  seen = false;

  constructor(lines?: ProgressStream) {
    this.#lines = lines;
  }

  set(index: number, value: unknown): void {
    this.seen = true;
    this.#values.set(index, value);
    this.#changed = true;
    if (this.#lines === undefined) return;
    const wait = this.#lastLine + ITEM_LINE_MS - performance.now();
    if (wait <= 0) this.#writeLine();
    else this.#timer ??= setTimeout(() => this.#writeLine(), wait).unref();
  }

  /** The item has its outcome: its progress is no longer shown. */
  delete(index: number): void {
    this.#values.delete(index);
  }

  /** `#3 45% #4 12/40 +2 more`: at most `most` items, lowest index first. */
  summary(most = 3, separator = ' '): string {
    if (this.#values.size === 0) return '';
    const shown = [...this.#values.keys()].sort((a, b) => a - b).slice(0, most);
    const parts = shown.map((i) => `#${i} ${formatProgress(this.#values.get(i))}`);
    if (this.#values.size > most) parts.push(`+${this.#values.size - most} more`);
    return parts.join(separator);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #writeLine(): void {
    this.#timer = undefined;
    if (!this.#changed || this.#values.size === 0) return;
    this.#changed = false;
    this.#lastLine = performance.now();
    this.#lines!.write(`warmpool map: progress: ${this.summary(8, ', ')}\n`);
  }
}
