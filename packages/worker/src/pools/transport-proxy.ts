/**
 * Children talk to the broker and the result backend through their worker: the child's app gets
 * a Broker and a ResultBackend whose methods are calls to the worker, which runs them on its own
 * connections. Children open no connections, and every pool works on every transport — the
 * in-process `memory://` one included.
 *
 * Broker calls carry their arguments as they are (a raw message is bytes and plain headers);
 * backend calls carry theirs, and their results, as kombu JSON, so Python types survive.
 * Consuming is not proxied: a task cannot consume (or wait for remote-control replies) from a child.
 */
import {
  ConfigurationError,
  type App,
  type BackendCapabilities,
  type Broker,
  type BrokerCapabilities,
  type ChordPart,
  type Consumer,
  type ExchangeType,
  type PublishOptions,
  type PublishTarget,
  type QueueDeclaration,
  type ResultBackend,
  type StoreOptions,
  type WaitOptions,
} from '@tq/core';
import type { RawMessage, ResultMeta } from '@tq/protocol';
import { fromJson, toJson, unpackRaw, type WireRaw } from './ipc.js';

/** Broker methods a child may call. */
export const BROKER_METHODS = ['declareQueue', 'declareExchange', 'publish', 'queueLength', 'purge'] as const;
/** Backend methods a child may call. */
export const BACKEND_METHODS = [
  'store', 'get', 'getMany', 'waitFor', 'forget', 'saveGroup', 'restoreGroup', 'deleteGroup', 'setChordSize', 'chordPartReturn', 'addToChord', 'onTaskCall', 'cancelWait',
] as const;

export type Call = (target: 'broker' | 'backend', method: string, args: unknown) => Promise<unknown>;
export type Cast = (target: 'broker' | 'backend', method: string, args: unknown, id?: string) => void;

export class ProxyBroker implements Broker {
  readonly name: string;
  readonly capabilities: BrokerCapabilities;
  readonly visibilityTimeout?: number;
  queueLength?: (queue: string) => Promise<number>;
  purge?: (queue: string) => Promise<number>;

  constructor(
    info: { name: string; capabilities: BrokerCapabilities; visibilityTimeout?: number; methods: string[] },
    private readonly call: Call,
  ) {
    this.name = info.name;
    this.capabilities = info.capabilities;
    if (info.visibilityTimeout !== undefined) this.visibilityTimeout = info.visibilityTimeout;
    if (info.methods.includes('queueLength')) this.queueLength = (queue) => this.call('broker', 'queueLength', [queue]) as Promise<number>;
    if (info.methods.includes('purge')) this.purge = (queue) => this.call('broker', 'purge', [queue]) as Promise<number>;
  }

  async connect(): Promise<void> {}

  async declareQueue(queue: QueueDeclaration): Promise<void> {
    await this.call('broker', 'declareQueue', [queue]);
  }

  async declareExchange(name: string, type: ExchangeType, options?: { durable?: boolean }): Promise<void> {
    await this.call('broker', 'declareExchange', [name, type, options ?? {}]);
  }

  async publish(message: RawMessage, target: PublishTarget, options?: PublishOptions): Promise<void> {
    await this.call('broker', 'publish', [message, target, options ?? {}]);
  }

  async consume(): Promise<Consumer> {
    throw new ConfigurationError('consuming is not available inside a pool child (process or thread): tasks may send messages, not receive them; remote control with replies must be sent from outside a task');
  }

  async close(): Promise<void> {}
}

let waitIds = 0;

export class ProxyBackend implements ResultBackend {
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  setChordSize?: (groupId: string, size: number) => Promise<void>;
  chordPartReturn?: (groupId: string, part: ChordPart, size?: number) => Promise<ChordPart[] | null>;
  addToChord?: (groupId: string, count: number) => Promise<void>;
  onTaskCall?: (taskId: string) => void;

  constructor(
    info: { name: string; capabilities: BackendCapabilities; methods: string[] },
    private readonly call: Call,
    private readonly cast: Cast,
  ) {
    this.name = info.name;
    this.capabilities = info.capabilities;
    if (info.methods.includes('setChordSize')) this.setChordSize = (groupId, size) => this.invoke('setChordSize', [groupId, size]) as Promise<void>;
    if (info.methods.includes('chordPartReturn')) this.chordPartReturn = (groupId, part, size) => this.invoke('chordPartReturn', [groupId, part, size ?? null]) as Promise<ChordPart[] | null>;
    if (info.methods.includes('addToChord')) this.addToChord = (groupId, count) => this.invoke('addToChord', [groupId, count]) as Promise<void>;
    if (info.methods.includes('onTaskCall')) this.onTaskCall = (taskId) => this.cast('backend', 'onTaskCall', toJson([taskId]));
  }

  private async invoke(method: string, args: unknown[]): Promise<unknown> {
    const result = await this.call('backend', method, toJson(args));
    return typeof result === 'string' ? fromJson(result) : null;
  }

  async connect(): Promise<void> {}

  /**
   * Stores are written behind: the worker runs them in order before anything else this child
   * asks or reports, so nothing can overtake a stored state, and a store that fails turns the
   * task's outcome into that failure when it reports back. It saves a round trip per task.
   */
  async store(meta: ResultMeta, options?: StoreOptions): Promise<void> {
    this.cast('backend', 'store', toJson([meta, options ?? {}]), meta.task_id);
  }

  async get(taskId: string): Promise<ResultMeta | null> {
    return (await this.invoke('get', [taskId])) as ResultMeta | null;
  }

  async getMany(taskIds: readonly string[]): Promise<Map<string, ResultMeta>> {
    const found = (await this.invoke('getMany', [taskIds])) as Record<string, ResultMeta> | null;
    return new Map(Object.entries(found ?? {}));
  }

  async waitFor(taskId: string, options: WaitOptions = {}): Promise<ResultMeta> {
    const { signal, ...rest } = options;
    if (!signal) return (await this.invoke('waitFor', [taskId, rest, null])) as ResultMeta;
    signal.throwIfAborted();
    const waitId = ++waitIds;
    return new Promise<ResultMeta>((resolve, reject) => {
      const onAbort = () => {
        this.cast('backend', 'cancelWait', toJson([waitId]));
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      (this.invoke('waitFor', [taskId, rest, waitId]) as Promise<ResultMeta>).then(
        (meta) => {
          signal.removeEventListener('abort', onAbort);
          resolve(meta);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  async forget(taskId: string): Promise<void> {
    await this.invoke('forget', [taskId]);
  }

  async saveGroup(groupId: string, result: unknown, options?: StoreOptions): Promise<void> {
    await this.invoke('saveGroup', [groupId, result, options ?? {}]);
  }

  async restoreGroup(groupId: string): Promise<unknown | null> {
    return this.invoke('restoreGroup', [groupId]);
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.invoke('deleteGroup', [groupId]);
  }

  async close(): Promise<void> {}
}

/** Give a child's app the proxies instead of the transports its configuration names. */
export function installProxies(app: App, broker: Broker, backend: ResultBackend | null): void {
  if (app.brokerIfReady()) {
    app.logger.warn('the app module connected to its broker while being imported; this pool child keeps that connection for what the app already set up, and sends through its worker otherwise');
  }
  app.config.broker = broker;
  app.config.backend = backend;
}

/**
 * The worker's side: run a child's call on the real transports. Unknown methods are refused
 * (a child names methods, it does not choose code to run).
 */
export class TransportServer {
  private readonly waits = new Map<number, AbortController>();

  constructor(private readonly app: App) {}

  async describe(): Promise<{ broker: { name: string; capabilities: BrokerCapabilities; visibilityTimeout?: number; methods: string[] }; backend: { name: string; capabilities: BackendCapabilities; methods: string[] } | null }> {
    const broker = await this.app.getBroker();
    const backend = await this.app.getBackend();
    return {
      broker: {
        name: broker.name,
        capabilities: broker.capabilities,
        ...(broker.visibilityTimeout === undefined ? {} : { visibilityTimeout: broker.visibilityTimeout }),
        methods: BROKER_METHODS.filter((m) => typeof (broker as unknown as Record<string, unknown>)[m] === 'function'),
      },
      backend: backend
        ? { name: backend.name, capabilities: backend.capabilities, methods: BACKEND_METHODS.filter((m) => m === 'cancelWait' || typeof (backend as unknown as Record<string, unknown>)[m] === 'function') }
        : null,
    };
  }

  async call(target: 'broker' | 'backend', method: string, args: unknown): Promise<unknown> {
    if (target === 'broker') {
      if (!(BROKER_METHODS as readonly string[]).includes(method)) throw new ConfigurationError(`a pool child asked for broker.${method}, which is not proxied`);
      const broker = (await this.app.getBroker()) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
      const fn = broker[method];
      if (typeof fn !== 'function') throw new ConfigurationError(`the ${String((broker as { name?: unknown }).name)} broker has no ${method}`);
      const list = args as unknown[];
      if (method === 'publish') list[0] = unpackRaw(list[0] as WireRaw);
      return fn.apply(broker, list);
    }
    if (!(BACKEND_METHODS as readonly string[]).includes(method)) throw new ConfigurationError(`a pool child asked for backend.${method}, which is not proxied`);
    const list = fromJson(args as string) as unknown[];
    if (method === 'cancelWait') {
      this.waits.get(list[0] as number)?.abort(new Error('cancelled by the task'));
      return null;
    }
    const backend = await this.app.getBackend();
    if (!backend) throw new ConfigurationError('the worker has no result backend');
    if (method === 'waitFor') {
      const [taskId, options, waitId] = list as [string, WaitOptions, number | null];
      let controller: AbortController | undefined;
      if (waitId !== null) {
        controller = new AbortController();
        this.waits.set(waitId, controller);
      }
      try {
        return toJson(await backend.waitFor(taskId, { ...options, ...(controller ? { signal: controller.signal } : {}) }));
      } finally {
        if (waitId !== null) this.waits.delete(waitId);
      }
    }
    const fn = (backend as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
    if (typeof fn !== 'function') throw new ConfigurationError(`the ${backend.name} backend has no ${method}`);
    const result = await fn.apply(backend, list);
    return toJson(result instanceof Map ? Object.fromEntries(result) : result);
  }

  /** A result store written behind: `[meta, options]` as kombu JSON. */
  async store(args: string): Promise<void> {
    const backend = await this.app.getBackend();
    if (!backend) throw new ConfigurationError('the worker has no result backend');
    const [meta, options] = fromJson(args) as [ResultMeta, StoreOptions];
    await backend.store(meta, options);
  }

  /** One-way calls (`onTaskCall`, `cancelWait`). */
  cast(target: 'broker' | 'backend', method: string, args: unknown): void {
    this.call(target, method, args).catch((err: unknown) => this.app.logger.warn(`a pool child's ${target}.${method} failed: ${(err as Error).message}`));
  }
}
