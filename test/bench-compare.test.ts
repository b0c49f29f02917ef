// `npm run bench -- --compare <ref>` (bench/compare.ts): how it finds each
// build's entry and when it calls a difference real. The A/B run itself is
// exercised by running it (docs/design.md, "Working on warmpool").

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chanceOfSeparation, entryOf, judge } from '../bench/compare.js';

function build(pkg: object, files: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'warmpool-entry-'));
  writeFileSync(join(root, 'package.json'), JSON.stringify(pkg));
  for (const f of files) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), '');
  }
  return root;
}

test("a build's entry is read from its package.json exports['.'], whatever file it names", () => {
  const cases: [object, string][] = [
    [
      { exports: { '.': { types: './dist/lib/index.d.ts', default: './dist/lib/index.js' }, './task': './dist/lib/task.js' } },
      'dist/lib/index.js',
    ],
    [{ exports: { '.': { import: './dist/core/public.js', require: './cjs/index.cjs' } } }, 'dist/core/public.js'],
    [{ exports: { '.': { node: { default: './out/main.js' } } } }, 'out/main.js'],
    [{ exports: './dist/index.js' }, 'dist/index.js'],
    [{ exports: { default: './dist/cond-only.js' } }, 'dist/cond-only.js'],
    [{ main: './dist/main.js' }, 'dist/main.js'],
  ];
  for (const [pkg, file] of cases) {
    const root = build(pkg, [file]);
    try {
      assert.equal(entryOf(root), join(root, file), JSON.stringify(pkg));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
});

test('an entry that was not built is an error that names the missing file', () => {
  const root = build({ exports: { '.': './dist/lib/index.js' } }, []);
  try {
    assert.throws(
      () => entryOf(root),
      (err: Error) => err.message.includes(join(root, 'dist/lib/index.js')) && err.message.includes('does not exist'),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a difference is called only when every round of one build beats every round of the other', () => {
  // Latency (lower is better): the working tree's slowest round beats the ref's fastest.
  assert.equal(judge([30, 31, 32], [25, 26, 29], 'lower'), 'better');
  assert.equal(judge([30, 31, 32], [33, 35, 34], 'lower'), 'worse');
  // Rates (higher is better).
  assert.equal(judge([100, 110, 105], [120, 130, 125], 'higher'), 'better');
  // Overlapping ranges, but the paired ratios all point one way: a lean, with 5 rounds or more only.
  assert.equal(judge([30, 40, 35, 33, 37], [29, 38, 34, 32, 36], 'lower'), 'leaning better');
  assert.equal(judge([100, 140, 120, 110, 130], [98, 135, 119, 109, 128], 'higher'), 'leaning worse');
  assert.equal(judge([30, 40, 35], [29, 38, 34], 'lower'), 'within noise');
  // Overlapping ranges, ratios both ways.
  assert.equal(judge([30, 31, 32], [31, 30, 33], 'lower'), 'within noise');
  // Fewer than 3 rounds cannot tell.
  assert.equal(judge([30, 31], [10, 11], 'lower'), 'too few rounds');
});

test('the chance of a false "better" or "worse" is 2 / C(2n, n): 10 % with 3 rounds, under 1 % with 5', () => {
  assert.equal(chanceOfSeparation(3), 2 / 20);
  assert.equal(chanceOfSeparation(5), 2 / 252);
});
