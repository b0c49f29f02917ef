// The README's quick start must run as written: its TypeScript blocks are
// written to a folder inside the package (so `import 'warmpool'` resolves to
// this package by self-reference), compiled with tsc, and run; what it prints
// must match the `// expected` comments next to its console.log calls, for
// each main file (`main.ts` with `await using`, `main-finally.ts` with
// `shutdown()` in a `finally`).

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

test('the README quick start compiles, and each main file prints what its comments say', { timeout: 60_000 }, async () => {
  const readme = readFileSync(`${root}README.md`, 'utf8');
  const blocks = [...readme.matchAll(/```ts\n\/\/ (\S+\.ts)\n([\s\S]*?)```/g)];
  const mains = blocks.filter(([, file]) => file.startsWith('main'));
  assert.ok(blocks.length >= 3 && mains.length >= 2, 'the README has the task module and the `await using` and `finally` main files');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [, file, body] of blocks) writeFileSync(`${dir}${file}`, body);
  writeFileSync(
    `${dir}tsconfig.json`,
    JSON.stringify({
      compilerOptions: {
        // ES2022: `await using` is compiled down, so the output runs on Node 20 and 22 too.
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
  for (const [, file, body] of mains) {
    const expected = [...body.matchAll(/console\.log\(.*\);\s*\/\/ (.+)$/gm)].map((m) => m[1].trim());
    const { stdout } = await run(process.execPath, [`${dir}${file.replace(/\.ts$/, '.js')}`], { cwd: dir, timeout: 30_000 });
    assert.deepEqual(stdout.trim().split('\n'), expected, file);
  }
  rmSync(dir, { recursive: true, force: true });
});
