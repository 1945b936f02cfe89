/** `npm run chaos [-- --tasks N] [-- --broker redis|amqp]`: the full chaos run on Redis, then on RabbitMQ, and its table. */
import { chaosTable, runChaos, type ChaosResult } from './chaos.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? undefined : args[i + 1];
};
const tasks = Number(flag('tasks') ?? 10_000);
const brokers = (flag('broker') ?? 'redis,amqp').split(',') as Array<'redis' | 'amqp'>;
const results: ChaosResult[] = [];
for (const broker of brokers) results.push(await runChaos({ broker, tasks }));
console.log(`\n${chaosTable(results)}`);
const failed = results.filter((r) => r.lost > 0 || r.unexplained > 0 || (r.beat && r.beat.runsSentTwice > 0));
process.exit(failed.length ? 1 : 0);
