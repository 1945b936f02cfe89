/**
 * The monitor's HTTP surface on Redis: basic auth with roles, CSRF on actions, read-only mode,
 * the URL prefix, the live stream over a real HTTP server, the static UI, and refusing to
 * listen beyond loopback without auth.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '@tq/core';
import { waitFor } from '@tq/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { serveMonitor, type TaskJson } from '../src/index.js';
import { staticUi } from '../src/routes/static-ui.js';
import { REDIS, registerTasks, startCluster, waitForTask, type Cluster } from './helpers.js';

const USERS = [
  { username: 'admin', password: 's3cret-admin', role: 'admin' as const },
  { username: 'viewer', password: 'viewer-pass', role: 'read-only' as const },
];
const basic = (user: string, pass: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });

let cluster: Cluster | null = null;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  await cluster?.close();
  cluster = null;
});

describe('auth', () => {
  it('asks for credentials, lets the admin act and refuses actions to the read-only user', async () => {
    cluster = await startCluster(REDIS, { auth: { users: USERS } });
    const c = cluster;
    const { monitor } = c;
    const get = (path: string, headers: Record<string, string> = {}) => monitor.fetch(new Request(`http://m.test${path}`, { headers }));
    const post = (path: string, headers: Record<string, string> = {}) => monitor.fetch(new Request(`http://m.test${path}`, { method: 'POST', headers }));

    const anonymous = await get('/api/workers');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect((await get('/api/ui/overview', basic('admin', 'wrong'))).status).toBe(401);
    expect((await get('/api/ui/overview', basic('admin', 's3cret-admin'))).status).toBe(200);
    // Flower leaves these open for probes and scrapers.
    expect(await (await get('/healthcheck')).text()).toBe('OK');
    expect((await get('/metrics')).status).toBe(200);

    const adminSession = (await (await get('/api/ui/session', basic('admin', 's3cret-admin'))).json()) as { csrfToken: string; readOnly: boolean; user: { username: string } };
    expect(adminSession).toMatchObject({ readOnly: false, user: { username: 'admin', role: 'admin' } });
    const viewerSession = (await (await get('/api/ui/session', basic('viewer', 'viewer-pass'))).json()) as { csrfToken: string; readOnly: boolean };
    expect(viewerSession.readOnly).toBe(true);
    expect(viewerSession.csrfToken).not.toBe(adminSession.csrfToken);

    const id = 'd1a2b3c4-0000-4000-8000-000000000001';
    expect((await post(`/api/task/revoke/${id}`, basic('admin', 's3cret-admin'))).status).toBe(403);
    expect((await post(`/api/task/revoke/${id}`, { ...basic('admin', 's3cret-admin'), 'X-CSRF-Token': viewerSession.csrfToken })).status).toBe(403);
    const revoked = await post(`/api/task/revoke/${id}`, { ...basic('admin', 's3cret-admin'), 'X-CSRF-Token': adminSession.csrfToken });
    expect(revoked.status).toBe(200);
    const refused = await post(`/api/task/revoke/${id}`, { ...basic('viewer', 'viewer-pass'), 'X-CSRF-Token': viewerSession.csrfToken });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toMatch(/read-only/);
    expect((await post('/api/ui/queues/celery/purge', { ...basic('viewer', 'viewer-pass'), 'X-CSRF-Token': viewerSession.csrfToken })).status).toBe(403);
  });

  it('refuses every action in read-only mode', async () => {
    cluster = await startCluster(REDIS, { readOnly: true });
    const session = await cluster.getJson<{ readOnly: boolean }>('/api/ui/session');
    expect(session.readOnly).toBe(true);
    const res = await cluster.post(`/api/ui/queues/${cluster.queue}/purge`);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toMatch(/read-only/);
  });
});

describe('serving', () => {
  it('serves under a prefix, streams task updates live and retries a failed task', async () => {
    const c = (cluster = await startCluster(REDIS, { prefix: '/flower/' }));
    expect(c.monitor.prefix).toBe('/flower');
    expect((await c.monitor.fetch(new Request('http://m.test/api/ui/session'))).status).toBe(404);
    const redirect = await c.monitor.fetch(new Request('http://m.test/flower'));
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/flower/');
    await c.startWorker();

    const served = await serveMonitor(c.client, { port: 0, prefix: '/flower', streamInterval: 50 });
    cleanups.push(() => served.close());
    expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/flower\/$/);
    const abort = new AbortController();
    cleanups.push(() => abort.abort());
    const stream = await fetch(`${served.url}api/ui/stream`, { signal: abort.signal });
    expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = stream.body!.getReader();
    let text = '';
    const failed = await c.client.sendTask('flower.fail', ['live']);
    await waitFor(
      async () => {
        const { value } = await reader.read();
        text += new TextDecoder().decode(value);
        return new RegExp(`event: task\\ndata: \\{"uuid":"${failed.id}"[^\\n]*"state":"FAILURE"`).test(text);
      },
      { message: `a task event for ${failed.id} in FAILURE on the stream` },
    );
    expect(text).toMatch(/event: stats\ndata: \{"totals":/);

    await waitForTask(c, failed.id, 'FAILURE');
    const retry = await c.post(`/api/ui/tasks/${failed.id}/retry`);
    expect(retry.status).toBe(200);
    const { taskId } = (await retry.json()) as { taskId: string };
    expect(taskId).not.toBe(failed.id);
    const again = (await waitForTask(c, taskId, 'FAILURE')) as TaskJson;
    expect(again).toMatchObject({ name: 'flower.fail', args: "('live',)" });
  });

  it('serves queues and the API on a broker without events, saying why workers are missing', async () => {
    const lines: string[] = [];
    const log = (m: string) => lines.push(m);
    const app = createApp({ broker: 'memory://', logger: { debug: log, info: log, warn: log, error: log } });
    cleanups.push(() => app.close());
    const broker = await app.getBroker();
    (broker.capabilities as { fanout: boolean }).fanout = false;
    const served = await serveMonitor(app, { port: 0, inspectInterval: 0 });
    cleanups.push(() => served.close());
    expect(lines.some((l) => /events need a broker with fanout/.test(l))).toBe(true);
    await app.sendTask('flower.add', [1, 2]);
    const queues = (await (await fetch(`${served.url}api/ui/queues`)).json()) as Array<{ name: string; messages: number }>;
    expect(queues).toContainEqual({ name: 'celery', messages: 1, broker: 'memory' });
  });

  it('refuses to listen beyond loopback without auth', async () => {
    const app = createApp({ broker: 'memory://' });
    registerTasks(app);
    cleanups.push(() => app.close());
    await expect(serveMonitor(app, { host: '0.0.0.0', port: 0 })).rejects.toThrow(/without authentication/);
  });

  it('serves the built UI and its assets, or says how to build it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flower-ui-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const missing = staticUi('/flower', join(dir, 'nothing'));
    const none = await missing.fetch(new Request('http://m.test/'));
    expect(none.status).toBe(503);
    expect(await none.text()).toContain('npm run build -w @tq/flower');
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>tq flower</title>');
    writeFileSync(join(dir, 'assets', 'app.js'), 'console.log(1)');
    const ui = staticUi('', dir);
    const index = await ui.fetch(new Request('http://m.test/'));
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/text\/html/);
    expect(await index.text()).toContain('<title>tq flower</title>');
    expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
    const asset = await ui.fetch(new Request('http://m.test/assets/app.js'));
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect((await ui.fetch(new Request('http://m.test/assets/../../etc/passwd'))).status).toBe(404);
  });
});
