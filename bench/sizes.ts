// How much work each bench unit does, full and --quick.
export function sizes(quick: boolean) {
  return {
    workers: 2,
    coldCalls: quick ? 1 : 5,
    warmCalls: quick ? 100 : 3000,
    throughputTasks: quick ? 2000 : 50_000,
    cpuItems: quick ? 20 : 300,
    /** work(n) steps per CPU-bound item: about 2.7 ms on the machine the docs were made on. */
    cpuSteps: 2_000_000,
    tinyItems: quick ? 5000 : 1_000_000,
    /** The Uint8Array payload; --quick sends 64 KiB, since the JSON peers take seconds over 1 MiB. */
    bytes: quick ? 64 * 1024 : 1024 * 1024,
    /** Round trips of the 1 MiB Uint8Array per round, unless they take over `payloadBudgetMs` together. */
    bytesReps: quick ? 1 : 10,
    objects: 10_000,
    objectsReps: quick ? 1 : 10,
    payloadBudgetMs: quick ? 200 : 3000,
  };
}

/** How much work each unit of `npm run bench -- --compare <ref>` does (bench/compare.ts). */
export function compareSizes(quick: boolean) {
  return {
    workers: 2,
    /** Sequential `add` calls timed per round-trip unit, after 200 untimed ones. */
    roundTrips: quick ? 200 : 3000,
    /** Trivial tasks submitted at once (throughput, LocalPool submit rate). */
    tasks: quick ? 2000 : 50_000,
    /** Items of `square` in one `map` with the default chunksize. */
    items: quick ? 10_000 : 1_000_000,
  };
}
