// Node's module compile cache (`module.enableCompileCache`, Node 22.1 and
// later; nothing on older Node): V8's compiled code for the modules a worker
// loads is kept on disk, so that every other worker that loads them — a
// pool's siblings started later, replacements, the next run of the program —
// skips compiling them. Every pool shares Node's own cache directory (the
// NODE_COMPILE_CACHE environment variable if set, else `node-compile-cache`
// under os.tmpdir()); entries are keyed by the module's content and the Node
// version, and checked when read. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
// https://nodejs.org/api/module.html#module-compile-cache

import { nodeModule } from '../core/builtins.js';

interface CompileCacheApi {
  enableCompileCache?: () => unknown;
  flushCompileCache?: () => void;
}

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
// Older Node has no compile cache: node:module is not loaded for nothing there (../core/builtins.ts).
const api: CompileCacheApi = major > 22 || (major === 22 && minor >= 1) ? (nodeModule() as unknown as CompileCacheApi) : {};

/** Called before the task module is imported: only modules compiled afterwards are cached. */
export function enableCompileCache(): void {
  try {
    api.enableCompileCache?.();
  } catch {
    // A cache that cannot be used (a read-only tmpdir, say) costs speed, never a worker.
  }
}

/**
 * Called once the task module and its initializer have run: writes what was
 * compiled now rather than at exit, which a killed process or a terminated
 * thread never reaches, so that workers started after this one find it.
 */
export function flushCompileCache(): void {
  try {
    api.flushCompileCache?.();
  } catch {
    // As above.
  }
}
