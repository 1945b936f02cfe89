/** Identifiers: task ids, the client's reply-to oid, node names. */
import { randomUUID } from 'node:crypto';
import { hostname as osHostname } from 'node:os';

export function uuid(): string {
  return randomUUID();
}

export function hostname(): string {
  return osHostname();
}

/** Celery's anonymous node name for a client: `gen<pid>@<host>`. */
export function anonNodename(): string {
  return `gen${process.pid}@${hostname()}`;
}

/**
 * Expand a worker node name the way Celery's `-n` does: `%h` host, `%n` short host, `%d` domain,
 * `%i` process index (0 here), `%I` (empty), `%%` a percent sign; a name without `@` gets
 * `celery@` prepended.
 */
export function expandNodename(template: string | undefined, host = hostname()): string {
  const [short = host, ...rest] = host.split('.');
  const domain = rest.join('.');
  const name = (template ?? 'celery@%h').replace(/%([hndiI%])/g, (_, c: string) => {
    switch (c) {
      case 'h':
        return host;
      case 'n':
        return short;
      case 'd':
        return domain;
      case 'i':
        return '0';
      case 'I':
        return '';
      default:
        return '%';
    }
  });
  return name.includes('@') ? name : `celery@${name}`;
}
