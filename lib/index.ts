export { ProcessPool } from './process/pool.js';
export { ThreadPool } from './thread/pool.js';
export { LocalPool } from './local/pool.js';
export { RemotePool, type RemotePoolOptions, type RedisConnection } from './remote/pool.js';
export { Executor } from './core/executor.js';
export { Future, asCompleted, wait, type FutureState, type ReturnWhen } from './core/future.js';
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
} from './core/errors.js';
export type { PoolOptions, SubmitOptions, MapOptions, ShutdownOptions } from './core/options.js';
export type { PoolStats, TimeSummary } from './core/stats.js';
export type { TaskModule, TaskName, TaskArgs, TaskResult, TaskItem, AnyTasks } from './core/types.js';
