/**
 * The worker's remote-control commands, registered on its pidbox: inspect commands (answers
 * about the worker) and control commands (changes to it), with Celery's names, arguments and
 * reply shapes so that `celery inspect`, `celery control` and Flower work with tq workers.
 * Event commands (`enable_events`, `disable_events`, `heartbeat`) belong to the events step.
 */
import type { Worker } from '../worker.js';
import { registerControlCommandsOnly } from './commands.js';
import { registerInspectCommands } from './inspect.js';
import { registerLimitsCommand } from './limits.js';

export function registerControlCommands(worker: Worker): void {
  registerInspectCommands(worker);
  registerControlCommandsOnly(worker);
  registerLimitsCommand(worker);
}

export { INSPECT_COMMANDS } from './inspect.js';
export { CONTROL_COMMANDS } from './commands.js';
