// One piscina.run in flight: the tasks it carries, its control block, its
// deadline, and what is known of it when its thread dies.

import { performance } from 'node:perf_hooks';
import { Status, TaskKind } from '../core/contract.js';
import { wireArgs, wireKind } from '../core/transport.js';
import { MAX_TIMER_MS } from '../core/options.js';
import type { TaskRecord } from '../core/task.js';
import { Control, REPLY_HEAD, REPLY_STRIDE } from './protocol.js';
import type { Piscina } from './threads.js';
import type { MessagePort } from 'node:worker_threads';

type Task = TaskRecord<Run>;

/**
 * One piscina.run in flight. It is also the run's abort signal: piscina
 * accepts an EventEmitter-style one (`aborted`, `once`, `removeListener`),
 * which costs nothing per run, where an AbortController and piscina's
 * addEventListener on it cost more than the rest of a round trip.
 */
export class Run {
  /** Set when the engine aborts the run; piscina then terminates its thread. */
  aborted = false;
  readonly reason = 'stopped by warmpool (cancel or timeout)';
  #onAbort: (() => void) | undefined = undefined;
  /** Once the run's promise settled, or the engine gave up on it. */
  over = false;
  /** The deadline of its task (a run with a timeout carries one task). */
  timer: NodeJS.Timeout | undefined = undefined;
  /** A batch's tag (the last slot of its control block), to match ThreadNote.Flushed; 0 otherwise. */
  tag = 0;
  /** Leading tasks of the batch whose results came ahead of the reply (ThreadNote.Flushed). */
  flushed = 0;
  /** What a dying thread could tell of this batch (ThreadNote.Partial): the reply so far. */
  partial: unknown[] | undefined = undefined;
  /**
   * A stream's or a progress task's line to its thread (./protocol.ts): the
   * engine's end. It closes when the thread closes its end after the task,
   * every message posted before delivered first, or when the thread dies.
   */
  port: MessagePort | undefined = undefined;
  /** The thread piscina gave the run to (Threads.picked), 0 when not known (piscina queued it while a thread started). */
  thread = 0;
  /** Measured cost of its tasks, summed, ms; Infinity when any is unknown. A run sent ahead goes only behind one of known cost. */
  cost = Infinity;
  /** When it was posted (performance.now()). */
  sentAt = 0;
  /** Sent ahead, held behind this run in its thread until it returns (the engine's view). */
  ahead: Run | undefined = undefined;
  /** The run this one was sent ahead behind, while it is held (the engine's view: until that one's reply or failure). */
  behind: Run | undefined = undefined;
  /**
   * The engine stopped its thread for another run's task (one it was held
   * behind, or one sent ahead behind it): a bystander, whose tasks run
   * again elsewhere, as those of a batch cut short by a stop do.
   */
  bystander = false;
  /** Held, and the engine has taken back what of it the thread had not begun (Dispatch.takeBack, ./dispatch.ts). */
  takenBack = false;
  /** Taken back whole (none of its tasks begun): its thread will only skip it. */
  emptied = false;
  /**
   * Held and begun, and to be stopped (cancel, timeout) once the reply of
   * the run it was held behind is in (Engine.kill): set until then.
   */
  stopFor: 'cancel' | 'timeout' | undefined = undefined;

  constructor(
    readonly tasks: Task[],
    readonly control: Int32Array | null,
    readonly piscina: Piscina,
  ) {}

  once(_event: 'abort', listener: () => void): void {
    this.#onAbort = listener;
  }

  removeListener(_event: 'abort', _listener: () => void): void {
    this.#onAbort = undefined;
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listener = this.#onAbort;
    this.#onAbort = undefined;
    listener?.();
  }

  /** Over: the timers go (a stop's grace is moot once the run is over). False when it was over already. */
  end(): boolean {
    if (this.over) return false;
    this.over = true;
    clearTimeout(this.timer);
    for (const task of this.tasks) {
      if (task.timer !== undefined) {
        clearTimeout(task.timer);
        task.timer = undefined;
      }
    }
    return true;
  }

  /**
   * Its tasks marked sent, in this run, and the message piscina posts
   * (./protocol.ts): the short form [name, ...args] for one call without a
   * control block, else [control, name, kind, args, …], and `port` last for
   * a line.
   */
  message(port: MessagePort | undefined): unknown[] {
    const tasks = this.tasks;
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i];
      task.where = 'sent';
      task.slot = this;
      task.index = i;
    }
    const first = tasks[0];
    if (this.control === null && tasks.length === 1 && first.kind === TaskKind.Call) {
      const args = first.args;
      const msg = new Array<unknown>(args.length + 1);
      msg[0] = first.name;
      for (let i = 0; i < args.length; i++) msg[i + 1] = args[i];
      return msg;
    }
    const msg: unknown[] = [this.control];
    for (const task of tasks) msg.push(task.name, wireKind(task), wireArgs(task));
    if (port !== undefined) msg.push(port);
    return msg;
  }

  /** Starts the task's timeout when the thread begins it (Control.Begun), not when it was posted. */
  clockOnBegin(task: Task, onDeadline: (task: Task) => void): void {
    const arm = () => {
      // Taken back (Dispatch.takeBack, ./dispatch.ts wakes this): its new run keeps its clock.
      if (this.over || task.where === 'gone' || task.slot !== this) return;
      task.deadline = performance.now() + task.timeout;
      this.#armDeadline(task, onDeadline);
    };
    const waiting = Atomics.waitAsync(this.control!, Control.Begun, 0);
    if (waiting.async) void waiting.value.then(arm);
    else arm();
  }

  /** Calls `begun` with the thread's id and the time once the thread begins the run's first task (Control.Begun, Control.Thread). */
  onBegun(begun: (thread: number, at: number) => void): void {
    const control = this.control!;
    // A task settled meanwhile (cancelled, say) is announced no more: asyncStart publishes only before the end.
    const announce = () => begun(Atomics.load(control, Control.Thread), performance.now());
    const waiting = Atomics.waitAsync(control, Control.Begun, 0);
    if (waiting.async) void waiting.value.then(announce);
    else announce();
  }

  #armDeadline(task: Task, onDeadline: (task: Task) => void): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        if (this.over || task.where === 'gone') return;
        // Timers may fire a little early in performance.now() terms; allow 1 ms.
        if (performance.now() + 1 < task.deadline) this.#armDeadline(task, onDeadline);
        else onDeadline(task);
      },
      Math.min(MAX_TIMER_MS, Math.max(0, task.deadline - performance.now())),
    );
    this.timer.unref();
  }

  /**
   * Its thread died with `begun` tasks begun: which run again elsewhere, which
   * fail with it, which keep the results the dying thread could send
   * (ThreadNote.Partial). One it never began runs again; one it finished
   * keeps its result when known, else fails after a crash (never running
   * twice) and runs again after the engine stopped the thread (the
   * bystander rule in docs/guide.md).
   */
  sortAfterDeath(begun: number, stoppedByUs: boolean): { again: Task[]; failed: Task[]; done: Task[] } {
    const again: Task[] = [];
    const failed: Task[] = [];
    const done: Task[] = [];
    const partial = this.partial;
    for (const task of this.tasks) {
      // Gone, or taken back (queued again, or in another run: Dispatch.takeBack, ./dispatch.ts).
      if (task.where === 'gone' || task.slot !== this) continue;
      if (this.control !== null && task.index >= begun) again.push(task);
      else if (this.control !== null && task.index < begun - 1) {
        const at = REPLY_HEAD + task.index * REPLY_STRIDE;
        if (partial !== undefined && partial.length > at && partial[at] !== Status.Skipped) done.push(task);
        else if (stoppedByUs) again.push(task);
        else failed.push(task);
      } else if (stoppedByUs) again.push(task);
      else failed.push(task);
    }
    return { again, failed, done };
  }
}
