/**
 * Polling the workers over remote control, as Flower does: `stats`, `active_queues`,
 * `registered`, `conf`, plus `active`, `reserved`, `scheduled` and `revoked`, all broadcast at
 * once and cached per worker. A refresh already running is shared, so bursts of `?refresh=1`
 * cost one round of broadcasts. Every few seconds `enable_events` is broadcast so that workers
 * started without task events (`-E`) begin sending them.
 */
import type { App } from '@tq/core';

/** What one worker answered, by command (Flower's `/api/workers` record). */
export interface WorkerInfo {
  stats?: Record<string, unknown>;
  active_queues?: Array<Record<string, unknown>>;
  registered?: string[];
  conf?: Record<string, unknown>;
  active?: unknown[];
  reserved?: unknown[];
  scheduled?: unknown[];
  revoked?: string[];
  /** tq workers: cluster-wide flow control (`inspect limits`: tokens, leases per key, dedup counts); an error from Celery workers. */
  limits?: Record<string, unknown>;
  /** Epoch seconds of the last reply. */
  timestamp?: number;
}

const COMMANDS: ReadonlyArray<[command: string, field: keyof WorkerInfo, args: Record<string, unknown>]> = [
  ['stats', 'stats', {}],
  ['active_queues', 'active_queues', {}],
  ['registered', 'registered', { taskinfoitems: [] }],
  ['conf', 'conf', { with_defaults: false }],
  ['active', 'active', { safe: true }],
  ['reserved', 'reserved', {}],
  ['scheduled', 'scheduled', {}],
  ['revoked', 'revoked', {}],
  ['limits', 'limits', {}],
];

export class Inspector {
  readonly workers = new Map<string, WorkerInfo>();
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private eventsTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly app: App,
    private readonly options: { interval: number; timeout: number; enableEvents: boolean; onUpdate: (hostname: string) => void },
  ) {}

  start(): void {
    void this.refresh();
    if (this.options.interval > 0) {
      this.timer = setInterval(() => void this.refresh(), this.options.interval * 1000);
      this.timer.unref();
    }
    if (this.options.enableEvents) {
      const enable = () => void this.app.control.broadcast('enable_events', {}).catch(() => undefined);
      enable();
      this.eventsTimer = setInterval(enable, 5000);
      this.eventsTimer.unref();
    }
  }

  /** Ask every worker (or one) again; resolves when the replies are in. */
  refresh(workername?: string | null): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.running && !workername) return this.running;
    const round = this.round(workername ?? null).finally(() => {
      if (this.running === round) this.running = null;
    });
    if (!workername) this.running = round;
    return round;
  }

  private async round(destination: string | null): Promise<void> {
    const inspect = this.app.control.inspect({ timeout: this.options.timeout, ...(destination ? { destination } : {}) });
    const now = Date.now() / 1000;
    const touched = new Set<string>();
    await Promise.all(
      COMMANDS.map(async ([command, field, args]) => {
        const replies = await inspect.request<unknown>(command, args).catch(() => null);
        if (!replies || this.closed) return;
        for (const [node, value] of Object.entries(replies)) {
          let info = this.workers.get(node);
          if (!info) this.workers.set(node, (info = {}));
          (info as Record<string, unknown>)[field] = value;
          info.timestamp = now;
          touched.add(node);
        }
      }),
    );
    for (const node of touched) this.options.onUpdate(node);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.eventsTimer) clearInterval(this.eventsTimer);
    this.timer = this.eventsTimer = null;
  }
}
