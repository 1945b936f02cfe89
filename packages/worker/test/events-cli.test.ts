import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEvent } from '@tq/protocol';
import type { ReceivedEvent } from '@tq/core';
import { createDumper } from '../src/cli/commands/events.js';
import { FIXTURES, startCli } from './cli-helpers.js';

const app = join(FIXTURES, 'events-app.ts');

describe('tq events', () => {
  it('prints a live stream of readable lines, as celery events --dump', async () => {
    const cli = startCli(['events', '-A', app]);
    try {
      await cli.waitFor(/-> evdump: starting capture \(memory broker\)\.\.\./);
      await cli.waitFor(/fixture@test \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00\] heartbeat: active=0, clock=\d+, freq=2, loadavg=\[.*\], local_received=[\d.]+, pid=\d+, processed=\d+, sw_ident=py-celery, sw_sys=\w+, sw_ver=0\.1\.0, utcoffset=-?\d+/);
      await cli.waitFor(/fixture@test \[.*\] task received: fixture\.add\([0-9a-f-]{36}\) args=\(2, 3\) kwargs=\{\} clock=\d+, eta=None, expires=None, local_received=/);
      await cli.waitFor(/fixture@test \[.*\] task succeeded: fixture\.add\([0-9a-f-]{36}\) args=\(2, 3\) kwargs=\{\} clock=\d+, local_received=[\d.]+, pid=\d+, result=5, runtime=[\d.e-]+, utcoffset=-?\d+/);
    } finally {
      cli.child.kill('SIGTERM');
    }
    expect(await cli.exited).toBe(0);
  });

  it('prints one JSON event per line with --json, filtered by type', async () => {
    const cli = startCli(['events', '-A', app, '--json', '-t', 'task-*']);
    try {
      const [line] = await cli.waitFor(/^\{"hostname":"fixture@test".*"type":"task-succeeded".*\}$/m);
      const event = JSON.parse(line) as ReceivedEvent;
      expect(Object.keys(event)).toEqual(['hostname', 'utcoffset', 'pid', 'clock', 'uuid', 'result', 'runtime', 'timestamp', 'type', 'local_received']);
      expect(event.result).toBe('5');
    } finally {
      cli.child.kill('SIGTERM');
    }
    expect(await cli.exited).toBe(0);
    expect(cli.output()).not.toMatch(/worker-heartbeat/);
    for (const line of cli.output().trim().split('\n')) expect(JSON.parse(line).type).toMatch(/^task-/);
  });

  it("formats like Celery's dumper, remembering a task's name for its later events", () => {
    const dump = createDumper();
    const origin = { hostname: 'w1@vm', pid: 9728, clock: 6, utcoffset: 0 };
    const ev = (type: string, fields: Record<string, unknown>) => ({ ...createEvent(type, origin, fields, 1795474849.3870776), local_received: 1795474849.5 }) as ReceivedEvent;
    expect(dump(ev('task-received', { uuid: 'u1', name: 'proj.add', args: '(2, 3)', kwargs: '{}', retries: 0 }))).toBe(
      'w1@vm [2026-11-23 23:00:49.387078+00:00] task received: proj.add(u1) args=(2, 3) kwargs={} clock=6, local_received=1795474849.5, pid=9728, retries=0, utcoffset=0',
    );
    expect(dump(ev('task-failed', { uuid: 'u1', exception: "ValueError('x')", traceback: null }))).toBe(
      "w1@vm [2026-11-23 23:00:49.387078+00:00] task failed: proj.add(u1) args=(2, 3) kwargs={} clock=6, exception=ValueError('x'), local_received=1795474849.5, pid=9728, traceback=None, utcoffset=0",
    );
    expect(dump(ev('worker-offline', { freq: 2, active: 0, loadavg: [0.5, 0.25, 0] }))).toBe(
      'w1@vm [2026-11-23 23:00:49.387078+00:00] shutdown: active=0, clock=6, freq=2, loadavg=[0.5, 0.25, 0], local_received=1795474849.5, pid=9728, utcoffset=0',
    );
  });
});
