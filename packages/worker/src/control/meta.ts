/**
 * The remote-control commands as Celery's `Panel.meta` describes them: kind, help, and how
 * positional command-line arguments map to named arguments (`tq control rate_limit tasks.add
 * 10/s` → `{task_name, rate_limit}`). The CLI reads this; the worker registers the handlers.
 */

export type ArgType = 'str' | 'int' | 'float' | 'bool';

export interface CommandMeta {
  readonly type: 'inspect' | 'control';
  readonly help: string;
  /** Usage after the command name, as Celery prints it. */
  readonly signature?: string;
  /** Leading positional arguments and their types. */
  readonly args?: ReadonlyArray<readonly [name: string, type: ArgType]>;
  /** The rest of the positional arguments, as a list under this name. */
  readonly variadic?: string;
  /** Hidden from listings (Celery's `visible=False`). */
  readonly hidden?: boolean;
}

export const COMMANDS: Readonly<Record<string, CommandMeta>> = {
  // inspect
  active: { type: 'inspect', help: 'List of tasks currently being executed.', signature: '[safe]', args: [['safe', 'bool']] },
  active_queues: { type: 'inspect', help: 'List the task queues a worker is currently consuming from.' },
  clock: { type: 'inspect', help: 'Get current logical clock value.' },
  conf: { type: 'inspect', help: 'List configuration.', signature: '[include_defaults=False]', args: [['with_defaults', 'bool']] },
  hello: { type: 'inspect', help: 'Request mingle sync-data.', args: [['from_node', 'str']], hidden: true },
  limits: { type: 'inspect', help: 'Cluster-wide flow control: tokens, leases held per key, deduplicated calls (tq).' },
  ping: { type: 'inspect', help: 'Ping worker(s).' },
  query_task: { type: 'inspect', help: 'Query for task information by id.', signature: '[id1 [id2 [... [idN]]]]', variadic: 'ids' },
  registered: { type: 'inspect', help: 'List of registered tasks.', signature: '[attr1 [attr2 [... [attrN]]]]', variadic: 'taskinfoitems' },
  report: { type: 'inspect', help: 'Information about the tq installation for bug reports.' },
  reserved: { type: 'inspect', help: 'List of currently reserved tasks, not including scheduled/active.' },
  revoked: { type: 'inspect', help: 'List of revoked task-ids.' },
  scheduled: { type: 'inspect', help: 'List of currently scheduled ETA/countdown tasks.' },
  stats: { type: 'inspect', help: 'Request worker statistics/information.' },
  // control
  add_consumer: {
    type: 'control',
    help: 'Tell worker(s) to consume from task queue by name.',
    signature: '<queue> [exchange [type [routing_key]]]',
    args: [['queue', 'str'], ['exchange', 'str'], ['exchange_type', 'str'], ['routing_key', 'str']],
  },
  autoscale: { type: 'control', help: 'Modify autoscale settings.', signature: '[max [min]]', args: [['max', 'int'], ['min', 'int']] },
  cancel_consumer: { type: 'control', help: 'Tell worker(s) to stop consuming from task queue by name.', signature: '<queue>', args: [['queue', 'str']] },
  disable_events: { type: 'control', help: 'Tell worker(s) to stop sending task-related events.' },
  enable_events: { type: 'control', help: 'Tell worker(s) to send task-related events.' },
  heartbeat: { type: 'control', help: 'Tell worker(s) to send event heartbeat immediately.' },
  pool_grow: { type: 'control', help: 'Grow pool by n processes/threads.', signature: '[N=1]', args: [['n', 'int']] },
  pool_restart: { type: 'control', help: 'Restart execution pool.' },
  pool_shrink: { type: 'control', help: 'Shrink pool by n processes/threads.', signature: '[N=1]', args: [['n', 'int']] },
  rate_limit: {
    type: 'control',
    help: 'Tell worker(s) to modify the rate limit for a task by type.',
    signature: '<task_name> <rate_limit (e.g., 5/s | 5/m | 5/h)>',
    args: [['task_name', 'str'], ['rate_limit', 'str']],
  },
  revoke: { type: 'control', help: 'Revoke task by task id (or list of ids).', signature: '[id1 [id2 [... [idN]]]]', variadic: 'task_id' },
  shutdown: { type: 'control', help: 'Shutdown worker(s).' },
  terminate: { type: 'control', help: 'Terminate task by task id (or list of ids).', signature: '<signal> [id1 [id2 [... [idN]]]]', args: [['signal', 'str']], variadic: 'task_id' },
  time_limit: {
    type: 'control',
    help: 'Tell worker(s) to modify the time limit for task by type.',
    signature: '<task_name> <soft_secs> [hard_secs]',
    args: [['task_name', 'str'], ['soft', 'float'], ['hard', 'float']],
  },
};

/** Visible commands of one kind, sorted. */
export function commandsOf(type: 'inspect' | 'control'): string[] {
  return Object.keys(COMMANDS)
    .filter((name) => COMMANDS[name]!.type === type && !COMMANDS[name]!.hidden)
    .sort();
}

/** Celery's `strtobool`. */
export function strToBool(value: string): boolean {
  const v = value.toLowerCase();
  if (['y', 'yes', 't', 'true', 'on', '1'].includes(v)) return true;
  if (['n', 'no', 'f', 'false', 'off', '0'].includes(v)) return false;
  throw new TypeError(`${JSON.stringify(value)} is not a boolean (use yes/no, true/false, 1/0)`);
}

/** Map positional command-line arguments onto a command's named arguments (Celery's `_compile_arguments`). */
export function compileArguments(command: string, positionals: string[]): Record<string, unknown> {
  const meta = COMMANDS[command];
  if (!meta) throw new TypeError(`unknown command ${command}`);
  const args = meta.args ?? [];
  const out: Record<string, unknown> = {};
  let i = 0;
  for (; i < positionals.length && i < args.length; i++) {
    const [name, type] = args[i]!;
    const raw = positionals[i]!;
    if (type === 'int') {
      const n = Number(raw);
      if (!Number.isInteger(n)) throw new TypeError(`${command}: ${name} must be an integer, got ${JSON.stringify(raw)}`);
      out[name] = n;
    } else if (type === 'float') {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new TypeError(`${command}: ${name} must be a number, got ${JSON.stringify(raw)}`);
      out[name] = n;
    } else if (type === 'bool') out[name] = strToBool(raw);
    else out[name] = raw;
  }
  const rest = positionals.slice(i);
  if (meta.variadic) out[meta.variadic] = rest;
  else if (rest.length > 0) throw new TypeError(`command ${command} takes arguments: ${meta.signature ?? '(none)'}`);
  return out;
}
