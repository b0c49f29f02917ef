// Type tests of the typed pool API. tsc compiles this file with the rest of
// the build and it is never run: everything is inside a function nobody
// calls. A wrong result type fails `expectType`; a call that should not
// compile is marked `@ts-expect-error`, so the build breaks if it compiles.

import { ProcessPool, asCompleted, wait, type Future, type TaskName, type StreamingExecutor, type TaskStream } from '../lib/index.js';
import type * as streamTasks from './fixtures/stream-tasks.js';
import type { Edit, Settings } from './fixtures/stream-tasks.js';
import type * as tasks from './fixtures/tasks.js';

/** True only when A and B are the same type (not merely assignable). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** `expectType<E>()(value)` compiles only when the type of `value` is exactly E. */
function expectType<Expected>() {
  return <Actual>(
    _value: Actual,
    ..._exact: Equal<Expected, Actual> extends true ? [] : [error: 'the type differs from the expected one']
  ) => {};
}

/** Compiles only when T is `true`. */
function expectTrue<T extends true>(): T | undefined {
  return undefined;
}

export function typeTests(): void {
  const url = new URL('./fixtures/tasks.js', import.meta.url);
  const pool = new ProcessPool<typeof tasks>(url, { workers: 1 });

  // submit: names, argument tuples and result types come from the module.
  const sum: Future<number> = pool.submit('add', [1, 2]);
  expectType<Future<number>>()(sum);
  expectType<Future<number>>()(pool.submit('fib', [10], { timeout: 100, priority: 1 }));
  expectType<Future<string>>()(pool.submit('noArgs'));
  expectType<Future<string>>()(pool.submit('noArgs', []));
  expectType<Future<string>>()(pool.submit('noArgs', undefined, { timeout: 5 }));
  expectType<Future<number>>()(pool.submit('pid'));
  // An async task's future gives the awaited value, not a promise.
  expectType<Future<string>>()(pool.submit('untilAborted'));
  expectType<Future<number>>()(pool.submit('delayedSquare', [3, 1]));
  expectType<Future<never>>()(pool.submit('fail', ['message']));
  expectType<Future<never>>()(pool.submit('throwValue', [new Error('x')]));

  // Awaiting a future gives the result type.
  async function awaited(): Promise<void> {
    expectType<number>()(await pool.submit('add', [1, 2]));
    expectType<number>()(await pool.submit('add', [1, 2]).result(100));
    expectType<string>()(await pool.submit('noArgs'));
  }
  void awaited;

  // A wrong result type does not compile.
  // @ts-expect-error add gives a number, not a string
  const _notAString: Future<string> = pool.submit('add', [1, 2]);
  // @ts-expect-error expectType is exact: Future<number> is not Future<unknown>
  expectType<Future<unknown>>()(pool.submit('add', [1, 2]));

  // @ts-expect-error no task of that name
  pool.submit('nope', []);
  // @ts-expect-error a misspelled name (the compiler's message lists the names: test/consumer/check.ts checks it)
  pool.submit('ad', [1, 2]);
  // TaskName is the plain union of the function exports' names, which the
  // compiler prints in full; a non-function export is not among them.
  expectTrue<
    Equal<
      TaskName<typeof tasks>,
      | 'add'
      | 'echo'
      | 'fib'
      | 'asyncEcho'
      | 'pid'
      | 'spin'
      | 'forever'
      | 'untilAborted'
      | 'hang'
      | 'fail'
      | 'failCustom'
      | 'throwValue'
      | 'crash'
      | 'returnFunction'
      | 'failOn'
      | 'square'
      | 'delayedSquare'
      | 'noArgs'
    >
  >();
  // Without a type argument any string is a name (and only a string).
  expectTrue<Equal<TaskName<Record<string, () => void>>, string>>();
  // `transfer` takes what postMessage transfers, whatever @types/node calls it.
  pool.submit('add', [1, 2], { transfer: [new ArrayBuffer(8), new MessageChannel().port1] });
  // @ts-expect-error a plain object cannot be transferred
  pool.submit('add', [1, 2], { transfer: [{}] });
  // @ts-expect-error no task of that name, even without args
  pool.submit('nope');
  // @ts-expect-error an export that is not a function is not a task
  pool.submit('notAFunction');
  // @ts-expect-error an export that is not a function is not a task
  pool.submit('notAFunction', []);
  // @ts-expect-error wrong argument type
  pool.submit('add', ['1', 2]);
  // @ts-expect-error wrong argument type
  pool.submit('fib', [true]);
  // @ts-expect-error too many arguments
  pool.submit('add', [1, 2, 3]);
  // @ts-expect-error too many arguments for a no-arg task
  pool.submit('noArgs', [1]);
  // @ts-expect-error too few arguments
  pool.submit('add', [1]);
  // @ts-expect-error required arguments left out
  pool.submit('add');
  // @ts-expect-error required arguments left out, options given
  pool.submit('add', undefined, { timeout: 1 });
  // @ts-expect-error args are a tuple, not spread
  pool.submit('add', 1, 2);
  // @ts-expect-error the name is a string
  pool.submit(42, [1, 2]);
  // @ts-expect-error an unknown submit option
  pool.submit('add', [1, 2], { timeot: 1 });

  // map / starmap / imap / imapUnordered: item and result types.
  void (async () => {
    expectType<Promise<number[]>>()(pool.map('square', [1, 2, 3]));
    expectType<Promise<number[]>>()(pool.map('fib', new Set([1, 2]), { chunksize: 2 }));
    expectType<Promise<string[]>>()(pool.map('noArgs', [undefined, undefined]));
    expectType<Promise<number[]>>()(
      pool.starmap('add', [
        [1, 2],
        [3, 4],
      ]),
    );
    expectType<Promise<number[]>>()(pool.starmap('delayedSquare', [[1, 2]]));
    expectType<AsyncIterableIterator<number>>()(pool.imap('square', [1, 2]));
    expectType<AsyncIterableIterator<number>>()(pool.imapUnordered('square', [1, 2]));

    async function* numbers(): AsyncGenerator<number> {
      yield 1;
    }
    for await (const r of pool.imap('square', numbers())) expectType<number>()(r);
    for await (const r of pool.imapUnordered('fib', numbers(), { concurrency: 2 })) expectType<number>()(r);
    expectType<number[]>()(await pool.map('square', [1]));

    // @ts-expect-error map items are the task's first argument: square takes numbers
    void pool.map('square', ['x']);
    // @ts-expect-error no task of that name
    void pool.map('nope', [1]);
    // @ts-expect-error an export that is not a function is not a task
    void pool.map('notAFunction', [1]);
    // @ts-expect-error map results are numbers
    const _mapStrings: Promise<string[]> = pool.map('square', [1]);
    // @ts-expect-error starmap items are argument tuples of the task
    void pool.starmap('add', [[1, 'x']]);
    // @ts-expect-error starmap items are argument tuples, wrong arity
    void pool.starmap('add', [[1]]);
    // @ts-expect-error starmap items are tuples, not bare items
    void pool.starmap('add', [1, 2]);
    // @ts-expect-error imap items are the task's first argument
    pool.imap('square', ['x']);
    // @ts-expect-error imapUnordered items are the task's first argument
    pool.imapUnordered('fib', [true]);
    // @ts-expect-error imap yields numbers
    const _imapStrings: AsyncIterableIterator<string> = pool.imap('square', [1]);
  })();

  // The initializer option accepts only the names of function exports.
  new ProcessPool<typeof tasks>(url, { initializer: 'noArgs', initArgs: [] });
  new ProcessPool<typeof tasks>(url, { initializer: 'add', initArgs: [1, 2] });
  // @ts-expect-error the initializer must be a task name
  new ProcessPool<typeof tasks>(url, { initializer: 'nope' });
  // @ts-expect-error the initializer must be a function export
  new ProcessPool<typeof tasks>(url, { initializer: 'notAFunction' });

  // Without a type argument a pool accepts any name and any arguments.
  const untyped = new ProcessPool(url);
  const _anything = untyped.submit('whatever', [1, 'two', { three: 3 }]);
  expectTrue<Equal<typeof _anything, Future<any>>>();
  untyped.submit('noArgsEither');
  void untyped.map('whatever', ['a', 1]);
  void untyped.starmap('whatever', [[1, 'a']]);
  new ProcessPool(url, { initializer: 'anyName' });
  // @ts-expect-error even untyped, args are an array
  untyped.submit('whatever', 'not an array');
  // @ts-expect-error even untyped, the name is a string
  untyped.submit(1);

  // Futures of different result types mix where Future<unknown> is asked (Future is not invariant).
  const fAdd: Future<number> = pool.submit('add', [1, 2]);
  const fEcho: Future<string> = pool.submit('noArgs');
  const mixed: Future<unknown>[] = [fAdd, fEcho];
  void wait([fAdd, fEcho]);
  void asCompleted(mixed);
}

export function streamTypeTests(): void {
  // pool.stream: the signature every pool takes on once the engine core
  // carries streams (lib/types.ts, StreamingExecutor).
  const pool = undefined as unknown as StreamingExecutor<typeof streamTasks>;
  const settings: Settings = { theme: 'light', size: 12 };

  // The yielded type is the stream's value type, sync or async generator.
  expectType<TaskStream<number, never>>()(pool.stream('count', [3]));
  expectType<TaskStream<number, never>>()(pool.stream('countAsync', [3], { highWaterMark: 4, timeout: 100 }));
  // A session: the message type comes from the task's `taskMessages<Edit>()` parameter.
  const session = pool.stream('settings', [settings]);
  expectType<TaskStream<Settings, Edit>>()(session);
  expectType<TaskStream<number, number>>()(pool.stream('echoCounting', ['/tmp/counter']));

  void (async () => {
    for await (const s of session) expectType<Settings>()(s);
    await session.send({ theme: 'dark' });
    await session.send({});
    session.end();
    expectType<Promise<void>>()(session.done);
    expectType<boolean>()(session.cancel());
    const first = await pool.stream('count', [2])[Symbol.asyncIterator]().next();
    if (!first.done) expectType<number>()(first.value);
  })();

  // @ts-expect-error a message of the wrong type does not compile
  void session.send({ theme: 1 });
  // @ts-expect-error a message of another shape does not compile
  void session.send('dark');
  // @ts-expect-error a task that declares no messages takes none
  void pool.stream('count', [3]).send(1);
  // @ts-expect-error the task's messages parameter is its own: args stop before it
  pool.stream('settings', [settings, undefined]);
  // @ts-expect-error required arguments are still required
  pool.stream('settings', []);
  // @ts-expect-error required arguments are still required, without args
  pool.stream('count');
  // @ts-expect-error wrong argument type
  pool.stream('count', ['3']);
  // @ts-expect-error a task that is not a generator cannot be streamed
  pool.stream('notAGenerator');
  // @ts-expect-error a plain function is not a generator task
  pool.stream('add', [1, 2]);
  // @ts-expect-error no task of that name
  pool.stream('nope');
  // @ts-expect-error stream values are numbers
  const _strings: TaskStream<string, never> = pool.stream('count', [1]);
  // @ts-expect-error highWaterMark is a number
  pool.stream('count', [1], { highWaterMark: '4' });
  // @ts-expect-error an unknown option
  pool.stream('count', [1], { highWatermark: 4 });
  pool.stream('count', [1], { onProgress: (value: unknown) => void value });

  // Without a type argument: any generator name, any values, any messages.
  const untyped = undefined as unknown as StreamingExecutor;
  const anyStream = untyped.stream('whatever', [1, 'two']);
  expectTrue<Equal<typeof anyStream, TaskStream<any, any>>>();
  void anyStream.send({ anything: true });
}
