/**
 * The child of the pools suite's IPC floor: answers every batch its parent sends with one small
 * batch, doing nothing else, over the same channel a process-pool child uses (fork, JSON).
 */
const reply = [{ t: 'done', job: 0, outcome: { state: 'SUCCESS', runtime: 0.0001 }, memory: 0 }];

process.on('message', () => process.send!(reply));
process.on('disconnect', () => process.exit(0));
