/**
 * The visibility timeout, kombu's way, and tq's fix for Celery's worst Redis bug: a message
 * held past the timeout comes back (flagged redelivered) unless its holder touches it.
 */
import type { Delivery } from '@tq/core';
import { Collector, conformanceMessage, uniqueName, waitFor } from '@tq/testing';
import { decodeTaskMessage } from '@tq/protocol';
import { describe, expect, it } from 'vitest';
import { RedisBroker } from '../src/redis-broker.js';
import { DB, redisUrl, testKeyspace } from './helpers.js';

const VT = 1;
const keys = testKeyspace(DB.broker, 'visibility');
const { prefix } = keys;

function open(options: ConstructorParameters<typeof RedisBroker>[1] = {}): RedisBroker {
  const broker = new RedisBroker(redisUrl(DB.broker), { globalKeyprefix: prefix, visibilityTimeout: VT, unackedRestoreInterval: 0.1, ...options });
  return keys.track(broker);
}

const idOf = (d: Delivery) => decodeTaskMessage(d.message).headers.id;

describe('visibility timeout', () => {
  it('exposes the timeout and touch()', async () => {
    const broker = open();
    expect(broker.visibilityTimeout).toBe(VT);
    expect(broker.capabilities.visibilityTimeout).toBe(true);
    expect(new RedisBroker(redisUrl(DB.broker)).visibilityTimeout).toBe(3600);
    expect(new RedisBroker(redisUrl(DB.broker), { visibility_timeout: 43200 } as never).visibilityTimeout).toBe(43200);
  });

  it('restores an untouched message after the timeout; a touched one stays with its holder', async () => {
    const holder = open();
    const q = uniqueName('vt');
    await holder.publish(conformanceMessage(1), { exchange: '', routingKey: q }, { declare: [{ name: q }] });
    await holder.publish(conformanceMessage(2), { exchange: '', routingKey: q });
    const held = new Collector<Delivery>();
    const consumer = await holder.consume([{ name: q }], held.push, { prefetch: 2 });
    const [touched, untouched] = await held.atLeast(2);
    expect(idOf(touched!)).toBe('msg-1');
    const deliveredAt = Date.now();

    // Touch msg-1 well within the timeout, as the worker does for what it holds, until 2.5× the timeout has passed.
    let touching = true;
    const toucher = (async () => {
      while (touching) {
        await touched!.touch!();
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    try {
      // The untouched msg-2 comes back to the queue, flagged as redelivered (nobody consumes it now: prefetch is full).
      await waitFor(async () => (await keys.raw.llen(`${prefix}${q}`)) === 1, { timeout: 10_000, message: 'msg-2 to be restored' });
      const restored = JSON.parse((await keys.raw.lindex(`${prefix}${q}`, 0))!) as { headers: { id: string; redelivered: boolean } };
      expect(restored.headers).toMatchObject({ id: 'msg-2', redelivered: true });
      expect(await keys.raw.hexists(`${prefix}unacked`, untouched!.deliveryTag)).toBe(0);

      await waitFor(() => Date.now() - deliveredAt > 2.5 * VT * 1000, { timeout: 10_000, interval: 50, message: 'two and a half visibility timeouts to pass' });
      await holder.restoreVisible();
      expect(await keys.raw.hexists(`${prefix}unacked`, touched!.deliveryTag)).toBe(1);
      expect(await keys.raw.llen(`${prefix}${q}`)).toBe(1);
    } finally {
      touching = false;
      await toucher;
    }

    // The holder stops consuming and finishes msg-1; settling msg-2's old delivery changes nothing in Redis.
    await consumer.cancel();
    await touched!.ack();
    await untouched!.ack();
    expect(await keys.raw.hexists(`${prefix}unacked`, touched!.deliveryTag)).toBe(0);
    expect(held.items.length).toBe(2);
    expect(await keys.raw.llen(`${prefix}${q}`)).toBe(1);

    // Another consumer gets msg-2, marked as redelivered.
    const other = open();
    const again = new Collector<Delivery>();
    await other.consume([{ name: q }], again.push, { prefetch: 1 });
    const [d] = await again.atLeast(1);
    expect(idOf(d!)).toBe('msg-2');
    expect(d!.info.redelivered).toBe(true);
    await d!.ack();
  });

  it('takes the unacked_mutex for a sweep, so concurrent sweepers restore a message once', async () => {
    const holder = open({ unackedRestoreInterval: 3600 });
    const q = uniqueName('mutex');
    await holder.publish(conformanceMessage(1), { exchange: '', routingKey: q }, { declare: [{ name: q }] });
    const held = new Collector<Delivery>();
    await holder.consume([{ name: q }], held.push, { prefetch: 1 });
    await held.atLeast(1);
    const sweepers = [open({ unackedRestoreInterval: 3600 }), open({ unackedRestoreInterval: 3600 }), open({ unackedRestoreInterval: 3600 })];
    await Promise.all(sweepers.map((s) => s.connect()));
    const deliveredAt = Date.now();
    await waitFor(() => Date.now() - deliveredAt > VT * 1000 + 100, { timeout: 5000, interval: 20, message: 'the visibility timeout to pass' });
    // A held mutex makes a sweep a no-op, as kombu's MutexHeld.
    await keys.raw.set(`${prefix}unacked_mutex`, 'someone-else', 'PX', 5000);
    expect(await sweepers[0]!.restoreVisible()).toBe(0);
    await keys.raw.del(`${prefix}unacked_mutex`);
    const counts = await Promise.all([...sweepers, holder].map((s) => s.restoreVisible()));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
    expect(await keys.raw.llen(`${prefix}${q}`)).toBe(1);
    expect(await keys.raw.exists(`${prefix}unacked_mutex`)).toBe(0);
  });

  it('restores messages a Python worker left in unacked (kombu layout written by hand)', async () => {
    const broker = open({ unackedRestoreInterval: 3600 });
    const q = uniqueName('pyvt');
    await broker.connect();
    const envelope =
      '{"body": "W1tdLCB7fSwge31d", "content-encoding": "utf-8", "content-type": "application/json", "headers": {"lang": "py", "task": "t", "id": "py-9"}, ' +
      `"properties": {"correlation_id": "py-9", "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "${q}"}, "priority": 6, "body_encoding": "base64", "delivery_tag": "py-tag-9"}}`;
    await keys.raw.hset(`${prefix}unacked`, 'py-tag-9', `[${envelope}, "", "${q}"]`);
    await keys.raw.zadd(`${prefix}unacked_index`, Date.now() / 1000 - 10, 'py-tag-9');
    expect(await broker.restoreVisible()).toBe(1);
    const restored = await keys.raw.lrange(`${prefix}${q}\x06\x166`, 0, -1);
    expect(restored).toEqual([envelope.replace('"id": "py-9"}', '"id": "py-9", "redelivered": true}').replace(`"routing_key": "${q}"}`, `"routing_key": "${q}", "redelivered": true}`)]);
  });
});
