// V8 aborts the whole process (`Check failed: (location_) != nullptr` in
// SourceTextModule::AsyncModuleExecutionFulfilled) when a worker thread is
// terminated while an async module graph finishes evaluating, and one module
// with top-level await makes every module that imports it async. ThreadPool
// terminates starting threads whenever a pool shuts down early, so a single
// `await` at the top of any module a thread loads brings that abort back
// (docs/design.md, "Node quirks"; `node dist/bench/churn.js` shows it within
// seconds). The CLI's modules run only as a process's main module.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const lib = fileURLToPath(new URL('../../lib/', import.meta.url));

/** The places in a module where it awaits outside every function: `await`, `for await`, `await using`. */
function topLevelAwaits(name: string, text: string): string[] {
  const source = ts.createSourceFile(name, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) || ts.isClassStaticBlockDeclaration(node)) return;
    const awaits =
      ts.isAwaitExpression(node) ||
      (ts.isForOfStatement(node) && node.awaitModifier !== undefined) ||
      (ts.isVariableDeclarationList(node) && Number(node.flags & ts.NodeFlags.AwaitUsing) === Number(ts.NodeFlags.AwaitUsing));
    if (awaits) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
      found.push(`${name}:${line + 1}: ${node.getText(source).split('\n')[0]}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test('no module under lib/ but the CLI awaits at its top level, so no module a worker thread loads is async', () => {
  const files = readdirSync(lib, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.c?ts$/.test(f) && !f.startsWith('cli/'))
    .map((f) => lib + f);
  assert.ok(files.length > 40, `${files.length} modules found under ${lib}`);
  assert.deepEqual(
    files.flatMap((f) => topLevelAwaits(f.slice(lib.length), readFileSync(f, 'utf8'))),
    [],
  );
});

test('the check finds each form of top-level await, and none inside a function or a static block', () => {
  const probe = [
    'for await (const x of y) {}',
    'await using z = w;',
    'if (a) { const b = await c; }',
    'async function f() { await 1; }',
    'const g = async () => { await 2; };',
    'class C { static { void (async () => { await 3; })(); } }',
  ].join('\n');
  assert.deepEqual(
    topLevelAwaits('probe.ts', probe).map((f) => f.slice(0, f.indexOf(':', 'probe.ts:'.length))),
    ['probe.ts:1', 'probe.ts:2', 'probe.ts:3'],
  );
});
