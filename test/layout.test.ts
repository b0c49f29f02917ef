// The layout's own rules (docs/design.md, "Layout"), checked so they hold
// as the code moves: no source file grows past 450 lines (a file that does
// is doing more than one job: split it by job, as lib/process/frame-parts.ts
// was split from channel.ts), and every backend folder has the same files
// for the same jobs.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const lib = fileURLToPath(new URL('../../lib/', import.meta.url));
const MAX_LINES = 450;

test(`no source file under lib/ is over ${MAX_LINES} lines`, () => {
  const long = readdirSync(lib, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.c?ts$/.test(f))
    .map((f) => [f, readFileSync(lib + f, 'utf8').split('\n').length - 1] as const)
    .filter(([, lines]) => lines > MAX_LINES)
    .map(([f, lines]) => `lib/${f}: ${lines} lines`);
  assert.deepEqual(long, []);
});

test('every backend folder has its public class in pool.ts and its transport in engine.ts', () => {
  for (const backend of ['process', 'thread', 'local', 'remote']) {
    const files = readdirSync(lib + backend);
    assert.ok(files.includes('pool.ts') && files.includes('engine.ts'), `lib/${backend}/ has ${files.join(', ')}`);
  }
});
