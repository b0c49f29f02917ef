// A cold call, the thing a warm pool saves: a fresh process (or a fresh
// worker thread) imports the task module, runs the task once, reports and
// exits. Used by `warmpool bench` and by bench/run.ts. It imports nothing
// from warmpool, so its start is a plain Node start.
//
//   process: node cold.js <moduleHref> <task> <argsJSON>   (report over IPC)
//   thread:  new Worker(cold.js, { workerData: { href, name, args } })

import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { errorInfo, type ErrorInfo } from './error-info.js';
import { findTask } from './load.js';

/** What a cold call reports; ms measured inside the fresh process or thread. */
export type ColdReport =
  | { ok: true; importMs: number; taskMs: number; result: unknown }
  | { ok: false; stage: 'import'; error: ErrorInfo }
  | { ok: false; stage: 'lookup'; exports: string[] }
  | { ok: false; stage: 'task'; error: ErrorInfo };

async function coldCall(href: string, name: string, args: unknown[]): Promise<ColdReport> {
  const t0 = performance.now();
  let found;
  try {
    found = await findTask(href, name);
  } catch (error) {
    return { ok: false, stage: 'import', error: errorInfo(error) };
  }
  if (!('fn' in found)) return { ok: false, stage: 'lookup', exports: found.exports };
  const t1 = performance.now();
  try {
    const result = await found.fn(...args);
    return { ok: true, importMs: t1 - t0, taskMs: performance.now() - t1, result };
  } catch (error) {
    return { ok: false, stage: 'task', error: errorInfo(error) };
  }
}

/** The report with its result left out when the result cannot be sent. */
function sendable(report: ColdReport): ColdReport {
  return report.ok ? { ...report, result: undefined } : report;
}

if (isMainThread) {
  if (process.send !== undefined) {
    const [href, name, argsJson] = process.argv.slice(2) as [string, string, string];
    const report = await coldCall(href, name, JSON.parse(argsJson) as unknown[]);
    // Exit at once once the report is out: a module that leaves a handle
    // open must not hold a "run once" process.
    const done = () => process.exit(0);
    try {
      process.send(report, done);
    } catch {
      process.send(sendable(report), done);
    }
  }
} else {
  const { href, name, args } = workerData as { href: string; name: string; args: unknown[] };
  const report = await coldCall(href, name, args);
  try {
    parentPort!.postMessage(report);
  } catch {
    parentPort!.postMessage(sendable(report));
  }
  // Ends this thread only, even when the module left handles open.
  process.exit(0);
}
