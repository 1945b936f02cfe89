import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, runCli, startCli } from './cli-helpers.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tq-beat-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('tq beat', () => {
  it('sends due entries, keeps its state in the schedule file, and stops on SIGTERM', async () => {
    const file = join(dir, 'celerybeat-schedule');
    const beat = startCli(['beat', '-A', join(FIXTURES, 'beat-app.ts'), '-s', file, '--loglevel', 'info']);
    try {
      await beat.waitFor(/tq beat v\S+ is starting\./);
      await beat.waitFor(/\. state -> file .*celerybeat-schedule/);
      await beat.waitFor(/\. entries -> tick \(fixture\.tick, every 0\.2s\); nightly \(fixture\.nightly, <crontab: 0 3 \* \* \*>\)/);
      await beat.waitFor(/(Scheduler: Sending due task tick \(fixture\.tick\)[^]*){2}/);
    } finally {
      beat.child.kill('SIGTERM');
    }
    expect(await beat.exited).toBe(0);
    const state = JSON.parse(await readFile(file, 'utf8')) as { format: string; entries: Record<string, string> };
    expect(state.format).toBe('tq-beat-schedule');
    const tick = JSON.parse(state.entries['tq-beat:beatfixture:entry:tick']!) as { totalRunCount: number; pending: unknown };
    expect(tick.totalRunCount).toBeGreaterThanOrEqual(2);
    expect(tick.pending).toBeNull();
    expect(Object.keys(state.entries).sort()).toEqual(['tq-beat:beatfixture:entry:nightly', 'tq-beat:beatfixture:entry:tick']);
  });

  it('names every bad entry and exits with status 2', async () => {
    const { code, output } = await runCli(['beat', '-A', join(FIXTURES, 'beat-bad-app.ts'), '-s', join(dir, 'bad-schedule')]);
    expect(code).toBe(2);
    expect(output).toMatch(/beat: invalid beatSchedule entries:/);
    expect(output).toMatch(/"typo": invalid crontab day_of_week "mon-fry": "fry" is not a number or a name/);
    expect(output).toMatch(/"empty": no task name/);
    expect(output).not.toMatch(/"fine"/);
  });

  it('rejects an unknown store', async () => {
    const { code, output } = await runCli(['beat', '-A', join(FIXTURES, 'beat-app.ts'), '--store', 'redis']);
    expect(code).toBe(2);
    expect(output).toMatch(/--store must be auto, backend or file/);
  });
});
