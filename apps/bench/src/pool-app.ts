/**
 * The app the pools benchmark runs: the worker's process builds one with `createBenchApp()`, and
 * every process/thread child imports this module (compiled to dist/pool-app.js) for the tasks.
 */
import { createApp, silentLogger, type App, type AppConfig } from '@tq/core';

export function createBenchApp(config: AppConfig = {}): App {
  const app = createApp({ main: 'bench', logger: silentLogger, ...config });
  app.task('bench.add', (x: number, y: number) => x + y);
  return app;
}

export default createBenchApp();
