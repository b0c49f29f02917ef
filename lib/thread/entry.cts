// What piscina loads in each thread: a CommonJS file that hands over
// ./entry.js's handler. piscina loads a thread's file with require() first
// and with import() only if that fails (piscina 5, dist/worker.js
// getHandler). ./entry.js is an ES module; from Node
// 20.19 require() loads ES modules too, and once in a full `npm test` on
// Node 20.20 that aborted the whole process inside piscina's require()
// (`FATAL ERROR: v8::Module::IsGraphAsync must be used on an instantiated
// module`, node:internal/modules/esm/module_job runSync, a state Node's
// require(esm) did not handle: https://github.com/nodejs/node/pull/59703).
// Required, this file only starts an import(), so require() never meets an
// ES module. piscina takes `default` of what require() returns and awaits
// it: ./entry.js's `handler`, once it has imported the task module.

const handler: Promise<unknown> = import('./entry.js').then((m: { handler: Promise<unknown> }) => m.handler);

export = handler;
