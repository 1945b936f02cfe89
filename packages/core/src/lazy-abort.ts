/**
 * An AbortController made only when someone asks for its signal. Most tasks never look at
 * `this.signal`, and an AbortSignal per task is a measurable cost at tens of thousands of tasks
 * a second; this keeps the cost for the tasks that use it.
 *
 * The executor listens with `onAbort` (a plain callback, no AbortSignal needed) so that an abort
 * — a time limit, a terminate, a cold shutdown — ends the run where the task is awaiting.
 */
export class LazyAbort {
  private controller: AbortController | null = null;
  private abortReason: unknown = undefined;
  private wasAborted = false;
  private listeners: Array<(reason: unknown) => void> | null = null;

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
   * Call `listener` when aborted (at once if already aborted), after the signal has fired.
   * Returns a function that removes it.
   */
  onAbort(listener: (reason: unknown) => void): () => void {
    if (this.wasAborted) {
      listener(this.abortReason);
      return () => undefined;
    }
    (this.listeners ??= []).push(listener);
    return () => {
      const i = this.listeners?.indexOf(listener) ?? -1;
      if (i !== -1) this.listeners!.splice(i, 1);
    };
  }

  abort(reason?: unknown): void {
    if (this.wasAborted) return;
    this.wasAborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
    const listeners = this.listeners;
    this.listeners = null;
    if (listeners) for (const listener of listeners) listener(reason);
  }
}
