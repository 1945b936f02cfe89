/**
 * An AbortController made only when someone asks for its signal. Most tasks never look at
 * `this.signal`, and an AbortSignal per task is a measurable cost at tens of thousands of tasks
 * a second; this keeps the cost for the tasks that use it.
 */
export class LazyAbort {
  private controller: AbortController | null = null;
  private abortReason: unknown = undefined;
  private wasAborted = false;

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

  abort(reason?: unknown): void {
    if (this.wasAborted) return;
    this.wasAborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}
