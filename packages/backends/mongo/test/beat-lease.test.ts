/**
 * Two real `tq beat` processes sharing their state and lease in MongoDB (`tq_kv`, docs/beat.md):
 * the leader is killed with SIGKILL, the other takes over within one lease period, and every run
 * is sent once (at most the run in flight at the kill is sent again, with the same id).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@tq/testing';
import { expect, it } from 'vitest';
import { testDatabase } from './helpers.js';

const mongo = testDatabase('beat');
const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(dirname(createRequire(import.meta.url).resolve('@tq/worker/package.json')), 'src', 'cli', 'run.ts');
const LEASE_TTL = 2;

interface Beat {
  child: ChildProcess;
  log: () => string;
  exited: Promise<number | null>;
}

function startBeat(): Beat {
  const args = ['--import', 'tsx', '--conditions=@tq/source', CLI, 'beat', '-A', join(here, 'fixtures', 'beat-mongo-app.ts'), '--store', 'backend', '--lease-ttl', String(LEASE_TTL), '--loglevel', 'debug'];
  const child = spawn(process.execPath, args, { env: { ...process.env, TQ_BEAT_MONGO_URL: mongo.url }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return { child, log: () => out, exited: new Promise((resolve) => child.once('exit', resolve)) };
}

const sentIds = (beat: Beat) => [...beat.log().matchAll(/fixture\.tick sent\. id->(\S+)/g)].map((m) => m[1]!);
const until = (beat: Beat, pattern: RegExp, timeout = 30_000) =>
  waitFor(() => pattern.test(beat.log()), { timeout, interval: 50, message: `${pattern} in the beat's log:\n${beat.log()}` });

it('one of two beat processes sends; when it is killed the other takes over and no run is lost', { timeout: 90_000 }, async () => {
  const a = startBeat();
  let b: Beat | null = null;
  try {
    await until(a, /acquired the lease tq-beat:beatmongo:lease/);
    b = startBeat();
    await until(b, /state -> the mongodb result backend/);
    await until(a, /(fixture\.tick sent\. id->\S+[^]*){3}/);
    expect(b.log()).not.toMatch(/acquired the lease/);

    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    await a.exited;
    const fromA = sentIds(a);
    await until(b, /acquired the lease tq-beat:beatmongo:lease/, 10_000);
    expect(Date.now() - killedAt).toBeLessThan((LEASE_TTL + LEASE_TTL / 10) * 1000 + 1500);
    await until(b, /(fixture\.tick sent\. id->\S+[^]*){3}/);
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);

    const all = [...fromA, ...sentIds(b)];
    const kv = mongo.db().collection<{ _id: string; value: string }>('tq_kv');
    const record = JSON.parse((await kv.findOne({ _id: 'tq-beat:beatmongo:entry:tick' }))!.value) as { totalRunCount: number; pending: unknown };
    expect(record.pending).toBeNull();
    expect(new Set(all).size).toBe(record.totalRunCount);
    expect(all.length - new Set(all).size).toBeLessThanOrEqual(1);
    // B released the lease when it stopped.
    expect(await kv.findOne({ _id: 'tq-beat:beatmongo:lease' })).toBeNull();
  } finally {
    if (a.child.exitCode === null) a.child.kill('SIGKILL');
    if (b && b.child.exitCode === null) b.child.kill('SIGKILL');
  }
});
