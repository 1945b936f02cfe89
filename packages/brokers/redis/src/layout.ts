/**
 * kombu's Redis key layout, in one place: which list a message of a given priority goes to,
 * the binding-set members, the pub/sub channel of a fanout exchange, and the ack-emulation keys.
 * Every key and channel carries the global key prefix (kombu's `global_keyprefix`).
 */

export const DEFAULT_SEP = '\x06\x16';
export const DEFAULT_PRIORITY_STEPS: readonly number[] = [0, 3, 6, 9];
export const BINDING_PREFIX = '_kombu.binding.';
export const UNACKED = 'unacked';
export const UNACKED_INDEX = 'unacked_index';
export const UNACKED_MUTEX = 'unacked_mutex';

export interface LayoutOptions {
  prefix: string;
  sep: string;
  steps: readonly number[];
  db: number;
}

export class Layout {
  readonly prefix: string;
  readonly sep: string;
  readonly steps: readonly number[];
  readonly db: number;
  readonly unacked: string;
  readonly unackedIndex: string;
  readonly unackedMutex: string;
  private readonly keyCache = new Map<string, string[]>();

  constructor(options: LayoutOptions) {
    this.prefix = options.prefix;
    this.sep = options.sep;
    this.steps = [...options.steps].sort((a, b) => a - b);
    this.db = options.db;
    this.unacked = this.prefix + UNACKED;
    this.unackedIndex = this.prefix + UNACKED_INDEX;
    this.unackedMutex = this.prefix + UNACKED_MUTEX;
  }

  /**
   * The step a priority is filed under: the largest step ≤ p (Python's `bisect` − 1, which wraps
   * to the last step when p is below the first, as kombu does).
   */
  step(priority: number): number {
    const steps = this.steps;
    let i = 0;
    while (i < steps.length && steps[i]! <= priority) i++;
    return i === 0 ? steps[steps.length - 1]! : steps[i - 1]!;
  }

  /** The list (with prefix) that holds queue `queue`'s messages of priority `priority` (cached: one string per list). */
  listKey(queue: string, priority: number): string {
    return this.queueKeys(queue)[this.steps.indexOf(this.step(priority))]!;
  }

  /** Every list of a queue, one per step (with prefix), lowest step first. */
  queueKeys(queue: string): string[] {
    let keys = this.keyCache.get(queue);
    if (!keys) {
      keys = this.steps.map((step) => (step ? `${this.prefix}${queue}${this.sep}${step}` : this.prefix + queue));
      if (this.keyCache.size > 10_000) this.keyCache.clear();
      this.keyCache.set(queue, keys);
    }
    return keys;
  }

  /** The binding set of an exchange (with prefix). */
  bindingKey(exchange: string): string {
    return `${this.prefix}${BINDING_PREFIX}${exchange}`;
  }

  /** A binding-set member: `routing_key + sep + pattern + sep + queue`. */
  bindingMember(routingKey: string, pattern: string, queue: string): string {
    return `${routingKey}${this.sep}${pattern}${this.sep}${queue}`;
  }

  parseBindingMember(member: string): { routingKey: string; pattern: string; queue: string } | null {
    const parts = member.split(this.sep);
    if (parts.length !== 3) return null;
    return { routingKey: parts[0]!, pattern: parts[1]!, queue: parts[2]! };
  }

  /** The channel a fanout exchange publishes on (kombu: `/<db>.<exchange>[/<rk>]`), with prefix. */
  channel(exchange: string, routingKey: string): string {
    return routingKey ? `${this.prefix}/${this.db}.${exchange}/${routingKey}` : `${this.prefix}/${this.db}.${exchange}`;
  }
}

/** kombu's TopicExchange.key_to_pattern: the regular expression stored in a topic binding. */
export function topicPattern(bindingKey: string): string {
  return `^${bindingKey.replace(/\./g, '\\.').replace(/\*/g, '[^\\.]+').replace(/#/g, '.*?')}$`;
}

/** Glob-escape a literal for PSUBSCRIBE (Redis patterns treat `*?[]\` specially). */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
