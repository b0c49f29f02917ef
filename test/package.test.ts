// What a user gets from npm: the files in the tarball (`npm pack --dry-run`,
// offline), the links in README as the npm page shows them (no repository
// around them, so every link into it must be absolute and name a file that
// exists), and source maps that carry the sources they point at.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../../', import.meta.url));
const REPO = 'https://github.com/warmpool/warmpool';
const BLOB = `${REPO}/blob/main/`;
const RAW = 'https://raw.githubusercontent.com/warmpool/warmpool/main/';

test(
  'the package ships the built library, LICENSE, README and package.json, and nothing from tests or bench',
  { timeout: 60_000 },
  async () => {
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root });
    const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
    for (const needed of [
      'LICENSE',
      'README.md',
      'package.json',
      'dist/lib/index.js',
      'dist/lib/index.d.ts',
      'dist/lib/task.js',
      'dist/lib/cli/main.js',
    ]) {
      assert.ok(files.includes(needed), `${needed} is in the package`);
    }
    const stray = files.filter((f) => /(^|\/)(test|bench|stubs)\//.test(f) || f.startsWith('lib/') || f.startsWith('docs/'));
    assert.deepEqual(stray, [], 'no test, bench or source-tree files');
    // Every .js.map shipped carries its sources, so a debugger shows TypeScript
    // though lib/*.ts is not shipped.
    for (const map of files.filter((f) => f.endsWith('.map'))) {
      const { sources, sourcesContent } = JSON.parse(readFileSync(join(root, map), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      assert.equal(sourcesContent?.filter((s) => typeof s === 'string').length, sources.length, `${map} carries its sources`);
    }
  },
);

test('package.json names the repository, homepage, issue tracker and the MIT license the LICENSE file holds', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, any>;
  assert.equal(pkg.repository?.url, `git+${REPO}.git`);
  assert.equal(pkg.homepage, `${REPO}#readme`);
  assert.equal(pkg.bugs?.url, `${REPO}/issues`);
  assert.equal(pkg.license, 'MIT');
  assert.match(readFileSync(join(root, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) \d{4} the warmpool authors\n/);
});

test('every link and image in README works on the npm page: absolute, and naming a file of the repository that exists', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const targets = [...readme.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);
  assert.ok(targets.length > 5, 'README has links');
  for (const target of targets) {
    assert.match(target, /^https:\/\//, `an absolute link: ${target}`);
    const local = target.startsWith(BLOB) ? target.slice(BLOB.length) : target.startsWith(RAW) ? target.slice(RAW.length) : undefined;
    if (target.startsWith(REPO) || target.startsWith(RAW))
      assert.notEqual(local, undefined, `a link into the repository names a file: ${target}`);
    if (local !== undefined) assert.ok(existsSync(join(root, local.replace(/#.*$/, ''))), `${local} exists`);
  }
  // Images are shown from raw.githubusercontent.com: a /blob/ URL is an HTML page.
  for (const m of readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)) assert.ok(m[1].startsWith(RAW), `an image from ${RAW}: ${m[1]}`);
});
