// The contract of what a pool refuses, run against every backend
// (./contract.ts): every option and argument is checked, with a message
// saying what was expected and what arrived, and a task module that cannot
// load fails with an error that says why.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { TaskNotFoundError, WorkerStartError, type Executor } from '../lib/index.js';
import { assertOptionError, boundedDispose, contractFile, makePool, type Pool, scratch, SHORT, untyped } from './contract.js';
import { reasonOf } from './helpers.js';

await contractFile('options and task module', (backend) => {
  // ── the task module and the initializer ────────────────────────────────
  describe('task module errors', () => {
    // RemotePool's module and initializer are its hosts' (`warmpool worker`), checked there.
    const skip = backend.cannot.workerOptions;

    /** A task module in a fresh directory, with `source` as its text. */
    function moduleFile(name: string, source: string): URL {
      const path = join(scratch(), name);
      writeFileSync(path, source);
      return pathToFileURL(path);
    }

    test(
      'a relative module path is refused at construction with a TypeError suggesting new URL(..., import.meta.url)',
      { ...SHORT, skip },
      () => {
        for (const module of ['./tasks.js', 'tasks.js', '../fixtures/tasks.js']) {
          assert.throws(
            () => backend.make({}, module as unknown as URL),
            (err: unknown) => {
              assert.ok(err instanceof TypeError, String(err));
              const shown = module.startsWith('.') ? module : `./${module}`;
              assert.ok(err.message.includes(`new URL('${shown}', import.meta.url)`), err.message);
              return true;
            },
          );
        }
      },
    );

    test('an http:, https: or data: module URL is refused at construction with a TypeError', { ...SHORT, skip }, () => {
      for (const module of [
        'https://example.com/tasks.js',
        new URL('http://example.com/tasks.js'),
        'data:text/javascript,export const a = () => 1',
      ]) {
        assert.throws(
          () => backend.make({}, module as URL),
          (err: unknown) => {
            assert.ok(err instanceof TypeError, String(err));
            assert.match(
              err.message,
              /^Expected `module` to be a file: URL, .*: workers import the task module from a file, so (http|https|data): is not supported/,
            );
            return true;
          },
        );
      }
    });

    test(
      'an initializer that is not a function export fails ready() with WorkerStartError naming the initializer and the exports',
      { ...SHORT, skip },
      async () => {
        await using pool = makePool(backend, { workers: 1, initializer: 'nope' as never });
        const err = await reasonOf(pool.ready());
        assert.ok(err instanceof WorkerStartError, String(err));
        assert.match(
          err.message,
          /initializer `nope` is not a function exported by .*contract-tasks\.js; its function exports are: .*\badd\b/,
        );
        assert.doesNotMatch(err.message, /CustomError/, 'a class is not offered as an initializer');
        assert.ok(err.cause instanceof TypeError, `the cause is a TypeError: ${String(err.cause)}`);
        const taskErr = await reasonOf(pool.submit('add', [1, 2]));
        assert.ok(taskErr instanceof WorkerStartError, String(taskErr));
        assert.match(taskErr.message, /initializer `nope`/);
      },
    );

    test('a task module with a syntax error fails ready() with WorkerStartError giving file:line:column', { ...SHORT, skip }, async () => {
      const url = moduleFile('broken.mjs', 'export function a() {\n  return 1 +;\n}\n');
      await using pool = boundedDispose(backend.make({ workers: 1 }, url));
      const err = await reasonOf(pool.ready());
      assert.ok(err instanceof WorkerStartError, String(err));
      assert.ok(err.message.includes(`${fileURLToPath(url)}:2:13`), err.message);
      assert.match(err.message, /Unexpected token/);
    });

    test('a TypeScript task module without a loader fails ready() saying to start Node with --import tsx', { ...SHORT, skip }, async () => {
      const url = moduleFile('tasks.ts', 'export function twice(x: number): number {\n  return 2 * x;\n}\n');
      await using pool = boundedDispose(backend.make({ workers: 1, execArgv: [] }, url));
      if ((process.features as { typescript?: unknown }).typescript) {
        // This Node strips types itself (22.18+, 23.6+): the module loads.
        await pool.ready();
        assert.equal(await untyped(pool).submit('twice', [21]), 42);
        return;
      }
      const err = await reasonOf(pool.ready());
      assert.ok(err instanceof WorkerStartError, String(err));
      assert.match(
        err.message,
        /without a TypeScript loader: start Node with one \(`node --import tsx main\.ts`\), and the pool passes it on/,
      );
    });

    test(
      "a task module that default-exports an object of tasks gets TaskNotFoundError saying tasks are named exports, with the object's keys",
      { ...SHORT, skip },
      async () => {
        const url = moduleFile('default.mjs', 'export default { resize(x) { return x; }, crop(x) { return x; } };\n');
        await using pool = boundedDispose(backend.make({ workers: 1 }, url));
        const err = await reasonOf(untyped(pool).submit('resize', [1]));
        assert.ok(err instanceof TaskNotFoundError, String(err));
        assert.match(
          err.message,
          /tasks are named function exports \(`export function resize\(\.\.\.\)`\), not keys of the default export; the default export is an object with keys `resize`, `crop`/,
        );
      },
    );
  });

  // ── option validation ───────────────────────────────────────────────────
  describe('option validation', () => {
    const poolCases: [option: string, options: Record<string, unknown>, skip?: string][] = [
      ['workers', { workers: 0 }],
      ['workers', { workers: 1.5 }],
      ['workers', { workers: '2' }],
      ['workers', { workers: NaN }],
      ['minWorkers', { minWorkers: -1 }, backend.cannot.workerOptions],
      ['minWorkers', { workers: 2, minWorkers: 3 }, backend.cannot.workerOptions],
      ['idleTimeout', { idleTimeout: -1 }, backend.cannot.workerOptions],
      ['idleTimeout', { idleTimeout: 'soon' }, backend.cannot.workerOptions],
      ['maxTasksPerWorker', { maxTasksPerWorker: 0 }, backend.cannot.workerOptions],
      ['maxTasksPerWorker', { maxTasksPerWorker: 2.5 }, backend.cannot.workerOptions],
      ['initializer', { initializer: 42 }, backend.cannot.workerOptions],
      ['initArgs', { initArgs: 'not an array' }, backend.cannot.workerOptions],
      ['maxQueued', { maxQueued: -1 }],
      ['maxQueued', { maxQueued: 1.5 }],
      ['timeout', { timeout: -5 }],
      ['timeout', { timeout: NaN }],
      ['timeout', { timeout: '100' }],
      ['cancelGrace', { cancelGrace: -1 }, backend.cannot.workerOptions],
      ['cancelGrace', { cancelGrace: 'long' }, backend.cannot.workerOptions],
      ['startTimeout', { startTimeout: -1 }, backend.cannot.workerOptions],
      ['maxMemoryMb', { maxMemoryMb: 0 }, backend.cannot.memoryLimit],
      ['maxMemoryMb', { maxMemoryMb: '64' }, backend.cannot.memoryLimit],
      ['env', { env: 'PATH=/bin' }, backend.cannot.processOptions],
      ['execArgv', { execArgv: [1] }, backend.cannot.processOptions],
      ['execArgv', { execArgv: '--inspect' }, backend.cannot.processOptions],
      ['cwd', { cwd: 5 }, backend.cannot.processOptions],
    ];
    for (const [option, options, skip] of poolCases) {
      const shown = JSON.stringify(options, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
      test(
        `the pool option \`${option}\` is checked at construction: ${shown} throws "Expected \`${option}\` to be ..., got ..."`,
        { ...SHORT, skip },
        () => {
          let made: Pool | undefined;
          try {
            made = makePool(backend, options);
          } catch (err) {
            assertOptionError(err, option);
            return;
          }
          void made.shutdown();
          assert.fail(`no error for ${shown}`);
        },
      );
    }

    test('the message of an option error has the exact form "Expected `workers` to be an integer >= 1, got `0` (number)"', SHORT, () => {
      assert.throws(() => makePool(backend, { workers: 0 }), {
        message: 'Expected `workers` to be an integer >= 1, got `0` (number)',
      });
    });

    test('a misspelled pool option is refused at construction with a TypeError naming the nearest option', SHORT, () => {
      assert.throws(() => makePool(backend, { wokers: 2 } as never), {
        name: 'TypeError',
        message: 'Unknown option `wokers`; did you mean `workers`?',
      });
      assert.throws(() => makePool(backend, { tiemout: 5 } as never), {
        name: 'TypeError',
        message: 'Unknown option `tiemout`; did you mean `timeout`?',
      });
      assert.throws(() => makePool(backend, { Workers: 2 } as never), {
        name: 'TypeError',
        message: 'Unknown option `Workers`; did you mean `workers`?',
      });
      // Nothing near: every option is listed instead.
      assert.throws(
        () => makePool(backend, { verbose: true } as never),
        (err: unknown) => {
          assert.ok(err instanceof TypeError, String(err));
          assert.match(err.message, /^Unknown option `verbose`; the options are: .*`workers`/);
          return true;
        },
      );
    });

    test(
      'misspelled submit, map and shutdown options are refused with a TypeError naming the nearest option, and the pool still works',
      SHORT,
      async () => {
        await using pool = makePool(backend, { workers: 1 });
        const p = untyped(pool);
        assert.throws(() => p.submit('add', [1, 2], { tiemout: 5 } as never), {
          name: 'TypeError',
          message: 'Unknown option `tiemout`; did you mean `timeout`?',
        });
        assert.throws(() => p.submit('add', [1, 2], { priorty: 1 } as never), {
          name: 'TypeError',
          message: 'Unknown option `priorty`; did you mean `priority`?',
        });
        await assert.rejects(p.map('square', [1], { chunkSize: 4 } as never), {
          name: 'TypeError',
          message: 'Unknown option `chunkSize`; did you mean `chunksize`?',
        });
        assert.throws(() => p.imap('square', [1], { concurency: 1 } as never), {
          name: 'TypeError',
          message: 'Unknown option `concurency`; did you mean `concurrency`?',
        });
        await assert.rejects(pool.shutdown({ cancelFuture: true } as never), {
          name: 'TypeError',
          message: 'Unknown option `cancelFuture`; did you mean `cancelFutures`?',
        });
        assert.equal(await pool.submit('add', [1, 2], { timeout: 5_000 }), 3, 'the refused shutdown left the pool open');
        assert.deepEqual(await pool.map('square', [1, 2], { chunksize: 1 }), [1, 4]);
      },
    );

    test('options that are not an object throw a TypeError at construction', SHORT, () => {
      assert.throws(
        () => makePool(backend, 'fast' as never),
        (err: unknown) => {
          assertOptionError(err, 'options');
          return true;
        },
      );
    });

    const submitCases: [option: string, call: (pool: Executor) => unknown][] = [
      ['name', (p) => p.submit(42 as unknown as string)],
      ['args', (p) => p.submit('add', 5 as unknown as unknown[])],
      ['options', (p) => p.submit('add', [1, 2], 'fast' as never)],
      ['priority', (p) => p.submit('add', [1, 2], { priority: 'high' as unknown as number })],
      ['priority', (p) => p.submit('add', [1, 2], { priority: NaN })],
      ['priority', (p) => p.submit('add', [1, 2], { priority: Infinity })],
      ['timeout', (p) => p.submit('add', [1, 2], { timeout: -1 })],
      ['timeout', (p) => p.submit('add', [1, 2], { timeout: '10' as unknown as number })],
      ['signal', (p) => p.submit('add', [1, 2], { signal: {} as AbortSignal })],
      ['transfer', (p) => p.submit('add', [1, 2], { transfer: 'x' as never })],
    ];
    test('bad submit arguments and options throw TypeError or RangeError synchronously, and make no future', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      for (const [option, call] of submitCases) {
        assert.throws(
          () => call(untyped(pool)),
          (err: unknown) => {
            assertOptionError(err, option);
            return true;
          },
          `submit with a bad \`${option}\``,
        );
      }
      const s = pool.stats();
      assert.equal(s.queued + s.busy, 0, 'nothing was queued');
      assert.equal(await pool.submit('add', [1, 2]), 3);
      assert.equal(pool.stats().completed, 1, 'only the good task ran');
    });

    const mapCases: [option: string, name: unknown, items: unknown, options: unknown][] = [
      ['name', 42, [1], undefined],
      ['items', 'square', 42, undefined],
      ['options', 'square', [1], 'fast'],
      ['chunksize', 'square', [1], { chunksize: 0 }],
      ['chunksize', 'square', [1], { chunksize: 1.5 }],
      ['chunksize', 'square', [1], { chunksize: '4' }],
      ['concurrency', 'square', [1], { concurrency: 0 }],
      ['concurrency', 'square', [1], { concurrency: -1 }],
      ['timeout', 'square', [1], { timeout: -1 }],
      ['signal', 'square', [1], { signal: 'abort' }],
      ['onProgress', 'square', [1], { onProgress: 'log' }],
    ];
    test('bad map, starmap, imap and imapUnordered arguments and options are refused with TypeError or RangeError', SHORT, async () => {
      await using pool = makePool(backend, { workers: 1 });
      const p = untyped(pool) as unknown as Record<'map' | 'starmap' | 'imap' | 'imapUnordered', (...args: unknown[]) => unknown>;
      for (const method of ['map', 'starmap', 'imap', 'imapUnordered'] as const) {
        for (const [option, name, items, options] of mapCases) {
          const badItems = method === 'starmap' && Array.isArray(items) ? items.map((i) => [i]) : items;
          // Refused either at the call or by the returned promise / first next(): both count.
          await assert.rejects(
            async () => {
              const out = p[method](name, badItems, options);
              if (method === 'map' || method === 'starmap') await (out as Promise<unknown>);
              else for await (const _ of out as AsyncIterable<unknown>) assert.fail('yielded a result');
            },
            (err: unknown) => {
              assertOptionError(err, option);
              return true;
            },
            `${method} with a bad \`${option}\``,
          );
        }
      }
      const s = pool.stats();
      assert.equal(s.completed + s.failed + s.cancelled, 0, 'no task was made');
    });
  });
});
