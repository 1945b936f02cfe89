/**
 * An AbortController made only when someone asks for its signal. Most tasks never look at
 * `this.signal`, and an AbortSignal per task is a measurable cost at tens of thousands of tasks
 * a second; this keeps the cost for the tasks that use it.
 *
 * The executor guards a run with `race` (no AbortSignal needed) so that an abort — a time limit, a
 * terminate, a cold shutdown — ends the run where the task is awaiting.
 */
export class LazyAbort {
  private controller: AbortController | null = null;
  private abortReason: unknown = undefined;
  private wasAborted = false;
  /** Rejects the run `race` guards, if any. */
  private rejectRun: ((reason: unknown) => void) | null = null;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.wasAborted) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.wasAborted;
  }

  /** The reason given to `abort()`, once aborted. */
  get reason(): unknown {
    return this.abortReason;
  }

  /**
   * `run`'s outcome, or a rejection with the reason as soon as this is aborted (at once if it was
   * already), after the signal has fired. One run per LazyAbort: each request has its own.
   */
  race<T>(run: Promise<T>): Promise<T> {
    if (this.wasAborted) {
      run.catch(() => undefined); // abandoned: its own failure is nobody's concern now
      return Promise.reject(this.abortReason);
    }
    return new Promise<T>((resolve, reject) => {
      this.rejectRun = reject;
      run.then(resolve, reject);
    });
  }

  abort(reason?: unknown): void {
    if (this.wasAborted) return;
    this.wasAborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
    const reject = this.rejectRun;
    this.rejectRun = null;
    reject?.(reason);
  }
}
