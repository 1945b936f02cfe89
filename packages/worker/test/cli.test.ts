import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, runCli, startCli } from './cli-helpers.js';

const app = join(FIXTURES, 'memory-app.ts');

describe('tq CLI', () => {
  it('lists its commands', async () => {
    const { code, output } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(output).toMatch(/worker\s+start a worker/);
    expect(output).toMatch(/call\s+send a task/);
  });

  it('says which options are valid when given a bad one', async () => {
    const { code, output } = await runCli(['worker', '-A', app, '--concurency', '4']);
    expect(code).toBe(2);
    expect(output).toMatch(/Unknown option '--concurency'/);
    expect(output).toMatch(/valid options: .*--concurrency <value>/);
  });

  it('explains a missing or wrong app module', async () => {
    expect((await runCli(['worker'])).output).toMatch(/no app given: pass -A <module>/);
    expect((await runCli(['worker', '-A', './nope.ts'])).output).toMatch(/app module \.\/nope\.ts not found/);
    expect((await runCli(['worker', '-A', `${app}:missing`])).output).toMatch(/does not export a tq app as missing/);
  });

  it('starts a worker that lists its tasks, and stops warm on SIGTERM', async () => {
    const worker = startCli(['worker', '-A', app, '-n', 'cli@%h', '-c', '4', '--loglevel', 'warn']);
    await worker.waitFor(/cli@\S+ ready\./);
    expect(worker.output()).toMatch(/\. fixture\.add/);
    expect(worker.output()).toMatch(/concurrency: 4 \(async\)/);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(worker.output()).toMatch(/warm shutdown/);
  });
});
