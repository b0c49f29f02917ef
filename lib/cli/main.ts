#!/usr/bin/env node
// `warmpool <command> ...`: a table of subcommands. A command is a module
// exporting `summary` and `run(argv)`; adding one is one import and one
// entry in `commands`.

import { readFileSync } from 'node:fs';
import { UsageError } from './args.js';
import * as bench from './bench.js';
import * as map from './map.js';
import * as purge from './purge.js';
import * as stream from './stream.js';
import * as worker from './worker.js';

export interface Command {
  /** One line for `warmpool --help`. */
  summary: string;
  /** Runs the command on its own arguments; resolves with the exit code. */
  run(argv: string[]): Promise<number>;
}

export const commands: Record<string, Command> = {
  bench,
  map,
  purge,
  stream,
  worker,
};

function version(): string {
  // dist/lib/cli/main.js -> the package root.
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function help(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return [
    'Usage: warmpool <command> [options]',
    '',
    'Warm worker pools for Node.js, from the shell.',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    '  -h, --help     this help; `warmpool <command> --help` for a command',
    '  -v, --version  the version of warmpool',
    '',
    'Examples:',
    '  warmpool bench ./tasks.js fib --args "[25]"',
    '  warmpool map ./tasks.js fib --in numbers.jsonl --out results.jsonl',
    '  warmpool worker ./tasks.js --connection redis://host:6379 --queue jobs',
    '  warmpool purge --connection redis://host:6379 --queue jobs',
    '  warmpool stream ./tasks.js lines --args \'["big.log"]\' > lines.jsonl',
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(help());
    return 2;
  }
  if (name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(help());
    return 0;
  }
  if (name === '-v' || name === '--version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (command === undefined) {
    process.stderr.write(
      `warmpool: unknown command \`${name}\`; expected one of: ${Object.keys(commands).join(', ')} (see warmpool --help)\n`,
    );
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`warmpool ${name}: ${err.message} (see warmpool ${name} --help)\n`);
      return 2;
    }
    process.stderr.write(`warmpool ${name}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Writes to a pipe are asynchronous on POSIX
// (https://nodejs.org/api/process.html#a-note-on-process-io): a write that
// returned true can still be queued, and process.exit() drops it (`warmpool
// stream | reader` lost its last values under load). An empty write's
// callback runs once every write before it is out, or with the error of a
// closed pipe.
await Promise.all([process.stdout, process.stderr].map((out) => new Promise<void>((resolve) => out.write('', () => resolve()))));
// An input the command stopped reading, such as a terminal's stdin, must not
// hold the process open.
process.exit(code);
