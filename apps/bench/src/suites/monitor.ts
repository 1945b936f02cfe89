/**
 * The monitor (@tq/flower): how fast it folds task events in (target ≥ 20,000 events/s, so a
 * busy cluster does not lag), the memory 100,000 tasks of history take, and the tasks page's
 * response time with 100,000 tasks held; plus writing that history to Redis behind.
 * Events are synthetic but shaped as workers send them (received, started, succeeded per task,
 * argsrepr text, runtimes), and are fed straight into the monitor's ingest, as its event
 * receiver does: the broker's own delivery rate is measured by the broker suites.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createApp, silentLogger, type ReceivedEvent } from '@tq/core';
import { createMonitor } from '@tq/flower';
import { Redis } from 'ioredis';
import { heading, line, rate } from '../report.js';

/**
 * The peer: Flower 2.0.1's own fold (flower.events.EventsState: Celery's State plus Flower's
 * counters and Prometheus metrics) over the same events, in the venv scripts/services.sh makes.
 */
const FLOWER_INGEST = String.raw`
import time, sys
import flower.options  # defines the tornado options EventsState reads
from flower.events import EventsState
N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
state = EventsState(max_tasks_in_memory=N)
t0 = time.time() - N * 0.001 - 60
def events(i):
    uuid = '%08x-7c1e-4b7a-9f00-%012d' % (0x10000000 + i, i)
    host = 'celery@worker-%d' % (i % 8)
    t = t0 + i * 0.001
    base = dict(uuid=uuid, hostname=host, pid=1000 + i % 8, clock=i, utcoffset=0)
    yield dict(base, type='task-received', timestamp=t, local_received=t, name='proj.tasks.t%d' % (i % 20), args="(%d, 'user-%d')" % (i, i % 997), kwargs="{'retry': False, 'n': %d}" % (i % 7), root_id=uuid, parent_id=None, retries=0, eta=None, expires=None)
    yield dict(base, type='task-started', timestamp=t + 0.002, local_received=t + 0.002)
    yield dict(base, type='task-succeeded', timestamp=t + 0.01, local_received=t + 0.01, result="{'ok': True, 'id': %d}" % i, runtime=0.008 + (i % 13) / 1000)
for i in range(5000):
    for e in events(N + i): state.event(e)
total = 0; spent = 0.0
batch = 10000
for start in range(0, N, batch):
    chunk = [e for i in range(start, min(N, start + batch)) for e in events(i)]
    s = time.perf_counter()
    for e in chunk: state.event(e)
    spent += time.perf_counter() - s
    total += len(chunk)
print('{:,} events/s  ({:,} in {:.2f} s)'.format(int(total / spent), total, spent))
`;
const TASKS = Number(process.env['TQ_BENCH_MONITOR_TASKS'] ?? 100_000);
const WORKERS = 8;
const PAGE_RUNS = 20;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

function eventsFor(i: number, t0: number): ReceivedEvent[] {
  const uuid = `${(0x10000000 + i).toString(16)}-7c1e-4b7a-9f00-${String(i).padStart(12, '0')}`;
  const hostname = `celery@worker-${i % WORKERS}`;
  const t = t0 + i * 0.001;
  const base = { uuid, hostname, pid: 1000 + (i % WORKERS), clock: i, utcoffset: 0 };
  const fail = i % 50 === 0;
  return [
    { ...base, type: 'task-received', timestamp: t, local_received: t, name: `proj.tasks.t${i % 20}`, args: `(${i}, 'user-${i % 997}')`, kwargs: `{'retry': False, 'n': ${i % 7}}`, root_id: uuid, parent_id: null, retries: 0, eta: null, expires: null },
    { ...base, type: 'task-started', timestamp: t + 0.002, local_received: t + 0.002 },
    fail
      ? { ...base, type: 'task-failed', timestamp: t + 0.01, local_received: t + 0.01, exception: `ValueError('bad input ${i}')`, traceback: `Traceback (most recent call last):\n  File "tasks.py", line 10, in t\nValueError: bad input ${i}` }
      : { ...base, type: 'task-succeeded', timestamp: t + 0.01, local_received: t + 0.01, result: `{'ok': True, 'id': ${i}}`, runtime: 0.008 + (i % 13) / 1000 },
  ] as ReceivedEvent[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function run(): Promise<void> {
  heading(`monitor (@tq/flower): ${TASKS.toLocaleString('en-US')} tasks × 3 events from ${WORKERS} workers, retention ${TASKS.toLocaleString('en-US')} tasks, one live-stream subscriber`);
  const app = createApp({ logger: silentLogger });
  const monitor = createMonitor(app, { history: { retention: { maxTasks: TASKS } }, streamInterval: 250 });
  let streamed = 0;
  monitor.engine.hub.subscribe((messages) => (streamed += messages.length));
  const t0 = Date.now() / 1000 - TASKS * 0.001 - 60;

  // Warm up on other ids, then forget them.
  for (let i = 0; i < 5000; i++) for (const e of eventsFor(TASKS + i, t0)) monitor.engine.ingest(e);
  monitor.engine.state.clear(false);
  const before = heapMb();

  const batch = 10_000;
  let events = 0;
  let ms = 0;
  for (let from = 0; from < TASKS; from += batch) {
    const chunk: ReceivedEvent[] = [];
    for (let i = from; i < Math.min(TASKS, from + batch); i++) chunk.push(...eventsFor(i, t0));
    const start = performance.now();
    for (const e of chunk) monitor.engine.ingest(e);
    ms += performance.now() - start;
    events += chunk.length;
  }
  monitor.engine.hub.flush();
  const ingest = rate(events, ms);
  line('ingest (State fold + counters + metrics + stream)', `${ingest.toLocaleString('en-US')} events/s  (${events.toLocaleString('en-US')} in ${(ms / 1000).toFixed(2)} s)`);
  line('target ≥ 20,000 events/s', ingest >= 20_000 ? 'met' : 'NOT met');
  line('stream messages sent (coalesced)', streamed.toLocaleString('en-US'));
  const venv = process.env['TQ_PYTHON_VENV'] ?? '/tmp/tq-services/pyvenv/bin/python';
  if (existsSync(venv)) {
    const peer = spawnSync(venv, ['-c', FLOWER_INGEST, String(TASKS)], { encoding: 'utf8', timeout: 600_000 });
    line('peer: Flower 2.0.1 EventsState, same events', peer.status === 0 ? peer.stdout.trim() : `failed: ${peer.stderr.trim().split('\n').at(-1)}`);
  } else line('peer: Flower 2.0.1 EventsState', `skipped (no venv at ${venv}; bash scripts/services.sh up python)`);

  const after = heapMb();
  line(`heap for ${monitor.engine.state.tasks.size.toLocaleString('en-US')} tasks of history`, `${(after - before).toFixed(1)} MB measured, ${(monitor.engine.memoryBytes() / 1024 / 1024).toFixed(1)} MB as /api/ui/overview reports it`);

  const page = async (label: string, path: string) => {
    const times: number[] = [];
    let total = 0;
    for (let i = 0; i < PAGE_RUNS; i++) {
      const start = performance.now();
      const res = await monitor.fetch(new Request(`http://bench${path}`));
      const body = (await res.json()) as { total?: number };
      times.push(performance.now() - start);
      // Flower's /api/tasks answers an object of tasks by id, without a total.
      total = body.total ?? Object.keys(body).length;
      if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
    }
    line(label, `${median(times).toFixed(1)} ms median of ${PAGE_RUNS}  (${total.toLocaleString('en-US')} matching)`);
  };
  await page('tasks page: newest 50', '/api/ui/tasks?limit=50');
  await page('tasks page: sorted by runtime, offset 5,000', '/api/ui/tasks?limit=50&offset=5000&sort=runtime&dir=desc');
  await page('tasks page: state=FAILURE', '/api/ui/tasks?limit=50&state=FAILURE');
  await page('tasks page: search "user-42 OR kwargs:n=3"', `/api/ui/tasks?limit=50&search=${encodeURIComponent('user-42 OR kwargs:n=3')}`);
  await page('Flower /api/tasks?limit=50&sort_by=-received', '/api/tasks?limit=50&sort_by=-received');

  // Durable history: write the whole history to Redis behind, as the monitor does every second.
  const url = `${(process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '')}/13`;
  const key = `tq-flower-bench-${process.pid}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await probe.connect();
  } catch {
    line('history to Redis', `skipped (no Redis at ${url})`);
    probe.disconnect();
    await monitor.close();
    await app.close();
    return;
  }
  const durable = createMonitor(app, { history: { store: url, key, retention: { maxTasks: TASKS } }, inspectInterval: 0, queueSampleInterval: 0, enableEvents: false });
  await durable.start();
  for (let i = 0; i < TASKS; i++) for (const e of eventsFor(i, t0)) durable.engine.ingest(e);
  const start = performance.now();
  await durable.engine.flush();
  const flushMs = performance.now() - start;
  line(`history to Redis: write ${TASKS.toLocaleString('en-US')} records behind`, `${rate(TASKS, flushMs).toLocaleString('en-US')} records/s  (${(flushMs / 1000).toFixed(2)} s)`);
  await durable.close();
  const reload = createMonitor(app, { history: { store: url, key, retention: { maxTasks: TASKS } }, inspectInterval: 0, queueSampleInterval: 0, enableEvents: false });
  const loadStart = performance.now();
  await reload.start();
  const loadMs = performance.now() - loadStart;
  line(`history from Redis: restart with ${TASKS.toLocaleString('en-US')} records`, `${(loadMs / 1000).toFixed(2)} s to load ${reload.engine.state.tasks.size.toLocaleString('en-US')} tasks`);
  await reload.close();
  await probe.del(`${key}:tasks`, `${key}:updated`);
  probe.disconnect();
  await monitor.close();
  await app.close();
}
