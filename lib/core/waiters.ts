// Waiters: promises waiting for one moment of a pool (drained, ready, idle),
// settled all at once. Apart from ./engine-core.ts because the engines and
// RemotePool's host (lib/remote/host.ts) keep their own besides the core's.

/** Promises waiting for one moment (drained, ready, idle); settled all at once. */
export class Waiters {
  #list: { resolve: () => void; reject: (error: unknown) => void }[] = [];

  get any(): boolean {
    return this.#list.length > 0;
  }

  wait(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#list.push({ resolve, reject }));
  }

  release(): void {
    const list = this.#list;
    this.#list = [];
    for (const w of list) w.resolve();
  }

  reject(error: unknown): void {
    const list = this.#list;
    this.#list = [];
    for (const w of list) w.reject(error);
  }
}
