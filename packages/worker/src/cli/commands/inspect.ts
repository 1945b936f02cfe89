/** `tq inspect <command>`: ask workers about themselves (Celery's `celery inspect`). */
import { runRemote } from '../remote.js';

export const summary = 'inspect workers: tq inspect ping|active|stats|… -A ./src/app.ts [-d w1@host] [--json]';

export function run(argv: string[]): Promise<number> {
  return runRemote('inspect', argv);
}
