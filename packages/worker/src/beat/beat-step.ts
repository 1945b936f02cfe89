/**
 * Beat inside a worker (Celery's `celery worker -B`): a bootstep that runs a Beat beside the
 * consumer, with the worker's app and logger. With a shared store (a result backend with
 * compare-and-set) every worker started with `-B` may run it: one sends, the others stand by.
 *
 *   new Worker(app, { steps: [beatStep({ scheduleFile: '/var/lib/app/celerybeat-schedule' })] });
 */
import type { Bootstep } from '../bootsteps.js';
import type { Worker } from '../worker.js';
import { Beat, type BeatOptions } from './beat.js';

export type BeatStep = Bootstep<Worker> & {
  /** The running Beat (null before start and after stop). */
  readonly beat: Beat | null;
};

/** A bootstep that starts a Beat with the worker and stops it (releasing its lease) with the worker. */
export function beatStep(options: BeatOptions = {}): BeatStep {
  let beat: Beat | null = null;
  return {
    name: 'beat',
    get beat() {
      return beat;
    },
    async start(worker: Worker) {
      const instance = new Beat(worker.app, { logger: worker.logger, ...options });
      await instance.start();
      beat = instance;
    },
    async stop() {
      const instance = beat;
      beat = null;
      await instance?.stop();
    },
  };
}
