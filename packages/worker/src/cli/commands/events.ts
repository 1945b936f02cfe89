/**
 * `tq events -A <module>`: print the cluster's events as they happen (Celery's
 * `celery events --dump`), one readable line per event, or one JSON object per line with
 * `--json`. Works with Python workers too. Stops on SIGINT/SIGTERM.
 */
import { pyRepr } from '@tq/protocol';
import type { ReceivedEvent } from '@tq/core';
import { applyLogLevel, describeOptions, listOption, loglevel, parse, type Options } from '../args.js';
import { loadApp } from '../load-app.js';

export const summary = 'print events as they happen: tq events -A ./src/app.ts [--json]';

const OPTIONS: Options = {
  json: { type: 'boolean' },
  dump: { type: 'boolean', short: 'd' },
  'routing-key': { type: 'string' },
  types: { type: 'string', short: 't', multiple: true },
};

const HUMAN_TYPES: Record<string, string> = {
  'worker-offline': 'shutdown',
  'worker-online': 'started',
  'worker-heartbeat': 'heartbeat',
};

/** Python's `str()` of a field value, as Celery's dumper prints it. */
function pyStr(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return pyRepr(value);
}

/** `2026-11-23 23:00:49.387077+00:00`: Python's str() of an aware UTC datetime. */
function pyTimestamp(seconds: number): string {
  // Python rounds to the nearest microsecond.
  const total = Math.round(seconds * 1e6);
  const whole = Math.floor(total / 1e6);
  const iso = new Date(whole * 1000).toISOString();
  const micros = String(total - whole * 1e6).padStart(6, '0');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${micros}+00:00`;
}

/**
 * Celery's event dumper, as a function from events to lines. It remembers task names (from
 * task-received/task-sent) to show them on later events of the same task.
 */
export function createDumper(limit = 4095): (event: ReceivedEvent) => string {
  const names = new Map<string, string>();
  return (received) => {
    const event: Record<string, unknown> = { ...received };
    const timestamp = pyTimestamp(Number(event['timestamp']));
    const type = String(event['type']).toLowerCase();
    const hostname = String(event['hostname']);
    delete event['timestamp'];
    delete event['type'];
    delete event['hostname'];
    const human = HUMAN_TYPES[type] ?? type.replace(/-/g, ' ');
    let task = '';
    if (type.startsWith('task-')) {
      const uuid = String(event['uuid']);
      delete event['uuid'];
      if (type === 'task-received' || type === 'task-sent') {
        task = `${pyStr(event['name'])}(${uuid}) args=${pyStr(event['args'])} kwargs=${pyStr(event['kwargs'])}`;
        delete event['name'];
        delete event['args'];
        delete event['kwargs'];
        names.delete(uuid);
        names.set(uuid, task);
        if (names.size > limit) names.delete(names.keys().next().value!);
      } else task = names.get(uuid) ?? '';
    }
    const fields = Object.keys(event)
      .sort()
      .map((key) => `${key}=${pyStr(event[key])}`)
      .join(', ');
    const sep = fields ? ':' : '';
    return task ? `${hostname} [${timestamp}] ${human}${sep} ${task} ${fields}` : `${hostname} [${timestamp}] ${human}${sep} ${fields}`;
  };
}

/** Does an event type match one of the patterns (`task-failed`, `task-*`, `worker-*`)? */
function typeFilter(patterns: string[] | undefined): (type: string) => boolean {
  if (!patterns) return () => true;
  const regexes = patterns.map((p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`));
  return (type) => regexes.some((re) => re.test(type));
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parse('events', argv, OPTIONS);
  if (values['help']) {
    process.stdout.write(
      `usage: tq events -A <module> [--json] [-t task-*,worker-heartbeat]\n` +
        `Prints every event from workers and clients (readable lines as \`celery events --dump\`, or JSON lines).\n` +
        `options: ${describeOptions(OPTIONS)}\n`,
    );
    return 0;
  }
  const app = await loadApp(values['app'] as string | undefined);
  applyLogLevel(app, loglevel(values['loglevel'], 'warn'));
  const json = values['json'] === true;
  const wanted = typeFilter(listOption(values['types']));
  const dump = createDumper();
  const write = (line: string) => process.stdout.write(`${line}\n`);
  // Nothing else may hold the event loop open on the memory transport.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  try {
    const receiver = await app.events.receiver(
      {
        '*': (event) => {
          if (!wanted(event.type)) return;
          write(json ? JSON.stringify(event) : dump(event));
        },
      },
      values['routing-key'] ? { routingKey: String(values['routing-key']) } : {},
    );
    if (!json) write(`-> evdump: starting capture (${(await app.getBroker()).name} broker)...`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await receiver.close();
    return 0;
  } finally {
    clearInterval(keepAlive);
    await app.close();
  }
}
