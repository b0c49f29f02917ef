// A cold call on a thread: a fresh Worker imports the task module, runs one
// task, posts the result and exits. workerData: { href, name, args }.
import { parentPort, workerData } from 'node:worker_threads';

const { href, name, args } = workerData as { href: string; name: string; args: unknown[] };
const mod = (await import(href)) as Record<string, (...a: unknown[]) => unknown>;
parentPort!.postMessage(await mod[name](...args));
