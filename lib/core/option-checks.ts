// The checks that turn user input into the filled-in options the engines
// trust (the options themselves are typed and documented in ./options.ts).
// Messages say what was expected and what arrived, as p-limit and p-queue
// do: ``Expected `workers` to be an integer >= 1, got `0` (number)``; a
// misspelled key names the nearest known one.

import { availableParallelism } from 'node:os';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_HIGH_WATER_MARK } from './stream-protocol.js';
import type { TransferListItem } from './types.js';

/** The keys of each options object, as typed in ./options.ts. */
export const POOL_KEYS: ReadonlySet<string> = new Set([
  'name',
  'workers',
  'minWorkers',
  'idleTimeout',
  'maxTasksPerWorker',
  'initializer',
  'initArgs',
  'maxQueued',
  'timeout',
  'cancelGrace',
  'startTimeout',
  'env',
  'execArgv',
  'cwd',
  'maxMemoryMb',
]);
export const SUBMIT_KEYS: ReadonlySet<string> = new Set(['timeout', 'signal', 'transfer', 'priority', 'onProgress']);
export const MAP_KEYS: ReadonlySet<string> = new Set(['chunksize', 'timeout', 'signal', 'concurrency', 'onProgress']);
export const STREAM_KEYS: ReadonlySet<string> = new Set(['timeout', 'signal', 'priority', 'highWaterMark', 'onProgress']);
export const SHUTDOWN_KEYS: ReadonlySet<string> = new Set(['wait', 'cancelFutures']);

/** Edit distance with adjacent transpositions (optimal string alignment): `tiemout` is 1 from `timeout`. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0][j] = j;
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2][j - 2] + 1);
      rows[i][j] = d;
    }
  }
  return rows[a.length][b.length];
}

/** The known key nearest to `key`, if it is near enough to be a slip of the keyboard. */
export function nearest(key: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === key.toLowerCase() ? 0.5 : editDistance(key, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

/**
 * Refuses a key of `o` that is not in `known`, naming the nearest known key
 * (``Unknown option `wokers`; did you mean `workers`?``) or, when none is
 * near, every known key. A misspelled option silently ignored would leave
 * its default in force. `hint` explains where a key that belongs elsewhere
 * goes. Keys are read as the option checks read them, inherited ones too.
 */
export function checkKeys(o: object, known: ReadonlySet<string>, hint?: (key: string) => string | undefined): void {
  for (const key in o) {
    if (!known.has(key)) throw unknownOption(key, known, hint?.(key));
  }
}

function unknownOption(key: string, known: ReadonlySet<string>, hint: string | undefined): TypeError {
  const near = nearest(key, known);
  const help =
    hint ?? (near !== undefined ? `did you mean \`${near}\`?` : `the options are: ${[...known].map((k) => `\`${k}\``).join(', ')}`);
  return new TypeError(`Unknown option \`${key}\`; ${help}`);
}

function describe(value: unknown): string {
  let shown: string;
  try {
    shown = typeof value === 'string' ? value : typeof value === 'bigint' ? `${value}n` : String(value);
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  return `\`${shown}\` (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
}

export function expected(name: string, what: string, value: unknown): TypeError {
  return new TypeError(`Expected \`${name}\` to be ${what}, got ${describe(value)}`);
}

/** The start options of processes and threads: `execArgv` and `env`, checked. */
export function checkStartOptions(o: Record<string, unknown>): { execArgv: string[] | undefined; env: NodeJS.ProcessEnv | undefined } {
  if (o.execArgv !== undefined && !(Array.isArray(o.execArgv) && o.execArgv.every((a) => typeof a === 'string'))) {
    throw expected('execArgv', 'an array of strings', o.execArgv);
  }
  if (o.env !== undefined && (typeof o.env !== 'object' || o.env === null)) throw expected('env', 'an object', o.env);
  return { execArgv: o.execArgv === undefined ? undefined : [...o.execArgv], env: o.env as NodeJS.ProcessEnv | undefined };
}

/** An integer >= min, or Infinity when allowed. */
export function checkInteger(name: string, value: unknown, min: number, allowInfinity = false): number {
  if (typeof value === 'number' && ((Number.isInteger(value) && value >= min) || (allowInfinity && value === Infinity))) return value;
  throw expected(name, `an integer >= ${min}${allowInfinity ? ' or Infinity' : ''}`, value);
}

/** Node's timers cannot wait longer; a longer delay fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A number of ms >= 0, or Infinity when allowed. A limit longer than a timer
 * can wait (about 24.8 days) is taken as no limit at all, rather than the 1 ms
 * Node's setTimeout would turn it into.
 */
export function checkMs(name: string, value: unknown, allowInfinity = true): number {
  if (typeof value === 'number' && value >= 0 && (allowInfinity || value <= MAX_TIMER_MS)) {
    return value > MAX_TIMER_MS ? Infinity : value;
  }
  throw expected(name, `a number of ms >= 0${allowInfinity ? ' or Infinity' : ` and <= ${MAX_TIMER_MS}`}`, value);
}

export function checkSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value;
  throw expected(name, 'an AbortSignal', value);
}

export function checkObject(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value === 'object' && value !== null) return value as Record<string, unknown>;
  throw expected(name, 'an object', value);
}

/** The task module as a file: URL string. */
export function moduleHref(module: unknown): string {
  const what = 'a file: URL, an absolute path or a file: URL string';
  if (typeof module === 'string' && isAbsolute(module)) return pathToFileURL(module).href;
  let url: URL | undefined;
  if (module instanceof URL) url = module;
  else if (typeof module === 'string' && URL.canParse(module) && /^[a-z][a-z\d+.-]+:/i.test(module)) url = new URL(module);
  if (url?.protocol === 'file:') return url.href;
  if (url !== undefined) {
    // Workers import the module from disk; Node's loader refuses http: and
    // https:, and a data: module would be sent to every worker as source.
    // Said now rather than by every worker's start.
    throw new TypeError(
      `${expected('module', what, module).message}: workers import the task module from a file, so ${url.protocol} is not supported; save it to a file first`,
    );
  }
  if (typeof module === 'string') {
    // A relative path would be resolved against the working directory, not
    // against the file that names it: the module would be found or not
    // depending on where the program was started.
    const shown = module.startsWith('.') ? module : `./${module}`;
    throw new TypeError(
      `${expected('module', what, module).message}: a relative path would depend on the working directory; ` +
        `resolve it against your file with \`new URL('${shown}', import.meta.url)\``,
    );
  }
  throw expected('module', what, module);
}

/** Options every backend shares, filled in. */
let poolCount = 0;
/** `warmpool-<n>`, for pools not given a `name`. */
export function defaultPoolName(): string {
  return `warmpool-${++poolCount}`;
}

export interface CommonOptions {
  name: string;
  workers: number;
  minWorkers: number;
  idleTimeout: number;
  maxTasksPerWorker: number;
  initializer: string | null;
  initArgs: readonly unknown[];
  maxQueued: number;
  timeout: number;
  cancelGrace: number;
  startTimeout: number;
}

export function resolveCommon(input: unknown): CommonOptions {
  const o = checkObject('options', input);
  checkKeys(o, POOL_KEYS);
  const workers = o.workers === undefined ? availableParallelism() : checkInteger('workers', o.workers, 1);
  const minWorkers = o.minWorkers === undefined ? workers : checkInteger('minWorkers', o.minWorkers, 0);
  if (minWorkers > workers) {
    throw new RangeError(`Expected \`minWorkers\` to be at most \`workers\` (${workers}), got \`${minWorkers}\` (number)`);
  }
  if (o.initializer !== undefined && typeof o.initializer !== 'string')
    throw expected('initializer', 'the name of an export (a string)', o.initializer);
  if (o.initArgs !== undefined && !Array.isArray(o.initArgs)) throw expected('initArgs', 'an array', o.initArgs);
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length === 0)) throw expected('name', 'a non-empty string', o.name);
  return {
    name: o.name ?? defaultPoolName(),
    workers,
    minWorkers,
    idleTimeout: o.idleTimeout === undefined ? Infinity : checkMs('idleTimeout', o.idleTimeout),
    maxTasksPerWorker: o.maxTasksPerWorker === undefined ? Infinity : checkInteger('maxTasksPerWorker', o.maxTasksPerWorker, 1, true),
    initializer: o.initializer ?? null,
    initArgs: (o.initArgs as unknown[] | undefined) ?? [],
    maxQueued: o.maxQueued === undefined ? Infinity : checkInteger('maxQueued', o.maxQueued, 0, true),
    timeout: o.timeout === undefined ? Infinity : checkMs('timeout', o.timeout),
    cancelGrace: o.cancelGrace === undefined ? 0 : checkMs('cancelGrace', o.cancelGrace, false),
    startTimeout: o.startTimeout === undefined ? 60_000 : checkMs('startTimeout', o.startTimeout),
  };
}

/**
 * What a pool of processes or threads checks first, in this order: the
 * module, the options object, the options every pool takes, and the start
 * options (`execArgv`, `env`); `o` is the options object, for the rest.
 */
export function checkWorkerPoolOptions(
  module: unknown,
  options: unknown,
): { href: string; o: Record<string, unknown>; common: CommonOptions; start: ReturnType<typeof checkStartOptions> } {
  const href = moduleHref(module);
  const o = checkObject('options', options);
  return { href, o, common: resolveCommon(o), start: checkStartOptions(o) };
}

/** The filled-in per-task options. */
export interface ResolvedSubmitOptions {
  priority: number;
  timeout: number;
  signal: AbortSignal | undefined;
  transfer: readonly TransferListItem[] | undefined;
  onProgress: ((value: unknown) => unknown) | undefined;
}

export function resolveSubmit(input: unknown, poolTimeout: number): ResolvedSubmitOptions {
  if (input === undefined) return { priority: 0, timeout: poolTimeout, signal: undefined, transfer: undefined, onProgress: undefined };
  const o = checkObject('options', input);
  checkKeys(o, SUBMIT_KEYS);
  if (o.priority !== undefined && !(typeof o.priority === 'number' && Number.isFinite(o.priority))) {
    throw expected('priority', 'a finite number', o.priority);
  }
  if (o.transfer !== undefined && !Array.isArray(o.transfer)) throw expected('transfer', 'an array', o.transfer);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw expected('onProgress', 'a function', o.onProgress);
  return {
    priority: o.priority ?? 0,
    timeout: o.timeout === undefined ? poolTimeout : checkMs('timeout', o.timeout),
    signal: checkSignal('signal', o.signal),
    transfer: o.transfer as TransferListItem[] | undefined,
    onProgress: o.onProgress as ResolvedSubmitOptions['onProgress'],
  };
}

export interface ResolvedMapOptions {
  chunksize: number | undefined;
  timeout: number;
  signal: AbortSignal | undefined;
  concurrency: number;
  onProgress: ((done: number, total: number | undefined) => void) | undefined;
}

export function resolveMap(input: unknown, poolTimeout: number): ResolvedMapOptions {
  const o = checkObject('options', input);
  checkKeys(o, MAP_KEYS);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw expected('onProgress', 'a function', o.onProgress);
  return {
    chunksize: o.chunksize === undefined ? undefined : checkInteger('chunksize', o.chunksize, 1),
    timeout: o.timeout === undefined ? poolTimeout : checkMs('timeout', o.timeout),
    signal: checkSignal('signal', o.signal),
    concurrency: o.concurrency === undefined ? Infinity : checkInteger('concurrency', o.concurrency, 1, true),
    onProgress: o.onProgress as ResolvedMapOptions['onProgress'],
  };
}

/** The filled-in options of `pool.stream`. */
export interface ResolvedStreamOptions extends ResolvedSubmitOptions {
  highWaterMark: number;
}

export function resolveStream(input: unknown, poolTimeout: number): ResolvedStreamOptions {
  const o = checkObject('options', input);
  if ('transfer' in o && o.transfer !== undefined)
    throw expected('transfer', 'left out (pool.stream moves nothing; send values to the task instead)', o.transfer);
  checkKeys(o, STREAM_KEYS);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw expected('onProgress', 'a function', o.onProgress);
  return {
    ...resolveSubmit({ timeout: o.timeout, signal: o.signal, priority: o.priority }, poolTimeout),
    highWaterMark: o.highWaterMark === undefined ? DEFAULT_HIGH_WATER_MARK : checkInteger('highWaterMark', o.highWaterMark, 1),
    onProgress: o.onProgress as ResolvedStreamOptions['onProgress'],
  };
}

/** The filled-in options of `shutdown()`. */
export function resolveShutdown(input: unknown): { wait: boolean; cancelFutures: boolean } {
  const o = checkObject('options', input);
  checkKeys(o, SHUTDOWN_KEYS);
  if (o.wait !== undefined && typeof o.wait !== 'boolean') throw expected('wait', 'a boolean', o.wait);
  if (o.cancelFutures !== undefined && typeof o.cancelFutures !== 'boolean') throw expected('cancelFutures', 'a boolean', o.cancelFutures);
  return { wait: o.wait !== false, cancelFutures: o.cancelFutures === true };
}
