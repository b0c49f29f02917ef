// Observability end to end (./observe.test.ts) against RemotePool, with
// `warmpool worker` hosts on a private redis-server (see ./backends.ts); a
// file of its own so that each file stays within the runner's per-file
// timeout. Below the shared suite, what only RemotePool's caller shows
// (docs/guide.md, "What RemotePool publishes").
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { subscribeTasks, subscribeWorkers, type TaskMessage, type WorkerMessage } from '../lib/core/diagnostics.js';
import { context, trace } from '@opentelemetry/api';
import { BrokerError, ProcessPool, RemotePool, TimeoutError, type Executor } from '../lib/index.js';
import { instrument } from '../lib/otel.js';
import { WorkerHost } from '../lib/remote/host.js';
import { backends, type Tasks } from './backends.js';
import { touch, whenFileExists } from './fixtures/contract-tasks.js';
import type * as observeTasks from './fixtures/observe-tasks.js';
import { reasonOf } from './helpers.js';
import { exporter, observeSuite, tracer, workerSpans } from './observe.test.js';
import { freshQueue, redisUnavailable, startRedis } from './redis.js';

const remote = backends.filter((b) => b.name === 'RemotePool');
const noRedis = await redisUnavailable();
if (noRedis !== undefined)
  test('RemotePool: diagnostics channels, trace context and what its caller publishes', { skip: noRedis }, () => {});
else observeSuite(remote);

void (noRedis === undefined ? describe : describe.skip)('RemotePool: what its caller publishes', () => {
  const backend = remote[0];
  before(() => backend.setup?.());
  after(() => backend.teardown?.());

  test(
    'asyncStart comes while the task still runs on its host, naming the host as <hostname>:<pid>, and the caller publishes nothing on warmpool:worker',
    { timeout: 30_000 },
    async () => {
      const name = 'observe-remote-running';
      const pool = backend.make({ name, workers: 1 }, new URL('./fixtures/observe-tasks.js', import.meta.url)) as unknown as Executor<
        typeof observeTasks
      >;
      await using _ = pool;
      await pool.ready();
      const dir = mkdtempSync(join(tmpdir(), 'warmpool-observe-remote-'));
      const events: string[] = [];
      const workerMessages: WorkerMessage[] = [];
      let begun: (m: TaskMessage) => void = () => {};
      const started = new Promise<TaskMessage>((resolve) => (begun = resolve));
      const on = (event: string) => (m: TaskMessage) => {
        if (m.pool !== name) return;
        events.push(event);
        if (event === 'asyncStart') begun({ ...m });
      };
      const stopTasks = subscribeTasks({ start: on('start'), asyncStart: on('asyncStart'), error: on('error'), asyncEnd: on('asyncEnd') });
      const stopWorkers = subscribeWorkers((m) => {
        if (m.pool === name) workerMessages.push(m);
      });
      try {
        // The task ends only once this test releases it, after asyncStart.
        const f = pool.submit('block', [join(dir, 'started'), join(dir, 'release')]);
        const [m] = await Promise.all([started, whenFileExists(join(dir, 'started'))]);
        assert.deepEqual(events, ['start', 'asyncStart']);
        assert.equal(f.state, 'running');
        const escaped = hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        assert.match(String(m.worker), new RegExp(`^${escaped}:\\d+$`));
        assert.notEqual(Number(String(m.worker).split(':').pop()), process.pid, 'a host, not this process');
        assert.ok(typeof m.waitMs === 'number' && m.waitMs >= 0, `waitMs: ${m.waitMs}`);
        touch(join(dir, 'release'));
        await f;
        assert.deepEqual(events, ['start', 'asyncStart', 'asyncEnd']);
        assert.deepEqual(workerMessages, []);
      } finally {
        stopTasks();
        stopWorkers();
        touch(join(dir, 'release'));
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  /** Every `warmpool:task` event of the pool named `name`, with a copy of its message. */
  function record(name: string): { events: [string, TaskMessage][]; stop(): void } {
    const events: [string, TaskMessage][] = [];
    const on = (event: string) => (m: TaskMessage) => {
      if (m.pool === name) events.push([event, { ...m }]);
    };
    const stop = subscribeTasks({ start: on('start'), asyncStart: on('asyncStart'), error: on('error'), asyncEnd: on('asyncEnd') });
    return { events, stop };
  }

  test(
    'a task no host starts within queueTimeout publishes no asyncStart, then error with its TimeoutError and asyncEnd, outcome timedOut',
    { timeout: 30_000 },
    async () => {
      const redis = await startRedis();
      const name = 'observe-remote-queue-timeout';
      const rec = record(name);
      try {
        // A queue nobody serves.
        await using pool = new RemotePool<Tasks>({ name, connection: redis.url, queue: freshQueue('unserved'), queueTimeout: 100 });
        const err = await reasonOf(pool.submit('add', [1, 2]));
        assert.ok(err instanceof TimeoutError, String(err));
        assert.deepEqual(
          rec.events.map(([e]) => e),
          ['start', 'error', 'asyncEnd'],
        );
        const [, [, failed], [, end]] = rec.events;
        assert.equal(failed.error, err);
        assert.equal(end.outcome, 'timedOut');
        assert.equal(end.worker, undefined);
        assert.equal(end.runMs, 0);
        assert.ok(typeof end.waitMs === 'number' && end.waitMs >= 0, `waitMs: ${end.waitMs}`);
      } finally {
        rec.stop();
        await redis.stop();
      }
    },
  );

  test(
    'a task of a pool that cannot reach Redis publishes error with the BrokerError and asyncEnd, outcome crashed, and no asyncStart',
    { timeout: 30_000 },
    async () => {
      const name = 'observe-remote-no-redis';
      const rec = record(name);
      try {
        await using pool = new RemotePool<Tasks>({
          name,
          connection: { host: '127.0.0.1', port: 1, retryStrategy: () => null, maxRetriesPerRequest: 0 },
          queue: 'q',
        });
        const err = await reasonOf(pool.submit('add', [1, 2]));
        assert.ok(err instanceof BrokerError, String(err));
        assert.deepEqual(
          rec.events.map(([e]) => e),
          ['start', 'error', 'asyncEnd'],
        );
        assert.equal(rec.events[1][1].error, err);
        assert.equal(rec.events[2][1].outcome, 'crashed');
      } finally {
        rec.stop();
      }
    },
  );

  test(
    'a host process that registered OpenTelemetry and called instrument() puts its own task span in the caller’s trace: caller, RemotePool task, host task, the span made in the task',
    { timeout: 30_000 },
    async () => {
      // This process is the caller and, through a WorkerHost made here, the
      // host; both share the SDK ./observe.test.ts registers.
      const redis = await startRedis();
      const queue = freshQueue('traced');
      const dir = mkdtempSync(join(tmpdir(), 'warmpool-observe-remote-'));
      const spansFile = join(dir, 'spans.jsonl');
      const local = new ProcessPool<typeof observeTasks>(new URL('./fixtures/observe-tasks.js', import.meta.url), {
        workers: 1,
        initializer: 'initTracing',
        initArgs: [spansFile],
      });
      const host = new WorkerHost(local, {
        connection: { url: redis.url },
        queue,
        prefix: 'bull',
        concurrency: 1,
        lockDuration: 30_000,
        stalledInterval: 30_000,
        maxStalledCount: 1,
        closeTimeout: 5_000,
        log: () => {},
      });
      exporter.reset();
      const stop = instrument({ workerSpans: false });
      try {
        await host.start();
        const name = 'observe-remote-traced';
        await using pool = new RemotePool<typeof observeTasks>({ name, connection: redis.url, queue });
        const caller = tracer.startSpan('caller');
        const inner = await context.with(trace.setSpan(context.active(), caller), () => pool.submit('tracedChild', ['inside']));
        caller.end();
        const taskSpans = exporter.getFinishedSpans().filter((s) => s.name === 'warmpool.task tracedChild');
        const remoteSpan = taskSpans.find((s) => s.attributes['warmpool.pool'] === name);
        const hostSpan = taskSpans.find((s) => s !== remoteSpan);
        assert.ok(remoteSpan && hostSpan, `task spans: ${taskSpans.map((s) => String(s.attributes['warmpool.pool'])).join(', ')}`);
        const [made] = workerSpans(spansFile).filter((s) => s.spanId === inner.spanId);
        assert.ok(made, 'the local worker exported the span it made');
        assert.equal(remoteSpan.parentSpanContext?.spanId, caller.spanContext().spanId);
        assert.equal(hostSpan.parentSpanContext?.spanId, remoteSpan.spanContext().spanId);
        assert.equal(made.parentSpanId, hostSpan.spanContext().spanId);
        for (const traceId of [remoteSpan.spanContext().traceId, hostSpan.spanContext().traceId, made.traceId])
          assert.equal(traceId, caller.spanContext().traceId);
      } finally {
        stop();
        await host.close();
        await redis.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
