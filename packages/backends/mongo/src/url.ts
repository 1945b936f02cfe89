/**
 * What a `mongodb://` / `mongodb+srv://` URL says beyond what the driver reads itself: the
 * database (Celery's default is `celery`, the driver's is `test`), and a form safe for logs.
 * The driver parses hosts, credentials, `replicaSet`, `tls*`, `authSource` and the rest.
 */
import { ConfigurationError } from '@tq/core';

export interface MongoEndpoint {
  /** The URL given to the driver (Celery's bare `mongodb://` means localhost). */
  url: string;
  /** The database named in the path, or null. */
  database: string | null;
  /** The URL with the password replaced by `***`. */
  display: string;
}

const URL_FORM = /^(mongodb(?:\+srv)?):\/\/([^/?#]*)(?:\/([^?#]*))?(\?[^#]*)?$/i;

export function parseMongoUrl(url: string): MongoEndpoint {
  const text = url.trim();
  const m = URL_FORM.exec(text);
  if (!m) {
    throw new ConfigurationError(
      `${JSON.stringify(redactMongoUrl(text))} is not a MongoDB URL; expected mongodb://[user:password@]host[:port][,host2…]/[database][?options] or mongodb+srv://…`,
    );
  }
  const [, scheme, authority = '', path = '', query = ''] = m;
  // Celery: a bare `mongodb://` connects to localhost.
  const hosts = authority === '' ? 'localhost' : authority;
  let database: string | null = null;
  if (path !== '') {
    try {
      database = decodeURIComponent(path);
    } catch {
      throw new ConfigurationError(`the database name in ${JSON.stringify(redactMongoUrl(text))} is not valid URL encoding`);
    }
    if (/[/\\. "$\0]/.test(database)) {
      throw new ConfigurationError(`${JSON.stringify(database)} is not a valid MongoDB database name (no /\\. "$ characters)`);
    }
  }
  const normalized = `${scheme!.toLowerCase()}://${hosts}/${path}${query}`;
  return { url: normalized, database, display: redactMongoUrl(normalized) };
}

/** `mongodb://user:***@host/db`: passwords never reach a log line or an error. */
export function redactMongoUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}
