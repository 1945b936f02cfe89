/** The shell: header with navigation, session and live status, and the page for the route. */
import { useEffect, useState } from 'preact/hooks';
import { getJson, setCsrfToken } from './api.ts';
import { ActionsProvider } from './components/actions.tsx';
import { Loading } from './components/bits.tsx';
import { useLiveStatus } from './live.ts';
import { Beat } from './pages/beat.tsx';
import { Dashboard } from './pages/dashboard.tsx';
import { Graphs } from './pages/graphs.tsx';
import { Queues } from './pages/queues.tsx';
import { TaskDetail } from './pages/task-detail.tsx';
import { Tasks } from './pages/tasks.tsx';
import { Worker } from './pages/worker.tsx';
import { useRoute } from './route.ts';
import type { Session } from './types.ts';

const NAV = [
  { page: '', label: 'Dashboard', also: ['workers'] },
  { page: 'tasks', label: 'Tasks', also: ['task'] },
  { page: 'queues', label: 'Queues', also: [] },
  { page: 'beat', label: 'Beat', also: [] },
  { page: 'graphs', label: 'Graphs', also: [] },
];

function LiveDot() {
  const status = useLiveStatus();
  const text = status === 'live' ? 'Live' : status === 'connecting' ? 'Reconnecting…' : 'Offline';
  return <span class={`live live-${status}`} data-testid="live-status" title="Event stream">{text}</span>;
}

function Page() {
  const route = useRoute();
  useEffect(() => {
    const item = NAV.find((n) => n.page === route.page || n.also.includes(route.page));
    document.title = `${route.param ?? item?.label ?? 'tq'} · tq monitor`;
  }, [route]);
  switch (route.page) {
    case '':
      return <Dashboard />;
    case 'workers':
      return route.param ? <Worker key={route.param} hostname={route.param} /> : <Dashboard />;
    case 'tasks':
      return <Tasks route={route} />;
    case 'task':
      return route.param ? <TaskDetail key={route.param} id={route.param} /> : <Tasks route={route} />;
    case 'queues':
      return <Queues />;
    case 'beat':
      return <Beat />;
    case 'graphs':
      return <Graphs />;
    default:
      return <div class="page"><p class="note">No page here. <a href="#/">Back to the dashboard</a>.</p></div>;
  }
}

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<string | null>(null);
  const route = useRoute();
  useEffect(() => {
    getJson<Session>('api/ui/session')
      .then((s) => {
        setCsrfToken(s.csrfToken);
        setSession(s);
      })
      .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
  }, []);

  return (
    <ActionsProvider readOnly={session?.readOnly ?? true}>
      <header class="top">
        <a class="brand" href="#/">
          <span class="brand-mark">tq</span> monitor
        </a>
        <nav class="nav">
          {NAV.map((n) => (
            <a key={n.label} href={`#/${n.page}`} class={n.page === route.page || n.also.includes(route.page) ? 'nav-on' : ''}>{n.label}</a>
          ))}
        </nav>
        <div class="spacer" />
        {session?.readOnly && <span class="badge badge-muted" data-testid="read-only">read-only</span>}
        {session?.user && <span class="dim" data-testid="user" title={`role: ${session.user.role}`}>{session.user.username}</span>}
        <LiveDot />
      </header>
      <main>{session ? <Page /> : <div class="page"><Loading error={error} what="the session" /></div>}</main>
      <footer class="foot dim">@tq/flower {session?.version ?? ''} · times in your browser's zone (hover for UTC)</footer>
    </ActionsProvider>
  );
}
