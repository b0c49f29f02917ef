// LocalPool's transport for streams, progress and sessions: the caller's side
// (TaskStream, CallerChannel) and the task's side (TaskChannel) live in the
// same thread, so each message is a direct call, and values pass by
// reference as every LocalPool value does. Messages are delivered
// synchronously and so in order; the result's settlement (CallerChannel.finish
// with `sent` undefined) comes after all of them.
//
//   TaskStream ── sink.credit / send / end ──▶ TaskChannel.receive([ToTask.*, id, …])
//   CallerChannel.receive([FromTask.*, id, …]) ◀── post (TaskChannel)

import { CallerChannel } from '../core/caller-channel.js';
import { createTaskStream, type TaskStream } from '../core/stream.js';
import { ToTask } from '../core/stream-protocol.js';
import { TaskChannel } from '../worker/stream.js';

export interface InThreadLink {
  /** What `pool.stream()` returns; undefined for a `submit` with `onProgress`. */
  stream: TaskStream<unknown, unknown> | undefined;
  /** The engine's side: give it the task's result with `finish(error, undefined, settle)`. */
  caller: CallerChannel;
  /** The task's side: `runStreamTask(…, worker, …)`, or `attach(ctx)` and `close()` around a call. */
  worker: TaskChannel;
}

/**
 * Links a task's two sides in one thread. `cancel` is the task's
 * `Future.cancel`. The stream's `started()` is the engine's to call when the
 * task begins (messages sent earlier wait in the stream until then).
 */
export function linkInThread(
  id: number,
  highWaterMark: number,
  options: { stream: boolean; onProgress: ((value: unknown) => unknown) | undefined; cancel: () => boolean },
): InThreadLink {
  // The caller is made below; the task posts only once it runs.
  const worker: TaskChannel = new TaskChannel(id, (message) => caller.receive(message), highWaterMark);
  let made: ReturnType<typeof createTaskStream<unknown, unknown>> | undefined;
  if (options.stream) {
    made = createTaskStream<unknown, unknown>(
      {
        credit: (n) => worker.receive([ToTask.Credit, id, n]),
        send: (messages) => worker.receive([ToTask.Inbox, id, messages]),
        end: () => worker.receive([ToTask.InboxEnd, id]),
        cancel: options.cancel,
      },
      highWaterMark,
    );
  }
  const caller = new CallerChannel(made?.endpoint, options.onProgress);
  return { stream: made?.stream, caller, worker };
}
