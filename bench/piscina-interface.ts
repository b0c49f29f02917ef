// What piscina's per-run `interface` objects cost a parent's scavenges, and
// so ThreadPool's p99.9: piscina 5 builds, on every run, a fresh object with
// seven getters for each ready thread (WorkerInfo's `interface` getter in
// its dist/worker_pool/index.js) to hand its load balancer, and those
// objects outlive a scavenge (`node dist/bench/tails.js`, "what outlived a
// scavenge"). This copies the installed piscina into a temporary folder,
// makes that getter return one object per thread, made once, and runs the
// same sequential calls against both copies, each in a fresh process, in
// alternating order:
//
//   node dist/bench/piscina-interface.js [rounds] [calls]
//
// Prints per copy: p50, p99 and p99.9 (µs), the parent's scavenges per
// 10,000 calls and their mean pause (perf_hooks 'gc' entries), medians
// over rounds. The change is piscina's to make; the figures are for its
// maintainers (docs/benchmarks.md, "Tails").
//
//   defaults: 5 rounds, 20,000 calls, 2 threads

import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const GETTER = '    get interface() {\n        const worker = this;\n        return {';
const CACHED =
  '    get interface() {\n        if (this.cachedInterface) return this.cachedInterface;\n        const worker = this;\n        return this.cachedInterface = {';

interface Figures {
  p50: number;
  p99: number;
  p999: number;
  scavenges: number;
  pauseMs: number;
}

const [first, ...rest] = process.argv.slice(2);
if (first === '--unit') await unit(rest[0], Number(rest[1]));
else await main(Number(first ?? 5), Number(rest[0] ?? 20_000));

async function unit(piscinaDir: string, calls: number): Promise<void> {
  const { Piscina } = createRequire(join(piscinaDir, 'package.json'))('piscina') as typeof import('piscina');
  const task = fileURLToPath(new URL('./fixtures/piscina-signal-task.js', import.meta.url));
  const pool = new Piscina({ filename: task, minThreads: 2, maxThreads: 2, recordTiming: false });
  // ThreadPool's way: a signal-like object per run (lib/thread/run.ts).
  const signal = { aborted: false, once() {}, removeListener() {} };
  for (let i = 0; i < 2000; i++) await pool.run([i, 1], { signal: signal as unknown as AbortSignal });
  const pauses: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) pauses.push(e.duration);
  });
  observer.observe({ entryTypes: ['gc'] });
  const lat = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await pool.run([i, 1], { signal: signal as unknown as AbortSignal });
    lat[i] = performance.now() - t0;
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
  observer.disconnect();
  await pool.destroy();
  lat.sort();
  const q = (p: number) => lat[Math.min(calls - 1, Math.floor(p * calls))] * 1000;
  const figures: Figures = {
    p50: q(0.5),
    p99: q(0.99),
    p999: q(0.999),
    scavenges: (pauses.length * 10_000) / calls,
    pauseMs: pauses.length === 0 ? 0 : pauses.reduce((s, d) => s + d, 0) / pauses.length,
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

async function main(rounds: number, calls: number): Promise<void> {
  // piscina's `exports` has no ./package.json: its folder is found from its main file.
  const main = createRequire(import.meta.url).resolve('piscina');
  const installed = main.slice(0, main.lastIndexOf(`${sep}piscina${sep}`) + sep.length + 'piscina'.length);
  const tmp = mkdtempSync(join(tmpdir(), 'warmpool-piscina-'));
  try {
    const patched = join(tmp, 'node_modules', 'piscina');
    cpSync(installed, patched, { recursive: true });
    const file = join(patched, 'dist', 'worker_pool', 'index.js');
    const source = readFileSync(file, 'utf8');
    if (!source.includes(GETTER))
      throw new Error(
        `bench piscina-interface: expected piscina's \`get interface()\` in ${file}, got another text (a piscina other than 5.x?)`,
      );
    writeFileSync(file, source.replace(GETTER, CACHED));
    const copies: [string, string][] = [
      ['piscina as installed', installed],
      ['piscina, one interface object per thread', patched],
    ];
    const results = new Map<string, Figures[]>(copies.map(([label]) => [label, []]));
    const self = fileURLToPath(import.meta.url);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? copies : [...copies].reverse();
      for (const [label, dir] of order) {
        process.stderr.write(`round ${r + 1}/${rounds}: ${label}\n`);
        const out = execFileSync(process.execPath, [self, '--unit', dir, String(calls)], { encoding: 'utf8' });
        results.get(label)!.push(JSON.parse(out.trim().split('\n').at(-1)!) as Figures);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    console.log(
      `piscina's per-run interface objects — Node ${process.version}, ${rounds} rounds of ${calls.toLocaleString('en-US')} sequential runs, 2 threads, medians over rounds\n`,
    );
    console.log('| piscina | p50 µs | p99 µs | p99.9 µs | scavenges per 10k calls | mean scavenge ms |');
    console.log('|---|---|---|---|---|---|');
    for (const [label, rs] of results) {
      const m = (k: keyof Figures) => median(rs.map((x) => x[k]));
      console.log(
        `| ${label} | ${m('p50').toFixed(1)} | ${m('p99').toFixed(0)} | ${m('p999').toFixed(0)} | ${m('scavenges').toFixed(1)} | ${m('pauseMs').toFixed(2)} |`,
      );
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
