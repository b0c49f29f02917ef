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
export type { TaskModule, TaskName, TaskArgs, TaskResult, TaskItem, AnyTasks } from './types.js';
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
} from './diagnostics.js';
export type { TraceCarrier } from './trace-context.js';
