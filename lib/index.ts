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
  StreamClosedError,
} from './errors.js';
export type { PoolOptions, SubmitOptions, MapOptions, ShutdownOptions, StreamOptions, ProgressOptions } from './options.js';
export { TaskStream } from './stream.js';
export type { PoolStats, TimeSummary } from './stats.js';
export type {
  TaskModule,
  TaskName,
  TaskArgs,
  TaskResult,
  TaskItem,
  AnyTasks,
  StreamTaskName,
  StreamValue,
  StreamMessage,
  StreamArgs,
  StreamingExecutor,
} from './types.js';
