// What the subcommands share: the usage error (exit code 2), option checks
// in the library's wording, the task module's location, and `makePool`, the
// one place that picks a backend.

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ProcessPool, ThreadPool, type PoolOptions } from '../index.js';

/** Bad input on the command line: one line on stderr, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
  }
}
Object.defineProperty(UsageError.prototype, 'name', { value: 'UsageError' });

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Ctrl-C for a subcommand that stops its work and then exits with 130: the
 * first SIGINT calls `stop` and sets `interrupted`; a second one exits at
 * once, not waiting for what the first stopped (workers, a task's
 * `finally`). `off()` when the work is over.
 */
export function onInterrupt(stop: () => void): { readonly interrupted: boolean; off(): void } {
  const state = { interrupted: false, off: () => void process.off('SIGINT', onSigint) };
  const onSigint = () => {
    if (state.interrupted) process.exit(130);
    state.interrupted = true;
    stop();
  };
  process.on('SIGINT', onSigint);
  return state;
}

/** `parseArgs`, strict, with positionals; its errors become UsageErrors. */
export function parse<O extends Options>(
  argv: string[],
  options: O,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The options table `flags` makes: `S` take a value, `B` are switches, and `--help`/`-h`. */
export type Flags<S extends string, B extends string> = { [K in S]: { type: 'string' } } & { [K in B]: { type: 'boolean' } } & {
  help: { type: 'boolean'; short: 'h' };
};

/** A subcommand's options table for `parse`, from the names of its options that take a value and of its switches; every subcommand has `--help`/`-h`. */
export function flags<const S extends string, const B extends string>(strings: readonly S[], booleans: readonly B[]): Flags<S, B> {
  const table: Options = { help: { type: 'boolean', short: 'h' } };
  for (const name of strings) table[name] = { type: 'string' };
  for (const name of booleans) table[name] = { type: 'boolean' };
  return table as Flags<S, B>;
}

/** Command-line text as the messages quote it. */
export function shown(value: string): string {
  return `\`${value}\``;
}

/** An integer option given as text, at least `min`; `undefined` stays undefined. */
export function intOption(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min) {
    throw new UsageError(`Expected --${name} to be an integer >= ${min}, got ${shown(text)}`);
  }
  return n;
}

/** `--args`: a JSON array of the task's arguments. */
export function argsOption(text: string | undefined): unknown[] {
  if (text === undefined) return [];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`Expected --args to be JSON (an array of arguments), got ${shown(text)}: ${(err as Error).message}`);
  }
  if (!Array.isArray(value)) {
    throw new UsageError(`Expected --args to be a JSON array of arguments, got ${shown(text)} (${value === null ? 'null' : typeof value})`);
  }
  return value;
}

/**
 * The task module named on the command line: a path (relative to the
 * current directory) or a `file:` URL. Refused here, before any worker
 * starts, when there is no such file.
 */
function moduleOption(text: string | undefined): URL {
  if (text === undefined || text === '')
    throw new UsageError('Expected a task module (a path or a file: URL) as the first argument, got nothing');
  let url: URL;
  try {
    url = text.startsWith('file:') ? new URL(text) : pathToFileURL(resolve(text));
  } catch {
    throw new UsageError(`Expected a task module (a path or a file: URL), got ${shown(text)}`);
  }
  const path = fileURLToPath(url);
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new UsageError(`Cannot find the task module ${shown(text)} (looked for ${path})`);
  }
  return url;
}

function taskOption(text: string | undefined): string {
  if (text === undefined || text === '') throw new UsageError('Expected the name of an exported task as the second argument, got nothing');
  return text;
}

/** The positionals `<module> <task>`: the module checked to exist, and the text it was given as. */
export function moduleAndTask(positionals: string[]): { module: URL; given: string; task: string } {
  if (positionals.length > 2) throw new UsageError(`Expected <module> <task>, got also ${positionals.slice(2).map(shown).join(' ')}`);
  return { module: moduleOption(positionals[0]), given: positionals[0], task: taskOption(positionals[1]) };
}

/** `--help`: the usage on stdout, exit code 0. */
export function printUsage(usage: string): number {
  process.stdout.write(usage);
  return 0;
}

export type PoolKind = 'process' | 'thread';

/** The backend-neutral face of a pool, as the commands use it. */
export type AnyPool = ProcessPool | ThreadPool;

/** The one place a command picks its backend: `--threads` selects ThreadPool. */
export function makePool(kind: PoolKind, module: URL, options: PoolOptions): AnyPool {
  return kind === 'thread' ? new ThreadPool(module, options) : new ProcessPool(module, options);
}
