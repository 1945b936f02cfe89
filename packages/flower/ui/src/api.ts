/**
 * The UI's client for the monitor's HTTP API. Every URL is relative to the monitor's own prefix,
 * taken from the page's path, so the same build works at `/`, `/flower/` or behind a proxy.
 */

/** The monitor's base path: the page's directory (`/flower/` for `/flower/` or `/flower/index.html`). */
export function apiBase(pathname: string = location.pathname): string {
  if (pathname.endsWith('/')) return pathname;
  // A file name (index.html) is dropped; a bare prefix without its slash gets one.
  return /\.[a-z0-9]+$/i.test(pathname.slice(pathname.lastIndexOf('/') + 1)) ? pathname.slice(0, pathname.lastIndexOf('/') + 1) : `${pathname}/`;
}

export function apiUrl(path: string, params: Record<string, string | number | boolean | null | undefined> = {}): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(key, String(value));
  }
  const qs = query.toString();
  return `${apiBase()}${path}${qs ? `?${qs}` : ''}`;
}

/** An HTTP error with the server's message (its JSON `error`/`message` field, or the body text). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function readError(response: Response): Promise<ApiError> {
  const text = await response.text();
  let message = text || response.statusText;
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    const detail = body.error ?? body.message;
    if (typeof detail === 'string') message = detail;
  } catch {
    // Not JSON: the text itself is the message.
  }
  return new ApiError(response.status, `${response.status} ${message}`);
}

export async function getJson<T>(path: string, params?: Parameters<typeof apiUrl>[1]): Promise<T> {
  const response = await fetch(apiUrl(path, params), { headers: { accept: 'application/json' }, credentials: 'same-origin' });
  if (!response.ok) throw await readError(response);
  return (await response.json()) as T;
}

let csrfToken = '';

/** Remember the session's CSRF token; every action sends it back in `X-CSRF-Token`. */
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/** POST an action (revoke, purge, pool grow, ...). Resolves with the server's JSON reply. */
export async function postAction<T = unknown>(path: string, params?: Parameters<typeof apiUrl>[1]): Promise<T> {
  const response = await fetch(apiUrl(path, params), {
    method: 'POST',
    headers: { accept: 'application/json', 'x-csrf-token': csrfToken },
    credentials: 'same-origin',
  });
  if (!response.ok) throw await readError(response);
  const text = await response.text();
  return (text ? JSON.parse(text) : {}) as T;
}
