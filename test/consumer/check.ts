// The published declarations, as a user's compiler sees them: packs the
// package (`npm pack`), installs the tarball into a fresh project for each
// @types/node × TypeScript pair below, and runs `tsc --noEmit` there with
// `skipLibCheck: false`, so every .d.ts we ship is checked against that
// @types/node and that compiler.
//
//   node dist/test/consumer/check.js        (after `npm run build`; needs the npm registry)
//
// Each project holds the README quick start (tasks.ts and main.ts, taken from
// README.md as test/readme.test.ts takes them), which must compile, and a file
// calling a task by a wrong name, which must fail with a message that lists
// the valid names. Prints a table and exits 1 if any pair fails. `.ci/run`
// runs it; `npm test` does not (it works offline).

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const own = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };

/** @types/node: the oldest line `engines` allows, and the newest. TypeScript: the project's own, and the newest release. */
const TYPES_NODE = ['20', 'latest'];
const TYPESCRIPT = [own.devDependencies.typescript, 'latest'];

const tsconfig = (files: string[]) =>
  JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022', 'ESNext.Disposable'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        types: ['node'],
        strict: true,
        skipLibCheck: false,
        noEmit: true,
      },
      files,
    },
    null,
    2,
  );

/** The wrong name and the message the compiler must give for it. */
const WRONG = [
  "import { ProcessPool } from 'warmpool';",
  "import type * as tasks from './tasks.js';",
  "const pool = new ProcessPool<typeof tasks>(new URL('./tasks.js', import.meta.url));",
  "void pool.submit('fibb', [30]);",
  '',
].join('\n');
const WRONG_MESSAGE = /Argument of type '"fibb"' is not assignable to parameter of type '"fib" \| "shout"'/;

async function sh(cmd: string, args: string[], cwd: string): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024 });
    return { ok: true, out: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message };
  }
}

const work = mkdtempSync(join(tmpdir(), 'warmpool-consumer-'));
try {
  // --ignore-scripts: `prepack` would rebuild dist/, which this script runs from.
  const packed = await sh('npm', ['pack', '--ignore-scripts', '--pack-destination', work], root);
  if (!packed.ok) throw new Error(`npm pack failed:\n${packed.out}`);
  const tarball = join(
    work,
    readdirSync(work).find((f) => f.endsWith('.tgz'))!,
  );

  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n\/\/ (\S+\.ts)\n([\s\S]*?)```/g)];
  if (blocks.length < 2) throw new Error('README.md: expected the quick start blocks `// tasks.ts` and `// main.ts`');

  const rows: string[][] = [];
  let failed = false;
  for (const typesNode of TYPES_NODE) {
    for (const typescript of TYPESCRIPT) {
      const dir = join(work, `types-node-${typesNode}-ts-${typescript}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
      for (const [, file, body] of blocks) writeFileSync(join(dir, file), body);
      writeFileSync(join(dir, 'wrong-name.ts'), WRONG);
      writeFileSync(join(dir, 'tsconfig.json'), tsconfig(blocks.map(([, file]) => file)));
      writeFileSync(join(dir, 'tsconfig.wrong.json'), tsconfig(['tasks.ts', 'wrong-name.ts']));
      const install = await sh(
        'npm',
        ['install', '--no-audit', '--no-fund', tarball, `@types/node@${typesNode}`, `typescript@${typescript}`],
        dir,
      );
      if (!install.ok) throw new Error(`npm install in ${dir} failed:\n${install.out}`);
      const version = (name: string) =>
        (JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
      const tsc = join(dir, 'node_modules', '.bin', 'tsc');
      const quick = await sh(tsc, ['-p', 'tsconfig.json'], dir);
      const wrong = await sh(tsc, ['-p', 'tsconfig.wrong.json'], dir);
      const wrongOk = !wrong.ok && WRONG_MESSAGE.test(wrong.out);
      rows.push([
        version('@types/node'),
        version('typescript'),
        quick.ok ? 'compiles' : 'FAILS',
        wrongOk ? 'lists the names' : 'WRONG MESSAGE',
      ]);
      if (!quick.ok) console.error(`@types/node@${typesNode} typescript@${typescript}: the quick start does not compile:\n${quick.out}`);
      if (!wrongOk)
        console.error(
          `@types/node@${typesNode} typescript@${typescript}: a wrong task name gave, expected ${String(WRONG_MESSAGE)}:\n${wrong.out}`,
        );
      failed ||= !quick.ok || !wrongOk;
    }
  }
  const head = ['@types/node', 'typescript', 'README quick start (skipLibCheck: false)', 'wrong task name'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [head, ...rows])
    console.log(
      r
        .map((c, i) => c.padEnd(width[i]))
        .join('  ')
        .trimEnd(),
    );
  process.exitCode = failed ? 1 : 0;
} finally {
  rmSync(work, { recursive: true, force: true });
}
