import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, waitFor } from '@tq/testing';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run as runControl } from '../src/cli/commands/control.js';
import { run as runInspect } from '../src/cli/commands/inspect.js';
import { FIXTURES, runCli, startCli } from './cli-helpers.js';
import controlApp from './fixtures/control-app.js';
import { startWorker } from './helpers.js';

const app = join(FIXTURES, 'memory-app.ts');
const tmp = mkdtempSync(join(tmpdir(), 'tq-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Children of a process, by pid. */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

describe('tq CLI', () => {
  it('lists its commands', async () => {
    const { code, output } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(output).toMatch(/worker\s+start a worker/);
    expect(output).toMatch(/call\s+send a task/);
    expect(output).toMatch(/inspect\s+inspect workers/);
    expect(output).toMatch(/control\s+control workers/);
  });

  it('says which options are valid when given a bad one', async () => {
    const { code, output } = await runCli(['worker', '-A', app, '--concurency', '4']);
    expect(code).toBe(2);
    expect(output).toMatch(/Unknown option '--concurency'/);
    expect(output).toMatch(/valid options: .*--concurrency <value>/);
  });

  it('explains bad values of the worker flags', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['-P', 'gevent'], /--pool must be one of async, process, thread, solo \(got "gevent"\)/],
      [['--autoscale', 'ten'], /--autoscale must be max,min \(e\.g\. --autoscale 10,3\)/],
      [['--autoscale', '2,5'], /--autoscale needs max ≥ 1 and min ≤ max/],
      [['--max-memory-per-child', '12XB'], /must be a size in KiB like 200000, or with a unit like 512KB, 200MB, 1GB/],
      [['-O', 'unfair'], /-O must be fair or default/],
      [['--time-limit', 'soon'], /--time-limit must be a positive number of seconds \(or like 30s, 5m\), got "soon"/],
      [['--max-tasks-per-child', '0'], /--max-tasks-per-child must be an integer ≥ 1/],
      [['--pool-window', '0'], /--pool-window must be an integer ≥ 1/],
      [['--autoreload'], /autoreload needs --pool process or thread/],
    ];
    for (const [flags, message] of cases) {
      const { code, output } = await runCli(['worker', '-A', app, '--without-mingle', ...flags]);
      expect(output).toMatch(message);
      expect(code).toBe(2);
    }
  });

  it('explains a missing or wrong app module', async () => {
    expect((await runCli(['worker'])).output).toMatch(/no app given: pass -A <module>/);
    expect((await runCli(['worker', '-A', './nope.ts'])).output).toMatch(/app module \.\/nope\.ts not found/);
    expect((await runCli(['worker', '-A', `${app}:missing`])).output).toMatch(/does not export a tq app as missing/);
  });

  it('starts a worker that lists its tasks, and stops warm on SIGTERM', async () => {
    const worker = startCli(['worker', '-A', app, '-n', 'cli@%h', '-c', '4', '--loglevel', 'warn', '--without-mingle']);
    await worker.waitFor(/cli@\S+ ready\./);
    expect(worker.output()).toMatch(/\. fixture\.add/);
    expect(worker.output()).toMatch(/concurrency: 4 \(async\)/);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(worker.output()).toMatch(/warm shutdown/);
  });

  it('waits for a broker that is down, saying so, and stops at once on SIGTERM meanwhile', async () => {
    const url = `redis://127.0.0.1:${await freePort()}/0`;
    const worker = startCli(['worker', '-A', app, '-b', url, '--without-mingle']);
    await worker.waitFor(/cannot connect to redis:\/\/127\.0\.0\.1:\d+\/0: ECONNREFUSED\. Is Redis running\? Trying again in 2 s \(1\/100\)/);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(worker.output()).not.toMatch(/could not start|Trying again in 4 s/);
  });

  it('-b and --result-backend point the app at another broker, for the worker and for tq call', async () => {
    const base = new URL(process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379');
    base.pathname = '/11';
    const flags = ['-b', base.toString(), '--result-backend', base.toString(), '-Q', `cli-flags-${process.pid}-${Date.now()}`];
    const worker = startCli(['worker', '-A', app, '-n', 'cliflags@%h', '--without-mingle', ...flags]);
    await worker.waitFor(/cliflags@\S+ ready\./);
    expect(worker.output()).toMatch(/transport: +redis/);
    const call = await runCli(['call', 'fixture.add', '-A', app, '--args', '[2, 3]', '--wait', '--timeout', '10', ...flags]);
    expect(call.output.trim().split('\n').at(-1)).toBe('5');
    expect(call.code).toBe(0);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('refuses to start when the pid file names a running process, replaces a stale one, and removes it on exit', async () => {
    const pidfile = join(tmp, 'worker.pid');
    writeFileSync(pidfile, `${process.pid}\n`);
    const refused = await runCli(['worker', '-A', app, '--pidfile', pidfile]);
    expect(refused.code).toBe(2);
    expect(refused.output).toMatch(/the pid file .*worker\.pid names a running process \(pid \d+\)/);
    writeFileSync(pidfile, '999999\n');
    const logfile = join(tmp, 'worker.log');
    const worker = startCli(['worker', '-A', app, '--pidfile', pidfile, '--logfile', logfile, '-l', 'info', '--without-mingle']);
    await worker.waitFor(/ready\./);
    expect(worker.output()).toMatch(/removing the stale pid file/);
    expect(Number(readFileSync(pidfile, 'utf8'))).toBe(worker.child.pid);
    await waitFor(() => existsSync(logfile) && /ready: async pool/.test(readFileSync(logfile, 'utf8')), { message: 'the log file' });
    worker.child.kill('SIGINT');
    expect(await worker.exited).toBe(0);
    expect(existsSync(pidfile)).toBe(false);
  });

  it('with a process pool: the first signal is a warm shutdown, the second a cold one; no child outlives the worker', async () => {
    const worker = startCli(['worker', '-A', join(FIXTURES, 'busy-app.ts'), '-P', 'process', '-c', '2', '--without-mingle', '-l', 'info'], { TQ_BUSY_SEED: '1' });
    await worker.waitFor(/ready\./);
    await waitFor(() => childrenOf(worker.child.pid!).length >= 2, { message: 'two pool children' });
    const children = childrenOf(worker.child.pid!);
    worker.child.kill('SIGTERM');
    await worker.waitFor(/warm shutdown \(SIGTERM\)/);
    await worker.waitFor(/waiting for 2 running task\(s\)/);
    worker.child.kill('SIGTERM');
    await worker.waitFor(/cold shutdown/);
    expect(await worker.exited).toBe(1);
    expect(worker.output()).toMatch(/cold shutdown, ending 2 running task\(s\)/);
    await waitFor(() => children.every((pid) => !alive(pid)), { message: 'the children to be gone' });
  });

  it('autoreload restarts the pool with the edited code', async () => {
    // Inside the package, so that the module resolves @tq/core like the fixtures do.
    const dir = mkdtempSync(join(FIXTURES, '.reload-'));
    try {
      const version = join(dir, 'version.ts');
      const module = join(dir, 'app.ts');
      writeFileSync(version, 'export const VERSION = 1;\n');
      writeFileSync(
        module,
        [
          "import { isMainThread } from 'node:worker_threads';",
          "import { createApp } from '@tq/core';",
          "import { VERSION } from './version.js';",
          "export const app = createApp({ main: 'reload' });",
          "const version = app.task('reload.version', () => VERSION);",
          '// The worker process (not its children) asks for the version and prints it.',
          'if (isMainThread && process.send === undefined) {',
          '  setInterval(async () => {',
          '    const r = await version.delay();',
          '    process.stdout.write(`version=${await r.get({ timeout: 10 })}\\n`);',
          '  }, 100).unref();',
          '}',
          'export default app;',
          '',
        ].join('\n'),
      );
      const worker = startCli(['worker', '-A', module, '-P', 'process', '-c', '1', '--autoreload', '--without-mingle', '-l', 'info']);
      try {
        await worker.waitFor(/version=1/);
        expect(worker.output()).toMatch(/autoreload: watching 2 file\(s\)/);
        writeFileSync(version, 'export const VERSION = 2;\n');
        await worker.waitFor(/version=2/, 30_000);
        expect(worker.output()).toMatch(/autoreload: .*version\.ts changed; restarting the pool/);
      } finally {
        worker.child.kill('SIGTERM');
        await worker.exited;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tq inspect and tq control', () => {
  const fixture = join(FIXTURES, 'control-app.ts');

  async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
    try {
      const code = await fn();
      return { code, out, err };
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
  }

  it('print replies the way celery inspect does, or JSON', async () => {
    await startWorker(controlApp, { hostname: 'c1@test' });
    const ping = await capture(() => runInspect(['ping', '-A', fixture, '-d', 'c1@test']));
    expect(ping.code).toBe(0);
    expect(ping.out).toBe('->  c1@test: OK\n        pong\n\n1 node online.\n');
    const registered = await capture(() => runInspect(['registered', '-A', fixture, '-d', 'c1@test']));
    expect(registered.out).toBe('->  c1@test: OK\n    * ctl.add [rate_limit=10/s]\n\n1 node online.\n');
    const json = await capture(() => runInspect(['active', '-A', fixture, '-d', 'c1@test', '--json']));
    expect(JSON.parse(json.out)).toEqual({ 'c1@test': [] });
    const stats = await capture(() => runInspect(['stats', '-A', fixture, '-d', 'c1@test']));
    expect(stats.out).toMatch(/^->  c1@test: OK\n {4}\{\n {8}"broker": \{/);
  });

  it('map positional arguments to the command, and report errors and silence', async () => {
    await startWorker(controlApp, { hostname: 'c2@test' });
    const rate = await capture(() => runControl(['rate_limit', 'ctl.add', '5/m', '-A', fixture, '-d', 'c2@test']));
    expect(rate.out).toBe('->  c2@test: OK\n        new rate limit set successfully\n\n1 node online.\n');
    expect(controlApp.tasks.get('ctl.add')!.options.rateLimit).toBe('5/m');
    const grow = await capture(() => runControl(['pool_grow', '3', '-A', fixture, '-d', 'c2@test', '--json']));
    expect(JSON.parse(grow.out)).toEqual([{ 'c2@test': { ok: 'pool will grow' } }]);
    const autoscale = await capture(() => runControl(['autoscale', '4', '2', '-A', fixture, '-d', 'c2@test']));
    expect(autoscale.out).toBe("->  c2@test: ERROR\n        ValueError('Autoscale not enabled')\n\n1 node online.\n");
    const nobody = await capture(() => runInspect(['ping', '-A', fixture, '-d', 'nobody@test', '-t', '0.2']));
    expect(nobody.code).toBe(69);
    expect(nobody.err).toMatch(/No nodes replied within time constraint/);
    await expect(runControl(['rate_limit', '-A', fixture, 'a', 'b', 'c'])).rejects.toThrow(/command rate_limit takes arguments: <task_name> <rate_limit/);
    await expect(runControl(['pool_grow', 'many', '-A', fixture])).rejects.toThrow(/n must be an integer, got "many"/);
    await expect(runInspect(['fly', '-A', fixture])).rejects.toThrow(/Command fly not recognized\. Available inspect commands: active, active_queues, clock, conf/);
    await expect(runControl(['ping', '-A', fixture])).rejects.toThrow(/Available control commands: add_consumer, autoscale/);
  });
});
