/**
 * Hash routes (`#/tasks`, `#/task/<id>`, `#/workers/<hostname>`, ...): the fragment never reaches
 * the server, so the UI works under any URL prefix without server-side rewrites.
 */
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  /** First path segment: '' (dashboard), 'tasks', 'task', 'workers', 'queues', 'beat', 'graphs'. */
  page: string;
  /** The rest of the path, decoded (a task id or a hostname). */
  param: string | null;
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const [path = '', search = ''] = raw.split('?', 2);
  const slash = path.indexOf('/');
  const page = slash === -1 ? path : path.slice(0, slash);
  const rest = slash === -1 ? '' : path.slice(slash + 1);
  return { page, param: rest ? decodeURIComponent(rest) : null, query: new URLSearchParams(search) };
}

export function href(page: string, param?: string | null, query?: Record<string, string>): string {
  const qs = query ? new URLSearchParams(query).toString() : '';
  return `#/${page}${param ? `/${encodeURIComponent(param)}` : ''}${qs ? `?${qs}` : ''}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
