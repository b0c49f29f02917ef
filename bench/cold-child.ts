// A cold call: a fresh process imports the task module, runs one task, sends
// the result back and exits. `node cold-child.js <moduleHref> <task> <argsJSON>`.
const [href, name, argsJson] = process.argv.slice(2) as [string, string, string];
const mod = (await import(href)) as Record<string, (...args: unknown[]) => unknown>;
const result = await mod[name](...(JSON.parse(argsJson) as unknown[]));
process.send!(result, () => process.disconnect());
