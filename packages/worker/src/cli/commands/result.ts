/** `tq result ID`: print a task's state and result (or error with traceback). */
import { ConfigurationError } from '@tq/core';
import { describeOptions, numberOption, parse, type Options } from '../args.js';
import { loadApp } from '../load-app.js';

export const summary = "show a task's state and result: tq result <task id> -A ./src/app.ts [--wait]";

const OPTIONS: Options = {
  wait: { type: 'boolean', short: 'w' },
  timeout: { type: 'string' },
  traceback: { type: 'boolean', short: 't' },
};

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse('result', argv, OPTIONS);
  if (values['help']) {
    process.stdout.write(`usage: tq result <task id> -A <module> [options]\noptions: ${describeOptions(OPTIONS)}\n`);
    return 0;
  }
  const id = positionals[0];
  if (!id) throw new ConfigurationError('tq result needs a task id');
  const app = await loadApp(values['app'] as string | undefined);
  try {
    const result = app.asyncResult(id);
    if (values['wait']) await result.get({ timeout: numberOption(values['timeout'], 'timeout') ?? null, propagate: false });
    const meta = await result.meta();
    const state = meta?.status ?? 'PENDING';
    const value = meta ? await result.result() : null;
    process.stdout.write(`${state}\n`);
    if (value instanceof Error) {
      process.stdout.write(`${value.name}: ${value.message}\n`);
      if (values['traceback'] && meta?.traceback) process.stdout.write(`${meta.traceback}\n`);
      return 1;
    }
    if (meta) process.stdout.write(`${JSON.stringify(value)}\n`);
    return 0;
  } finally {
    await app.close();
  }
}
