/**
 * Celery/kombu compatibility of what tq declares and publishes on RabbitMQ, checked from the
 * outside: kombu (Python) declares the same entities with Celery's settings, which RabbitMQ
 * accepts only when they are equivalent; kombu reads a task message tq published and tq reads
 * one Celery published; a refused declaration gives a clear error and the broker goes on.
 */
import { createApp, isTqError, silentLogger, type Delivery } from '@tq/core';
import { createEvent, decodeEventMessage, decodeTaskMessage, encodeEventMessage, eventRoutingKey } from '@tq/protocol';
import { Collector, lastJson, runPython, uniqueName, waitFor } from '@tq/testing';
import { Worker } from '@tq/worker';
import { afterEach, describe, expect, it } from 'vitest';
import { AmqpBroker } from '../src/index.js';
import { AMQP_URL, plainChannel, rabbitTestFile } from './helpers.js';

const created = rabbitTestFile();

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function py(code: string): Promise<string> {
  return runPython(code, { brokerUrl: AMQP_URL, timeout: 60_000 });
}

describe('declarations, as kombu makes them', () => {
  it("declares a task queue as Celery does (direct durable exchange of its name, durable queue, x-max-priority), so kombu's declaration is equivalent", async () => {
    const name = uniqueName('tq-amqp-layout');
    created.queues.add(name);
    created.exchanges.add(name);
    const app = createApp({ broker: AMQP_URL, logger: silentLogger, taskDefaultQueue: name, taskQueueMaxPriority: 10 });
    closers.push(() => app.close());
    await app.sendTask('layout.noop', [], { priority: 3 });
    const out = await py(`
import json
from kombu import Connection, Exchange, Queue
with Connection('${AMQP_URL}') as conn:
    ch = conn.channel()
    q = Queue('${name}', Exchange('${name}', 'direct', durable=True), routing_key='${name}', max_priority=10)
    name, count, consumers = q(ch).declare() and ch.queue_declare(queue='${name}', passive=True)
    print(json.dumps({'count': count}))
`);
    expect(lastJson<{ count: number }>(out).count).toBe(1);
    // And a declaration that differs is refused by RabbitMQ: the check above means something.
    const plain = await plainChannel();
    closers.push(() => plain.close());
    const error = await (await plain.channel()).assertQueue(name, { durable: true, arguments: { 'x-max-priority': 5 } }).catch((e: unknown) => e);
    expect((error as { code?: number }).code).toBe(406);
  });

  it("declares celeryev, celery.pidbox, reply.celery.pidbox and the worker's pidbox queue with Celery's settings", async () => {
    const queue = uniqueName('tq-amqp-layout');
    created.queues.add(queue);
    created.exchanges.add(queue);
    const app = createApp({ broker: AMQP_URL, logger: silentLogger, taskDefaultQueue: queue });
    closers.push(() => app.close());
    const hostname = `${uniqueName('layout')}@test`;
    const worker = new Worker(app, { queues: [queue], hostname, logger: silentLogger });
    await worker.start();
    closers.push(() => worker.stop());
    await app.control.broadcast('ping', {}, { reply: true, timeout: 0.5 });
    const broker = (await app.getBroker()) as AmqpBroker;
    const events = await broker.subscribe('celeryev', '#', () => undefined, { exchangeType: 'topic' });
    closers.push(() => events.close());
    const eventQueue = [...broker.subscriptions].find((s) => s.declaration.name.startsWith('celeryev.'))!.declaration.name;
    const out = await py(`
import json
from kombu import Connection, Exchange, Queue
result = {}
with Connection('${AMQP_URL}') as conn:
    def check(label, fn):
        ch = conn.channel()
        try:
            fn(ch)
            result[label] = 'ok'
        except Exception as e:
            result[label] = repr(e)
        finally:
            try: ch.close()
            except Exception: pass
    pidbox = Exchange('celery.pidbox', 'fanout', durable=False)
    reply = Exchange('reply.celery.pidbox', 'direct', durable=False)
    ev = Exchange('celeryev', 'topic', durable=True)
    check('celery.pidbox', lambda ch: pidbox(ch).declare())
    check('reply.celery.pidbox', lambda ch: reply(ch).declare())
    check('celeryev', lambda ch: ev(ch).declare())
    check('node pidbox queue', lambda ch: Queue('${hostname}.celery.pidbox', pidbox, durable=False, auto_delete=True, expires=10.0, message_ttl=300.0)(ch).declare())
    check('reply queue', lambda ch: Queue('${app.oid}.reply.celery.pidbox', reply, routing_key='${app.oid}', durable=False, auto_delete=True, expires=10.0, message_ttl=300.0)(ch).declare())
    check('event receiver queue', lambda ch: Queue('${eventQueue}', ev, routing_key='#', auto_delete=True, durable=False, expires=60.0, message_ttl=5.0)(ch).declare())
print(json.dumps(result))
`);
    expect(lastJson(out)).toEqual({
      'celery.pidbox': 'ok',
      'reply.celery.pidbox': 'ok',
      celeryev: 'ok',
      'node pidbox queue': 'ok',
      'reply queue': 'ok',
      'event receiver queue': 'ok',
    });
  });

  it('declares quorum queues, dead-letter settings and TTLs as queue arguments, and consumes quorum queues', async () => {
    const broker = created.broker();
    closers.push(() => broker.close());
    const quorum = uniqueName('tq-amqp-quorum');
    const dead = uniqueName('tq-amqp-dead');
    await broker.declareQueue({ name: dead, durable: true });
    await broker.declareQueue({ name: quorum, queueType: 'quorum', deadLetterExchange: '', deadLetterRoutingKey: dead, messageTtl: 600_000 });
    const plain = await plainChannel();
    closers.push(() => plain.close());
    const same = await (await plain.channel()).assertQueue(quorum, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead, 'x-message-ttl': 600_000 },
    });
    expect(same.queue).toBe(quorum);
    // Quorum queues refuse channel-wide qos: the consumer uses per-consumer prefetch, and can change it.
    await broker.publish({ body: Buffer.from('[[], {}, {}]'), contentType: 'application/json', contentEncoding: 'utf-8', headers: { id: 'q1', task: 't' }, properties: {} }, { exchange: '', routingKey: quorum });
    const got = new Collector<Delivery>();
    const consumer = await broker.consume([{ name: quorum, queueType: 'quorum', deadLetterExchange: '', deadLetterRoutingKey: dead, messageTtl: 600_000 }], got.push, { prefetch: 1 });
    const [delivery] = await got.atLeast(1, 10_000);
    await consumer.setPrefetch(8);
    await delivery!.reject(false);
    await waitFor(async () => (await broker.queueLength(dead)) === 1, { message: 'the rejected message in the dead-letter queue' });
    await consumer.cancel();
  });
});

describe('messages, as kombu reads and writes them', () => {
  it('a task message tq published reads in kombu with Celery headers, real AMQP properties and a raw JSON body', async () => {
    const name = uniqueName('tq-amqp-layout');
    created.queues.add(name);
    created.exchanges.add(name);
    const app = createApp({ broker: AMQP_URL, logger: silentLogger, taskDefaultQueue: name, taskQueueMaxPriority: 10 });
    closers.push(() => app.close());
    const sent = await app.sendTask('proj.add', [2, 3], { kwargs: { z: 'é' }, priority: 5, countdown: 10, expires: 60, taskId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' });
    const out = await py(`
import json
from kombu import Connection, Queue
with Connection('${AMQP_URL}') as conn:
    ch = conn.channel()
    msg = ch.basic_get('${name}', no_ack=True)
    print(json.dumps({
        'headers': msg.headers,
        'properties': {k: v for k, v in msg.properties.items() if k != 'application_headers'},
        'delivery_info': {k: msg.delivery_info[k] for k in ('exchange', 'routing_key', 'redelivered')},
        'content_type': msg.content_type, 'content_encoding': msg.content_encoding,
        'body': msg.body if isinstance(msg.body, str) else msg.body.decode('utf-8'),
        'decoded': json.loads(msg.body),
    }))
`);
    const got = lastJson<{
      headers: Record<string, unknown>;
      properties: Record<string, unknown>;
      delivery_info: Record<string, unknown>;
      content_type: string;
      content_encoding: string;
      body: string;
      decoded: unknown;
    }>(out);
    expect(got.content_type).toBe('application/json');
    expect(got.content_encoding).toBe('utf-8');
    expect(got.headers).toMatchObject({
      lang: 'py', task: 'proj.add', id: sent.id, root_id: sent.id, parent_id: null, group: null, retries: 0,
      timelimit: [null, null], argsrepr: '(2, 3)', kwargsrepr: "{'z': 'é'}", ignore_result: false,
    });
    expect(typeof got.headers['eta']).toBe('string');
    expect(typeof got.headers['expires']).toBe('string');
    expect(got.properties).toMatchObject({ correlation_id: sent.id, reply_to: app.oid, delivery_mode: 2, priority: 5, content_type: 'application/json' });
    expect(Number(got.properties['expiration'])).toBeGreaterThan(49_000);
    expect(got.properties).not.toHaveProperty('body_encoding');
    expect(got.delivery_info).toEqual({ exchange: '', routing_key: name, redelivered: false });
    // Python's json.dumps layout (", " and ": ", \\u escapes), not JavaScript's.
    expect(got.body).toBe('[[2, 3], {"z": "\\u00e9"}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]');
    expect(got.decoded).toEqual([[2, 3], { z: 'é' }, { callbacks: null, errbacks: null, chain: null, chord: null }]);
  });

  it('a task message Celery published reads in tq, headers and properties intact', async () => {
    const name = uniqueName('tq-amqp-layout');
    created.queues.add(name);
    created.exchanges.add(name);
    const broker = created.broker();
    closers.push(() => broker.close());
    const out = await runPython(
      `
import json
from interop_app import app
r = app.send_task('proj.mul', args=(6, 7), kwargs={'k': 'é'}, queue='${name}', priority=7, countdown=5, expires=120, headers={'tenant': 'acme'})
print(json.dumps({'id': r.id, 'oid': app.thread_oid}))
`,
      { brokerUrl: AMQP_URL, queue: name, timeout: 60_000 },
    );
    const { id, oid } = lastJson<{ id: string; oid: string }>(out);
    const got = new Collector<Delivery>();
    const consumer = await broker.consume([{ name, durable: true, bindings: [{ exchange: name, routingKey: name, exchangeType: 'direct' }] }], got.push, { prefetch: 1 });
    closers.push(() => consumer.cancel());
    const [delivery] = await got.atLeast(1, 10_000);
    const message = decodeTaskMessage(delivery!.message);
    expect(message.headers).toMatchObject({ task: 'proj.mul', id, root_id: id, retries: 0, tenant: 'acme' });
    expect(message.args).toEqual([6, 7]);
    expect(message.kwargs).toEqual({ k: 'é' });
    expect(message.headers.eta).toMatch(/\+00:00$/);
    expect(delivery!.message.properties).toMatchObject({ correlation_id: id, reply_to: oid, delivery_mode: 2, priority: 7 });
    expect(delivery!.info).toEqual({ exchange: '', routingKey: name, priority: 7, redelivered: false });
    await delivery!.ack();
  });
});

describe('events on celeryev', () => {
  it("Celery's event receiver sees the events tq publishes, and tq receives Celery's", async () => {
    const broker = created.broker();
    closers.push(() => broker.close());
    const hostname = `${uniqueName('ev')}@interop`;
    // tq receives what Python sends…
    const received = new Collector<{ type: string; rk: string }>();
    const subscription = await broker.subscribe('celeryev', 'worker.#', (message, rk) => {
      for (const event of decodeEventMessage(message)) if (event.hostname === `${hostname}-py`) received.push({ type: event.type, rk });
    }, { exchangeType: 'topic' });
    closers.push(() => subscription.close());
    // …and Python receives what tq sends. Events are not stored: tq repeats its heartbeat until
    // Python's receiver (whose queue exists only while it listens) has caught one.
    const listening = runPython(
      `
import json
from interop_app import app
seen = []
with app.connection() as conn:
    def on_event(event):
        if event.get('hostname') == '${hostname}':
            seen.append(event)
            recv.should_stop = True
    recv = app.events.Receiver(conn, handlers={'*': on_event})
    with app.events.default_dispatcher(hostname='${hostname}-py') as dispatcher:
        dispatcher.send('worker-heartbeat', freq=2.0, active=0, processed=0)
        recv.capture(limit=None, timeout=20, wakeup=False)
print(json.dumps(seen[0]))
`,
      { brokerUrl: AMQP_URL, timeout: 60_000 },
    );
    let done = false;
    void listening.finally(() => (done = true)).catch(() => undefined);
    let clock = 1;
    while (!done) {
      const event = createEvent('worker-heartbeat', { hostname, pid: process.pid, clock: clock++ }, { freq: 2.0, active: 0, processed: 0, loadavg: [0, 0, 0], sw_ident: 'tq', sw_ver: '0.1.0', sw_sys: 'Linux' });
      await broker.publish(encodeEventMessage(event, hostname), { exchange: 'celeryev', routingKey: eventRoutingKey('worker-heartbeat'), exchangeType: 'topic' });
      await Promise.race([listening.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 100))]);
    }
    const seen = lastJson<Record<string, unknown>>(await listening);
    expect(seen).toMatchObject({ type: 'worker-heartbeat', hostname, pid: process.pid, freq: 2.0, sw_ident: 'tq' });
    expect(await received.atLeast(1, 10_000)).toContainEqual({ type: 'worker-heartbeat', rk: 'worker.heartbeat' });
  }, 90_000);
});

describe('errors and recovery', () => {
  it('a queue redeclared with other arguments gives an error naming the queue and the argument, and the broker keeps working', async () => {
    const broker = created.broker();
    closers.push(() => broker.close());
    const name = uniqueName('tq-amqp-conflict');
    await broker.declareQueue({ name, durable: true, maxPriority: 10 });
    const got = new Collector<Delivery>();
    await broker.consume([{ name, durable: true, maxPriority: 10 }], (d) => {
      got.push(d);
      void d.ack();
    }, { prefetch: 5 });
    const error = await broker.declareQueue({ name, durable: true, maxPriority: 5 }).catch((e: unknown) => e);
    expect(isTqError(error, 'CONFIGURATION_ERROR')).toBe(true);
    expect((error as Error).message).toContain(`queue "${name}" already exists with different settings`);
    expect((error as Error).message).toContain('x-max-priority');
    expect((error as Error).message).toMatch(/delete it .*or declare it with the same settings/);
    // Publishing, declaring and consuming go on.
    const other = uniqueName('tq-amqp-conflict');
    await broker.declareQueue({ name: other, durable: true });
    await broker.publish({ body: Buffer.from('[[], {}, {}]'), contentType: 'application/json', contentEncoding: 'utf-8', headers: { id: 'after', task: 't' }, properties: {} }, { exchange: '', routingKey: name });
    expect((await got.atLeast(1, 10_000))[0]!.message.headers['id']).toBe('after');
    expect(await broker.queueLength(other)).toBe(0);
  });

  it('says what to do when RabbitMQ is not there or refuses the login', async () => {
    const refused = new AmqpBroker({ url: 'amqp://guest:secret@127.0.0.1:1//', logger: silentLogger });
    const error = await refused.connect().catch((e: unknown) => e);
    expect((error as Error).message).toBe('[tq] [broker-amqp] cannot connect to amqp://guest:***@127.0.0.1:1//: ECONNREFUSED. Is RabbitMQ running?');
    expect(isTqError(error, 'BROKER_ERROR') && (error as { retryable: boolean }).retryable).toBe(true);
    await refused.close();
    const denied = new AmqpBroker({ url: AMQP_URL.replace(/\/\/[^@]*@/, '//guest:wrong-password@'), logger: silentLogger });
    const login = await denied.connect().catch((e: unknown) => e);
    expect((login as Error).message).toMatch(/ACCESS_REFUSED .*Check the credentials/);
    expect((login as Error).message).not.toContain('wrong-password');
    expect((login as { retryable: boolean }).retryable).toBe(false);
    await denied.close();
  });

  it('never hands out more than the prefetch, and a new prefetch takes effect for the next deliveries', async () => {
    const broker = created.broker();
    closers.push(() => broker.close());
    const name = uniqueName('tq-amqp-prefetch');
    await broker.declareQueue({ name, durable: false });
    for (let i = 0; i < 10; i++) {
      await broker.publish({ body: Buffer.from('[[], {}, {}]'), contentType: 'application/json', contentEncoding: 'utf-8', headers: { id: `m${i}`, task: 't' }, properties: {} }, { exchange: '', routingKey: name });
    }
    const got = new Collector<Delivery>();
    const consumer = await broker.consume([{ name, durable: false }], got.push, { prefetch: 2 });
    await got.atLeast(2, 10_000);
    await waitFor(async () => (await broker.queueLength(name)) === 8, { message: 'eight messages left waiting' });
    expect(got.items.length).toBe(2);
    await consumer.setPrefetch(5);
    // The raise applies at once: three more arrive without any ack.
    await got.atLeast(5, 10_000);
    await waitFor(async () => (await broker.queueLength(name)) === 5, { message: 'five messages left waiting' });
    expect(got.items.length).toBe(5);
    for (const d of got.items.slice(0, 5)) await d.ack();
    await got.atLeast(10, 10_000);
    for (const d of got.items.slice(5)) await d.ack();
    expect(new Set(got.items.map((d) => d.message.headers['id'])).size).toBe(10);
  });
});
