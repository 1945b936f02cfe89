/**
 * tq's own API for the web UI (`/api/ui/*`): JSON shaped for the pages (overview, workers,
 * server-side paged tasks, workflow graphs, queues, beat, graph series), the live stream as
 * Server-Sent Events, and the UI's own actions (retry a task with its arguments, purge a queue).
 */
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { beatEntries } from '../beat.js';
import { workflowGraph } from '../graph.js';
import { parsePyLiteral } from '../py-literal.js';
import type { StreamMessage } from '../stream.js';
import { taskJson } from '../task-json.js';
import { isSortField, queryTasks } from '../task-query.js';
import { HttpError, intArgument, type MonitorEnv, type RouteContext } from './context.js';

function timeArgument(value: string | undefined, name: string): number | null {
  if (value === undefined || value === '') return null;
  const n = Number(value);
  if (Number.isFinite(n)) return n;
  const t = Date.parse(value);
  if (!Number.isFinite(t)) throw new HttpError(400, `${name} must be epoch seconds or an ISO date, got ${JSON.stringify(value)}`);
  return t / 1000;
}

export function uiApi(ctx: RouteContext): Hono<MonitorEnv> {
  const { app, engine } = ctx;
  const ui = new Hono<MonitorEnv>();

  ui.get('/api/ui/session', (c) => {
    const user = c.get('user');
    return c.json({ csrfToken: ctx.auth.csrfToken(user), readOnly: ctx.readOnly || user?.role === 'read-only', user: user ? { username: user.username, role: user.role } : null, version: ctx.version });
  });

  ui.get('/api/ui/overview', async (c) => {
    const history = engine.history;
    const stored = history ? await history.count().catch(() => null) : engine.state.tasks.size;
    return c.json({
      workers: engine.workers(),
      totals: engine.totals(),
      history: {
        store: history?.kind ?? 'memory',
        stored,
        retention: engine.retention,
        memoryBytes: engine.memoryBytes(),
      },
    });
  });

  ui.get('/api/ui/workers/:hostname', async (c) => {
    const hostname = c.req.param('hostname');
    if (c.req.query('refresh')) await engine.inspector.refresh(hostname);
    const worker = engine.workerJson(hostname);
    if (!worker) throw new HttpError(404, `unknown worker ${hostname}`);
    return c.json(worker);
  });

  ui.get('/api/ui/tasks', (c) => {
    const q = c.req.query();
    const sort = q['sort'] || null;
    if (sort !== null && !isSortField(sort)) throw new HttpError(400, `sort must be one of received, started, succeeded, runtime, name, state; got ${JSON.stringify(sort)}`);
    const dir = q['dir'] ?? 'desc';
    if (dir !== 'asc' && dir !== 'desc') throw new HttpError(400, `dir must be asc or desc, got ${JSON.stringify(dir)}`);
    const { total, tasks } = queryTasks(engine.state, {
      offset: intArgument(q['offset'], 'offset', 0),
      limit: Math.min(intArgument(q['limit'], 'limit', 50), 1000),
      sort,
      dir,
      state: q['state'] || null,
      name: q['name'] || null,
      worker: q['worker'] || null,
      from: timeArgument(q['from'], 'from'),
      to: timeArgument(q['to'], 'to'),
      search: q['search'] ?? null,
    });
    return c.json({ total, tasks: tasks.map(taskJson) });
  });

  ui.get('/api/ui/tasks/:id', (c) => {
    const task = engine.taskJson(c.req.param('id'));
    if (!task) throw new HttpError(404, `unknown task ${c.req.param('id')}`);
    return c.json(task);
  });

  ui.get('/api/ui/tasks/:id/graph', (c) => {
    const graph = workflowGraph(engine.state, c.req.param('id'));
    if (!graph) throw new HttpError(404, `unknown task ${c.req.param('id')}`);
    return c.json(graph);
  });

  ui.post('/api/ui/tasks/:id/retry', async (c) => {
    const id = c.req.param('id');
    const task = engine.state.task(id);
    if (!task?.name) throw new HttpError(404, `unknown task ${id}`);
    // The result backend has the exact arguments when results are extended; the events' text otherwise.
    const meta = await app.asyncResult(id).meta().catch(() => null);
    let args: unknown[];
    let kwargs: Record<string, unknown>;
    if (meta && Array.isArray(meta.args)) {
      args = meta.args;
      kwargs = meta.kwargs ?? {};
    } else {
      try {
        const a = task.args ? parsePyLiteral(task.args) : [];
        const k = task.kwargs ? parsePyLiteral(task.kwargs) : {};
        if (!Array.isArray(a) || !k || typeof k !== 'object' || Array.isArray(k)) throw new Error('not a list and a dict');
        args = a;
        kwargs = k as Record<string, unknown>;
      } catch (err) {
        throw new HttpError(409, `cannot retry ${id}: its arguments are not known exactly (${(err as Error).message}); enable resultExtended so the backend keeps them`);
      }
    }
    const result = await app.sendTask(task.name, args, { kwargs, ...(task.queue ? { queue: task.queue } : {}) });
    return c.json({ taskId: result.id });
  });

  ui.get('/api/ui/queues', async (c) => {
    engine.queues = await engine.queueLengths();
    return c.json(engine.queues);
  });

  ui.post('/api/ui/queues/:name/purge', async (c) => {
    const name = c.req.param('name');
    const broker = await app.getBroker();
    if (!broker.capabilities.purge || !broker.purge) throw new HttpError(409, `the ${broker.name} broker cannot purge queues`);
    const purged = await broker.purge(name);
    return c.json({ purged });
  });

  ui.get('/api/ui/beat', async (c) => c.json(await beatEntries(app)));

  ui.get('/api/ui/stats', (c) => {
    const minutes = Math.min(intArgument(c.req.query('minutes'), 'minutes', 60, 1), 24 * 60);
    return c.json(engine.stats.toJson(minutes, Date.now() / 1000));
  });

  ui.get('/api/ui/stream', (c) =>
    streamSSE(c, async (stream) => {
      const queue: StreamMessage[][] = [];
      let wake: (() => void) | null = null;
      const unsubscribe = engine.hub.subscribe((messages) => {
        // A client that cannot keep up gets only the newest batches.
        if (queue.length > 20) queue.shift();
        queue.push(messages);
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      await stream.writeSSE({ event: 'stats', data: JSON.stringify({ totals: engine.totals() }) });
      while (!stream.aborted && !stream.closed) {
        const batch = queue.shift();
        if (!batch) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            const t = setTimeout(resolve, 15_000);
            t.unref?.();
          });
          wake = null;
          if (queue.length === 0 && !stream.aborted) await stream.write(': keep-alive\n\n');
          continue;
        }
        for (const m of batch) await stream.writeSSE({ event: m.event, data: JSON.stringify(m.data) });
      }
      unsubscribe();
    }),
  );

  return ui;
}
