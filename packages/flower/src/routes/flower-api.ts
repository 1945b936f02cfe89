/**
 * Flower 2's REST API (flower/api/*.py): the same paths, parameters and response shapes, so
 * scripts written against Flower work against tq's monitor. Control endpoints broadcast to the
 * named worker and answer `{ message }`, 403 when the worker refused, 404 for an unknown worker.
 */
import { isTqError, type ApplyOptions } from '@tq/core';
import { Hono, type Context } from 'hono';
import { flowerTaskDict } from '../task-json.js';
import { maskSecrets } from '../worker-json.js';
import { queryTasks, isSortField, type TaskFilter } from '../task-query.js';
import { argument, HttpError, intArgument, truthy, type MonitorEnv, type RouteContext } from './context.js';

/** Flower's `received_start`/`received_end` format: `%Y-%m-%d %H:%M` (local time, as Python's mktime). */
function parseFlowerDate(value: string | undefined, name: string): number | null {
  if (!value) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})$/.exec(value.trim());
  if (!m) throw new HttpError(400, `${name} must look like 2024-01-31 13:45, got ${JSON.stringify(value)}`);
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5])).getTime() / 1000;
}

/** Flower's apply options: args, kwargs and apply_async options from the JSON body. */
async function taskBody(c: Context<MonitorEnv>): Promise<{ args: unknown[]; kwargs: Record<string, unknown>; options: ApplyOptions }> {
  const text = await c.req.text();
  let body: unknown = {};
  if (text.trim()) {
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new HttpError(400, `the body must be JSON: ${(err as Error).message}`);
    }
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'invalid options');
  const { args = [], kwargs = {}, eta, countdown, expires, ...rest } = body as Record<string, unknown>;
  if (!Array.isArray(args)) throw new HttpError(400, 'args must be an array');
  if (!kwargs || typeof kwargs !== 'object' || Array.isArray(kwargs)) throw new HttpError(400, 'kwargs must be an object');
  const options: Record<string, unknown> = {};
  for (const key of ['queue', 'priority', 'routing_key', 'exchange', 'serializer', 'compression', 'task_id', 'retries']) {
    if (rest[key] !== undefined) options[key.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase())] = rest[key];
  }
  if (eta !== undefined) {
    const t = Date.parse(String(eta).replace(' ', 'T'));
    if (!Number.isFinite(t)) throw new HttpError(400, 'Invalid option: eta');
    options['eta'] = new Date(t);
  }
  if (countdown !== undefined) {
    const n = Number(countdown);
    if (!Number.isFinite(n)) throw new HttpError(400, 'Invalid option: countdown');
    options['countdown'] = n;
  }
  if (expires !== undefined) {
    const n = Number(expires);
    if (Number.isFinite(n)) options['expires'] = n;
    else {
      const t = Date.parse(String(expires).replace(' ', 'T'));
      if (!Number.isFinite(t)) throw new HttpError(400, 'Invalid option: expires');
      options['expires'] = new Date(t);
    }
  }
  return { args, kwargs: kwargs as Record<string, unknown>, options: options as ApplyOptions };
}

export function flowerApi(ctx: RouteContext): Hono<MonitorEnv> {
  const { app, engine } = ctx;
  const api = new Hono<MonitorEnv>();

  const isWorker = (name: string) => engine.workerNames().includes(name);

  /** Broadcast a control command to one worker and answer as Flower's ControlHandler does. */
  const control = async (c: Context<MonitorEnv>, worker: string, method: string, args: Record<string, unknown>, ok: string, failed: string) => {
    if (!isWorker(worker)) throw new HttpError(404, `Unknown worker '${worker}'`);
    const replies = await app.control.broadcast(method, args, { destination: [worker], reply: true, timeout: ctx.engine.options.inspectTimeout ?? 1 });
    const reply = replies.map((r) => r[worker]).find((r) => r !== undefined) as { ok?: unknown; error?: unknown } | undefined;
    if (reply && reply.ok !== undefined) return c.json({ message: ok });
    return c.json({ message: `${failed}${reply?.error ? `: ${String(reply.error)}` : ''}` }, 403);
  };

  api.get('/api/workers', async (c) => {
    const refresh = truthy(c.req.query('refresh'));
    const status = truthy(c.req.query('status'));
    const workername = c.req.query('workername') || null;
    if (refresh) await engine.inspector.refresh(workername);
    if (status) {
      const info: Record<string, boolean> = {};
      for (const [name, w] of engine.state.workers) info[name] = w.alive;
      return c.json(info);
    }
    if (workername) {
      const info = engine.inspector.workers.get(workername);
      if (!info && !engine.state.worker(workername)) throw new HttpError(404, `Unknown worker '${workername}'`);
      return c.json({ [workername]: maskSecrets(info ?? {}) });
    }
    return c.json(maskSecrets(Object.fromEntries(engine.inspector.workers)));
  });

  api.get('/api/tasks', (c) => {
    const q = c.req.query();
    const sortBy = q['sort_by'];
    let sort: TaskFilter['sort'] = null;
    let dir: 'asc' | 'desc' = 'desc';
    if (sortBy) {
      const field = sortBy.replace(/^-/, '');
      if (!isSortField(field)) throw new HttpError(400, `sort_by must be one of name, state, received, started (optionally with a leading -), got ${JSON.stringify(sortBy)}`);
      sort = field;
      dir = sortBy.startsWith('-') ? 'desc' : 'asc';
    }
    const all = (v: string | undefined) => (v && v !== 'All' ? v : null);
    const limit = q['limit'] ? intArgument(q['limit'], 'limit', 0) : null;
    const { tasks } = queryTasks(engine.state, {
      state: all(q['state']),
      name: all(q['taskname']),
      worker: all(q['workername']),
      from: parseFlowerDate(q['received_start'], 'received_start'),
      to: parseFlowerDate(q['received_end'], 'received_end'),
      search: q['search'] ?? null,
      sort,
      dir,
      offset: intArgument(q['offset'], 'offset', 0),
      limit,
    });
    // Object keys keep insertion order for non-numeric strings, so the order survives JSON.
    const out: Record<string, unknown> = {};
    for (const task of tasks) out[task.uuid] = flowerTaskDict(task);
    return c.json(out);
  });

  api.get('/api/task/types', (c) => c.json({ 'task-types': [...engine.taskNames].sort() }));

  api.get('/api/task/info/:id', (c) => {
    const task = engine.state.task(c.req.param('id'));
    if (!task) throw new HttpError(404, `Unknown task '${c.req.param('id')}'`);
    return c.json(flowerTaskDict(task));
  });

  api.get('/api/task/result/:id', async (c) => {
    const id = c.req.param('id');
    if (!(await app.getBackend())) throw new HttpError(503, 'no result backend is configured');
    const timeout = c.req.query('timeout');
    const result = app.asyncResult(id);
    if (timeout) {
      const seconds = Number(timeout);
      if (!Number.isFinite(seconds) || seconds < 0) throw new HttpError(400, `timeout must be a number of seconds, got ${JSON.stringify(timeout)}`);
      await result.get({ timeout: seconds, propagate: false }).catch((err: unknown) => {
        if (!isTqError(err)) throw err;
      });
    }
    const meta = await result.meta();
    const state = meta?.status ?? 'PENDING';
    const response: Record<string, unknown> = { 'task-id': id, state };
    if (meta && ['SUCCESS', 'FAILURE', 'REVOKED'].includes(state)) {
      response['result'] = meta.result;
      if (state === 'FAILURE') response['traceback'] = meta.traceback;
    }
    return c.json(response);
  });

  const applyRoute = (path: string, wait: boolean, byName: boolean) =>
    api.post(`/api/task/${path}/:name`, async (c) => {
      const name = c.req.param('name');
      const { args, kwargs, options } = await taskBody(c);
      if (!byName && !app.tasks.has(name)) throw new HttpError(404, `Unknown task '${name}'`);
      const result = await app.sendTask(name, args, { ...options, kwargs } as ApplyOptions);
      const response: Record<string, unknown> = { 'task-id': result.id };
      const backend = await app.getBackend();
      if (wait) {
        await result.get({ propagate: false }).catch(() => undefined);
        const meta = await result.meta();
        response['result'] = meta?.result ?? null;
        if (meta?.status === 'FAILURE') response['traceback'] = meta.traceback;
      }
      if (backend) response['state'] = await result.state();
      return c.json(response);
    });
  applyRoute('apply', true, false);
  applyRoute('async-apply', false, false);
  applyRoute('send-task', false, true);

  api.post('/api/task/abort/:id', async (c) => {
    const id = c.req.param('id');
    if (!(await app.getBackend())) throw new HttpError(503, 'no result backend is configured');
    await app.storeResult(id, 'ABORTED', null);
    return c.json({ message: `Aborted '${id}'` });
  });

  api.post('/api/task/revoke/:id', async (c) => {
    const id = c.req.param('id');
    const terminate = truthy(await argument(c, 'terminate'));
    const signal = (await argument(c, 'signal')) || 'SIGTERM';
    await app.control.revoke(id, { terminate, signal });
    return c.json({ message: `Revoked '${id}'` });
  });

  api.post('/api/task/rate-limit/:name', async (c) => {
    const name = c.req.param('name');
    const worker = (await argument(c, 'workername')) ?? '';
    const ratelimit = await argument(c, 'ratelimit');
    if (ratelimit === undefined) throw new HttpError(400, 'ratelimit is required (e.g. 10/m)');
    return control(c, worker, 'rate_limit', { task_name: name, rate_limit: ratelimit }, `new rate limit set successfully`, `Failed to set rate limit`);
  });

  api.post('/api/task/timeout/:name', async (c) => {
    const name = c.req.param('name');
    const worker = (await argument(c, 'workername')) ?? '';
    const num = (v: string | undefined, n: string) => {
      if (v === undefined || v === '') return null;
      const x = Number(v);
      if (!Number.isFinite(x) || x < 0) throw new HttpError(400, `${n} must be a number of seconds`);
      return x;
    };
    const soft = num(await argument(c, 'soft'), 'soft');
    const hard = num(await argument(c, 'hard'), 'hard');
    return control(c, worker, 'time_limit', { task_name: name, soft, hard }, `time limits set successfully`, `Failed to set timeouts`);
  });

  api.post('/api/worker/shutdown/:w', async (c) => {
    const w = c.req.param('w');
    if (!isWorker(w)) throw new HttpError(404, `Unknown worker '${w}'`);
    await app.control.shutdown({ destination: [w] });
    return c.json({ message: `Shutting down!` });
  });
  api.post('/api/worker/pool/restart/:w', (c) => control(c, c.req.param('w'), 'pool_restart', { reload: false }, `Restarting '${c.req.param('w')}' worker's pool`, `Failed to restart the '${c.req.param('w')}' pool`));
  api.post('/api/worker/pool/grow/:w', async (c) => {
    const n = intArgument(await argument(c, 'n'), 'n', 1, 1);
    return control(c, c.req.param('w'), 'pool_grow', { n }, `Growing '${c.req.param('w')}' worker's pool by ${n}`, `Failed to grow '${c.req.param('w')}' worker's pool`);
  });
  api.post('/api/worker/pool/shrink/:w', async (c) => {
    const n = intArgument(await argument(c, 'n'), 'n', 1, 1);
    return control(c, c.req.param('w'), 'pool_shrink', { n }, `Shrinking '${c.req.param('w')}' worker's pool by ${n}`, `Failed to shrink '${c.req.param('w')}' worker's pool`);
  });
  api.post('/api/worker/pool/autoscale/:w', async (c) => {
    const min = intArgument(await argument(c, 'min'), 'min', 0);
    const max = intArgument(await argument(c, 'max'), 'max', 0);
    if (max < min) throw new HttpError(400, 'max must be at least min');
    return control(c, c.req.param('w'), 'autoscale', { min, max }, `Autoscaling '${c.req.param('w')}' worker (min=${min}, max=${max})`, `Failed to autoscale '${c.req.param('w')}' worker`);
  });
  api.post('/api/worker/queue/add-consumer/:w', async (c) => {
    const queue = await argument(c, 'queue');
    if (!queue) throw new HttpError(400, 'queue is required');
    return control(c, c.req.param('w'), 'add_consumer', { queue, exchange: null, exchange_type: 'direct', routing_key: null }, `add consumer ${queue}`, `Failed to add '${queue}' consumer to '${c.req.param('w')}' worker`);
  });
  api.post('/api/worker/queue/cancel-consumer/:w', async (c) => {
    const queue = await argument(c, 'queue');
    if (!queue) throw new HttpError(400, 'queue is required');
    return control(c, c.req.param('w'), 'cancel_consumer', { queue }, `no longer consuming from ${queue}`, `Failed to cancel '${queue}' consumer from '${c.req.param('w')}' worker`);
  });

  api.get('/api/queues/length', async (c) => {
    const queues = await engine.queueLengths();
    return c.json({ active_queues: queues.map((q) => ({ name: q.name, messages: q.messages })) });
  });

  return api;
}
