/**
 * `controlAllow` (`--control-allow`): the remote-control commands a worker accepts from the
 * network. Anyone who can publish to the broker can send `shutdown`, `pool_restart` or
 * `revoke --terminate`; a worker that should only answer monitoring lists those it accepts,
 * e.g. `--control-allow ping,stats,active,registered,conf` (or `inspect` for every inspect command).
 */
import { ConfigurationError, type Logger } from '@tq/core';
import { COMMANDS } from './meta.js';

/** Shorthands: every inspect command, or every control command. */
const GROUPS: Record<string, string[]> = {
  inspect: Object.keys(COMMANDS).filter((name) => COMMANDS[name]!.type === 'inspect'),
  control: Object.keys(COMMANDS).filter((name) => COMMANDS[name]!.type === 'control'),
};

/** The allowed command names, or null (everything registered) when no list is given. */
export function controlAllowList(names: readonly string[] | null | undefined, logger: Logger): ReadonlySet<string> | null {
  if (names === null || names === undefined) return null;
  if (!Array.isArray(names) || names.some((name) => typeof name !== 'string' || !name)) {
    throw new ConfigurationError(`controlAllow must be a list of command names (e.g. ['ping', 'stats']), got ${JSON.stringify(names)}`);
  }
  const allowed = new Set<string>();
  for (const name of names) {
    for (const command of GROUPS[name] ?? [name]) allowed.add(command);
    // Not a Celery command: a typo, or a command the app registers itself.
    if (!GROUPS[name] && !COMMANDS[name]) logger.warn(`controlAllow names ${JSON.stringify(name)}, which is not one of Celery's commands; it is allowed if this worker registers it`);
  }
  return allowed;
}
