/**
 * The result of a task run in this process (eager mode or `task.apply()`): already final, read
 * from memory rather than from the backend, so it works with no backend at all.
 */
import { createResultMeta, encodeException, type ResultMeta } from '@tq/protocol';
import type { App } from './app.js';
import { AsyncResult, type GetOptions } from './async-result.js';
import type { Outcome } from './executor.js';
import { TaskRevokedError } from './errors.js';

export class EagerResult<R = unknown> extends AsyncResult<R> {
  private readonly local: ResultMeta;

  constructor(id: string, app: App, readonly outcome: Outcome) {
    super(id, app);
    const failed = outcome.state === 'FAILURE';
    this.local = createResultMeta({
      taskId: id,
      status: outcome.state,
      result: outcome.state === 'SUCCESS' ? outcome.value : failed || outcome.state === 'RETRY' ? encodeException(outcome.error) : null,
      traceback: failed ? outcome.traceback : null,
      dateDone: new Date(),
    });
  }

  override async meta(): Promise<ResultMeta> {
    return this.local;
  }

  override async get(options: GetOptions = {}): Promise<R> {
    const { outcome } = this;
    if (outcome.state === 'FAILURE' && (options.propagate ?? true)) throw outcome.error;
    if (outcome.state === 'SUCCESS') return outcome.value as R;
    if (outcome.state === 'FAILURE') return outcome.error as R;
    if (outcome.state === 'REJECTED' && (options.propagate ?? true)) throw new TaskRevokedError('rejected');
    return null as R;
  }
}
