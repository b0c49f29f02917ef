// Small helpers several test files share.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** The rejection reason of `p`; fails the test if `p` fulfills. */
export async function reasonOf(p: PromiseLike<unknown>): Promise<unknown> {
  let value: unknown;
  try {
    value = await p;
  } catch (err) {
    return err;
  }
  assert.fail(`expected a rejection, got the value ${String(value)}`);
}

/** A fresh temporary folder, removed after the test. */
export async function tempDir(t: TestContext, prefix = 'warmpool-test-'): Promise<string> {
  const dir = realpathSync(await mkdtemp(join(tmpdir(), prefix)));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Lines of a log file (none if it was never written). */
export function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/** How many times `start <tag> ...` appears in a log of ./fixtures/regress-tasks.ts. */
export function starts(log: string, tag: string): number {
  return lines(log).filter((l) => l.split(' ')[1] === tag).length;
}
