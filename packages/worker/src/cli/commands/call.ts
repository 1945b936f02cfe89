/** `tq call NAME --args JSON --kwargs JSON [--countdown N]`: send a task by name. */
import { ConfigurationError } from '@tq/core';
import { describeOptions, jsonOption, numberOption, parse, type Options } from '../args.js';
import { loadApp } from '../load-app.js';

export const summary = 'send a task by name: tq call tasks.add -A ./src/app.ts --args "[1, 2]"';

const OPTIONS: Options = {
  args: { type: 'string', short: 'a' },
  kwargs: { type: 'string', short: 'k' },
  countdown: { type: 'string' },
  eta: { type: 'string' },
  expires: { type: 'string' },
  queue: { type: 'string', short: 'Q' },
  priority: { type: 'string' },
  wait: { type: 'boolean', short: 'w' },
  timeout: { type: 'string' },
};

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse('call', argv, OPTIONS);
  if (values['help']) {
    process.stdout.write(`usage: tq call <task name> -A <module> [options]\noptions: ${describeOptions(OPTIONS)}\n`);
    return 0;
  }
  const name = positionals[0];
  if (!name) throw new ConfigurationError('tq call needs a task name, e.g. tq call tasks.add --args "[1, 2]"');
  const app = await loadApp(values['app'] as string | undefined);
  const args = jsonOption(values['args'], 'args', (v): v is unknown[] => Array.isArray(v)) ?? [];
  const kwargs = jsonOption(values['kwargs'], 'kwargs', (v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)) ?? {};
  const countdown = numberOption(values['countdown'], 'countdown');
  const priority = numberOption(values['priority'], 'priority', { integer: true });
  const expires = numberOption(values['expires'], 'expires');
  try {
    const result = await app.sendTask(name, args, {
      kwargs,
      ...(countdown === undefined ? {} : { countdown }),
      ...(values['eta'] ? { eta: String(values['eta']) } : {}),
      ...(expires === undefined ? {} : { expires }),
      ...(values['queue'] ? { queue: String(values['queue']) } : {}),
      ...(priority === undefined ? {} : { priority }),
    });
    process.stdout.write(`${result.id}\n`);
    if (values['wait']) {
      const timeout = numberOption(values['timeout'], 'timeout') ?? null;
      const value = await result.get({ timeout, propagate: false });
      process.stdout.write(`${JSON.stringify(value instanceof Error ? { error: value.name, message: value.message } : value)}\n`);
      return value instanceof Error ? 1 : 0;
    }
    return 0;
  } finally {
    await app.close();
  }
}
