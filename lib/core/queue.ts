// The queue of tasks not yet handed to a worker: higher priority first, equal
// priorities in submission order. Nearly every pool uses one priority, so
// tasks live in one FIFO per distinct priority (O(1) push and shift) rather
// than in a heap (O(log n) and a comparison per level).
//
// Cancelled tasks are not searched for and spliced out: the queue keeps a
// live count and drops dead entries when they reach the front. `isLive`
// decides what is dead, so the queue never disagrees with the futures.

class Fifo<T> {
  items: (T | undefined)[] = [];
  head = 0;

  push(item: T): void {
    this.items.push(item);
  }

  unshift(item: T): void {
    if (this.head > 0) this.items[--this.head] = item;
    else this.items.unshift(item);
  }

  first(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // Compact once the dead prefix is most of the array, so memory follows the queue's length.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  get length(): number {
    return this.items.length - this.head;
  }
}

export class TaskQueue<T extends { readonly priority: number }> {
  /** Buckets sorted by descending priority. */
  #buckets: { priority: number; fifo: Fifo<T> }[] = [];
  #live = 0;
  readonly #isLive: (item: T) => boolean;

  constructor(isLive: (item: T) => boolean) {
    this.#isLive = isLive;
  }

  /** Tasks waiting, not counting those cancelled since they were queued. */
  get size(): number {
    return this.#live;
  }

  #bucket(priority: number): Fifo<T> {
    const buckets = this.#buckets;
    // One bucket in the common case: the loop body runs once.
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i];
      if (b.priority === priority) return b.fifo;
      if (b.priority < priority) {
        const fifo = new Fifo<T>();
        buckets.splice(i, 0, { priority, fifo });
        return fifo;
      }
    }
    const fifo = new Fifo<T>();
    buckets.push({ priority, fifo });
    return fifo;
  }

  push(item: T): void {
    this.#bucket(item.priority).push(item);
    this.#live++;
  }

  /**
   * Puts back tasks that a worker had been sent but never started (its
   * worker died first), ahead of everything of their priority, so they keep
   * their place. Pass them in their original order.
   */
  requeueFront(items: readonly T[]): void {
    for (let i = items.length - 1; i >= 0; i--) {
      const item = items[i];
      this.#bucket(item.priority).unshift(item);
      this.#live++;
    }
  }

  /** The next live task, left in place; dead entries in front of it are dropped. */
  peek(): T | undefined {
    return this.#front(false);
  }

  /** The next live task, or undefined. */
  shift(): T | undefined {
    return this.#front(true);
  }

  /** The next live task, removed when `take`; dead entries in front of it are dropped either way. */
  #front(take: boolean): T | undefined {
    const buckets = this.#buckets;
    for (let i = 0; i < buckets.length; i++) {
      const fifo = buckets[i].fifo;
      let item: T | undefined;
      while ((item = fifo.first()) !== undefined) {
        const live = this.#isLive(item);
        if (live && !take) return item;
        fifo.shift();
        if (live) {
          this.#live--;
          return item;
        }
      }
    }
    return undefined;
  }

  /** Call when a queued task died (was cancelled) in place. */
  forgetOne(): void {
    this.#live--;
  }

  /** Removes and returns every live task, in queue order. */
  drain(): T[] {
    const out: T[] = [];
    let item: T | undefined;
    while ((item = this.shift()) !== undefined) out.push(item);
    this.#buckets = [];
    this.#live = 0;
    return out;
  }
}
