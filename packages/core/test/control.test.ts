/** The remote-control client against a fake worker on the memory transport: request shapes, reply merging, helpers' wire arguments. */
import { decodeControlRequest, encodeControlReply, PIDBOX_EXCHANGE, PIDBOX_REPLY_EXCHANGE, type ControlRequest } from '@tq/protocol';
import { describe, expect, it } from 'vitest';
import type { App } from '../src/index.js';
import { newApp } from './helpers.js';

/** A pretend worker that records requests and answers with `answer(request)`. */
async function fakeWorker(app: App, node: string, answer: (request: ControlRequest) => unknown) {
  const broker = await app.getBroker();
  const requests: ControlRequest[] = [];
  await broker.subscribe!(PIDBOX_EXCHANGE, '', async (message) => {
    const { request } = decodeControlRequest(message);
    requests.push(request);
    if (request.destination && !request.destination.includes(node)) return;
    if (!request.ticket || !request.reply_to) return;
    await broker.publish(encodeControlReply(node, answer(request), request.ticket, 1), { exchange: PIDBOX_REPLY_EXCHANGE, routingKey: request.reply_to.routing_key, exchangeType: 'direct' });
  }, { exchangeType: 'fanout' });
  return requests;
}

describe('app.control', () => {
  it('inspect() merges replies by node name, and returns null when nobody answers', async () => {
    const app = newApp();
    await fakeWorker(app, 'a@h', (r) => (r.method === 'ping' ? { ok: 'pong' } : [r.method]));
    await fakeWorker(app, 'b@h', (r) => (r.method === 'ping' ? { ok: 'pong' } : [r.method]));
    const inspect = app.control.inspect({ destination: ['a@h', 'b@h'], timeout: 1 });
    expect(await inspect.ping()).toEqual({ 'a@h': { ok: 'pong' }, 'b@h': { ok: 'pong' } });
    expect(await inspect.reserved()).toEqual({ 'a@h': ['reserved'], 'b@h': ['reserved'] });
    expect(await app.control.inspect({ destination: ['c@h'], timeout: 0.1 }).ping()).toBeNull();
  });

  it("sends Celery's argument names on the wire", async () => {
    const app = newApp();
    const requests = await fakeWorker(app, 'a@h', () => ({ ok: 'done' }));
    const to = { destination: ['a@h'], reply: true, timeout: 1 };
    const inspect = app.control.inspect({ destination: ['a@h'], timeout: 1 });
    await inspect.active({ safe: true });
    await inspect.registered('rate_limit');
    await inspect.queryTask('id1', ['id2']);
    await inspect.conf(true);
    await inspect.hello('me@h', { x: [1.5, 'x'] });
    await app.control.revoke(['t1'], { ...to, terminate: true, signal: 'SIGKILL' });
    await app.control.terminate('t2', to);
    await app.control.rateLimit('tasks.add', '10/m', to);
    await app.control.timeLimit('tasks.add', { soft: 10, hard: 20 }, to);
    await app.control.poolGrow(2, to);
    await app.control.poolShrink(undefined, to);
    await app.control.autoscale(10, 3, to);
    await app.control.addConsumer('q', { exchange: 'ex', routingKey: 'rk' }, to);
    await app.control.cancelConsumer('q', to);
    await app.control.poolRestart({ reload: true }, to);
    await app.control.shutdown(to);
    await app.control.ping(to);
    expect(requests.map((r) => [r.method, r.arguments])).toEqual([
      ['active', { safe: true }],
      ['registered', { taskinfoitems: ['rate_limit'] }],
      ['query_task', { ids: ['id1', 'id2'] }],
      ['conf', { with_defaults: true }],
      ['hello', { from_node: 'me@h', revoked: { x: [1.5, 'x'] } }],
      ['revoke', { task_id: ['t1'], terminate: true, signal: 'SIGKILL' }],
      ['revoke', { task_id: 't2', terminate: true, signal: 'SIGTERM' }],
      ['rate_limit', { task_name: 'tasks.add', rate_limit: '10/m' }],
      ['time_limit', { task_name: 'tasks.add', hard: 20, soft: 10 }],
      ['pool_grow', { n: 2 }],
      ['pool_shrink', { n: 1 }],
      ['autoscale', { max: 10, min: 3 }],
      ['add_consumer', { queue: 'q', exchange: 'ex', exchange_type: 'direct', routing_key: 'rk' }],
      ['cancel_consumer', { queue: 'q' }],
      ['pool_restart', { modules: null, reload: true, reloader: null }],
      ['shutdown', {}],
      ['ping', {}],
    ]);
  });
});
