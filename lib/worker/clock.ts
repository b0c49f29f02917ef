// The clock a worker stamps its run times and result times with: the
// monotonic clock performance.now() reads (libuv's uv_hrtime, as
// process.hrtime), in ms, from an origin of its own, taken when this module
// loads. The parent only ever uses differences of two stamps and its offset
// from the parent's own clock, which it learns (lib/process/engine.ts,
// #onResults), so a different origin changes nothing. What it saves is
// node:perf_hooks and the modules it loads (about 0.3 MB per worker
// process; docs/design.md, "Memory of an idle worker").

const hrtime = process.hrtime;
const [originS, originNs] = hrtime();

/** ms on the monotonic clock since this module loaded (performance.now() up to a constant). */
export function now(): number {
  const t = hrtime();
  return (t[0] - originS) * 1e3 + (t[1] - originNs) / 1e6;
}
