export { ProcessPool } from './process-pool.js';
export { ThreadPool } from './thread-pool.js';
export { LocalPool } from './local-pool.js';
export { RemotePool, type RemotePoolOptions, type RedisConnection } from './remote-pool.js';
export { Executor } from './executor.js';
export { Future, asCompleted, wait, type FutureState, type ReturnWhen } from './future.js';
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
} from './errors.js';
export type { PoolOptions, SubmitOptions, MapOptions, ShutdownOptions } from './options.js';
export type { PoolStats, TimeSummary } from './stats.js';
export type { TaskModule, TaskName, TaskArgs, TaskResult, TaskItem, AnyTasks, TransferListItem } from './types.js';
