/**
 * What happens in a worker, as it happens: the feed that events, monitoring and user code
 * listen to. Listener errors are logged and never reach the worker's own work.
 */
import type { Logger } from '@tq/core';
import type { RequestInfo } from './request-info.js';

export interface WorkerHookMap {
  /** A task message was accepted (before any ETA wait). */
  received: [request: RequestInfo];
  started: [request: RequestInfo];
  succeeded: [request: RequestInfo, result: unknown, runtime: number];
  failed: [request: RequestInfo, error: unknown, traceback: string | null, runtime: number];
  retried: [request: RequestInfo, error: unknown, traceback: string | null];
  rejected: [request: RequestInfo, requeue: boolean];
  revoked: [request: RequestInfo, detail: { terminated: boolean; signum: string | null; expired: boolean }];
  /** The worker is consuming. */
  online: [];
  /** The worker stopped. */
  offline: [];
}

export type WorkerHookName = keyof WorkerHookMap;
type Listener<K extends WorkerHookName> = (...args: WorkerHookMap[K]) => void;

export class WorkerHooks {
  private readonly listeners = new Map<WorkerHookName, Set<Listener<WorkerHookName>>>();

  constructor(private readonly logger: Logger) {}

  on<K extends WorkerHookName>(name: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as Listener<WorkerHookName>);
    return () => set.delete(listener as Listener<WorkerHookName>);
  }

  has(name: WorkerHookName): boolean {
    return (this.listeners.get(name)?.size ?? 0) > 0;
  }

  emit<K extends WorkerHookName>(name: K, ...args: WorkerHookMap[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as Listener<K>)(...args);
      } catch (err) {
        this.logger.error(`a worker ${name} listener failed: ${(err as Error).message}`);
      }
    }
  }
}
