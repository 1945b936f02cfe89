/** `tq purge [-Q a,b]`: delete every waiting message from the app's queues. */
import { ConfigurationError, requireCapability } from '@tq/core';
import { describeOptions, listOption, parse, type Options } from '../args.js';
import { loadApp } from '../load-app.js';

export const summary = 'delete all waiting messages: tq purge -A ./src/app.ts [-Q a,b] [-f]';

const OPTIONS: Options = {
  queues: { type: 'string', short: 'Q', multiple: true },
  'exclude-queues': { type: 'string', short: 'X', multiple: true },
  force: { type: 'boolean', short: 'f' },
};

export async function run(argv: string[]): Promise<number> {
  const { values } = parse('purge', argv, OPTIONS);
  if (values['help']) {
    process.stdout.write(`usage: tq purge -A <module> [options]\noptions: ${describeOptions(OPTIONS)}\n`);
    return 0;
  }
  const app = await loadApp(values['app'] as string | undefined);
  try {
    const exclude = new Set(listOption(values['exclude-queues']) ?? []);
    const queues = (listOption(values['queues']) ?? [app.conf.taskDefaultQueue, ...app.conf.taskQueues.map((q) => q.name)]).filter((q, i, all) => !exclude.has(q) && all.indexOf(q) === i);
    if (!values['force'] && !process.stdin.isTTY) {
      throw new ConfigurationError(`tq purge would delete every waiting message in ${queues.join(', ')}; pass -f to confirm`);
    }
    const broker = await app.getBroker();
    requireCapability(broker, 'purge', 'tq purge');
    let total = 0;
    for (const queue of queues) {
      const n = await broker.purge!(queue);
      total += n;
      process.stdout.write(`${queue}: ${n} message(s) purged\n`);
    }
    process.stdout.write(`purged ${total} message(s) from ${queues.length} queue(s)\n`);
    return 0;
  } finally {
    await app.close();
  }
}
