import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backends } from './backends.js';

for (const backend of backends) {
  // A skipped test, not a skipped suite: node:test's summary counts only the former.
  const skip = await backend.unavailable?.();
  if (skip !== undefined) {
    test(`${backend.name} basics`, { skip }, () => {});
    continue;
  }
  describe(`${backend.name} basics`, () => {
    if (backend.setup !== undefined) before(() => backend.setup!());
    if (backend.teardown !== undefined) after(() => backend.teardown!());
    test('a submitted task returns its result through an awaited future', async () => {
      await using pool = backend.make({ workers: 1 });
      assert.equal(await pool.submit('add', [2, 3]), 5);
    });
  });
}
