// What the bench drivers (bench/run.ts, bench/compare.ts) share about the
// machine and the terminal.

import { execFileSync } from 'node:child_process';

/** One line of progress on stderr: rewritten in place on a terminal, one line each otherwise (CI logs). */
export function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
  else process.stderr.write(`${text}\n`);
}

/** Whether `taskset -c 0` can pin a process here (Linux with util-linux, and CPU 0 allowed). */
export function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', process.execPath, '-e', ''], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
