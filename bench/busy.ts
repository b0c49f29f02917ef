// Worker busy share during a CPU-bound map (or a burst of submits): how much
// of its wall time each worker spends inside tasks. Computed from what the workers already
// report: every task's `runMs` (measured in the worker) and the worker that
// ran it, as `warmpool:task`'s `asyncEnd` carries them; per worker, the sum of
// its tasks' run times / the wall time of the map. Shared by the bench unit
// `busy:<Kind>` (bench/scenario.ts) and the A/B scenarios busy:<Kind> and
// grain:<Kind>/submit/<µs> (bench/compare-unit.ts), so it imports nothing from lib/: the A/B drives
// another build's entry, and the channel is found by name.

import { tracingChannel } from 'node:diagnostics_channel';

/** What a pool must have for this measure: a map. */
export interface MapPool {
  map(name: string, items: unknown[]): Promise<unknown[]>;
}

export interface BusyShares {
  /** Each worker's busy share, highest first (workers that ran nothing do not appear). */
  shares: number[];
  /** The least busy worker's share; 0 when fewer workers than `workers` ran anything. */
  min: number;
  wallMs: number;
  results: unknown[];
}

interface EndMessage {
  worker?: number | string;
  runMs?: number;
  outcome?: string;
}

/** Runs `pool.map(name, items)` while summing each worker's run time, and returns the shares of the map's wall time. */
export function busyShares(pool: MapPool, name: string, items: unknown[], workers: number): Promise<BusyShares> {
  return busySharesOf(() => pool.map(name, items), workers);
}

/** Runs `run` (a map, a burst of submits) while summing each worker's run time, and returns the shares of its wall time. */
export async function busySharesOf(run: () => Promise<unknown[]>, workers: number): Promise<BusyShares> {
  const busy = new Map<number | string, number>();
  const channel = tracingChannel('warmpool:task');
  const subscribers = {
    asyncEnd(message: unknown) {
      const m = message as EndMessage;
      if (m.worker === undefined || m.outcome !== 'fulfilled') return;
      busy.set(m.worker, (busy.get(m.worker) ?? 0) + (m.runMs ?? 0));
    },
  };
  channel.subscribe(subscribers as never);
  let results: unknown[];
  let wallMs: number;
  try {
    const t0 = performance.now();
    results = await run();
    wallMs = performance.now() - t0;
  } finally {
    channel.unsubscribe(subscribers as never);
  }
  const shares = [...busy.values()].map((v) => v / wallMs).sort((a, b) => b - a);
  const min = shares.length < workers ? 0 : shares[shares.length - 1];
  return { shares, min, wallMs, results };
}
