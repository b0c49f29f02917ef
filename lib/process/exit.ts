/*
 * What a worker process's exit means for the tasks it had in flight: which
 * fail with WorkerCrashedError, which go back to the queue. Apart from
 * ./engine.ts because it is the one reckoning that must know what the worker
 * may have held (docs/design.md, "Batching", "A crash"); the engine then
 * starts replacements and dispatches again.
 *
 *  exit ─▶ told (Exiting/Fatal) or stopped by the pool: the head ran, the rest never began
 *       ─▶ died without a word: the head and each HOLD task after a HOLD one may
 *          have run (their results held), so they fail with it, never run twice
 *  head ─▶ core.fail(WorkerCrashedError)   blamed ─▶ core.fail   rest ─▶ core.requeue
 */

import type { EngineCore } from '../core/engine-core.js';
import { WorkerCrashedError } from '../core/errors.js';
import { holds } from './dispatch.js';
import type { WorkerRecord } from './worker.js';

/**
 * Empties `w`'s in-flight list after its exit: fails the tasks that may have
 * run, puts those that cannot have begun back at the front of the queue.
 * `outOfMemory`: V8's account, when the worker died of reaching its heap limit.
 */
export function settleInflightOnExit(
  core: EngineCore<WorkerRecord>,
  w: WorkerRecord,
  code: number | null,
  signal: string | null,
  error: Error | undefined,
  outOfMemory: string | undefined,
): void {
  const inflight = w.inflight.splice(0);
  const head = inflight[0];
  if (head !== undefined && head.where === 'gone') core.letGo(head);
  // Died without a word (a signal, out of memory): the worker may have
  // finished the head and the tasks after it while it held their results
  // (HOLD), the crash in any of them. Each that may have begun fails with
  // the head, never running twice; the rest never began.
  let blamed = 1;
  if (!w.told && !w.stoppedForTask) while (blamed < inflight.length && holds(inflight[blamed - 1]) && holds(inflight[blamed])) blamed++;
  // A worker the pool killed to stop a task (cancel, timeout) blames no
  // one else: if that task had in fact just finished, its result read
  // before the exit, the head now is a bystander sent ahead with it, which
  // may have begun. It runs again elsewhere rather than failing for
  // another task's sake (see "at most once" in docs/guide.md).
  const detail =
    outOfMemory !== undefined
      ? `the process ran out of memory (its V8 heap limit: maxMemoryMb, or Node's default): ${outOfMemory}`
      : w.fatal instanceof Error
        ? `${w.fatal.name}: ${w.fatal.message}`
        : error?.message;
  if (head !== undefined && head.where !== 'gone' && !w.stoppedForTask) {
    const crash = new WorkerCrashedError(code, signal, detail);
    if (w.fatal !== undefined) Object.defineProperty(crash, 'cause', { value: w.fatal, writable: true, configurable: true });
    core.fail(head, crash, 'crashed');
  }
  // Also when the head was cancelled and given up on: those behind it may have run all the same.
  for (let k = 1; k < blamed; k++) {
    const task = inflight[k];
    if (task.where !== 'sent') continue;
    const lost = `${detail === undefined ? '' : `${detail}; `}it ran this task, or had finished it and held its result (results of short tasks travel together), so it is not run again`;
    core.fail(task, new WorkerCrashedError(code, signal, lost), 'crashed');
  }
  // The others never started: they keep their place at the front of the queue.
  core.requeue(inflight.slice(w.stoppedForTask ? 0 : blamed).filter((t) => t.where === 'sent'));
}
