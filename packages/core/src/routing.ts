/**
 * Task routing, as Celery's `task_routes` and `task_queues`: a task goes to the queue its route
 * names (by exact name, glob or a router function), else to the default queue `celery`.
 * Explicit `applyAsync` options win over routes.
 */
import type { ExchangeType, PublishTarget, QueueDeclaration } from './broker.js';
import { ConfigurationError } from './errors.js';

export interface Route {
  queue?: string;
  exchange?: string;
  exchangeType?: ExchangeType;
  routingKey?: string;
  priority?: number;
}

/** Celery's router function: `(name, args, kwargs, options) → route | queue name | null`. */
export type RouterFunction = (name: string, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>, options: Readonly<Route>) => Route | string | null | undefined;

/** `{ 'tasks.add': 'math', 'media.*': { queue: 'media', priority: 3 } }` */
export type RouteMap = Record<string, Route | string>;

export type TaskRoutes = RouteMap | RouterFunction | Array<RouteMap | RouterFunction | [RegExp, Route | string]>;

export interface RoutingDefaults {
  defaultQueue: string;
  /** Default exchange; Celery's default is the default queue's name. */
  defaultExchange?: string;
  defaultExchangeType?: ExchangeType;
  defaultRoutingKey?: string;
  defaultPriority?: number | null;
  queueMaxPriority?: number | null;
  createMissingQueues: boolean;
}

export interface ResolvedRoute {
  queue: QueueDeclaration;
  target: PublishTarget;
  priority: number | null;
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

type CompiledRouter = (name: string, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>, options: Readonly<Route>) => Route | null;

function normalize(route: Route | string | null | undefined): Route | null {
  if (route === null || route === undefined) return null;
  return typeof route === 'string' ? { queue: route } : route;
}

function compileMap(map: RouteMap): CompiledRouter {
  const exact = new Map<string, Route>();
  const globs: Array<[RegExp, Route]> = [];
  for (const [key, value] of Object.entries(map)) {
    const route = normalize(value)!;
    if (/[*?]/.test(key)) globs.push([globToRegExp(key), route]);
    else exact.set(key, route);
  }
  return (name) => exact.get(name) ?? globs.find(([re]) => re.test(name))?.[1] ?? null;
}

function compile(routes: TaskRoutes | undefined): CompiledRouter[] {
  if (!routes) return [];
  const list = Array.isArray(routes) ? routes : [routes];
  return list.map((entry) => {
    if (typeof entry === 'function') return (name, args, kwargs, options) => normalize(entry(name, args, kwargs, options));
    if (Array.isArray(entry)) {
      const [re, route] = entry;
      const normalized = normalize(route);
      return (name) => (re.test(name) ? normalized : null);
    }
    return compileMap(entry);
  });
}

export class Router {
  private readonly routers: CompiledRouter[];
  private readonly queues = new Map<string, QueueDeclaration>();
  private readonly directTargets = new Map<string, PublishTarget>();

  constructor(
    routes: TaskRoutes | undefined,
    queues: readonly QueueDeclaration[],
    private readonly defaults: RoutingDefaults,
  ) {
    this.routers = compile(routes);
    for (const queue of queues) this.queues.set(queue.name, this.withDefaults(queue));
  }

  private withDefaults(queue: QueueDeclaration): QueueDeclaration {
    const maxPriority = queue.maxPriority ?? this.defaults.queueMaxPriority ?? undefined;
    return {
      durable: true,
      bindings: [{ exchange: queue.name, routingKey: queue.name, exchangeType: 'direct' }],
      ...queue,
      ...(maxPriority === undefined ? {} : { maxPriority }),
    };
  }

  /** The declaration of a queue by name, creating it when `createMissingQueues` allows. */
  queue(name: string): QueueDeclaration {
    let queue = this.queues.get(name);
    if (!queue) {
      if (!this.defaults.createMissingQueues) {
        throw new ConfigurationError(`queue ${JSON.stringify(name)} is not defined in taskQueues and taskCreateMissingQueues is off`);
      }
      queue = this.withDefaults({ name });
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** Straight to a queue through the default exchange: one frozen target per queue, shared by every call to it. */
  private directTarget(queue: string): PublishTarget {
    let target = this.directTargets.get(queue);
    if (!target) {
      target = Object.freeze({ exchange: '', routingKey: queue, exchangeType: 'direct' as const });
      this.directTargets.set(queue, target);
    }
    return target;
  }

  /** Every queue the app knows about (configured or created by routing so far). */
  knownQueues(): QueueDeclaration[] {
    return [...this.queues.values()];
  }

  /**
   * Resolve where a task message goes. `explicit` holds the caller's own options, which win over
   * routes. Follows Celery's publishing rule: a direct exchange with no explicit exchange or
   * routing key publishes to the default exchange `""` with the queue name as routing key.
   */
  route(name: string, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>, explicit: Route = {}): ResolvedRoute {
    let found: Route | null = null;
    for (const router of this.routers) {
      found = router(name, args, kwargs, explicit);
      if (found) break;
    }
    const merged: Route = { ...(found ?? {}) };
    for (const key in explicit) {
      const value = explicit[key as keyof Route];
      if (value !== undefined && value !== null) (merged as Record<string, unknown>)[key] = value;
    }
    const queue = this.queue(merged.queue ?? this.defaults.defaultQueue);
    const exchangeType = merged.exchangeType ?? queue.bindings?.[0]?.exchangeType ?? this.defaults.defaultExchangeType ?? 'direct';
    let target: PublishTarget;
    if (exchangeType === 'direct' && (!merged.exchange || !merged.routingKey)) {
      target = this.directTarget(queue.name);
    } else {
      const binding = queue.bindings?.[0];
      target = {
        exchange: merged.exchange ?? binding?.exchange ?? this.defaults.defaultExchange ?? queue.name,
        routingKey: merged.routingKey ?? binding?.routingKey ?? this.defaults.defaultRoutingKey ?? queue.name,
        exchangeType,
      };
    }
    const priority = merged.priority ?? this.defaults.defaultPriority ?? null;
    return { queue, target, priority };
  }
}
