/** Celery's Lamport clock, carried by events and remote-control messages to order them across nodes. */
export class LamportClock {
  private value = 0;

  /** Advance for a local event; returns the new value. */
  forward(): number {
    return ++this.value;
  }

  /** Merge a value seen on a message from another node. */
  adjust(other: number): number {
    this.value = Math.max(this.value, other) + 1;
    return this.value;
  }

  get current(): number {
    return this.value;
  }
}
