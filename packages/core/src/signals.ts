/**
 * App signals, as Celery's: hooks that run in the process where something happens (the client
 * for `taskSent`, the worker for the rest). Listener errors are logged, never thrown into tq.
 */
import type { TaskContext } from './context.js';
import type { Logger } from './logger.js';
import type { SentTask } from './producer.js';

export interface SignalMap {
  /** A task message was published (client side). */
  taskSent: [task: SentTask];
  /** A worker is about to run a task. */
  taskPrerun: [context: TaskContext];
  /** A task finished, whatever the outcome. */
  taskPostrun: [context: TaskContext, state: string, result: unknown];
  taskSuccess: [context: TaskContext, result: unknown];
  taskFailure: [context: TaskContext, error: unknown];
  taskRetry: [context: TaskContext, reason: unknown];
  /** A task was revoked (by id, expiry or terminate) instead of run. */
  taskRevoked: [context: TaskContext, reason: string];
}

export type SignalName = keyof SignalMap;
type Listener<K extends SignalName> = (...args: SignalMap[K]) => void;

export class Signals {
  private readonly listeners = new Map<SignalName, Set<Listener<SignalName>>>();

  constructor(private readonly logger: () => Logger) {}

  /** Listen to a signal; returns a function that stops listening. */
  on<K extends SignalName>(name: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as Listener<SignalName>);
    return () => set.delete(listener as Listener<SignalName>);
  }

  /** Whether anyone listens (lets senders skip building the arguments). */
  has(name: SignalName): boolean {
    return (this.listeners.get(name)?.size ?? 0) > 0;
  }

  emit<K extends SignalName>(name: K, ...args: SignalMap[K]): void {
    const set = this.listeners.get(name);
    if (!set || set.size === 0) return;
    for (const listener of set) {
      try {
        (listener as Listener<K>)(...args);
      } catch (err) {
        this.logger().error(`a ${name} signal listener failed: ${(err as Error).message}`);
      }
    }
  }
}
