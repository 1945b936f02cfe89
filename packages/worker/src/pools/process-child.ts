/**
 * Entry point of a process-pool child (`child_process.fork` of this file): the runtime in
 * child-runtime.ts over Node's IPC channel.
 */
import { runChild } from './child-runtime.js';
import type { FromChild, ToChild } from './ipc.js';

// Ctrl-C in a terminal signals the whole process group; the worker decides what its children do.
process.on('SIGINT', () => undefined);
process.on('SIGQUIT', () => undefined);
// The worker is gone: nobody will collect results.
process.on('disconnect', () => process.exit(0));

runChild({
  kind: 'process',
  post: (batch: FromChild[]) => {
    process.send!(batch);
  },
  onMessage: (listener) => process.on('message', (batch) => listener(batch as ToChild[])),
  // Exit once everything sent so far is written: an empty batch's callback runs after the others.
  exit: (code) => {
    if (!process.connected) process.exit(code);
    process.send!([], () => process.exit(code));
  },
});
