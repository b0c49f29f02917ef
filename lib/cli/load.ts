// Loading the user's task in a fresh process or thread. Imports nothing from
// the library, for the same reason as ./error-info.ts.

export type TaskFunction = (...args: unknown[]) => unknown;

/** The export `name` of the module at `href`, or the names of its function exports when it has no such function. */
export async function findTask(href: string, name: string): Promise<{ fn: TaskFunction } | { exports: string[] }> {
  const mod = (await import(href)) as Record<string, unknown>;
  const fn = mod[name];
  if (typeof fn === 'function') return { fn: fn as TaskFunction };
  return {
    exports: Object.keys(mod)
      .filter((k) => typeof mod[k] === 'function')
      .sort(),
  };
}
