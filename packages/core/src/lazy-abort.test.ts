import { describe, expect, it } from 'vitest';
import { LazyAbort } from './lazy-abort.js';

describe('LazyAbort.race', () => {
  it("settles with the run's own outcome when nothing aborts", async () => {
    await expect(new LazyAbort().race(Promise.resolve(7))).resolves.toBe(7);
    await expect(new LazyAbort().race(Promise.reject(new Error('body failed')))).rejects.toThrow('body failed');
  });

  it('rejects with the reason as soon as it is aborted, after the signal fired, while the run goes on', async () => {
    const abort = new LazyAbort();
    const signal = abort.signal;
    const raced = abort.race(new Promise(() => undefined));
    const reason = new Error('terminated');
    abort.abort(reason);
    expect(signal.aborted).toBe(true);
    await expect(raced).rejects.toBe(reason);
  });

  it('rejects at once when already aborted, and a failure of the abandoned run goes unreported', async () => {
    const abort = new LazyAbort();
    abort.abort(new Error('too late'));
    let unhandled = false;
    const onUnhandled = () => (unhandled = true);
    process.once('unhandledRejection', onUnhandled);
    await expect(abort.race(Promise.reject(new Error('body failed')))).rejects.toThrow('too late');
    await new Promise((resolve) => setImmediate(resolve));
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toBe(false);
  });
});
