// A/B of two builds in one run: `npm run bench -- --compare <git ref>`.
//
//   node dist/bench/run.js --compare <ref> [--rounds=N] [--quick] [--only=<scenario prefix>,...]
//
//   working tree (this checkout's dist/, built by `npm run bench`)
//   <ref> ── git worktree add --detach <tmp>/build <sha>
//            ├─ node_modules: a symlink to ours when package-lock.json is the same, else its own `npm ci`
//            └─ npm run build (the ref's own script)
//   entry of each build = its package.json exports['.'] (so moved lib/ files do not matter)
//   for each round (default 5): for each scenario (order rotated per round):
//       A then B, or B then A (alternating per round), each a fresh
//       `node dist/bench/compare-unit.js <entry> <scenario>` (under `taskset -c 0` for @1core)
//   table: medians per build, per-round ratio working / ref, verdict
//
// The unit code is always the working tree's: only the library under test
// differs. The ref's worktree is removed at the end (also on Ctrl-C).

import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { hasTaskset, progress } from './machine.js';
import { median } from './report.js';
import { compareSizes, grainSizes } from './sizes.js';

const run = promisify(execFile);
const unitJs = fileURLToPath(new URL('./compare-unit.js', import.meta.url));
const here = fileURLToPath(new URL('../../', import.meta.url));

interface Build {
  label: string;
  root: string;
  entry: string;
}

/** A figure of one scenario, and which way is better. */
interface Metric {
  scenario: string;
  key: string;
  what: string;
  unit: string;
  better: 'lower' | 'higher';
}

/**
 * The build's public entry, from its package.json: `exports['.']` (a string,
 * or conditions where `import`, `node` or `default` is taken), else `main`.
 */
export function entryOf(root: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports?: unknown; main?: unknown };
  let e: unknown = pkg.exports;
  if (e && typeof e === 'object' && Object.keys(e).some((k) => k.startsWith('.'))) e = (e as Record<string, unknown>)['.'];
  while (e && typeof e === 'object') {
    const c = e as Record<string, unknown>;
    e = c.import ?? c.node ?? c.default;
  }
  e ??= pkg.main;
  if (typeof e !== 'string')
    throw new Error(
      `bench --compare: expected ${join(root, 'package.json')} to name an entry in exports['.'] or main, got ${JSON.stringify(pkg.exports ?? pkg.main)}`,
    );
  const path = resolve(root, e);
  if (!existsSync(path))
    throw new Error(`bench --compare: the entry ${path} (from ${join(root, 'package.json')}) does not exist: was the build run?`);
  return path;
}

function git(args: string[], cwd = here): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** Checks out `ref` in a temporary worktree and builds it there; the returned `remove` deletes it. */
async function buildRef(ref: string): Promise<Build & { remove(): void }> {
  let sha: string;
  try {
    sha = git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  } catch {
    throw new Error(`bench --compare: expected a git ref naming a commit, got \`${ref}\``);
  }
  const dir = mkdtempSync(join(tmpdir(), 'warmpool-compare-'));
  const root = join(dir, 'build');
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    try {
      git(['worktree', 'remove', '--force', root]);
    } catch {
      // Half-made (git failed, or killed mid-way): drop the directory, then git's record of it.
      rmSync(root, { recursive: true, force: true });
      try {
        git(['worktree', 'prune']);
      } catch {
        /* nothing registered */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    progress(`bench --compare: checking out ${ref} (${sha.slice(0, 10)}) in ${root}`);
    git(['worktree', 'add', '--detach', root, sha]);
    const lock = (p: string): string =>
      existsSync(join(p, 'package-lock.json')) ? readFileSync(join(p, 'package-lock.json'), 'utf8') : '';
    if (lock(root) !== '' && lock(root) === lock(here) && existsSync(join(here, 'node_modules'))) {
      symlinkSync(join(here, 'node_modules'), join(root, 'node_modules'), 'dir');
    } else {
      progress(`bench --compare: package-lock.json differs from the working tree's: npm ci in ${root}`);
      await run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, maxBuffer: 16 << 20 });
    }
    progress(`bench --compare: building ${ref}`);
    await run('npm', ['run', 'build', '--silent'], { cwd: root, maxBuffer: 16 << 20 }).catch(
      (err: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(`bench --compare: the build of ${ref} failed:\n${err.stdout ?? ''}${err.stderr ?? err.message}`);
      },
    );
    return { label: sha.startsWith(ref) ? sha.slice(0, 10) : `${ref} (${sha.slice(0, 10)})`, root, entry: entryOf(root), remove };
  } catch (err) {
    remove();
    throw err;
  }
}

export type Verdict = 'within noise' | 'better' | 'worse' | 'leaning better' | 'leaning worse' | 'too few rounds';

/** With n rounds each and no real difference, the chance that every round of one build beats every round of the other: 2 / C(2n, n). */
export function chanceOfSeparation(n: number): number {
  let c = 1;
  for (let k = 1; k <= n; k++) c = (c * (n + k)) / k;
  return 2 / c;
}

/**
 * A difference counts only when every round of one build beats every round
 * of the other (by chance: 10 % with 3 rounds, under 1 % with 5,
 * chanceOfSeparation). With 5 rounds or more, when only the paired per-round
 * ratios all point one way (by chance 2^(1-n): 6 % with 5), it is "leaning".
 */
export function judge(ref: number[], tree: number[], better: 'lower' | 'higher'): Verdict {
  if (ref.length < 3 || tree.length < 3) return 'too few rounds';
  const treeWins = better === 'lower' ? Math.max(...tree) < Math.min(...ref) : Math.min(...tree) > Math.max(...ref);
  const refWins = better === 'lower' ? Math.max(...ref) < Math.min(...tree) : Math.min(...ref) > Math.max(...tree);
  if (treeWins) return 'better';
  if (refWins) return 'worse';
  const ratios = tree.map((v, i) => v / ref[i]);
  const up = ratios.every((r) => r > 1);
  const down = ratios.every((r) => r < 1);
  if ((up || down) && ratios.length >= 5) return up === (better === 'higher') ? 'leaning better' : 'leaning worse';
  return 'within noise';
}

// Two decimals below 10: a busy share or a speedup (0.85, 1.52) would lose what it shows at one.
const fmt = (v: number): string =>
  v >= 1000 ? Math.round(v).toLocaleString('en-US') : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
const span = (xs: number[]): string =>
  xs.length > 1 ? `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` : fmt(xs[0]);

export async function compare(ref: string, options: { rounds?: number; quick: boolean; only?: string[] }): Promise<void> {
  const rounds = options.rounds ?? (options.quick ? 1 : 5);
  const oneCore = hasTaskset();
  const kinds = ['ProcessPool', 'ThreadPool'];
  let scenarios = [
    ...kinds.map((k) => `roundtrip:${k}`),
    ...(oneCore ? kinds.map((k) => `roundtrip:${k}@1core`) : []),
    ...kinds.map((k) => `throughput:${k}`),
    ...kinds.map((k) => `raw:${k}`),
    ...kinds.map((k) => `map:${k}`),
    ...kinds.map((k) => `busy:${k}`),
    ...kinds.flatMap((k) => [`grain:${k}/map/10`, `grain:${k}/submit/1000`, `grain:${k}/submit/3000`]),
    ...kinds.map((k) => `payload:${k}`),
    'payload-raw:ProcessPool',
    'local',
  ];
  if (options.only) {
    scenarios = scenarios.filter((s) => options.only!.some((p) => s.startsWith(p)));
    // Any size of the granularity sweep, named whole (grain:ProcessPool/map/100), though only three are in the default list.
    for (const p of options.only) if (/^grain:\w+\/(submit|map)\/\d+$/.test(p) && !scenarios.includes(p)) scenarios.push(p);
  }
  if (scenarios.length === 0) throw new Error(`bench --compare: --only=${options.only!.join(',')} matches no scenario`);

  const tree: Build = { label: 'working tree', root: here, entry: entryOf(here) };
  const refBuild = await buildRef(ref);
  const onSignal = (): void => {
    refBuild.remove();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const builds = [refBuild, tree];
  // samples[scenario][figure][build index] = per-round values
  const samples: Record<string, Record<string, number[][]>> = {};
  const started = performance.now();
  try {
    for (let round = 0; round < rounds; round++) {
      const offset = Math.floor((round * scenarios.length) / rounds);
      for (let i = 0; i < scenarios.length; i++) {
        const unit = scenarios[(i + offset) % scenarios.length];
        const [scenario, placement] = unit.split('@');
        // A B in even rounds, B A in odd ones: neither build always runs first.
        const order = round % 2 === 0 ? [0, 1] : [1, 0];
        for (const b of order) {
          const elapsed = ((performance.now() - started) / 1000).toFixed(0);
          progress(`bench --compare: round ${round + 1}/${rounds}, ${unit}, ${builds[b].label} (${elapsed} s)`);
          const args = [unitJs, builds[b].entry, scenario, ...(options.quick ? ['--quick'] : [])];
          let stdout: string;
          try {
            ({ stdout } =
              placement === '1core'
                ? await run('taskset', ['-c', '0', process.execPath, ...args], { maxBuffer: 1 << 20 })
                : await run(process.execPath, args, { maxBuffer: 1 << 20 }));
          } catch (err) {
            const e = err as { stderr?: string; message: string };
            throw new Error(`bench --compare: unit ${unit} of ${builds[b].label} failed:\n${e.stderr ?? e.message}`);
          }
          const { figures } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { figures: Record<string, number> };
          for (const [k, v] of Object.entries(figures)) ((samples[unit] ??= {})[k] ??= [[], []])[b].push(v);
        }
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    refBuild.remove();
  }
  progress(`bench --compare: done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (process.stderr.isTTY) process.stderr.write('\n');

  const s = compareSizes(options.quick);
  const metrics: Metric[] = scenarios.flatMap((unit): Metric[] => {
    const [scenario, placement] = unit.split('@');
    const [kind, arg] = scenario.split(':');
    const where = placement === '1core' ? ', one core' : '';
    if (kind === 'roundtrip') {
      return ['p50', 'p99'].map((key) => ({
        scenario: unit,
        key,
        what: `${arg} round trip ${key}${where}`,
        unit: 'µs',
        better: 'lower' as const,
      }));
    }
    if (kind === 'throughput')
      return [
        {
          scenario: unit,
          key: 'rate',
          what: `${arg}, ${s.tasks.toLocaleString('en-US')} trivial tasks`,
          unit: 'tasks/s',
          better: 'higher',
        },
      ];
    if (kind === 'raw')
      return [
        {
          scenario: unit,
          key: 'rate',
          what: `raw ${arg === 'ProcessPool' ? "child_process IPC ('json')" : 'worker_threads postMessage'}, ${s.tasks.toLocaleString('en-US')} calls, one message each`,
          unit: 'calls/s',
          better: 'higher',
        },
      ];
    if (kind === 'map')
      return [
        {
          scenario: unit,
          key: 'rate',
          what: `${arg} map, ${s.items.toLocaleString('en-US')} tiny items`,
          unit: 'items/s',
          better: 'higher',
        },
      ];
    if (kind === 'payload' || kind === 'payload-raw')
      return [
        {
          scenario: unit,
          key: 'ms',
          what: `${kind === 'payload' ? arg : "raw child_process IPC ('advanced')"}, echo of a ${s.payloadBytes / 1024} KiB Uint8Array (median of ${s.payloadTrips})`,
          unit: 'ms',
          better: 'lower',
        },
      ];
    if (kind === 'busy')
      return [
        {
          scenario: unit,
          key: 'min',
          what: `${arg} CPU-bound map (${s.cpuItems} × work(${s.cpuSteps.toLocaleString('en-US')})), least busy worker's share of the wall time`,
          unit: 'share',
          better: 'higher',
        },
      ];
    if (kind === 'grain') {
      const [name, mode, us] = arg.split('/');
      if (mode === 'map') {
        const items = Math.max(grainSizes(options.quick).minItems, Math.round(grainSizes(options.quick).budgetUs / Number(us)));
        return [
          {
            scenario: unit,
            key: 'speedup',
            what: `${name} map of ${items} × work(≈${us} µs), default chunking, speedup over sequential, median of ${s.grainMaps} maps`,
            unit: '×',
            better: 'higher',
          },
        ];
      }
      const what = `${name} submit burst of ${Math.max(20, Math.round(s.grainBudgetUs / Number(us)))} × work(≈${us} µs)`;
      return [
        { scenario: unit, key: 'speedup', what: `${what}, speedup over sequential`, unit: '×', better: 'higher' },
        { scenario: unit, key: 'min', what: `${what}, least busy worker's share of the wall time`, unit: 'share', better: 'higher' },
      ];
    }
    return [
      { scenario: unit, key: 'rate', what: `LocalPool, ${s.tasks.toLocaleString('en-US')} submits`, unit: 'tasks/s', better: 'higher' },
    ];
  });
  const head = ['scenario', 'unit', refBuild.label, 'working tree', 'working / ref (per round)', 'verdict'];
  const rows = metrics.map((m) => {
    const [refXs, treeXs] = samples[m.scenario][m.key];
    const ratios = treeXs.map((v, i) => v / refXs[i]);
    const v = judge(refXs, treeXs, m.better);
    return [m.what, m.unit, span(refXs), span(treeXs), `${median(ratios).toFixed(2)} (${ratios.map((r) => r.toFixed(2)).join(', ')})`, v];
  });
  console.log(
    `warmpool bench --compare ${ref} — Node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), ${rounds} round(s), ${s.workers} workers${options.quick ? ', --quick (correctness only)' : ''}`,
  );
  console.log(
    `each build in a fresh process per unit, interleaved; median (min–max) over rounds; ${oneCore ? '"one core": under taskset -c 0' : 'taskset not available: no one-core rows'}`,
  );
  console.log(`entries: ${refBuild.label} → ${refBuild.entry}; working tree → ${tree.entry}`);
  const chance = (p: number): string => `${(100 * p).toFixed(p < 0.01 ? 1 : 0)} %`;
  console.log(
    `verdict: better/worse when every round of one build beats every round of the other (by chance: ${chance(chanceOfSeparation(rounds))} with ${rounds} rounds); "leaning" (5 rounds or more) when only the paired per-round ratios all point one way (by chance: ${chance(2 ** (1 - rounds))})\n`,
  );
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);

  // Throughput over the raw per-message rate of the same transport, each
  // round's throughput divided by the raw unit run in the same round and the
  // same slot of the A B order, so that both met the same load.
  const against = kinds.filter((k) => samples[`throughput:${k}`] !== undefined && samples[`raw:${k}`] !== undefined);
  if (against.length > 0) {
    console.log(
      `\n| 50,000 trivial tasks ÷ the raw per-message rate of the same transport, same round | ${refBuild.label} | working tree |`,
    );
    console.log('|---|---|---|');
    for (const k of against) {
      const cell = (b: number): string => {
        const ratios = samples[`throughput:${k}`].rate[b].map((v, i) => v / samples[`raw:${k}`].rate[b][i]);
        return `${median(ratios).toFixed(2)}× (${ratios.map((r) => r.toFixed(2)).join(', ')})`;
      };
      console.log(`| ${k} | ${cell(0)} | ${cell(1)} |`);
    }
  }
}
