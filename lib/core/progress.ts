// The caller's side of `reportProgress`: delivers a task's progress values
// to its `onProgress` in order, one call at a time, dropping values that
// were overtaken before they could be delivered, and delivering the last one
// before the task's future settles.
//
//   push(v) ──▶ pending = v (an older undelivered value is dropped)
//                 │ microtask (values read together are coalesced)
//                 ▼
//            onProgress(v) ──▶ returns a promise? next delivery waits for it
//   end()  ──▶ deliver what is pending now, or after the handler in flight;
//              the future settles after that (undefined: nothing to wait for)

import { isThenable } from '../worker/run.js';

function warn(err: unknown): void {
  process.emitWarning(`An onProgress callback threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, {
    type: 'WarmpoolWarning',
    code: 'WARMPOOL_CALLBACK_ERROR',
  });
}

export class ProgressCoalescer {
  readonly #handler: (value: unknown) => unknown;
  #value: unknown = undefined;
  #has = false;
  #scheduled = false;
  /** An async handler has not settled yet: the next value waits for it. */
  #busy = false;
  #closed = false;
  #idle: (() => void) | undefined;
  readonly #deliverBound = () => this.#deliver();

  /**
   * `handler` is the user's `onProgress`. A handler that throws (or whose
   * promise rejects) is reported with `process.emitWarning` and disturbs
   * neither the task nor later values, as a done callback of a Future.
   */
  constructor(handler: (value: unknown) => unknown) {
    this.#handler = handler;
  }

  /** A value from the task; ignored after `end()`. */
  push(value: unknown): void {
    if (this.#closed) return;
    this.#value = value;
    this.#has = true;
    if (!this.#scheduled && !this.#busy) {
      this.#scheduled = true;
      queueMicrotask(this.#deliverBound);
    }
  }

  /**
   * The task has ended: no more values. Delivers the pending value now, so
   * that it is delivered before the future settles, and returns undefined;
   * or, when an async handler is still running, returns a promise that
   * resolves once the pending value has been handed to the handler after it.
   * The engine settles the future after that. A value handed to the handler
   * counts as delivered: its own promise is not awaited.
   */
  end(): Promise<void> | undefined {
    if (this.#closed) return undefined;
    this.#closed = true;
    if (!this.#busy) {
      this.#deliver();
      return undefined;
    }
    return new Promise<void>((resolve) => (this.#idle = resolve));
  }

  #deliver(): void {
    this.#scheduled = false;
    if (!this.#has || this.#busy) return;
    const value = this.#value;
    this.#value = undefined;
    this.#has = false;
    let result: unknown;
    try {
      result = this.#handler(value);
    } catch (err) {
      warn(err);
      return;
    }
    if (!this.#closed && isThenable(result)) {
      this.#busy = true;
      result.then(this.#afterAsync, (err: unknown) => {
        warn(err);
        this.#afterAsync();
      });
    }
  }

  readonly #afterAsync = (): void => {
    this.#busy = false;
    if (this.#has) this.#deliver();
    if (this.#closed && !this.#busy) {
      const idle = this.#idle;
      this.#idle = undefined;
      idle?.();
    }
  };
}
