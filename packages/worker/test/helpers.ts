/** Shared test helpers: apps and workers that are closed after each test, the pool fixture. */
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { createApp, silentLogger, type App, type AppConfig, type Logger } from '@tq/core';
import { Worker, type WorkerOptions } from '../src/index.js';
import { FIXTURES } from './cli-helpers.js';
import { createPoolApp } from './fixtures/pool-app.js';

export const POOL_APP = join(FIXTURES, 'pool-app.ts');

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

export function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

export function newApp(config: AppConfig = {}): App {
  const app = createApp({ logger: silentLogger, ...config });
  cleanups.push(() => app.close());
  return app;
}

/** A fresh app with the pool fixture's tasks (children import the fixture module itself). */
export function newPoolApp(config: AppConfig = {}): App {
  const app = createPoolApp({ logger: silentLogger, ...config });
  cleanups.push(() => app.close());
  return app;
}

/** A started worker (without mingle, which waits a second for other workers), stopped after the test. */
export async function startWorker(app: App, options: WorkerOptions = {}): Promise<Worker> {
  const worker = new Worker(app, { logger: silentLogger, mingle: false, ...options });
  await worker.start();
  cleanups.push(() => worker.stop({ timeout: 5 }));
  return worker;
}

