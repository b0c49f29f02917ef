/**
 * warmpool: pools of warm workers (child processes, worker threads, the
 * calling thread, or hosts on other machines) with futures whose timeout and
 * cancel really stop the work — Python's `concurrent.futures` for Node.js.
 *
 * The pools: {@link ProcessPool}, {@link ThreadPool}, {@link LocalPool},
 * {@link RemotePool}, all serving {@link Executor}. What `submit` returns:
 * {@link Future}, with {@link asCompleted} and {@link wait}. The errors:
 * {@link WarmpoolError} and its subclasses. A task module imports
 * `warmpool/task` to cooperate with the pool.
 *
 * @module warmpool
 */

export { ProcessPool } from './process/pool.js';
export { ThreadPool } from './thread/pool.js';
export { LocalPool } from './local/pool.js';
export { RemotePool, type RemotePoolOptions, type RedisConnection } from './remote/pool.js';
export { Executor } from './core/executor.js';
export { Future, type FutureState } from './core/future.js';
export { asCompleted, wait, type ReturnWhen } from './core/wait.js';
export {
  WarmpoolError,
  CancelledError,
  TimeoutError,
  WorkerCrashedError,
  WorkerStartError,
  TaskNotFoundError,
  DataCloneError,
  QueueFullError,
  PoolClosedError,
  BrokerError,
  StreamClosedError,
} from './core/errors.js';
export type { PoolOptions, SubmitOptions, MapOptions, ShutdownOptions, StreamOptions, ProgressOptions } from './core/options.js';
export { TaskStream } from './core/stream.js';
export type { PoolStats, TimeSummary } from './core/stats.js';
export type {
  TaskModule,
  TaskName,
  TaskArgs,
  TaskResult,
  TaskItem,
  AnyTasks,
  TransferListItem,
  StreamTaskName,
  StreamValue,
  StreamMessage,
  StreamArgs,
  StreamingExecutor,
} from './core/types.js';
export {
  TASK_CHANNEL,
  WORKER_CHANNEL,
  subscribeTasks,
  subscribeWorkers,
  type TaskMessage,
  type TaskStartMessage,
  type TaskAsyncStartMessage,
  type TaskAsyncEndMessage,
  type TaskErrorMessage,
  type TaskSubscribers,
  type TaskOutcome,
  type WorkerMessage,
  type WorkerEvent,
  type WorkerExitReason,
  type WorkerId,
} from './core/diagnostics.js';
export type { TraceCarrier } from './core/trace-context.js';
