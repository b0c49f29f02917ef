// The transport-independent pieces of streaming tasks, progress and
// sessions, each alone: TaskStream against a recording sink, the progress
// coalescer, CallerChannel's ordering, the worker's TaskChannel against a
// recording `post`, and both sides linked in one thread (LocalPool's
// transport). The contract over every backend is test/stream.test.ts.

import type { AsyncLocalStorage } from 'node:async_hooks';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { CancelledError, DataCloneError, StreamClosedError, TimeoutError } from '../lib/index.js';
import { CallerChannel } from '../lib/core/caller-channel.js';
import { ProgressCoalescer } from '../lib/core/progress.js';
import { createTaskStream, type StreamSink } from '../lib/core/stream.js';
import { FromTask, ToTask } from '../lib/core/stream-protocol.js';
import { reportProgress, taskMessages } from '../lib/task.js';
import { existingTaskStorage, type TaskContext } from '../lib/worker/context.js';
import { collectGenerator, runWireTask } from '../lib/worker/stream.js';
import { TaskChannel } from '../lib/worker/task-channel.js';
import { Status, TaskKind } from '../lib/core/contract.js';
import { runTask } from '../lib/worker/run.js';
import { reasonOf } from './helpers.js';

/** The task storage: importing warmpool/task (above) made it. */
function taskStorage(): AsyncLocalStorage<TaskContext> {
  const storage = existingTaskStorage();
  if (storage === undefined) throw new Error('warmpool/task did not make the task storage');
  return storage;
}

/** A sink that records what the stream asks of its engine. */
function recordingSink(options: { refuse?: (m: unknown) => boolean } = {}) {
  const log: unknown[][] = [];
  let cancelled = false;
  const sink: StreamSink = {
    credit: (n) => log.push(['credit', n]),
    send: (messages) => {
      if (options.refuse !== undefined && messages.some(options.refuse)) throw new Error('could not be cloned');
      log.push(['send', ...messages]);
    },
    end: () => log.push(['end']),
    cancel: () => {
      log.push(['cancel']);
      cancelled = true;
      return true;
    },
  };
  return { sink, log, cancelled: () => cancelled };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test('a TaskStream gives pushed values in order and returns credit in batches of half the window', async () => {
  const { sink, log } = recordingSink();
  const { stream, endpoint } = createTaskStream<number>(sink, 8);
  endpoint.started();
  endpoint.push([1, 2, 3, 4, 5, 6, 7, 8]);
  const got: number[] = [];
  for (let i = 0; i < 8; i++) got.push((await stream.next()).value!);
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(log, [
    ['credit', 4],
    ['credit', 4],
  ]);
  endpoint.finish();
  assert.deepEqual(await stream.next(), { done: true, value: undefined });
});

test('a reader about to wait returns the credit it holds at once, however small', async () => {
  const { sink, log } = recordingSink();
  const { stream, endpoint } = createTaskStream<number>(sink, 16);
  endpoint.started();
  endpoint.push([1, 2, 3]);
  for (let i = 0; i < 3; i++) await stream.next();
  assert.deepEqual(log, []);
  const waiting = stream.next();
  assert.deepEqual(log, [['credit', 3]]);
  endpoint.push([4]);
  assert.deepEqual(await waiting, { done: false, value: 4 });
});

test('an error is thrown after every value yielded before it, then the iterator is done', async () => {
  const { sink } = recordingSink();
  const { stream, endpoint } = createTaskStream<string>(sink, 4);
  endpoint.push(['a', 'b']);
  const boom = new Error('boom');
  endpoint.finish(boom);
  assert.equal((await stream.next()).value, 'a');
  assert.equal((await stream.next()).value, 'b');
  assert.equal(await reasonOf(stream.next()), boom);
  assert.deepEqual(await stream.next(), { done: true, value: undefined });
});

test('a cancel drops the values not yet read and rejects a waiting reader with CancelledError', async () => {
  const { sink } = recordingSink();
  const { stream, endpoint } = createTaskStream<number>(sink, 4);
  const waiting = stream.next();
  endpoint.push([1]);
  assert.equal((await waiting).value, 1);
  const second = stream.next();
  endpoint.finish(new CancelledError());
  assert.ok((await reasonOf(second)) instanceof CancelledError);
  endpoint.push([2]);
  assert.deepEqual(await stream.next(), { done: true, value: undefined });
});

test('a timeout keeps the values read before it: they come first, then the TimeoutError', async () => {
  const { sink } = recordingSink();
  const { stream, endpoint } = createTaskStream<number>(sink, 4);
  endpoint.push([1, 2]);
  endpoint.finish(new TimeoutError('late', 5));
  assert.deepEqual([(await stream.next()).value, (await stream.next()).value], [1, 2]);
  assert.ok((await reasonOf(stream.next())) instanceof TimeoutError);
});

test('leaving a for await loop early cancels the task, and done resolves only when the task has left its worker', async () => {
  const { sink, cancelled } = recordingSink();
  const { stream, endpoint } = createTaskStream<number>(sink, 4);
  endpoint.push([1, 2, 3]);
  for await (const v of stream) if (v === 2) break;
  assert.equal(cancelled(), true);
  let done = false;
  void stream.done.then(() => (done = true));
  endpoint.finish(new CancelledError());
  await turn();
  assert.equal(done, false, 'done waits for the task to leave its worker');
  endpoint.exited();
  await stream.done;
});

test('a throw in the loop body cancels the task too', async () => {
  const { sink, cancelled } = recordingSink();
  const { stream, endpoint } = createTaskStream<number>(sink, 4);
  endpoint.push([1]);
  await assert.rejects(async () => {
    for await (const _ of stream) throw new Error('in the body');
  }, /in the body/);
  assert.equal(cancelled(), true);
});

test('sends wait for the task to start, go in one batch within the window, and the rest wait for credit', async () => {
  const { sink, log } = recordingSink();
  const { stream, endpoint } = createTaskStream<number, string>(sink, 2);
  const resolved: string[] = [];
  const sends = ['a', 'b', 'c'].map((m) => stream.send(m).then(() => resolved.push(m)));
  await turn();
  assert.deepEqual(log, [], 'nothing goes before the task has started');
  endpoint.started();
  await turn();
  assert.deepEqual(log, [['send', 'a', 'b']]);
  assert.deepEqual(resolved, ['a', 'b']);
  endpoint.inboxCredit(1);
  await Promise.all(sends);
  assert.deepEqual(log, [
    ['send', 'a', 'b'],
    ['send', 'c'],
  ]);
});

test('end() goes after the sends made before it, once', async () => {
  const { sink, log } = recordingSink();
  const { stream, endpoint } = createTaskStream<number, string>(sink, 1);
  endpoint.started();
  const a = stream.send('a');
  const b = stream.send('b');
  stream.end();
  stream.end();
  await a;
  assert.deepEqual(log, [['send', 'a']]);
  endpoint.inboxCredit(1);
  await b;
  assert.deepEqual(log, [['send', 'a'], ['send', 'b'], ['end']]);
});

test('send after end() or after the task has ended rejects with StreamClosedError naming why', async () => {
  const first = recordingSink();
  const one = createTaskStream<number, string>(first.sink, 4);
  one.stream.end();
  const afterEnd = await reasonOf(one.stream.send('x'));
  assert.ok(afterEnd instanceof StreamClosedError);
  assert.match(afterEnd.message, /after the stream was ended by end\(\)/);

  const second = recordingSink();
  const two = createTaskStream<number, string>(second.sink, 4);
  const boom = new RangeError('boom');
  two.endpoint.finish(boom);
  const afterFailure = await reasonOf(two.stream.send('x'));
  assert.ok(afterFailure instanceof StreamClosedError);
  assert.equal(afterFailure.code, 'ERR_WARMPOOL_STREAM_CLOSED');
  assert.equal(afterFailure.cause, boom);
  assert.match(afterFailure.message, /RangeError: boom/);
});

test('pending sends settle with the task’s error; sends the task never read reject when it ends', async () => {
  const { sink } = recordingSink();
  const { stream, endpoint } = createTaskStream<number, string>(sink, 1);
  endpoint.started();
  await stream.send('in the window');
  const waiting = [stream.send('a'), stream.send('b')];
  const crash = new Error('the worker died');
  endpoint.finish(crash);
  for (const p of waiting) assert.equal(await reasonOf(p), crash);

  const other = recordingSink();
  const two = createTaskStream<number, string>(other.sink, 1);
  two.endpoint.started();
  await two.stream.send('read');
  const unread = two.stream.send('unread');
  two.endpoint.finish();
  const reason = await reasonOf(unread);
  assert.ok(reason instanceof StreamClosedError);
  assert.match(reason.message, /ended before reading it/);
});

test('a message that cannot be cloned rejects its own send alone', async () => {
  const { sink, log } = recordingSink({ refuse: (m) => typeof m === 'function' });
  const { stream, endpoint } = createTaskStream<number, unknown>(sink, 8);
  endpoint.started();
  const results = await Promise.allSettled([stream.send(1), stream.send(() => 2), stream.send(3)]);
  assert.equal(results[0].status, 'fulfilled');
  assert.equal(results[2].status, 'fulfilled');
  assert.equal(results[1].status, 'rejected');
  assert.ok(results[1].reason instanceof DataCloneError);
  assert.deepEqual(log, [
    ['send', 1],
    ['send', 3],
  ]);
});

test('the progress coalescer delivers values in order and keeps only the latest of those that arrive together', async () => {
  const seen: unknown[] = [];
  const p = new ProgressCoalescer((v) => seen.push(v));
  p.push(1);
  p.push(2);
  p.push(3);
  await turn();
  p.push(4);
  await turn();
  assert.deepEqual(seen, [3, 4]);
  assert.equal(p.end(), undefined);
});

test('an async onProgress gets one value at a time, the latest, and end() waits for it before delivering the last', async () => {
  const seen: unknown[] = [];
  const releases: (() => void)[] = [];
  const p = new ProgressCoalescer((v) => {
    seen.push(v);
    return new Promise<void>((resolve) => releases.push(resolve));
  });
  p.push('a');
  await turn();
  p.push('b');
  p.push('c');
  await turn();
  assert.deepEqual(seen, ['a'], 'the next value waits for the handler in flight');
  releases.shift()!();
  await turn();
  assert.deepEqual(seen, ['a', 'c']);
  p.push('last');
  const ended = p.end();
  assert.ok(ended instanceof Promise);
  let settled = false;
  void ended.then(() => (settled = true));
  await turn();
  assert.equal(settled, false);
  releases.shift()!();
  await ended;
  assert.deepEqual(seen, ['a', 'c', 'last']);
});

test('end() delivers the pending value synchronously when no handler is in flight', () => {
  const seen: unknown[] = [];
  const p = new ProgressCoalescer((v) => seen.push(v));
  p.push(99);
  assert.equal(p.end(), undefined);
  assert.deepEqual(seen, [99]);
  p.push(100);
  assert.deepEqual(seen, [99]);
});

test('an onProgress that throws is reported as a warning and later values still arrive', async () => {
  const seen: unknown[] = [];
  const p = new ProgressCoalescer((v) => {
    seen.push(v);
    if (v === 1) throw new Error('handler bug');
  });
  const warned = once(process, 'warning');
  p.push(1);
  const [warning] = (await warned) as [Error & { code?: string }];
  assert.equal(warning.code, 'WARMPOOL_CALLBACK_ERROR');
  p.push(2);
  await turn();
  assert.deepEqual(seen, [1, 2]);
});

test('CallerChannel settles only after the messages the worker sent before its result, and after the last progress value', async () => {
  const { sink } = recordingSink();
  const { stream, endpoint } = createTaskStream<number>(sink, 4);
  const order: string[] = [];
  const channel = new CallerChannel(endpoint, (v) => order.push(`progress ${String(v)}`));
  channel.receive([FromTask.StreamValues, 1, [1]]);
  channel.finish(undefined, 3, () => order.push('settled'));
  assert.deepEqual(order, []);
  channel.receive([FromTask.Progress, 1, 50]);
  assert.deepEqual(order, []);
  channel.receive([FromTask.StreamValues, 1, [2]]);
  assert.deepEqual(order, ['progress 50', 'settled']);
  const values: number[] = [];
  for await (const v of stream) values.push(v);
  assert.deepEqual(values, [1, 2]);
});

// ── the worker's side ─────────────────────────────────────────────────────

/** A post that records messages, clones them as a transport would, and announces each. */
function recordingPost() {
  const messages: unknown[][] = [];
  let notify: (() => void) | undefined;
  const post = (message: unknown[]) => {
    messages.push(structuredClone(message));
    notify?.();
  };
  const next = () => new Promise<void>((resolve) => (notify = resolve));
  return { post, messages, next };
}

function valuesIn(messages: unknown[][]): unknown[] {
  return messages.filter((m) => m[0] === FromTask.StreamValues).flatMap((m) => m[2] as unknown[]);
}

test('the driver never resumes a generator beyond its credit, and resumes it when credit comes', async () => {
  const { post, messages, next } = recordingPost();
  const channel = new TaskChannel(1, post, 4);
  let produced = 0;
  function* naturals() {
    for (;;) yield ++produced;
  }
  const driving = channel.drive(naturals());
  while (valuesIn(messages).length < 4) await next();
  assert.deepEqual(valuesIn(messages), [1, 2, 3, 4]);
  assert.equal(produced, 4);
  const more = next();
  channel.receive([ToTask.Credit, 1, 2]);
  await more;
  assert.equal(produced, 6);
  assert.deepEqual(valuesIn(messages), [1, 2, 3, 4, 5, 6]);
  channel.cancel(new CancelledError());
  assert.ok((await reasonOf(driving)) instanceof CancelledError);
});

test('the first value goes to the caller before the generator’s next step runs, however fast the step before it', async () => {
  const { post, messages } = recordingPost();
  const channel = new TaskChannel(1, post, 16);
  const seenBeforeSecondStep: unknown[] = [];
  function* stuckAfterOne() {
    yield 'first';
    // A synchronous generator stuck here would hold a batched value forever.
    seenBeforeSecondStep.push(...valuesIn(messages));
    yield 'second';
  }
  assert.equal(await channel.drive(stuckAfterOne()), undefined);
  assert.deepEqual(seenBeforeSecondStep, ['first']);
  assert.deepEqual(valuesIn(messages), ['first', 'second']);
});

test('a fast generator’s values go in batches, not a message each', async () => {
  const messages: unknown[][] = [];
  // A consumer that takes every value at once and returns its credit.
  const channel: TaskChannel = new TaskChannel(
    1,
    (message) => {
      messages.push(message);
      const n = (message[2] as unknown[]).length;
      queueMicrotask(() => channel.receive([ToTask.Credit, 1, n]));
    },
    64,
  );
  function* count() {
    for (let i = 0; i < 1000; i++) yield i;
    return 'end';
  }
  assert.equal(await channel.drive(count()), 'end');
  assert.deepEqual(
    valuesIn(messages),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  assert.ok(messages.length <= 100, `${messages.length} messages for 1000 values`);
});

test('a cancel while the generator waits for credit runs its finally and rejects with the reason', async () => {
  const { post, next } = recordingPost();
  const channel = new TaskChannel(1, post, 2);
  let cleaned = false;
  function* forever() {
    try {
      for (;;) yield 0;
    } finally {
      cleaned = true;
    }
  }
  const sent = next();
  const driving = channel.drive(forever());
  await sent;
  const reason = new TimeoutError('late', 1);
  channel.cancel(reason);
  assert.equal(await reasonOf(driving), reason);
  assert.equal(cleaned, true);
});

test('an async generator’s values go out while it waits on I/O, without waiting for the next value', async () => {
  const { post, messages, next } = recordingPost();
  const channel = new TaskChannel(1, post, 16);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  async function* slow() {
    yield 'first';
    await gate;
    yield 'second';
  }
  const sent = next();
  const driving = channel.drive(slow());
  await sent;
  assert.deepEqual(valuesIn(messages), ['first']);
  release();
  await driving;
  assert.deepEqual(valuesIn(messages), ['first', 'second']);
});

test('an error after values: the values are sent first, then the error is the outcome', async () => {
  const { post, messages } = recordingPost();
  const channel = new TaskChannel(1, post, 16);
  function* failing() {
    yield 1;
    yield 2;
    throw new RangeError('third');
  }
  const reason = await reasonOf(channel.drive(failing()));
  assert.ok(reason instanceof RangeError);
  assert.deepEqual(valuesIn(messages), [1, 2]);
});

test('a yielded value that cannot be sent fails the task after the values before it, and closes the generator', async () => {
  const { post, messages } = recordingPost();
  const channel = new TaskChannel(1, post, 16);
  let cleaned = false;
  function* bad() {
    try {
      yield 1;
      yield () => 2;
      yield 3;
    } finally {
      cleaned = true;
    }
  }
  const reason = await reasonOf(channel.drive(bad()));
  assert.ok(reason instanceof DataCloneError);
  assert.match(reason.message, /Value 1 yielded by the task cannot be sent/);
  assert.deepEqual(valuesIn(messages), [1]);
  assert.equal(cleaned, true);
});

test('taskMessages gives the messages in order, returns credit by half windows or when it waits, and ends after InboxEnd', async () => {
  const { post, messages } = recordingPost();
  const channel = new TaskChannel(1, post, 4);
  const it = channel.messages();
  channel.receive([ToTask.Inbox, 1, ['a', 'b', 'c']]);
  assert.equal((await it.next()).value, 'a');
  assert.equal((await it.next()).value, 'b');
  assert.deepEqual(messages, [[FromTask.InboxCredit, 1, 2]]);
  assert.equal((await it.next()).value, 'c');
  const waiting = it.next();
  assert.deepEqual(messages.at(-1), [FromTask.InboxCredit, 1, 1]);
  channel.receive([ToTask.Inbox, 1, ['d']]);
  assert.equal((await waiting).value, 'd');
  channel.receive([ToTask.InboxEnd, 1]);
  assert.deepEqual(await it.next(), { done: true, value: undefined });
});

test('taskMessages ends when the task is cancelled', async () => {
  const { post } = recordingPost();
  const channel = new TaskChannel(1, post, 4);
  const waiting = channel.messages().next();
  channel.cancel();
  assert.deepEqual(await waiting, { done: true, value: undefined });
});

test('reportProgress and taskMessages find the running task through its context; outside a task one does nothing and the other throws', async () => {
  reportProgress('nobody listens');
  assert.throws(() => taskMessages(), /outside a warmpool task/);
  const { post, messages } = recordingPost();
  const channel = new TaskChannel(7, post, 4);
  const ctx: TaskContext = { controller: undefined, channel: undefined };
  channel.attach(ctx);
  channel.receive([ToTask.Inbox, 7, ['hello']]);
  const got = await taskStorage().run(ctx, async () => {
    reportProgress(0.5);
    const { value } = await taskMessages<string>().next();
    return value;
  });
  assert.equal(got, 'hello');
  channel.close();
  assert.deepEqual(
    messages.filter((m) => m[0] === FromTask.Progress),
    [[FromTask.Progress, 7, 0.5]],
  );
  // A task the caller cannot send to: its messages end at once.
  const none = await taskStorage().run({ controller: undefined, channel: undefined }, () => taskMessages().next());
  assert.deepEqual(none, { done: true, value: undefined });
});

test('reportProgress reaches the task whose code calls it: in its synchronous part, after an await, and never a later task from a callback an earlier one left', async () => {
  const storage = taskStorage();
  const first = recordingPost();
  const a = new TaskChannel(1, first.post, 4);
  const ctxA: TaskContext = { controller: undefined, channel: undefined };
  a.attach(ctxA);
  let strayFired!: () => void;
  const stray = new Promise<void>((resolve) => (strayFired = resolve));
  const outA = { value: undefined as unknown };
  const statusA = runTask(
    () => {
      reportProgress('a sync');
      // Left behind: runs after task A has ended, while task B runs.
      setTimeout(() => {
        reportProgress('stray');
        strayFired();
      }, 1);
      return 'a';
    },
    TaskKind.Call,
    [],
    storage,
    ctxA,
    outA,
  );
  assert.equal(statusA, Status.Ok);
  a.close();

  const second = recordingPost();
  const b = new TaskChannel(2, second.post, 4);
  const ctxB: TaskContext = { controller: undefined, channel: undefined };
  b.attach(ctxB);
  const outB = { value: undefined as unknown };
  const statusB = await runTask(
    async () => {
      reportProgress('b sync');
      await stray;
      reportProgress('b after await');
      return 'b';
    },
    TaskKind.Call,
    [],
    storage,
    ctxB,
    outB,
  );
  assert.equal(statusB, Status.Ok);
  b.close();
  const progressOf = (messages: unknown[][]) => messages.filter((m) => m[0] === FromTask.Progress).map((m) => m[2]);
  assert.deepEqual(progressOf(first.messages), ['a sync']);
  // 'b sync' may be coalesced into 'b after await' (one slot, PROGRESS_MS apart); 'stray' is never B's.
  assert.equal(progressOf(second.messages).at(-1), 'b after await');
  assert.ok(!progressOf(second.messages).includes('stray'));
});

test('a million reportProgress calls send a handful of messages, and the last value always goes at close', () => {
  const { post, messages } = recordingPost();
  const channel = new TaskChannel(1, post, 4);
  const ctx: TaskContext = { controller: undefined, channel: undefined };
  channel.attach(ctx);
  taskStorage().run(ctx, () => {
    for (let i = 0; i <= 1_000_000; i++) reportProgress(i);
  });
  channel.close();
  const progress = messages.filter((m) => m[0] === FromTask.Progress).map((m) => m[2] as number);
  assert.ok(progress.length < 1000, `${progress.length} messages`);
  assert.equal(progress.at(-1), 1_000_000);
  assert.deepEqual(
    progress,
    [...progress].sort((a, b) => a - b),
    'in order',
  );
});

test('a progress value that cannot be sent fails the task at its end', async () => {
  const { post } = recordingPost();
  const channel = new TaskChannel(1, post, 4);
  const ctx: TaskContext = { controller: undefined, channel: undefined };
  const out = { value: undefined as unknown };
  const status = await runWireTask(
    'g',
    function* () {
      reportProgress(Symbol('not clonable'));
      yield 1;
    },
    TaskKind.Stream,
    [4, []],
    taskStorage(),
    ctx,
    () => channel,
    out,
  );
  assert.equal(status, 1);
  assert.match((out.value as { message: string }).message, /reportProgress\(\) cannot be sent/);
});

test('a stream task whose function does not make a generator fails, naming it', async () => {
  const { post } = recordingPost();
  const out = { value: undefined as unknown };
  const status = await runWireTask(
    'notGen',
    () => 42,
    TaskKind.Stream,
    [4, []],
    undefined,
    undefined,
    () => new TaskChannel(1, post, 4),
    out,
  );
  assert.equal(status, 1);
  assert.match((out.value as { message: string }).message, /Expected `notGen` to be a generator function .* returned number/);
});

test('collectGenerator reads a synchronous generator without an await, and stops an async one at its signal, running its finally', async () => {
  function* three() {
    yield 1;
    yield 2;
    yield 3;
  }
  assert.deepEqual(collectGenerator(three(), undefined), [1, 2, 3]);
  const ctx: TaskContext = { controller: new AbortController(), channel: undefined };
  let cleaned = false;
  async function* endless() {
    try {
      for (let i = 0; ; i++) {
        if (i === 3) ctx.controller!.abort(new CancelledError());
        yield i;
        await turn();
      }
    } finally {
      cleaned = true;
    }
  }
  const collected = collectGenerator(endless(), ctx);
  assert.ok(collected instanceof Promise);
  assert.ok((await reasonOf(collected)) instanceof CancelledError);
  assert.equal(cleaned, true);
});
