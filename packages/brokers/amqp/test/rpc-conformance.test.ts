/**
 * The shared ResultBackend conformance suite, for the parts that apply to rpc://. The suite
 * stores and reads results without sending tasks, so the backend under test replies to a queue
 * it listens on itself (through `store`'s `replyTo` option, which core will pass once the
 * contract carries the request's reply-to), and `store` resolves once the reply is back, as it
 * would for a real client. Not run (see vitest.config.ts): result expiry, which rpc:// does not
 * have (its results are messages, consumed once); the chord tests skip themselves
 * (`chordCounter: false`).
 */
import { silentLogger, type StoreOptions } from '@tq/core';
import type { ResultMeta } from '@tq/protocol';
import { runBackendConformance, uniqueName } from '@tq/testing';
import { RpcBackend, type AmqpBroker } from '../src/index.js';
import { rabbitTestFile } from './helpers.js';

const created = rabbitTestFile();

class LoopbackRpc extends RpcBackend {
  private readonly queue = uniqueName('tq-amqp-rpc-conf');
  private readonly arrived = new Map<string, number>();
  private readonly waiting = new Map<string, Array<{ count: number; resolve: () => void }>>();

  constructor(private readonly own: AmqpBroker) {
    super({ broker: own, logger: silentLogger });
  }

  override async connect(): Promise<void> {
    await super.connect();
    await this.listen(this.queue);
  }

  protected override accept(meta: ResultMeta): void {
    super.accept(meta);
    const count = (this.arrived.get(meta.task_id) ?? 0) + 1;
    this.arrived.set(meta.task_id, count);
    const waiters = this.waiting.get(meta.task_id) ?? [];
    for (const w of waiters.filter((w) => w.count <= count)) w.resolve();
    this.waiting.set(meta.task_id, waiters.filter((w) => w.count > count));
  }

  override async store(meta: ResultMeta, options?: StoreOptions): Promise<void> {
    const count = (this.arrived.get(meta.task_id) ?? 0) + 1;
    const back = new Promise<void>((resolve) => {
      const list = this.waiting.get(meta.task_id) ?? [];
      list.push({ count, resolve });
      this.waiting.set(meta.task_id, list);
    });
    await super.store(meta, { ...options, replyTo: this.queue } as StoreOptions);
    await back;
  }

  override async close(): Promise<void> {
    await super.close();
    await this.own.close();
  }
}

runBackendConformance({ name: 'rpc (loopback)', create: () => new LoopbackRpc(created.broker()), timeout: 10_000, noExpiry: true });
