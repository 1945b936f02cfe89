/**
 * Acknowledgements on one consumer channel, coalesced: acks given during one turn of the event
 * loop go out as a single `basic.ack(multiple)` for the longest run of settled deliveries, and
 * individually beyond it. RabbitMQ then handles one frame instead of hundreds, which matters
 * because it shares the machine's cores with the worker. Rejections go out at once.
 */
import type { Channel, Message } from 'amqplib';

function tagged(deliveryTag: number): Message {
  return { fields: { deliveryTag } } as unknown as Message;
}

export class AckBatcher {
  /** Delivery tags in delivery order, from `head` on not yet acknowledged on the wire. */
  private order: number[] = [];
  private head = 0;
  /** Acked by the application, not yet sent. */
  private readonly acked = new Set<number>();
  /** Settled on the wire already (rejected, or acked on their own). */
  private readonly done = new Set<number>();
  private scheduled = false;

  constructor(private readonly channel: Channel) {}

  delivered(tag: number): void {
    this.order.push(tag);
  }

  ack(tag: number): void {
    this.acked.add(tag);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        try {
          this.flush();
        } catch {
          // The channel closed: RabbitMQ requeued these deliveries, there is nothing to ack.
        }
      });
    }
  }

  nack(tag: number, requeue: boolean): void {
    this.channel.nack(tagged(tag), false, requeue);
    this.done.add(tag);
  }

  /** Send what was acked; throws if the channel closed (the caller ignores it: RabbitMQ requeued those). */
  flush(): void {
    this.scheduled = false;
    if (this.acked.size === 0) return;
    let last = -1;
    while (this.head < this.order.length) {
      const tag = this.order[this.head]!;
      if (this.acked.delete(tag)) last = tag;
      else if (!this.done.delete(tag)) break;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
    if (last !== -1) this.channel.ack(tagged(last), true);
    for (const tag of this.acked) {
      this.channel.ack(tagged(tag), false);
      this.done.add(tag);
    }
    this.acked.clear();
  }
}
