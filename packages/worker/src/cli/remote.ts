/**
 * `tq inspect` and `tq control`: send a remote-control command to workers (tq's or Python
 * Celery's) and print their replies, as `celery inspect` / `celery control` do — readable by
 * default, `--json` for scripts. Positional arguments map to the command's named arguments
 * (`tq control rate_limit tasks.add 10/s`).
 */
import { ConfigurationError, type App, type ControlReply } from '@tq/core';
import { COMMANDS, commandsOf, compileArguments } from '../control/meta.js';
import { describeOptions, listOption, numberOption, parse, type Options } from './args.js';
import { loadApp } from './load-app.js';

const OPTIONS: Options = {
  destination: { type: 'string', short: 'd', multiple: true },
  timeout: { type: 'string', short: 't' },
  json: { type: 'boolean', short: 'j' },
  list: { type: 'boolean' },
};

/** Celery's EX_UNAVAILABLE. */
const EX_UNAVAILABLE = 69;

function listing(kind: 'inspect' | 'control'): string {
  const names = commandsOf(kind);
  const width = Math.max(...names.map((n) => `${n} ${COMMANDS[n]!.signature ?? ''}`.trim().length));
  return names.map((name) => `  ${`${name} ${COMMANDS[name]!.signature ?? ''}`.trim().padEnd(width)}  ${COMMANDS[name]!.help}`).join('\n');
}

function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((line) => pad + line)
    .join('\n');
}

/** Celery's `pretty()`: lists as `* item`, dicts with ok/error unwrapped, other dicts as sorted JSON. */
function pretty(value: unknown): [status: 'OK' | 'ERROR', text: string] {
  if (Array.isArray(value)) return ['OK', value.length === 0 ? '- empty -' : value.map((item) => `* ${typeof item === 'string' ? item : JSON.stringify(item)}`).join('\n')];
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if ('ok' in record) return ['OK', indent(pretty(record['ok'])[1], 4)];
    if ('error' in record) return ['ERROR', indent(pretty(record['error'])[1], 4)];
    return ['OK', JSON.stringify(sortKeys(record), null, 4)];
  }
  if (typeof value === 'string') return ['OK', value];
  return ['OK', JSON.stringify(value)];
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** One reply the way `celery inspect` prints it. */
export function formatReply(reply: ControlReply): string {
  const [node] = Object.keys(reply);
  if (node === undefined) return '';
  const [status, text] = pretty(reply[node]);
  return `->  ${node}: ${status}\n${indent(text, 4)}\n`;
}

export async function runRemote(kind: 'inspect' | 'control', argv: string[]): Promise<number> {
  const { values, positionals } = parse(kind, argv, OPTIONS);
  if (values['help'] || values['list']) {
    process.stdout.write(
      `usage: tq ${kind} <command> [arguments] -A <module> [-d w1@host,w2@host] [-t seconds] [--json]\n\n${kind} commands:\n${listing(kind)}\n\noptions: ${describeOptions({ ...OPTIONS })}\n`,
    );
    return 0;
  }
  const [command, ...rest] = positionals;
  if (!command) throw new ConfigurationError(`tq ${kind} needs a command; available ${kind} commands: ${commandsOf(kind).join(', ')}`);
  if (COMMANDS[command]?.type !== kind) {
    throw new ConfigurationError(`Command ${command} not recognized. Available ${kind} commands: ${commandsOf(kind).join(', ')}`);
  }
  let args: Record<string, unknown>;
  try {
    args = compileArguments(command, rest);
  } catch (err) {
    throw new ConfigurationError(`tq ${kind} ${command}: ${(err as Error).message}`);
  }
  const timeout = numberOption(values['timeout'], 'timeout') ?? 1;
  const destination = listOption(values['destination']) ?? null;
  const json = values['json'] === true;
  const app: App = await loadApp(values['app'] as string | undefined);
  try {
    const replies: ControlReply[] = [];
    await app.control.broadcast(command, args, {
      reply: true,
      timeout,
      destination,
      onReply: (reply) => {
        replies.push(reply);
        if (!json) process.stdout.write(formatReply(reply));
      },
    });
    if (replies.length === 0) {
      process.stderr.write('Error: No nodes replied within time constraint\n');
      return EX_UNAVAILABLE;
    }
    if (json) {
      const output = kind === 'inspect' ? Object.assign({}, ...replies) : replies;
      process.stdout.write(`${JSON.stringify(output)}\n`);
    } else {
      process.stdout.write(`\n${replies.length} ${replies.length === 1 ? 'node' : 'nodes'} online.\n`);
    }
    return 0;
  } finally {
    await app.close();
  }
}
