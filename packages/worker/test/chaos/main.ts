/**
 * `npm run chaos [-- --tasks N] [-- --broker redis,amqp,sqs] [-- --backend redis,mongo]`: the full
 * chaos run on each broker (default Redis, RabbitMQ, then SQS) with each result backend (default
 * Redis), and its table. `--broker sqs` runs on a fauxqs of its own (no broker restart: fauxqs
 * keeps messages in memory); `--backend mongo` stores results (and the beat's lease) in a FerretDB
 * of its own, which the backend outage really stops.
 */
import { chaosTable, runChaos, type ChaosBackend, type ChaosBroker, type ChaosResult } from './chaos.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? undefined : args[i + 1];
};
const list = <T extends string>(name: string, fallback: string, allowed: readonly T[]): T[] => {
  const values = (flag(name) ?? fallback).split(',');
  for (const v of values) if (!allowed.includes(v as T)) throw new Error(`--${name} ${v}: expected one of ${allowed.join(', ')}`);
  return values as T[];
};
const tasks = Number(flag('tasks') ?? 10_000);
const brokers = list<ChaosBroker>('broker', 'redis,amqp,sqs', ['redis', 'amqp', 'sqs']);
const backends = list<ChaosBackend>('backend', 'redis', ['redis', 'mongo']);
const results: ChaosResult[] = [];
for (const backend of backends) for (const broker of brokers) results.push(await runChaos({ broker, backend, tasks }));
console.log(`\n${chaosTable(results)}`);
const failed = results.filter((r) => r.lost > 0 || r.unexplained > 0 || (r.beat && r.beat.runsSentTwice > 0));
process.exit(failed.length ? 1 : 0);
