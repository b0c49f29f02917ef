#!/usr/bin/env node
// `warmpool <command> ...`. Only `worker` here; the full command table
// (bench, map, ...) is on the `cli` branch and takes this entry over.

import { workerCommand } from './worker.js';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'worker') return workerCommand(rest);
  process.stderr.write('Usage: warmpool worker <module> --connection <redis-url> --queue <name> [options]\n');
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
