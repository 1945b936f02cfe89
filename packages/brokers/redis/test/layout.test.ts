/**
 * Byte compatibility with kombu's Redis layout, read back with a plain Redis client: list names
 * with the priority separator, binding-set members, the unacked hash and index, channel names,
 * the redelivered flags on restores, and messages written by someone else (Python) straight
 * into the lists.
 */
import { execFileSync } from 'node:child_process';
import type { Delivery } from '@tq/core';
import { Collector, conformanceMessage, recordingLogger, uniqueName, waitFor } from '@tq/testing';
import { decodeTaskMessage } from '@tq/protocol';
import { describe, expect, it } from 'vitest';
import { RedisBroker } from '../src/redis-broker.js';
import { DB, rawClient, redisUrl, testKeyspace } from './helpers.js';

const SEP = '\x06\x16';
const keys = testKeyspace(DB.broker, 'layout');
const { prefix } = keys;

function open(options: ConstructorParameters<typeof RedisBroker>[1] = {}): RedisBroker {
  const broker = new RedisBroker(redisUrl(DB.broker), { globalKeyprefix: prefix, ...options });
  return keys.track(broker);
}

function idOf(d: Delivery): string {
  return decodeTaskMessage(d.message).headers.id;
}

/** Python's json.dumps of a string, from the real thing. */
function pythonJson(value: string): string {
  return execFileSync('/usr/bin/python3', ['-c', 'import json,sys; sys.stdout.write(json.dumps(sys.argv[1]))', value]).toString();
}

describe('Redis layout (read with a plain client)', () => {
  it('files priorities into the separator-suffixed lists and serves the lowest first', async () => {
    const broker = open();
    const q = uniqueName('prio');
    for (const [i, p] of [0, 1, 3, 5, 6, 9, 12].entries()) {
      await broker.publish(conformanceMessage(i, { priority: p }), { exchange: '', routingKey: q }, { declare: [{ name: q }] });
    }
    expect(await keys.raw.llen(`${prefix}${q}`)).toBe(2);
    expect(await keys.raw.llen(`${prefix}${q}${SEP}3`)).toBe(2);
    expect(await keys.raw.llen(`${prefix}${q}${SEP}6`)).toBe(1);
    expect(await keys.raw.llen(`${prefix}${q}${SEP}9`)).toBe(2);
    expect(await broker.queueLength(q)).toBe(7);
    const stored = JSON.parse((await keys.raw.lindex(`${prefix}${q}${SEP}9`, -1))!) as Record<string, unknown>;
    expect(Object.keys(stored)).toEqual(['body', 'content-encoding', 'content-type', 'headers', 'properties']);
    expect(Object.keys(stored['properties'] as object)).toEqual(['correlation_id', 'reply_to', 'delivery_mode', 'delivery_info', 'priority', 'body_encoding', 'delivery_tag']);
    const got = new Collector<Delivery>();
    await broker.consume([{ name: q }], (d) => {
      got.push(d);
      void d.ack();
    }, { prefetch: 1 });
    const order = (await got.atLeast(7)).map((d) => d.info.priority);
    expect(order).toEqual([0, 1, 3, 5, 6, 9, 12]);
  });

  it('declares bindings as kombu does: _kombu.binding.<exchange> = rk SEP pattern SEP queue', async () => {
    const broker = open();
    const q = uniqueName('bound');
    await broker.declareQueue({ name: q });
    await broker.declareQueue({ name: `${q}-t`, bindings: [{ exchange: `${q}-topic`, routingKey: 'usa.#', exchangeType: 'topic' }] });
    expect(await keys.raw.smembers(`${prefix}_kombu.binding.${q}`)).toEqual([`${q}${SEP}${SEP}${q}`]);
    expect(await keys.raw.smembers(`${prefix}_kombu.binding.${q}-topic`)).toEqual([`usa.#${SEP}^usa\\..*?$${SEP}${q}-t`]);
  });

  it('routes a named direct exchange through a binding another process added, without delay', async () => {
    const broker = open();
    const exchange = uniqueName('px');
    const q = uniqueName('pq');
    await broker.publish(conformanceMessage(0), { exchange, routingKey: 'nobody', exchangeType: 'direct' });
    // A Python client binds its queue (kombu's _queue_bind) after our cache saw an empty set.
    await keys.raw.sadd(`${prefix}_kombu.binding.${exchange}`, `rk${SEP}${SEP}${q}`);
    await broker.publish(conformanceMessage(1), { exchange, routingKey: 'rk', exchangeType: 'direct' });
    expect(await keys.raw.llen(`${prefix}${q}`)).toBe(1);
  });

  it('registers a delivery in unacked / unacked_index exactly as kombu, and removes it on ack', async () => {
    const broker = open();
    const q = uniqueName('ack');
    await broker.publish(conformanceMessage(1), { exchange: '', routingKey: q }, { declare: [{ name: q }] });
    const envelope = (await keys.raw.lindex(`${prefix}${q}`, 0))!;
    const got = new Collector<Delivery>();
    const before = Date.now() / 1000;
    await broker.consume([{ name: q }], got.push, { prefetch: 1 });
    const [d] = await got.atLeast(1);
    const tag = d!.deliveryTag;
    expect(tag).toBe((JSON.parse(envelope) as { properties: { delivery_tag: string } }).properties.delivery_tag);
    expect(await keys.raw.hget(`${prefix}unacked`, tag)).toBe(`[${envelope}, "", ${JSON.stringify(q)}]`);
    const score = Number(await keys.raw.zscore(`${prefix}unacked_index`, tag));
    expect(score).toBeGreaterThanOrEqual(before - 1);
    expect(score).toBeLessThanOrEqual(Date.now() / 1000 + 1);
    await d!.ack();
    expect(await keys.raw.hexists(`${prefix}unacked`, tag)).toBe(0);
    expect(await keys.raw.zscore(`${prefix}unacked_index`, tag)).toBeNull();
  });

  it('acknowledges within the pop that refills the prefetch window, with the same effect', async () => {
    const broker = open();
    const q = uniqueName('ackpop');
    for (const n of [1, 2]) await broker.publish(conformanceMessage(n), { exchange: '', routingKey: q }, { declare: [{ name: q }] });
    const got = new Collector<Delivery>();
    await broker.consume([{ name: q }], got.push, { prefetch: 1 });
    const [first] = await got.atLeast(1);
    // The ack frees the window: the pop for the second message carries it.
    await first!.ack();
    const [, second] = await got.atLeast(2);
    expect(await keys.raw.hexists(`${prefix}unacked`, first!.deliveryTag)).toBe(0);
    expect(await keys.raw.zscore(`${prefix}unacked_index`, first!.deliveryTag)).toBeNull();
    expect(await keys.raw.hexists(`${prefix}unacked`, second!.deliveryTag)).toBe(1);
    await second!.ack();
    await waitFor(async () => (await keys.raw.hlen(`${prefix}unacked`)) === 0, { message: 'nothing left unacked' });
    expect(await keys.raw.zcard(`${prefix}unacked_index`)).toBe(0);
  });

  it('writes the exchange and routing key in unacked with Python json.dumps escaping', async () => {
    const broker = open();
    const exchange = `${uniqueName('ex')}-é"\\`;
    const q = uniqueName('esc');
    const rk = 'clé/ü"✓𝄞';
    await broker.declareExchange(exchange, 'direct');
    await broker.declareQueue({ name: q, bindings: [{ exchange, routingKey: rk }] });
    await broker.publish(conformanceMessage(1), { exchange, routingKey: rk });
    const got = new Collector<Delivery>();
    await broker.consume([{ name: q }], got.push, { prefetch: 1 });
    const [d] = await got.atLeast(1);
    const stored = (await keys.raw.hget(`${prefix}unacked`, d!.deliveryTag))!;
    expect(stored.endsWith(`, ${pythonJson(exchange)}, ${pythonJson(rk)}]`)).toBe(true);
    expect(d!.info).toMatchObject({ exchange, routingKey: rk });
    await d!.ack();
  });

  it('requeues a rejected message at the tail (LPUSH) with the redelivered flags', async () => {
    const broker = open();
    const q = uniqueName('rej');
    await broker.publish(conformanceMessage(1), { exchange: '', routingKey: q }, { declare: [{ name: q }] });
    await broker.publish(conformanceMessage(2), { exchange: '', routingKey: q });
    const got = new Collector<Delivery>();
    const consumer = await broker.consume([{ name: q }], got.push, { prefetch: 1 });
    const [first] = await got.atLeast(1);
    await consumer.cancel();
    await first!.reject(true);
    const list = await keys.raw.lrange(`${prefix}${q}`, 0, -1);
    expect(list.length).toBe(2);
    const requeued = JSON.parse(list[0]!) as { headers: Record<string, unknown>; properties: { delivery_info: Record<string, unknown> } };
    expect(requeued.headers['id']).toBe('msg-1');
    expect(requeued.headers['redelivered']).toBe(true);
    expect(requeued.properties.delivery_info).toEqual({ exchange: '', routing_key: q, redelivered: true });
    expect(await keys.raw.hlen(`${prefix}unacked`)).toBe(0);
  });

  it('returns unacknowledged deliveries to the head of their queue (RPUSH) at close, in order', async () => {
    const broker = open();
    const q = uniqueName('close');
    for (let i = 0; i < 3; i++) await broker.publish(conformanceMessage(i), { exchange: '', routingKey: q }, { declare: [{ name: q }] });
    const got = new Collector<Delivery>();
    await broker.consume([{ name: q }], got.push, { prefetch: 2 });
    await got.atLeast(2);
    await broker.close();
    const list = await keys.raw.lrange(`${prefix}${q}`, 0, -1);
    // Right end is served first: msg-0, msg-1 (redelivered), then msg-2.
    const ids = list.map((e) => (JSON.parse(e) as { headers: { id: string; redelivered?: boolean } }).headers);
    expect(ids.map((h) => h.id)).toEqual(['msg-2', 'msg-1', 'msg-0']);
    expect(ids.map((h) => h.redelivered ?? false)).toEqual([false, true, true]);
  });

  it('consumes envelopes written by someone else, and drops a malformed one with a logged reason', async () => {
    const logger = recordingLogger();
    const broker = open({ logger });
    const q = uniqueName('foreign');
    await broker.declareQueue({ name: q });
    const python =
      '{"body": "W1syLCAzXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d", ' +
      '"content-encoding": "utf-8", "content-type": "application/json", "headers": {"lang": "py", "task": "proj.add", "id": "py-1", ' +
      '"shadow": null, "eta": null, "expires": null, "group": null, "group_index": null, "retries": 0, "timelimit": [null, null], ' +
      '"root_id": "py-1", "parent_id": null, "argsrepr": "(2, 3)", "kwargsrepr": "{}", "origin": "gen1@vm", "ignore_result": false}, ' +
      '"properties": {"correlation_id": "py-1", "reply_to": "r", "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "' +
      q +
      '"}, "priority": 0, "body_encoding": "base64", "delivery_tag": "tag-py-1"}}';
    await keys.raw.lpush(`${prefix}${q}`, '{"this is": not json');
    await keys.raw.lpush(`${prefix}${q}`, '[1, 2, 3]');
    await keys.raw.lpush(`${prefix}${q}`, python);
    const got = new Collector<Delivery>();
    await broker.consume([{ name: q }], (d) => {
      got.push(d);
      void d.ack();
    }, { prefetch: 5 });
    const [d] = await got.atLeast(1);
    expect(idOf(d!)).toBe('py-1');
    expect(decodeTaskMessage(d!.message).args).toEqual([2, 3]);
    await waitFor(() => logger.lines.filter((l) => l.message.includes('dropped a message')).length === 2, { message: 'two drops logged' });
    expect(logger.lines.find((l) => l.message.includes('invalid JSON'))?.message).toContain(q);
    expect(logger.lines.find((l) => l.message.includes('expected a JSON object'))?.message).toContain('[1, 2, 3]');
    await waitFor(async () => (await keys.raw.hlen(`${prefix}unacked`)) === 0, { message: 'nothing left unacked' });
    expect(await broker.queueLength(q)).toBe(0);
  });

  it('consumes several queues round robin, one step at a time (kombu queue cycle)', async () => {
    const broker = open();
    const a = uniqueName('rra');
    const b = uniqueName('rrb');
    for (let i = 0; i < 3; i++) await broker.publish(conformanceMessage(i), { exchange: '', routingKey: a }, { declare: [{ name: a }] });
    for (let i = 10; i < 13; i++) await broker.publish(conformanceMessage(i), { exchange: '', routingKey: b }, { declare: [{ name: b }] });
    await broker.publish(conformanceMessage(99, { priority: 9 }), { exchange: '', routingKey: a });
    const got = new Collector<Delivery>();
    await broker.consume([{ name: a }, { name: b }], (d) => {
      got.push(d);
      void d.ack();
    }, { prefetch: 1 });
    const ids = (await got.atLeast(7)).map(idOf);
    expect(ids).toEqual(['msg-0', 'msg-10', 'msg-1', 'msg-11', 'msg-2', 'msg-12', 'msg-99']);
  });

  it('consumes queues in a fixed order with queueOrderStrategy priority', async () => {
    const broker = open({ queueOrderStrategy: 'priority' });
    const a = uniqueName('pa');
    const b = uniqueName('pb');
    for (let i = 0; i < 2; i++) await broker.publish(conformanceMessage(i), { exchange: '', routingKey: b }, { declare: [{ name: b }] });
    for (let i = 10; i < 12; i++) await broker.publish(conformanceMessage(i), { exchange: '', routingKey: a }, { declare: [{ name: a }] });
    const got = new Collector<Delivery>();
    await broker.consume([{ name: a }, { name: b }], (d) => {
      got.push(d);
      void d.ack();
    }, { prefetch: 1 });
    expect((await got.atLeast(4)).map(idOf)).toEqual(['msg-10', 'msg-11', 'msg-0', 'msg-1']);
  });

  it('broadcasts on /<db>.<exchange>[/<rk>] channels (prefixed), as Python subscribers expect', async () => {
    const broker = open();
    const listener = rawClient(DB.broker);
    try {
      const seen = new Collector<[string, string]>();
      listener.on('pmessage', (_p: string, channel: string, data: string) => seen.push([channel, data]));
      await listener.psubscribe(`${prefix}/${DB.broker}.*`);
      await broker.declareExchange('celery.pidbox', 'fanout');
      await broker.publish(conformanceMessage(1), { exchange: 'celery.pidbox', routingKey: '', exchangeType: 'fanout' });
      await broker.publish(conformanceMessage(2), { exchange: 'celeryev', routingKey: 'worker.heartbeat', exchangeType: 'topic' });
      await broker.publish(conformanceMessage(3), { exchange: 'celeryev', routingKey: 'task.multi', exchangeType: 'fanout' });
      const got = await seen.atLeast(3);
      expect(got.map(([c]) => c)).toEqual([`${prefix}/${DB.broker}.celery.pidbox`, `${prefix}/${DB.broker}.celeryev/worker.heartbeat`, `${prefix}/${DB.broker}.celeryev/task.multi`]);
      const envelope = JSON.parse(got[0]![1]) as { properties: { delivery_info: unknown } };
      expect(envelope.properties.delivery_info).toEqual({ exchange: 'celery.pidbox', routing_key: '' });
    } finally {
      listener.disconnect();
    }
  });

  it('receives broadcasts from other publishers through subscribe, with the routing key', async () => {
    const broker = open();
    const other = open();
    const got = new Collector<[string, string]>();
    const sub = await broker.subscribe('celeryev', '#', (m, rk) => got.push([decodeTaskMessage(m).headers.id, rk]), { exchangeType: 'topic', queueName: 'celeryev.test' });
    expect(await keys.raw.smembers(`${prefix}_kombu.binding.celeryev`)).toContain(`#${SEP}${SEP}celeryev.test`);
    await other.publish(conformanceMessage(7), { exchange: 'celeryev', routingKey: 'task.succeeded', exchangeType: 'topic' });
    expect(await got.atLeast(1)).toEqual([['msg-7', 'task.succeeded']]);
    await sub.close();
    expect(await keys.raw.smembers(`${prefix}_kombu.binding.celeryev`)).not.toContain(`#${SEP}${SEP}celeryev.test`);
  });

  it('purges every priority list of a queue and counts what it removed', async () => {
    const broker = open();
    const q = uniqueName('purge');
    for (const p of [0, 4, 9]) await broker.publish(conformanceMessage(p, { priority: p }), { exchange: '', routingKey: q }, { declare: [{ name: q }] });
    expect(await broker.purge(q)).toBe(3);
    expect(await keys.raw.exists(`${prefix}${q}`, `${prefix}${q}${SEP}3`, `${prefix}${q}${SEP}9`)).toBe(0);
  });
});

describe('publish errors', () => {
  it('refuses headers JSON cannot carry with a non-retryable EncodeError', async () => {
    const broker = open();
    await broker.connect();
    const message = conformanceMessage(1, { headers: { bad: Symbol.for('x') as unknown as string } });
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    message.headers['loop'] = circular;
    const error = (await broker.publish(message, { exchange: '', routingKey: uniqueName('enc') }).catch((e: unknown) => e)) as Error & { code: string; retryable: boolean };
    expect(error.code).toBe('ENCODE_ERROR');
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/cannot encode the message's headers or properties as JSON: .*circular/);
  });
});
