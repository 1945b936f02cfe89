/**
 * `tq flower`: the real CLI in a child process, on Redis with a broker URL and no app module;
 * and its refusal to listen beyond loopback without --basic-auth.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, uniqueName, waitFor } from '@tq/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { DB, redisUrl } from './helpers.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'worker', 'src', 'cli', 'run.ts');
const children: ChildProcess[] = [];

function tq(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@tq/source', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

describe('tq flower', () => {
  it('serves the monitor for a broker URL, with basic auth and a prefix, and stops on SIGTERM', async () => {
    const port = await freePort();
    const broker = redisUrl(DB.broker);
    const cli = tq(['flower', '--broker', broker, '--port', String(port), '--basic-auth', 'ops:pa55word', '--url-prefix', '/flower', '--inspect-interval', '1']);
    const line = await waitFor(() => /serving (http:\/\/\S+)/.exec(cli.output()), { timeout: 30_000, message: `the serving line (output: ${cli.output()})` });
    expect(line[1]).toBe(`http://127.0.0.1:${port}/flower/`);
    expect(cli.output()).not.toContain('pa55word');
    const base = line[1]!;
    expect((await fetch(`${base}api/ui/session`)).status).toBe(401);
    const session = await fetch(`${base}api/ui/session`, { headers: { Authorization: `Basic ${Buffer.from('ops:pa55word').toString('base64')}` } });
    expect(await session.json()).toMatchObject({ readOnly: false, user: { username: 'ops' } });
    expect(await (await fetch(`${base}healthcheck`)).text()).toBe('OK');
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  });

  it('refuses to listen beyond loopback without auth', async () => {
    const cli = tq(['flower', '--broker', redisUrl(DB.broker), '--address', '0.0.0.0', '--port', String(await freePort()), '-Q', uniqueName('x')]);
    expect(await cli.exited).toBe(2);
    expect(cli.output()).toMatch(/valid options/);
    const open = tq(['flower', '--broker', redisUrl(DB.broker), '--address', '0.0.0.0', '--port', String(await freePort())]);
    expect(await open.exited).toBe(2);
    expect(open.output()).toMatch(/refusing to serve the monitor on 0\.0\.0\.0 without authentication/);
  });
});
