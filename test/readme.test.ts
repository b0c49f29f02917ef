// The README's quick start must run as written: its TypeScript blocks are
// written to a folder inside the package (so `import 'warmpool'` resolves to
// this package by self-reference), compiled with tsc, and run; what it prints
// must match the `// expected` comments next to its console.log calls.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = fileURLToPath(new URL('../readme-example/', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

test('the README quick start compiles and prints what its comments say', { timeout: 60_000 }, async () => {
  const readme = readFileSync(`${root}README.md`, 'utf8');
  const blocks = [...readme.matchAll(/```ts\n\/\/ (\S+\.ts)\n([\s\S]*?)```/g)];
  assert.ok(blocks.length >= 2, 'the README has the task module and main file blocks');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const expected: string[] = [];
  for (const [, file, body] of blocks) {
    writeFileSync(`${dir}${file}`, body);
    for (const m of body.matchAll(/console\.log\(.*\);\s*\/\/ (.+)$/gm)) expected.push(m[1].trim());
  }
  writeFileSync(
    `${dir}tsconfig.json`,
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2023', 'ESNext.Disposable'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        types: ['node'],
        typeRoots: [`${root}node_modules/@types`],
        strict: true,
        skipLibCheck: true,
      },
      include: ['*.ts'],
    }),
  );
  await run(process.execPath, [tsc, '-p', dir], { cwd: root });
  const { stdout } = await run(process.execPath, [`${dir}main.js`], { cwd: dir, timeout: 30_000 });
  assert.deepEqual(stdout.trim().split('\n'), expected);
  rmSync(dir, { recursive: true, force: true });
});
