/** `tq control <command> [args]`: change running workers (Celery's `celery control`). */
import { runRemote } from '../remote.js';

export const summary = 'control workers: tq control rate_limit tasks.add 10/s -A ./src/app.ts [-d w1@host]';

export function run(argv: string[]): Promise<number> {
  return runRemote('control', argv);
}
