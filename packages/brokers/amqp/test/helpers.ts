/**
 * Shared by the integration tests: the RabbitMQ URL, brokers that remember what they declared
 * so the tests can delete it afterwards, and a plain amqplib connection for inspection.
 */
import { silentLogger, type Logger } from '@tq/core';
import { afterAll, beforeAll } from 'vitest';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { AmqpBroker, type AmqpBrokerOptions } from '../src/index.js';

export const AMQP_URL = process.env['TQ_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672//';

/** Queues and exchanges created by a test file, deleted by `cleanup()`. */
export class Created {
  readonly queues = new Set<string>();
  readonly exchanges = new Set<string>();

  /** A broker whose declarations are recorded here. */
  broker(options: Partial<AmqpBrokerOptions> = {}, logger: Logger = silentLogger): AmqpBroker {
    const broker = new AmqpBroker({ url: AMQP_URL, logger, ...options });
    const declareQueue = broker.declareQueue.bind(broker);
    broker.declareQueue = async (queue) => {
      if (!queue.autoDelete) this.queues.add(queue.name);
      return declareQueue(queue);
    };
    const declareExchange = broker.declareExchange.bind(broker);
    broker.declareExchange = async (name, type, opts) => {
      if (name && !name.startsWith('celery')) this.exchanges.add(name);
      return declareExchange(name, type, opts);
    };
    return broker;
  }

  async cleanup(): Promise<void> {
    const admin = new AmqpBroker({ url: AMQP_URL, logger: silentLogger });
    try {
      for (const name of this.queues) await admin.deleteQueue(name);
      for (const name of this.exchanges) await admin.deleteExchange(name);
    } finally {
      await admin.close();
    }
    this.queues.clear();
    this.exchanges.clear();
  }
}

/** A plain amqplib connection and channel, to look at what tq declared and published. */
export async function plainChannel(): Promise<{ connection: ChannelModel; channel: () => Promise<Channel>; close(): Promise<void> }> {
  const connection = await connect(AMQP_URL.replace(/\/\/$/, '/%2F'));
  const channels: Channel[] = [];
  return {
    connection,
    // A fresh channel per check: a failed passive declare closes the channel it ran on.
    channel: async () => {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      channels.push(channel);
      return channel;
    },
    close: async () => {
      await connection.close().catch(() => undefined);
    },
  };
}

/**
 * One test file at a time talks to RabbitMQ (one of them restarts it): a lock directory shared
 * by this package's test files, whatever vitest's parallelism. A lock left by a dead process is
 * taken over.
 */
export async function lockRabbit(timeoutMs = 600_000): Promise<() => void> {
  const { mkdirSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = join(tmpdir(), 'tq-broker-amqp-tests.lock');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      return () => rmSync(dir, { recursive: true, force: true });
    } catch {
      let owner = 0;
      try {
        owner = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      } catch {
        // Being created right now.
      }
      if (owner && owner !== process.pid) {
        try {
          process.kill(owner, 0);
        } catch {
          rmSync(dir, { recursive: true, force: true });
          continue;
        }
      }
      if (Date.now() > deadline) throw new Error(`could not take ${dir} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * Set up a test file: take the RabbitMQ lock (the files take turns, one restarts the broker) and
 * delete what the file created when it ends.
 */
export function rabbitTestFile(): Created {
  const created = new Created();
  let unlock: () => void = () => undefined;
  beforeAll(async () => {
    unlock = await lockRabbit();
  }, 600_000);
  afterAll(async () => {
    await created.cleanup();
    unlock();
  });
  return created;
}
