/**
 * `npm run bench [-- suite…]`: runs each suite in its own Node process (so peak memory is the
 * suite's own) from the compiled output. With no argument: the memory-transport suites.
 * A suite is `src/suites/<name>.ts` exporting `run()`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const suitesDir = join(here, 'suites');
const available = readdirSync(suitesDir).filter((f) => f.endsWith('.js')).map((f) => f.replace(/\.js$/, ''));
const DEFAULT = ['memory', 'canvas', 'pools'].filter((s) => available.includes(s));

const [, , ...args] = process.argv;
if (args[0] === '--child') {
  const mod = (await import(join(suitesDir, `${args[1]}.js`))) as { run(): Promise<void> };
  await mod.run();
  process.exit(0);
}

const requested = args.length > 0 ? args : DEFAULT;
const unknown = requested.filter((s) => !available.includes(s));
if (unknown.length > 0) {
  console.error(`unknown bench suite(s): ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(2);
}
process.stdout.write(`tq benchmarks — node ${process.version}, ${new Date().toISOString()}\n`);
let failed = 0;
for (const suite of requested) {
  const file = fileURLToPath(import.meta.url);
  if (!existsSync(file)) break;
  const result = spawnSync(process.execPath, [file, '--child', suite], { stdio: 'inherit', env: process.env });
  if (result.status !== 0) {
    failed++;
    console.error(`suite ${suite} failed (exit ${result.status ?? result.signal})`);
  }
}
process.exit(failed ? 1 : 0);
