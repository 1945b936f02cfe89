/** Loading a JSON resource for a page: data, error, and a `reload` that live events can call. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { getJson } from './api.ts';

export interface Resource<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

export function useApi<T>(path: string | null, params: Record<string, string | number | boolean | null | undefined> = {}, refreshMs = 0): Resource<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const key = path === null ? null : `${path}?${JSON.stringify(params)}`;
  const seq = useRef(0);

  const load = useCallback(() => {
    if (path === null) return;
    const mine = ++seq.current;
    getJson<T>(path, params)
      .then((value) => {
        // A slower, older request must not overwrite a newer answer.
        if (mine !== seq.current) return;
        setData(value);
        setError(null);
      })
      .catch((err: unknown) => {
        if (mine === seq.current) setError(err instanceof Error ? err.message : String(err));
      })
      .finally(() => {
        if (mine === seq.current) setLoading(false);
      });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  useEffect(() => {
    setLoading(true);
    load();
    if (!refreshMs) return;
    const timer = setInterval(load, refreshMs);
    return () => clearInterval(timer);
  }, [load, refreshMs]);

  return { data, error, loading, reload: load };
}

/** Run `fn` at most once per `ms`, trailing: bursts of live events cause one reload. */
export function useThrottled(fn: () => void, ms: number): () => void {
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);
  return useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      latest.current();
    }, ms);
  }, [ms]);
}
