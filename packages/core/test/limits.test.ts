/**
 * The executor's time limits and interrupts (what the in-process pools enforce), and how it
 * records a run that was cut short elsewhere (what child pools report).
 */
import { describe, expect, it } from 'vitest';
import {
  LazyAbort,
  Reject,
  TaskExecutor,
  TaskRevokedError,
  TimeLimitExceeded,
  WorkerLostError,
  isTqError,
  parseRateLimit,
  type TaskContext,
} from '../src/index.js';
import { newApp, nextMessage } from './helpers.js';

describe('time limits in the executor', () => {
  it('a soft limit fires the signal and ends the run with SoftTimeLimitExceeded, which autoretry may retry', async () => {
    const app = newApp();
    let reason: unknown;
    const t = app.task({ name: 'tasks.wait' }, function (this: TaskContext) {
      this.signal.addEventListener('abort', () => (reason = this.signal.reason));
      return new Promise(() => undefined);
    });
    const r = await t.delay();
    const { message } = await nextMessage(app);
    const outcome = await new TaskExecutor(app, { hostname: 'h' }).execute(app.requireTask('tasks.wait'), message, { softTimeLimit: 0.05 });
    expect(outcome).toMatchObject({ state: 'FAILURE', error: { code: 'SOFT_TIME_LIMIT_EXCEEDED' } });
    expect(reason).toBe((outcome as { error: unknown }).error);
    expect(await r.state()).toBe('FAILURE');

    const retried = app.task({ name: 'tasks.retried', autoretryFor: ['SoftTimeLimitExceeded'], retryKwargs: { countdown: 0 } }, () => new Promise(() => undefined));
    await retried.delay();
    const second = await nextMessage(app);
    const retry = await new TaskExecutor(app, { hostname: 'h' }).execute(app.requireTask(retried.name), second.message, { softTimeLimit: 0.05 });
    expect(retry.state).toBe('RETRY');
  });

  it('a hard limit ends the run with TimeLimitExceeded at the deadline, never retried', async () => {
    const app = newApp();
    app.task({ name: 'tasks.stuck', autoretryFor: [Error] }, () => new Promise(() => undefined));
    const r = await app.sendTask('tasks.stuck');
    const { message } = await nextMessage(app);
    const started = performance.now();
    const outcome = await new TaskExecutor(app, { hostname: 'h' }).execute(app.requireTask('tasks.stuck'), message, { timeLimit: 0.05 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(outcome.state).toBe('FAILURE');
    expect(isTqError((outcome as { error: unknown }).error, 'TIME_LIMIT_EXCEEDED')).toBe(true);
    await expect(r.get({ timeout: 1 })).rejects.toMatchObject({ code: 'TIME_LIMIT_EXCEEDED' });
  });

  it('an abort with TaskRevokedError (terminate) ends the run as REVOKED; a Reject requeues it', async () => {
    const app = newApp();
    app.task('tasks.forever', () => new Promise(() => undefined));
    const executor = new TaskExecutor(app, { hostname: 'h' });
    const r = await app.sendTask('tasks.forever');
    const first = await nextMessage(app);
    const abort = new LazyAbort();
    const running = executor.execute(app.requireTask('tasks.forever'), first.message, { abort });
    abort.abort(new TaskRevokedError('terminated'));
    expect(await running).toMatchObject({ state: 'REVOKED', reason: 'terminated' });
    expect(await r.state()).toBe('REVOKED');

    const again = await app.sendTask('tasks.forever');
    const second = await nextMessage(app);
    const abort2 = new LazyAbort();
    const running2 = executor.execute(app.requireTask('tasks.forever'), second.message, { abort: abort2 });
    abort2.abort(new Reject('shutting down', true));
    expect(await running2).toMatchObject({ state: 'REJECTED', requeue: true });
    expect(await again.state()).toBe('PENDING');
  });

  it('a TaskRevokedError the task itself throws is a failure, not a terminate', async () => {
    const app = newApp();
    app.task('tasks.throws', () => {
      throw new TaskRevokedError('revoked');
    });
    await app.sendTask('tasks.throws');
    const { message } = await nextMessage(app);
    const outcome = await new TaskExecutor(app, { hostname: 'h' }).execute(app.requireTask('tasks.throws'), message, { abort: new LazyAbort() });
    expect(outcome.state).toBe('FAILURE');
  });

  it('records runs cut short elsewhere: killed at the hard limit, lost, terminated, requeued', async () => {
    const app = newApp();
    const failures: string[] = [];
    app.task('tasks.elsewhere', () => 1);
    const executor = new TaskExecutor(app, { hostname: 'h', hooks: { failed: (_c, error) => failures.push((error as Error).name), rejected: () => failures.push('rejected') } });
    const task = app.requireTask('tasks.elsewhere');
    const ids: string[] = [];
    const outcomes = [];
    for (const reason of [new TimeLimitExceeded(2), new WorkerLostError('Worker exited prematurely: signal 9 (SIGKILL) Job: 1.'), new TaskRevokedError('terminated'), new Reject('lost', true)]) {
      const r = await app.sendTask('tasks.elsewhere');
      ids.push(r.id);
      const { message } = await nextMessage(app);
      outcomes.push(await executor.interrupted(task, message, reason));
    }
    expect(outcomes.map((o) => o.state)).toEqual(['FAILURE', 'FAILURE', 'REVOKED', 'REJECTED']);
    expect(await Promise.all(ids.map((id) => app.asyncResult(id).state()))).toEqual(['FAILURE', 'FAILURE', 'REVOKED', 'PENDING']);
    expect(failures).toEqual(['TimeLimitExceeded', 'WorkerLostError', 'rejected']);
  });
});

describe('parseRateLimit', () => {
  it("reads Celery's rate strings as tasks per second", () => {
    expect(parseRateLimit('10/s')).toBe(10);
    expect(parseRateLimit('120/m')).toBe(2);
    expect(parseRateLimit('3600/h')).toBe(1);
    expect(parseRateLimit('2.5')).toBe(2.5);
    expect(parseRateLimit(4)).toBe(4);
    expect(parseRateLimit(null)).toBe(0);
    expect(parseRateLimit('')).toBe(0);
    expect(() => parseRateLimit('10/d')).toThrow(/'10\/s', '100\/m', '1000\/h'/);
    expect(() => parseRateLimit(-1)).toThrow(/≥ 0/);
  });
});
