/**
 * The `tq` command: `tq <command> [options]`. Each command is a module in ./commands exporting
 * `summary` and `run(argv)`; they are found by name, so adding a command is adding a file.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isTqError } from '@tq/core';

export interface Command {
  /** One line for `tq --help`. */
  summary: string;
  /** Run the command; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}

const commandsDir = join(dirname(fileURLToPath(import.meta.url)), 'commands');

function commandNames(): string[] {
  return readdirSync(commandsDir)
    .filter((f) => /\.(js|ts)$/.test(f) && !f.endsWith('.d.ts') && !f.includes('.test.'))
    .map((f) => f.replace(/\.(js|ts)$/, ''))
    .sort();
}

async function loadCommand(name: string): Promise<Command | null> {
  if (!commandNames().includes(name)) return null;
  return (await import(`./commands/${name}.js`)) as Command;
}

async function usage(): Promise<string> {
  const lines = ['usage: tq <command> [options]', '', 'commands:'];
  for (const name of commandNames()) {
    const command = await loadCommand(name);
    lines.push(`  ${name.padEnd(10)} ${command?.summary ?? ''}`);
  }
  lines.push('', 'tq <command> --help shows the options of a command.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${await usage()}\n`);
    return name ? 0 : 2;
  }
  if (name === '--version') {
    process.stdout.write('tq 0.1.0\n');
    return 0;
  }
  const command = await loadCommand(name);
  if (!command) {
    process.stderr.write(`tq: unknown command ${JSON.stringify(name)}; commands: ${commandNames().join(', ')}\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    process.stderr.write(`${isTqError(err) ? err.message : (err as Error).stack ?? String(err)}\n`);
    return isTqError(err, 'CONFIGURATION_ERROR') ? 2 : 1;
  }
}
