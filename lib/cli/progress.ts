// Progress on stderr. On a terminal: one line redrawn in place (a bar when
// the total is known, with rate and ETA). Elsewhere it degrades: 'lines'
// writes one plain line per phase (for logs), 'off' writes nothing (for
// pipelines, where stderr is often the user's log).

/** The subset of a stream progress needs; a `tty.WriteStream` has `isTTY` and `columns`. */
export interface ProgressStream {
  write(text: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export type ProgressMode = 'bar' | 'lines' | 'off';

/** Redraws at most this often, in ms: a terminal is slower than a fast map. */
const REDRAW_MS = 100;

function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class Progress {
  readonly #stream: ProgressStream;
  readonly mode: ProgressMode;
  #label = '';
  #total: number | undefined;
  #done = 0;
  #start = 0;
  #lastDraw = -Infinity;
  #drawn = false;
  #detail: (() => string) | undefined;

  /**
   * `whenPiped` is the mode when `stream` is not a terminal, or when the
   * bar is not `allowed` (say, results are being printed on that terminal,
   * where a bar would be torn by every line).
   */
  constructor(stream: ProgressStream, whenPiped: 'lines' | 'off', allowed = true) {
    this.#stream = stream;
    this.mode = stream.isTTY === true && allowed ? 'bar' : whenPiped;
  }

  /** Starts a phase: a plain line in 'lines' mode, a fresh bar on a terminal. */
  phase(label: string, total?: number): void {
    this.#label = label;
    this.#total = total;
    this.#done = 0;
    this.#start = performance.now();
    this.#lastDraw = -Infinity;
    if (this.mode === 'lines') this.#stream.write(`${label}${total === undefined ? '' : ` (${count(total)})`}\n`);
    else this.#draw(true);
  }

  /** The total became known (say, a file's lines were counted) or changed. */
  setTotal(total: number | undefined): void {
    this.#total = total;
  }

  update(done: number): void {
    this.#done = done;
    this.#draw(false);
  }

  /** What follows the counts on the bar (say, the running items' own progress), read at each draw. */
  setDetail(detail: () => string): void {
    this.#detail = detail;
  }

  /** Redraws (at most every REDRAW_MS) for a change the count does not show. */
  refresh(): void {
    this.#draw(false);
  }

  /** Clears the terminal line, so what follows starts clean. */
  end(): void {
    if (this.mode === 'bar' && this.#drawn) this.#stream.write('\r\x1b[K');
    this.#drawn = false;
  }

  /** The line as a terminal shows it now. */
  line(now = performance.now()): string {
    const columns = this.#stream.columns ?? 80;
    const detail = this.#detail?.() ?? '';
    // The detail takes its room from the bar (at most half the line), so the counts stay whole.
    const tail = detail === '' ? '' : ` · ${detail}`.slice(0, Math.floor(columns / 2));
    return render(this.#label, this.#done, this.#total, (now - this.#start) / 1000, columns - tail.length) + tail;
  }

  #draw(force: boolean): void {
    if (this.mode !== 'bar') return;
    const now = performance.now();
    if (!force && now - this.#lastDraw < REDRAW_MS) return;
    this.#lastDraw = now;
    this.#drawn = true;
    this.#stream.write(`\r\x1b[K${this.line(now)}`);
  }
}

/** One progress line, at most `columns - 1` characters wide. */
export function render(label: string, done: number, total: number | undefined, seconds: number, columns: number): string {
  const rate = seconds > 0 ? done / seconds : 0;
  const parts: string[] = [];
  if (total !== undefined && total > 0) {
    const fraction = Math.min(1, done / total);
    const eta = rate > 0 ? (total - done) / rate : Infinity;
    const tail = ` ${count(done)}/${count(total)} ${Math.floor(fraction * 100)}% ${count(rate)}/s ETA ${duration(eta)}`;
    const width = Math.max(0, Math.min(30, columns - 1 - label.length - tail.length - 3));
    const filled = Math.round(fraction * width);
    parts.push(label, width > 0 ? ` [${'#'.repeat(filled)}${'-'.repeat(width - filled)}]` : '', tail);
  } else {
    parts.push(label, ` ${count(done)}`, seconds > 0 ? ` ${count(rate)}/s` : '');
  }
  return parts.join('').slice(0, Math.max(0, columns - 1));
}
