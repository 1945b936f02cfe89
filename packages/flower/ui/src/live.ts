/**
 * Live updates: one EventSource on api/ui/stream shared by every page. Pages subscribe to
 * `task`, `worker` and `stats` events; the header shows whether the stream is connected.
 */
import { useEffect, useState } from 'preact/hooks';
import { apiUrl } from './api.ts';
import type { TaskJson, Totals, WorkerJson } from './types.ts';

export interface LiveEvents {
  task: TaskJson;
  worker: WorkerJson;
  stats: { totals: Totals };
}

type Listener<K extends keyof LiveEvents> = (data: LiveEvents[K]) => void;
type Status = 'connecting' | 'live' | 'offline';

const listeners: { [K in keyof LiveEvents]: Set<Listener<K>> } = { task: new Set(), worker: new Set(), stats: new Set() };
const statusListeners = new Set<(status: Status) => void>();
let source: EventSource | null = null;
let status: Status = 'connecting';

function setStatus(next: Status): void {
  status = next;
  for (const listener of statusListeners) listener(next);
}

function connect(): void {
  if (source) return;
  source = new EventSource(apiUrl('api/ui/stream'), { withCredentials: true });
  source.onopen = () => setStatus('live');
  // EventSource reconnects by itself; the header shows the gap meanwhile.
  source.onerror = () => setStatus(source?.readyState === EventSource.CLOSED ? 'offline' : 'connecting');
  for (const type of Object.keys(listeners) as Array<keyof LiveEvents>) {
    source.addEventListener(type, (event) => {
      let data: unknown;
      try {
        data = JSON.parse((event as MessageEvent<string>).data);
      } catch {
        return; // A malformed frame is dropped; the next one carries the current state anyway.
      }
      for (const listener of listeners[type]) (listener as (value: unknown) => void)(data);
    });
  }
}

/** Call `listener` for each live event of a type while the component is mounted. */
export function useLive<K extends keyof LiveEvents>(type: K, listener: Listener<K>): void {
  useEffect(() => {
    connect();
    const set = listeners[type] as Set<Listener<K>>;
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }, [type, listener]);
}

export function useLiveStatus(): Status {
  const [current, setCurrent] = useState(status);
  useEffect(() => {
    connect();
    statusListeners.add(setCurrent);
    setCurrent(status);
    return () => {
      statusListeners.delete(setCurrent);
    };
  }, []);
  return current;
}
