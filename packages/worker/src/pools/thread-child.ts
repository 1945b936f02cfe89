/**
 * Entry point of a thread-pool child (a worker_threads Worker): the runtime in child-runtime.ts
 * over the thread's message port.
 */
import { parentPort } from 'node:worker_threads';
import { runChild } from './child-runtime.js';
import type { FromChild, ToChild } from './ipc.js';

const port = parentPort!;

runChild({
  kind: 'thread',
  post: (batch: FromChild[]) => port.postMessage(batch),
  onMessage: (listener) => port.on('message', (batch: ToChild[]) => listener(batch)),
  exit: (code) => process.exit(code),
});
