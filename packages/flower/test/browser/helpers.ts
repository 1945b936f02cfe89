/**
 * Shared pieces of the browser tests: the UI built once if dist/ui is missing, Debian's Chromium
 * driven by playwright-core with a fresh profile, real tq workers in child processes (so a test
 * can kill one), the monitor served on a free port, and screenshots for the docs on request.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { uniqueName } from '@tq/testing';
import { afterAll, beforeAll } from 'vitest';
import { Redis } from 'ioredis';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { serveMonitor, type ServedMonitor, type ServeOptions } from '../../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..', '..');
const UI_DIST = join(packageDir, 'dist', 'ui');
const WORKER_CLI = join(packageDir, '..', 'worker', 'src', 'cli', 'run.ts');
export const FIXTURE_APP = join(here, 'fixtures', 'ui-app.ts');

/** Our own Redis database for the browser tests (others use 0–14). */
export const REDIS_DB = 15;
export const REDIS_URL = `${(process.env['TQ_REDIS_URL'] ?? 'redis://127.0.0.1:6379').replace(/\/\d*$/, '')}/${REDIS_DB}`;

/** Build the UI with Vite's API unless dist/ui exists, so `npm test` needs no prior build. */
export async function ensureUiBuilt(): Promise<void> {
  if (existsSync(join(UI_DIST, 'index.html'))) return;
  const { build } = await import('vite');
  // Build beside it and rename: a concurrent run never sees a half-written dist/ui.
  const staging = `${UI_DIST}.build-${process.pid}`;
  await build({ configFile: join(packageDir, 'ui', 'vite.config.ts'), logLevel: 'warn', build: { outDir: staging, emptyOutDir: true } });
  mkdirSync(dirname(UI_DIST), { recursive: true });
  if (existsSync(join(UI_DIST, 'index.html'))) rmSync(staging, { recursive: true, force: true });
  else renameSync(staging, UI_DIST);
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Debian's Chromium (TQ_CHROMIUM), headless, with a profile of its own removed on close. */
export async function openBrowser(options: { httpCredentials?: { username: string; password: string } } = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'tq-flower-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env['TQ_CHROMIUM'] ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1360, height: 860 },
    ...(options.httpCredentials ? { httpCredentials: options.httpCredentials } : {}),
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
      // A script error in the page is a bug even when the assertions passed.
      if (errors.length) throw new Error(`the page threw: ${errors.join('; ')}`);
    },
  };
}

export interface WorkerProcess {
  child: ChildProcess;
  hostname: string;
  output(): string;
  /** SIGKILL: the worker vanishes without a worker-offline event, as a crashed host does. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** A real `tq worker -E` on the fixture app, in a child process; resolves once it is ready. */
export async function startWorker(hostname: string, queue: string, extra: string[] = []): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@tq/source', WORKER_CLI, 'worker', '-A', FIXTURE_APP, '-E', '-n', hostname, '-Q', queue, '-c', '4', ...extra], {
    env: { ...process.env, TQ_FLOWER_UI_REDIS: REDIS_URL, TQ_FLOWER_UI_QUEUE: queue },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${hostname} not ready after 30 s:\n${out}`)), 30_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(`${hostname} ready.`)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker ${hostname} exited with ${code} before it was ready:\n${out}`));
    });
  });
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return { child, hostname, output: () => out, kill: () => end('SIGKILL'), stop: () => end('SIGTERM') };
}

export interface Stack {
  /** The monitor's page, e.g. http://127.0.0.1:41234/flower/ */
  url: string;
  queue: string;
  app: typeof import('./fixtures/ui-app.js')['app'];
  tasks: Omit<typeof import('./fixtures/ui-app.js'), 'app' | 'default'>;
  /** Another monitor on the same app (read-only, with auth, ...); closed with the stack. */
  serve(options: Omit<ServeOptions, 'port' | 'host'>): Promise<string>;
  close(): Promise<void>;
}

/**
 * The fixture app on its own queue plus a real monitor served on a free port
 * (fast inspect and stream intervals, so the tests wait less). The UI is built if missing.
 * The fixture module reads its queue when first imported, so a test file starts one stack.
 */
export async function startStack(options: Omit<ServeOptions, 'port' | 'host'> = {}): Promise<Stack> {
  await ensureUiBuilt();
  const queue = uniqueName('flower-ui');
  process.env['TQ_FLOWER_UI_REDIS'] = REDIS_URL;
  process.env['TQ_FLOWER_UI_QUEUE'] = queue;
  const fixture = await import('./fixtures/ui-app.js');
  const { app, default: _default, ...tasks } = fixture;
  const monitors: ServedMonitor[] = [];
  const serve = async (more: Omit<ServeOptions, 'port' | 'host'>) => {
    const served = await serveMonitor(app, { port: 0, host: '127.0.0.1', inspectInterval: 1, queueSampleInterval: 1, streamInterval: 50, ...more });
    monitors.push(served);
    return served.url;
  };
  return {
    url: await serve(options),
    queue,
    app,
    tasks,
    serve,
    async close() {
      for (const served of monitors) await served.close();
      await app.close();
      await deleteKeys(`*${queue}*`);
    },
  };
}

/** Delete the keys a test left in our db (its queue, results, bindings). */
async function deleteKeys(pattern: string): Promise<void> {
  const client = new Redis(REDIS_URL);
  try {
    for (const match of [pattern, 'celery-task-meta-*', 'celery-taskset-meta-*', 'chord-unlock-*']) {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await client.del(...keys);
      } while (cursor !== '0');
    }
  } finally {
    client.disconnect();
  }
}

const SCREENSHOTS = join(packageDir, 'docs', 'screenshots');

/** With TQ_FLOWER_SCREENSHOTS=1, save the page as docs/screenshots/<name>.png (the README's pictures). */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (!process.env['TQ_FLOWER_SCREENSHOTS']) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true, animations: 'disabled' });
}

export interface Suite {
  readonly stack: Stack;
  readonly worker: WorkerProcess;
  readonly browser: Browser;
}

/**
 * A test file's stack, plus (unless turned off) one worker on its queue and one browser,
 * started before its tests and stopped after them.
 */
export function browserSuite(name: string, options: { worker?: boolean; browser?: boolean; prefix?: string } = {}): Suite {
  let stack: Stack | undefined;
  let worker: WorkerProcess | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    stack = await startStack(options.prefix ? { prefix: options.prefix } : {});
    if (options.worker !== false) worker = await startWorker(`${uniqueName(name)}@flower-ui`, stack.queue);
    if (options.browser !== false) browser = await openBrowser();
  });
  afterAll(async () => {
    await worker?.stop();
    await browser?.close();
    await stack?.close();
  });
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the suite has no ${what} (started in beforeAll, unless turned off)`);
    return value;
  };
  return {
    get stack() {
      return need(stack, 'stack');
    },
    get worker() {
      return need(worker, 'worker');
    },
    get browser() {
      return need(browser, 'browser');
    },
  };
}
