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
    /** Workers per pool in the memory unit (idle RSS per worker process). */
    memoryWorkers: 4,
    /** Source files (lib/*.ts, the largest first) per pass of the heavy real workload (TypeScript transpiling). */
    heavyFiles: quick ? 3 : 24,
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
    /** CPU-bound items (work(cpuSteps) each) in the busy-share map, as in `npm run bench`'s busy unit. */
    cpuItems: quick ? 20 : 300,
    cpuSteps: 2_000_000,
    /** The binary payload of the payload units (a Uint8Array, echoed back), bytes. */
    payloadBytes: quick ? 64 * 1024 : 1024 * 1024,
    /** Sequential `echo` round trips of that payload timed per payload unit, after `payloadWarmup` untimed ones. */
    payloadTrips: quick ? 5 : 60,
    payloadWarmup: quick ? 2 : 20,
    /** grain:<Kind>/submit/<µs>: sequential work per burst of submits (items = budget / µs), and bursts per unit (medians reported). */
    grainBudgetUs: quick ? 20_000 : 200_000,
    grainBursts: quick ? 1 : 5,
    /** grain:<Kind>/map/<µs>: maps per unit (items as in the sweep, grainSizes), each timed against the same items run sequentially. */
    grainMaps: quick ? 2 : 15,
  };
}

/** The granularity sweep ("how small can a task be", bench/scenario.ts `grain:`). */
export function grainSizes(quick: boolean) {
  return {
    /** Nominal CPU cost of one item, µs, calibrated in the main thread of each unit. */
    sizesUs: quick ? [10, 1000] : [2, 5, 10, 20, 50, 100, 200, 500, 1000, 3000],
    /** Sequential work per size: items = max(minItems, budgetUs / size). */
    budgetUs: quick ? 10_000 : 40_000,
    minItems: quick ? 10 : 40,
  };
}
