/**
 * The behaviours every Broker must keep, as a vitest suite. The memory broker is the reference;
 * each adapter runs this against its real server:
 *
 *   runBrokerConformance({ name: 'redis', create: () => new RedisBroker(url) });
 *
 * Each test uses its own queue names and closes what it opens. Capability-dependent tests run
 * only when the broker declares the capability, and check that it really holds.
 */
import type { Broker, Delivery, QueueDeclaration } from '@tq/core';
import { createTaskMessage, decodeTaskMessage, encodeTaskMessage, type RawMessage } from '@tq/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, uniqueName, waitFor } from './wait.js';

export interface BrokerConformanceOptions {
  /** Shown in the suite name. */
  name: string;
  /** A new, unconnected broker; called once per test. */
  create: () => Broker | Promise<Broker>;
  /**
   * Another connection to the same server as `broker` (default: `create()`). The memory broker
   * has no server, so its peer is the broker itself.
   */
  peer?: (broker: Broker) => Broker | Promise<Broker>;
  /** Milliseconds to wait for deliveries (default 5000); networked brokers may need more. */
  timeout?: number;
  /** Prefix for queue and exchange names (default `tq-conf`). */
  prefix?: string;
}

/** A task message numbered `n` (its id is `msg-<n>`). */
export function conformanceMessage(n: number, extra: { priority?: number; headers?: Record<string, unknown> } = {}): RawMessage {
  return encodeTaskMessage(
    createTaskMessage({
      id: `msg-${n}`,
      task: 'conformance.echo',
      args: [n, 'é', { nested: [true, null] }],
      kwargs: { n },
      origin: 'gen0@conformance',
      ...(extra.priority === undefined ? {} : { priority: extra.priority }),
      ...(extra.headers ? { headers: extra.headers } : {}),
    }),
  );
}

function idOf(delivery: Delivery): string {
  return decodeTaskMessage(delivery.message).headers.id;
}

export function runBrokerConformance(options: BrokerConformanceOptions): void {
  const timeout = options.timeout ?? 5000;
  const prefix = options.prefix ?? 'tq-conf';

  describe(`Broker conformance: ${options.name}`, () => {
    const opened: Broker[] = [];
    const queues: Array<{ broker: Broker; name: string }> = [];

    async function open(): Promise<Broker> {
      const broker = await options.create();
      await broker.connect();
      opened.push(broker);
      return broker;
    }

    async function openPeer(broker: Broker): Promise<Broker> {
      const peer = options.peer ? await options.peer(broker) : await options.create();
      await peer.connect();
      if (!opened.includes(peer)) opened.push(peer);
      return peer;
    }

    function queue(broker: Broker, extra: Partial<QueueDeclaration> = {}): QueueDeclaration {
      const name = uniqueName(prefix);
      queues.push({ broker, name });
      return { name, durable: false, ...extra };
    }

    async function publishTo(broker: Broker, q: QueueDeclaration, message: RawMessage, deliverAt?: number): Promise<void> {
      await broker.publish(message, { exchange: '', routingKey: q.name }, { declare: [q], ...(deliverAt === undefined ? {} : { deliverAt }) });
    }

    afterEach(async () => {
      for (const { broker, name } of queues.splice(0)) {
        await broker.purge?.(name).catch(() => undefined);
      }
      for (const broker of opened.splice(0)) await broker.close();
    });

    it('delivers a published message intact: body, headers and properties', async () => {
      const broker = await open();
      const q = queue(broker);
      await broker.declareQueue(q);
      const got = new Collector<Delivery>();
      await broker.consume([q], got.push, { prefetch: 10 });
      const sent = conformanceMessage(1, { headers: { tenant: 'acme' } });
      await publishTo(broker, q, sent);
      const [delivery] = await got.atLeast(1, timeout);
      const decoded = decodeTaskMessage(delivery!.message);
      expect(decoded.args).toEqual([1, 'é', { nested: [true, null] }]);
      expect(decoded.kwargs).toEqual({ n: 1 });
      expect(decoded.headers.id).toBe('msg-1');
      expect(decoded.headers['tenant']).toBe('acme');
      expect(delivery!.message.properties.correlation_id).toBe('msg-1');
      expect(delivery!.message.contentType).toBe('application/json');
      expect(delivery!.queue).toBe(q.name);
      expect(delivery!.info.redelivered).toBe(false);
      await delivery!.ack();
    });

    it('keeps publish order within a priority', async () => {
      const broker = await open();
      const q = queue(broker);
      await broker.declareQueue(q);
      for (let i = 0; i < 20; i++) await publishTo(broker, q, conformanceMessage(i));
      const got = new Collector<Delivery>();
      await broker.consume([q], (d) => {
        got.push(d);
        void d.ack();
      }, { prefetch: 1 });
      const deliveries = await got.atLeast(20, timeout);
      expect(deliveries.map(idOf)).toEqual(Array.from({ length: 20 }, (_, i) => `msg-${i}`));
    });

    it('never hands out more unacknowledged messages than the prefetch', async () => {
      const broker = await open();
      const q = queue(broker);
      await broker.declareQueue(q);
      for (let i = 0; i < 6; i++) await publishTo(broker, q, conformanceMessage(i));
      const got = new Collector<Delivery>();
      await broker.consume([q], got.push, { prefetch: 2 });
      await got.atLeast(2, timeout);
      // Give the broker every chance to over-deliver before checking it did not.
      await waitFor(async () => (broker.queueLength ? (await broker.queueLength(q.name)) === 4 : true), { timeout });
      expect(got.items.length).toBe(2);
      // Each ack frees one slot: never more than two unacknowledged at any time.
      for (let acked = 0; acked < 6; acked++) {
        await got.atLeast(Math.min(acked + 2, 6), timeout);
        expect(got.items.length - acked).toBeLessThanOrEqual(2);
        await got.items[acked]!.ack();
      }
    });

    it('does not deliver an acknowledged message again, and ack is idempotent', async () => {
      const broker = await open();
      const q = queue(broker);
      await broker.declareQueue(q);
      await publishTo(broker, q, conformanceMessage(1));
      await publishTo(broker, q, conformanceMessage(2));
      const got = new Collector<Delivery>();
      const consumer = await broker.consume([q], got.push, { prefetch: 1 });
      const [first] = await got.atLeast(1, timeout);
      await first!.ack();
      await first!.ack();
      const [, second] = await got.atLeast(2, timeout);
      expect(idOf(second!)).toBe('msg-2');
      await second!.ack();
      await consumer.cancel();
      if (broker.queueLength) expect(await broker.queueLength(q.name)).toBe(0);
    });

    it('redelivers a message rejected with requeue, flagged as redelivered', async () => {
      const broker = await open();
      const q = queue(broker);
      await broker.declareQueue(q);
      await publishTo(broker, q, conformanceMessage(7));
      const got = new Collector<Delivery>();
      await broker.consume([q], got.push, { prefetch: 1 });
      const [first] = await got.atLeast(1, timeout);
      await first!.reject(true);
      const [, again] = await got.atLeast(2, timeout);
      expect(idOf(again!)).toBe('msg-7');
      expect(again!.info.redelivered).toBe(true);
      await again!.ack();
    });

    it('drops a message rejected without requeue', async () => {
      const broker = await open();
      const q = queue(broker);
      await broker.declareQueue(q);
      await publishTo(broker, q, conformanceMessage(1));
      await publishTo(broker, q, conformanceMessage(2));
      const got = new Collector<Delivery>();
      await broker.consume([q], got.push, { prefetch: 1 });
      const [first] = await got.atLeast(1, timeout);
      await first!.reject(false);
      const [, second] = await got.atLeast(2, timeout);
      expect(idOf(second!)).toBe('msg-2');
      await second!.ack();
      if (broker.queueLength) expect(await broker.queueLength(q.name)).toBe(0);
    });

    it('returns unacknowledged messages to the queue when the broker closes', async () => {
      const first = await open();
      const q = queue(first);
      await first.declareQueue(q);
      await publishTo(first, q, conformanceMessage(3));
      const got = new Collector<Delivery>();
      await first.consume([q], got.push, { prefetch: 1 });
      await got.atLeast(1, timeout);
      await first.close();
      const second = await openPeer(first);
      const again = new Collector<Delivery>();
      await second.consume([q], again.push, { prefetch: 1 });
      const [delivery] = await again.atLeast(1, timeout);
      expect(idOf(delivery!)).toBe('msg-3');
      await delivery!.ack();
    });

    it('stops delivering after cancel, while handed-out deliveries can still be settled', async () => {
      const broker = await open();
      const q = queue(broker);
      await broker.declareQueue(q);
      await publishTo(broker, q, conformanceMessage(1));
      const got = new Collector<Delivery>();
      const consumer = await broker.consume([q], got.push, { prefetch: 5 });
      const [delivery] = await got.atLeast(1, timeout);
      await consumer.cancel();
      await publishTo(broker, q, conformanceMessage(2));
      await delivery!.ack();
      if (broker.queueLength) await waitFor(async () => (await broker.queueLength!(q.name)) === 1, { timeout, message: 'msg-2 to wait in the queue' });
      expect(got.items.length).toBe(1);
    });

    it('shares a queue between consumers: each message goes to exactly one', async () => {
      const broker = await open();
      const q = queue(broker);
      await broker.declareQueue(q);
      const got = new Collector<string>();
      const handler = (d: Delivery) => {
        got.push(idOf(d));
        void d.ack();
      };
      await broker.consume([q], handler, { prefetch: 2 });
      const other = await openPeer(broker);
      await other.consume([q], handler, { prefetch: 2 });
      for (let i = 0; i < 30; i++) await publishTo(broker, q, conformanceMessage(i));
      const ids = await got.atLeast(30, timeout);
      expect(new Set(ids).size).toBe(30);
      expect(ids.length).toBe(30);
    });

    it('routes through a named direct exchange by binding key', async () => {
      const broker = await open();
      const exchange = uniqueName(`${prefix}-x`);
      const a = queue(broker, { bindings: [{ exchange, routingKey: 'a', exchangeType: 'direct' }] });
      const b = queue(broker, { bindings: [{ exchange, routingKey: 'b', exchangeType: 'direct' }] });
      await broker.declareExchange(exchange, 'direct');
      await broker.declareQueue(a);
      await broker.declareQueue(b);
      const gotA = new Collector<string>();
      const gotB = new Collector<string>();
      await broker.consume([a], (d) => { gotA.push(idOf(d)); void d.ack(); }, { prefetch: 5 });
      await broker.consume([b], (d) => { gotB.push(idOf(d)); void d.ack(); }, { prefetch: 5 });
      await broker.publish(conformanceMessage(1), { exchange, routingKey: 'b', exchangeType: 'direct' });
      await broker.publish(conformanceMessage(2), { exchange, routingKey: 'a', exchangeType: 'direct' });
      expect(await gotA.atLeast(1, timeout)).toEqual(['msg-2']);
      expect(await gotB.atLeast(1, timeout)).toEqual(['msg-1']);
    });

    it('declares queues and exchanges idempotently', async () => {
      const broker = await open();
      const q = queue(broker);
      await broker.declareQueue(q);
      await broker.declareQueue(q);
      await broker.declareExchange(`${q.name}-x`, 'direct');
      await broker.declareExchange(`${q.name}-x`, 'direct');
      await publishTo(broker, q, conformanceMessage(1));
      if (broker.queueLength) expect(await broker.queueLength(q.name)).toBe(1);
    });

    it('orders by priority as its capability declares', async (ctx) => {
      const broker = await open();
      const order = broker.capabilities.priorities;
      if (!order) return ctx.skip();
      const q = queue(broker, { maxPriority: 9 });
      await broker.declareQueue(q);
      const priorities = [0, 9, 3, 6, 9, 0];
      for (const [i, p] of priorities.entries()) await publishTo(broker, q, conformanceMessage(i, { priority: p }));
      if (broker.queueLength) await waitFor(async () => (await broker.queueLength!(q.name)) === priorities.length, { timeout });
      const got = new Collector<Delivery>();
      await broker.consume([q], (d) => { got.push(d); void d.ack(); }, { prefetch: 1 });
      const delivered = (await got.atLeast(priorities.length, timeout)).map((d) => d.message.properties.priority as number);
      const sorted = [...delivered].sort((x, y) => (order === 'higher-first' ? y - x : x - y));
      expect(delivered).toEqual(sorted);
    });

    it('holds a message until its delivery time when it has delayed delivery', async (ctx) => {
      const broker = await open();
      if (!broker.capabilities.delayedDelivery) return ctx.skip();
      const q = queue(broker);
      await broker.declareQueue(q);
      const got = new Collector<{ at: number; delivery: Delivery }>();
      await broker.consume([q], (delivery) => got.push({ at: Date.now(), delivery }), { prefetch: 5 });
      const due = Date.now() + 400;
      await publishTo(broker, q, conformanceMessage(1), due);
      await publishTo(broker, q, conformanceMessage(2));
      const [now] = await got.atLeast(1, timeout);
      expect(idOf(now!.delivery)).toBe('msg-2');
      const [, later] = await got.atLeast(2, timeout);
      expect(idOf(later!.delivery)).toBe('msg-1');
      expect(later!.at).toBeGreaterThanOrEqual(due - 5);
      for (const { delivery } of got.items) await delivery.ack();
    });

    it('broadcasts to every subscriber of a fanout exchange', async (ctx) => {
      const broker = await open();
      if (!broker.capabilities.fanout || !broker.subscribe) return ctx.skip();
      const exchange = uniqueName(`${prefix}-fan`);
      await broker.declareExchange(exchange, 'fanout', { durable: false });
      const one = new Collector<string>();
      const two = new Collector<string>();
      const s1 = await broker.subscribe(exchange, '', (m) => one.push(decodeTaskMessage(m).headers.id), { exchangeType: 'fanout' });
      const other = await openPeer(broker);
      const s2 = await other.subscribe!(exchange, '', (m) => two.push(decodeTaskMessage(m).headers.id), { exchangeType: 'fanout' });
      await broker.publish(conformanceMessage(5), { exchange, routingKey: '', exchangeType: 'fanout' });
      expect(await one.atLeast(1, timeout)).toEqual(['msg-5']);
      expect(await two.atLeast(1, timeout)).toEqual(['msg-5']);
      await s1.close();
      await s2.close();
    });

    it('matches topic patterns for subscribers (events)', async (ctx) => {
      const broker = await open();
      if (!broker.capabilities.fanout || !broker.subscribe) return ctx.skip();
      const exchange = uniqueName(`${prefix}-topic`);
      await broker.declareExchange(exchange, 'topic', { durable: false });
      const tasks = new Collector<string>();
      const all = new Collector<string>();
      const s1 = await broker.subscribe(exchange, 'task.#', (_m, rk) => tasks.push(rk), { exchangeType: 'topic' });
      const s2 = await broker.subscribe(exchange, '#', (_m, rk) => all.push(rk), { exchangeType: 'topic' });
      for (const rk of ['worker.heartbeat', 'task.succeeded', 'task.multi']) {
        await broker.publish(conformanceMessage(1), { exchange, routingKey: rk, exchangeType: 'topic' });
      }
      expect((await all.atLeast(3, timeout)).sort()).toEqual(['task.multi', 'task.succeeded', 'worker.heartbeat']);
      const matched = await tasks.atLeast(2, timeout);
      expect(matched.sort()).toEqual(['task.multi', 'task.succeeded']);
      await s1.close();
      await s2.close();
    });

    it('counts and purges waiting messages', async (ctx) => {
      const broker = await open();
      if (!broker.capabilities.queueLength || !broker.capabilities.purge) return ctx.skip();
      const q = queue(broker, { maxPriority: 9 });
      await broker.declareQueue(q);
      for (let i = 0; i < 5; i++) await publishTo(broker, q, conformanceMessage(i, { priority: i * 2 }));
      await waitFor(async () => (await broker.queueLength!(q.name)) === 5, { timeout, message: 'five waiting messages' });
      expect(await broker.purge!(q.name)).toBe(5);
      expect(await broker.queueLength!(q.name)).toBe(0);
    });

    it('dead-letters rejected messages where it can', async (ctx) => {
      const broker = await open();
      if (!broker.capabilities.deadLetter) return ctx.skip();
      const dead = queue(broker);
      await broker.declareQueue(dead);
      const q = queue(broker, { deadLetterExchange: '', deadLetterRoutingKey: dead.name });
      await broker.declareQueue(q);
      await publishTo(broker, q, conformanceMessage(9));
      const got = new Collector<Delivery>();
      await broker.consume([q], got.push, { prefetch: 1 });
      const [delivery] = await got.atLeast(1, timeout);
      await delivery!.reject(false);
      const dlq = new Collector<Delivery>();
      await broker.consume([dead], dlq.push, { prefetch: 1 });
      const [deadLettered] = await dlq.atLeast(1, timeout);
      expect(idOf(deadLettered!)).toBe('msg-9');
      await deadLettered!.ack();
    });
  });
}
