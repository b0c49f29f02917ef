// `warmpool worker <module> --connection <url> --queue <name>`: serves a
// RemotePool's queue with a warm local pool of <module> (see
// ../remote/host.ts). Runs until SIGINT or SIGTERM, then stops taking jobs,
// lets the running ones finish, and exits 0; a second signal cancels them.
// Either way it ends whether Redis can be reached or not: at most
// --close-timeout after the running jobs are done, at once on a second
// signal, also while it is still waiting for Redis at start.

import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { flags, intOption, parse, UsageError } from './args.js';
import type { Executor } from '../core/executor.js';
import { ProcessPool } from '../process/pool.js';
import { ThreadPool } from '../thread/pool.js';
import { WorkerHost } from '../remote/host.js';
import { LiveStats, RestartCounter } from './live.js';
import { resolveConnection } from '../remote/pool.js';
import { count } from '../core/errors.js';

export const summary = 'serve a RemotePool queue: run its jobs in a warm local pool of a task module';

const USAGE = `Usage: warmpool worker <module> --connection <redis-url> --queue <name> [options]

Runs the jobs of a RemotePool's queue with a warm local pool of <module>.
Only the function exports of <module> can be run.

Options:
  --connection <url>      Redis, redis://[user:pass@]host:port[/db] or rediss:// (TLS);
                          default: $WARMPOOL_REDIS_URL, else redis://127.0.0.1:6379
  --queue <name>          the queue the RemotePool was given (required)
  --prefix <prefix>       BullMQ key prefix (default: bull)
  --workers <n>           local workers (default: available parallelism)
  --threads               worker threads instead of child processes
  --concurrency <n>       jobs taken at once (default: --workers)
  --lock-duration <ms>    a dead host's jobs are taken back after about this (default: 30000)
  --stalled-interval <ms> how often expired locks are looked for (default: 30000)
  --max-stalled <n>       times a job is taken back before it fails (default: 1)
  --close-timeout <ms>    on stop, once the running jobs are done, how long to wait
                          for Redis to record them before disconnecting (default: 5000)
  --initializer <name>    export run once in each local worker before its first task
  --init-args <json>      its arguments, a JSON array (default: [])
  --max-tasks-per-worker <n>, --max-memory-mb <n>, --cancel-grace <ms>
                          as the local pool options of the same name
  --stats                 a live view of the local pool on stderr: workers
                          busy/idle, queue, tasks/s, p50/p99 run time, restarts;
                          redrawn in place on a terminal, a plain line every 2 s otherwise
  --stats-interval <ms>   ms between --stats lines (default: 250 on a terminal, 2000 otherwise)
  -h, --help              this help
`;

function makeLocalPool(moduleHref: string, threads: boolean, options: Record<string, unknown>): Executor {
  return threads ? new ThreadPool(moduleHref, options) : new ProcessPool(moduleHref, options);
}

/** Runs the command; resolves with the process exit code once the host has stopped. */
export async function workerCommand(argv: string[]): Promise<number> {
  let host: WorkerHost;
  let queue: string;
  let live: LiveStats | undefined;
  let restarts: RestartCounter | undefined;
  try {
    const { values, positionals } = parse(
      argv,
      flags(
        [
          'connection',
          'queue',
          'prefix',
          'workers',
          'concurrency',
          'lock-duration',
          'stalled-interval',
          'max-stalled',
          'close-timeout',
          'max-tasks-per-worker',
          'max-memory-mb',
          'cancel-grace',
          'initializer',
          'init-args',
          'stats-interval',
        ],
        ['threads', 'stats'],
      ),
    );
    if (values.help === true) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals.length !== 1)
      throw new UsageError(`Expected one task module, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
    if (values.queue === undefined) throw new UsageError('Expected --queue <name>, got none');
    queue = values.queue;
    const moduleHref = positionals[0].startsWith('file:') ? positionals[0] : pathToFileURL(resolve(positionals[0])).href;
    const workers = intOption('workers', values.workers, 1) ?? availableParallelism();
    const local: Record<string, unknown> = { workers };
    const maxTasks = intOption('max-tasks-per-worker', values['max-tasks-per-worker'], 1);
    if (maxTasks !== undefined) local.maxTasksPerWorker = maxTasks;
    const maxMemory = intOption('max-memory-mb', values['max-memory-mb'], 1);
    if (maxMemory !== undefined) local.maxMemoryMb = maxMemory;
    const grace = intOption('cancel-grace', values['cancel-grace'], 0);
    if (grace !== undefined) local.cancelGrace = grace;
    if (values.initializer !== undefined) local.initializer = values.initializer;
    if (values['init-args'] !== undefined) {
      let initArgs: unknown;
      try {
        initArgs = JSON.parse(values['init-args']);
      } catch {
        initArgs = undefined;
      }
      if (!Array.isArray(initArgs)) throw new UsageError(`Expected --init-args to be a JSON array, got \`${values['init-args']}\``);
      local.initArgs = initArgs;
    }
    let connection;
    try {
      connection = resolveConnection(values.connection ?? process.env.WARMPOOL_REDIS_URL ?? 'redis://127.0.0.1:6379');
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const statsInterval = intOption('stats-interval', values['stats-interval'], 1);
    if (statsInterval !== undefined && values.stats !== true)
      throw new UsageError('Expected --stats with --stats-interval, got --stats-interval alone');
    // Made before the pool, so that it sees the pool's first workers start.
    if (values.stats === true) restarts = new RestartCounter();
    const pool = makeLocalPool(moduleHref, values.threads === true, local);
    if (restarts !== undefined) {
      live = new LiveStats(process.stderr, pool, {
        mode: LiveStats.modeFor(process.stderr),
        ...(statsInterval === undefined ? {} : { intervalMs: statsInterval }),
        restarts,
      });
    }
    host = new WorkerHost(pool, {
      connection,
      queue: values.queue,
      prefix: values.prefix ?? 'bull',
      concurrency: intOption('concurrency', values.concurrency, 1) ?? workers,
      lockDuration: intOption('lock-duration', values['lock-duration'], 1) ?? 30_000,
      stalledInterval: intOption('stalled-interval', values['stalled-interval'], 1) ?? 30_000,
      maxStalledCount: intOption('max-stalled', values['max-stalled'], 0) ?? 1,
      closeTimeout: intOption('close-timeout', values['close-timeout'], 0) ?? 5000,
      log: (line) => process.stderr.write(`warmpool worker: ${line}\n`),
    });
  } catch (err) {
    process.stderr.write(
      `warmpool worker: ${err instanceof Error ? err.message : String(err)}\n${err instanceof UsageError ? `\n${USAGE}` : ''}`,
    );
    return 2;
  }

  /** A message on stderr that does not tear the live line. */
  const say = (text: string) => (live === undefined ? process.stderr.write(text) : live.note(text));
  let signals = 0;
  const stopped = new Promise<'stopped'>((resolveStop) => {
    const onSignal = () => {
      signals++;
      say(
        signals === 1
          ? `warmpool worker: stopping, ${count(host.running, 'running job')} to finish; signal again to cancel them\n`
          : 'warmpool worker: cancelling the running jobs\n',
      );
      // The first signal lets running jobs finish; a second one cancels them.
      const done = () => resolveStop('stopped');
      void host.close(signals > 1).then(done, done);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  try {
    // A signal while it still waits for Redis (or for its local pool) stops it too.
    await Promise.race([host.start(), stopped]);
  } catch (err) {
    if (signals > 0) {
      await stopped;
      return 0;
    }
    process.stderr.write(`warmpool worker: could not start: ${err instanceof Error ? err.message : String(err)}\n`);
    await host.close(true).catch(() => {});
    return 1;
  }
  if (signals > 0) {
    await stopped;
    return 0;
  }
  // Tests and scripts wait for this line before they count on the host.
  process.stderr.write(`warmpool worker: ready, pid ${process.pid}, queue ${queue}\n`);
  live?.start();
  await stopped;
  live?.stop();
  restarts?.close();
  return 0;
}

export const run = workerCommand;
